"""Journal, touchpoint, station and simulated shoppers on real SQLite files and a real link
whose broker is away."""

from __future__ import annotations

import json
import threading

from manual_clock import ManualClock

from peakend.kiosk.flow import FlowRules, RatingFlow, Stage
from peakend.kiosk.journal import PressJournal
from peakend.kiosk.simulate import run_simulated_shoppers
from peakend.kiosk.station import Station
from peakend.kiosk.touchpoint import Touchpoint


def outbox_ratings(station: Station) -> list[dict]:
    docs = [json.loads(r.payload) for r in station.link.outbox.pending(0, 10_000)]
    return [d for d in docs if d["type"] == "rating"]


def test_press_is_journaled_at_the_touch_and_sent_once_with_its_reason(write_config) -> None:
    station = Station.open(write_config())
    clock = ManualClock()
    tp = station.touchpoint
    tp.monotonic = clock
    try:
        tp.press(1)
        [waiting] = station.journal.unsent()
        assert outbox_ratings(station) == []
        clock.now += 1
        tp.choose("wait")
        [sent] = outbox_ratings(station)
        assert sent["data"] == {"score": 1, "reason": "wait", "flags": []}
        assert sent["msg_id"] == str(waiting.msg_id), "the id chosen at the touch travels"
        assert sent["ts"].startswith(waiting.pressed_at.strftime("%Y-%m-%dT%H:%M:%S"))
        assert sent["zone_id"] == "checkout"
        assert station.journal.unsent() == []
    finally:
        station.stop()


def test_a_press_left_waiting_by_a_crash_is_sent_at_the_next_start(write_config) -> None:
    path = write_config()
    first = Station.open(path)
    first.touchpoint.press(2)  # the power goes out while the follow-up shows
    first.link.outbox.close()
    first.journal.close()
    msg_id = None
    second = Station.open(path)
    try:
        [left] = second.journal.unsent()
        msg_id = str(left.msg_id)
        second.start()
        [sent] = outbox_ratings(second)
        assert sent["data"] == {"score": 2, "reason": None, "flags": []}
        assert sent["msg_id"] == msg_id
        assert second.journal.unsent() == []
    finally:
        second.stop()


def test_stopping_delivers_a_press_waiting_for_its_reason(write_config) -> None:
    station = Station.open(write_config())
    station.touchpoint.press(3)
    outbox = station.link.settings.outbox_path
    station.stop()
    from peakend.broker.device.outbox import Outbox

    box = Outbox(outbox, device_id="kiosk-01", store_id="s001")
    try:
        [row] = box.pending(0, 10)
        assert json.loads(row.payload)["data"]["score"] == 3
    finally:
        box.close()


class BrokenLink:
    def send(self, *_a, **_k):  # type: ignore[no-untyped-def]
        raise OSError("disk full")


def test_a_failing_link_never_reaches_the_shopper(tmp_path) -> None:
    journal = PressJournal(tmp_path / "j.sqlite")
    tp = Touchpoint(RatingFlow(FlowRules()), journal, BrokenLink())
    shows = tp.press(4)
    assert [s.stage for s in shows] == [Stage.THANKS]
    assert "disk full" in (tp.last_error or "")
    assert len(journal.unsent()) == 1, "kept in the journal for the next start"
    journal.close()


def test_simulated_shoppers_press_through_the_same_flow(write_config) -> None:
    path = write_config(thanks_s="0.5", timeout_s="1.0", repeat_interval_s="1.0")
    stop = threading.Event()
    timer = threading.Timer(4.0, stop.set)
    timer.start()
    result = run_simulated_shoppers(path, stop, rate_per_min=600, seed=3)
    timer.join()
    assert result.presses >= 2
    assert result.delivered == result.presses
    station = Station.open(path)
    try:
        rows = outbox_ratings(station)
        assert len(rows) == result.presses
        assert {r["data"]["score"] for r in rows} <= {1, 2, 3, 4}
    finally:
        station.stop()


def test_a_correction_names_the_press_it_replaces_and_a_repeat_does_not(write_config) -> None:
    station = Station.open(write_config())
    clock = ManualClock()
    tp = station.touchpoint
    tp.monotonic = clock
    try:
        tp.press(4)  # the config asks what went well after a 4: skipped
        clock.advance(0.5)
        tp.skip()
        clock.advance(3.0)
        tp.tick()
        tp.press(3)  # 3.5 s after the 4: the shopper meant 3
        clock.advance(0.5)
        tp.skip()
        clock.advance(3.0)
        tp.tick()
        tp.press(3)  # and taps it again: a repeat of the correction
        first, fixed, again = outbox_ratings(station)
        assert first["data"] == {"score": 4, "reason": None, "flags": []}
        assert fixed["data"] == {"score": 3, "reason": None, "flags": ["correction"],
                                 "replaces": first["msg_id"]}
        assert again["data"] == {"score": 3, "reason": None, "flags": ["repeat"]}
    finally:
        station.stop()


def test_a_correction_cut_off_by_a_crash_still_names_the_press_it_replaces(
    write_config,
) -> None:
    path = write_config()
    first = Station.open(path)
    clock = ManualClock()
    first.touchpoint.monotonic = clock
    first.touchpoint.press(4)
    clock.advance(0.5)
    first.touchpoint.skip()
    clock.advance(3.0)
    first.touchpoint.tick()
    first.touchpoint.press(1)  # a correction that asks why; the power goes out
    [wrong] = outbox_ratings(first)
    first.link.outbox.close()
    first.journal.close()
    second = Station.open(path)
    try:
        second.start()
        [_, fixed] = outbox_ratings(second)
        assert fixed["data"] == {"score": 1, "reason": None, "flags": ["correction"],
                                 "replaces": wrong["msg_id"]}
    finally:
        second.stop()
