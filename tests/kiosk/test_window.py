"""The real app in a real Kivy window, driven by real touches (UnitTestTouch).

Each flow is walked as a shopper or a technician would, and every screen it passes through is
saved under tests/artifacts/kiosk/ and checked to be drawn. Time-outs are driven through the
touchpoint's clock so the tests need not wait them out; the broker is away (nothing listens on
its port), which the kiosk must not show.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kiosk_drive import assert_drawn, frames, hold, overflowing, screenshot, tap, until
from manual_clock import ManualClock


@pytest.fixture
def kiosk(window, write_config) -> Iterator[tuple[object, ManualClock]]:  # type: ignore[no-untyped-def]
    from kivy.base import EventLoop

    from peakend.kiosk.app import KioskApp
    from peakend.kiosk.station import Station

    station = Station.open(write_config())
    clock = ManualClock(start=time.monotonic())
    station.touchpoint.monotonic = clock
    app = KioskApp(station)
    app._run_prepare()
    frames(3)
    yield app, clock
    if app.manager is not None and app.manager.parent is not None:
        app.dispatch("on_stop")
    for child in window.children[:]:
        window.remove_widget(child)
    EventLoop.stopping = False
    window.size = (800, 480)


def ratings(app) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = app.station.link.outbox.pending(0, 1000)
    docs = [json.loads(row.payload) for row in rows]
    return [d["data"] for d in docs if d["type"] == "rating"]


def test_unhappy_press_asks_why_then_thanks_then_question(kiosk, artifacts: Path) -> None:
    app, clock = kiosk
    assert_drawn(screenshot(artifacts / "question-en.png"))
    tap(app.question.smileys[1])
    assert app.current == "reason"
    assert app.station.journal.unsent(), "the press is journaled before the reason"
    assert ratings(app) == []
    assert set(app.reason.buttons) == {"wait", "staff", "price"}
    assert_drawn(screenshot(artifacts / "reason-unhappy.png"))
    clock.advance(0.5)
    tap(app.reason.buttons["wait"])
    assert app.current == "thanks"
    assert ratings(app) == [{"score": 1, "reason": "wait", "flags": []}]
    assert app.station.journal.unsent() == []
    assert_drawn(screenshot(artifacts / "thanks.png"))
    clock.advance(3.1)
    assert until(lambda: app.current == "question")


def test_follow_up_times_out_and_sends_the_press_without_reason(kiosk) -> None:
    app, clock = kiosk
    tap(app.question.smileys[4])
    assert app.current == "reason"
    assert app.reason.prompt.text.startswith("Great")
    clock.advance(6.1)
    assert until(lambda: app.current == "thanks")
    assert ratings(app) == [{"score": 4, "reason": None, "flags": []}]


def test_a_tap_that_lands_on_the_reason_screen_at_once_is_not_a_choice(kiosk) -> None:
    app, clock = kiosk
    tap(app.question.smileys[2])
    tap(app.reason.buttons["wait"])  # the same finger, a moment later
    assert app.current == "reason"
    clock.advance(0.5)
    tap(app.reason.skip)
    assert app.current == "thanks"
    assert ratings(app) == [{"score": 2, "reason": None, "flags": []}]


def test_a_repeat_press_is_kept_flagged_and_thanked_again(kiosk, artifacts) -> None:
    app, clock = kiosk
    tap(app.question.smileys[3])
    clock.advance(0.5)
    tap(app.reason.skip)
    clock.advance(3.1)
    assert until(lambda: app.current == "question")
    tap(app.question.smileys[3])  # 3.6 s after the first press
    assert app.current == "thanks", "a repeat gets a visible answer"
    assert app.thanks.face.score == 3
    assert_drawn(screenshot(artifacts / "thanks-after-repeat.png"))
    sent = ratings(app)
    assert [(r["score"], r["flags"]) for r in sent] == [(3, []), (3, ["repeat"])]
    clock.advance(3.1)
    assert until(lambda: app.current == "question")
    clock.advance(5.1)
    tap(app.question.smileys[4])
    assert app.current == "reason", "after the interval a press counts again"


def test_a_different_face_right_after_corrects_the_press(kiosk, artifacts) -> None:
    app, clock = kiosk
    tap(app.question.smileys[4])  # the wrong face, by accident
    clock.advance(0.5)
    tap(app.reason.skip)
    assert app.thanks.face.score == 4
    clock.advance(3.1)
    assert until(lambda: app.current == "question")
    tap(app.question.smileys[2])  # the one the shopper meant, 3.6 s after
    assert app.current == "reason", "the corrected press is asked about like any other"
    clock.advance(0.5)
    tap(app.reason.buttons["wait"])
    assert app.current == "thanks" and app.thanks.face.score == 2
    assert_drawn(screenshot(artifacts / "thanks-after-correction.png"))
    wrong, fixed = app.station.link.outbox.pending(0, 10)
    wrong, fixed = json.loads(wrong.payload), json.loads(fixed.payload)
    assert wrong["data"] == {"score": 4, "reason": None, "flags": []}
    assert fixed["data"] == {"score": 2, "reason": "wait", "flags": ["correction"],
                             "replaces": wrong["msg_id"]}


def test_the_follow_up_shows_its_seconds_counting_down(kiosk, artifacts) -> None:
    app, clock = kiosk
    tap(app.question.smileys[1])
    assert app.current == "reason"
    frames(2)
    assert app.reason.countdown.text == "6 s"
    assert_drawn(screenshot(artifacts / "reason-countdown-6.png"))
    seen = []
    for _ in range(5):
        clock.advance(1.0)
        assert until(lambda: app.reason.countdown.text != (seen or ["6 s"])[-1], 2)
        seen.append(app.reason.countdown.text)
    assert seen == ["5 s", "4 s", "3 s", "2 s", "1 s"]
    assert app.reason.countdown.texture_size[0] > 0, "drawn, not just set"
    assert_drawn(screenshot(artifacts / "reason-countdown-1.png"))
    clock.advance(1.0)
    assert until(lambda: app.current == "thanks")


def test_a_language_left_switched_returns_to_the_default_after_the_idle_time(kiosk) -> None:
    app, clock = kiosk
    tap(app.question.language)
    assert app.question.question.text == "您今天的购物体验如何？"
    clock.advance(19.0)
    frames(3)
    assert app.question.question.text == "您今天的购物体验如何？", "still someone's choice"
    clock.advance(1.1)
    assert until(lambda: app.question.question.text == "How was your checkout today?", 2)
    assert app.station.catalog.language == "en"
    assert app.question.language.text == "中文"
    assert ratings(app) == [], "walking away is not a rating"


def test_language_button_switches_every_string_and_the_next_visit_resets_it(
    kiosk, artifacts
) -> None:
    app, clock = kiosk
    assert app.question.question.text == "How was your checkout today?"
    assert app.question.language.text == "中文"
    tap(app.question.language)
    assert app.question.question.text == "您今天的购物体验如何？"
    assert app.question.smileys[1].label.text == "非常不满意"
    assert app.question.language.text == "Deutsch", "the button names the next language"
    rgb = screenshot(artifacts / "question-zh.png")
    assert_drawn(rgb)
    # The Chinese question renders with real glyphs: its texture is as wide as the text needs,
    # not a row of identical missing-glyph boxes of Roboto's width.
    from kivy.core.text import LabelBase

    assert "wqy" in LabelBase._fonts["PeakendText"][0] or "noto" in LabelBase._fonts[
        "PeakendText"
    ][0].lower()
    tap(app.question.smileys[2])
    assert app.reason.buttons["wait"].text == "排队太久"
    assert_drawn(screenshot(artifacts / "reason-zh.png"))
    clock.advance(0.5)
    tap(app.reason.buttons["wait"])
    assert app.thanks.title.text == "谢谢！"
    clock.advance(3.1)
    assert until(lambda: app.current == "question")
    assert app.question.question.text == "How was your checkout today?"


def test_technician_menu_needs_the_hidden_hold_and_the_right_pin(kiosk, artifacts) -> None:
    app, _clock = kiosk
    x, y = app.question.corner.to_window(*app.question.corner.center)
    hold(x, y, 0.3)
    assert app.current == "question", "a short touch on the corner does nothing"
    hold(x, y, 1.2)
    assert app.current == "pin"
    for key in "9999":
        tap(app.pin.keys[key])
    tap(app.pin.keys["ok"])
    assert app.current == "pin"
    assert app.pin.message.text == "Wrong PIN"
    assert_drawn(screenshot(artifacts / "pin-wrong.png"))
    for key in "4071":
        tap(app.pin.keys[key])
    tap(app.pin.keys["ok"])
    assert app.current == "tech"
    values = {k: v.text for k, v in app.tech.values.items()}
    assert values["tech_device"] == "kiosk-01"
    assert values["tech_store_zone"] == "s001 / checkout"
    assert "not connected" in values["tech_broker"]
    assert "127.0.0.1" in values["tech_broker"] and "secret" not in values["tech_broker"]
    tap(app.tech.test)
    rows = app.station.link.outbox.pending(0, 10)
    assert [json.loads(r.payload)["type"] for r in rows] == ["health"]
    assert "queued" in app.tech.status.text
    assert until(lambda: app.tech.values["tech_outbox"].text == "1", 2)
    assert_drawn(screenshot(artifacts / "technician.png"))
    tap(app.tech.back)
    assert app.current == "question"


def test_three_wrong_pins_return_to_the_shoppers(kiosk) -> None:
    app, _clock = kiosk
    app.open_pin()
    for _ in range(3):
        tap(app.pin.keys["1"])
        tap(app.pin.keys["ok"])
    assert app.current == "question"


def test_technician_exit_stops_the_app_and_flushes_a_waiting_press(kiosk) -> None:
    app, _clock = kiosk
    tap(app.question.smileys[1])  # a shopper walks away from the follow-up
    station = app.station
    journal_path = station.journal.path
    app.manager.current = "question"  # the tech arrives right after
    app.open_pin()
    for key in "4071":
        tap(app.pin.keys[key])
    tap(app.pin.keys["ok"])
    tap(app.tech.exit)
    assert station.stopped
    from peakend.kiosk.journal import PressJournal

    journal = PressJournal(journal_path)
    try:
        assert journal.unsent() == []
    finally:
        journal.close()


def test_portrait_screen_lays_out_big_targets(kiosk, window, artifacts) -> None:
    app, _clock = kiosk
    window.size = (540, 960)  # the 1080x1920 kiosk at half scale keeps the test quick
    frames(3)
    assert app.question.grid.cols == 2
    smallest = min(min(s.size) for s in app.question.smileys.values())
    assert smallest >= 540 * 0.3
    assert_drawn(screenshot(artifacts / "question-portrait.png"))
    tap(app.question.smileys[4])
    assert app.current == "reason"
    assert_drawn(screenshot(artifacts / "reason-portrait.png"))


def test_landscape_targets_are_big_enough_for_any_hand(kiosk) -> None:
    app, _clock = kiosk
    # 800x480 on the 7" display is about 6.4 px per mm; a fingertip wants 10 mm or more.
    for smiley in app.question.smileys.values():
        assert min(smiley.size) >= 150
    assert min(app.question.language.size) >= 60


def test_dimming_outside_opening_hours_keeps_taking_presses(window, write_config) -> None:
    from peakend.kiosk.app import KioskApp
    from peakend.kiosk.station import Station

    station = Station.open(
        write_config(extra='\n[hours]\ndim_outside = true\nopen = "00:00"\nclose = "00:01"\n'
                     "dim_level = 0.3\n")
    )
    app = KioskApp(station)
    app._run_prepare()
    try:
        frames(2)
        from datetime import datetime

        if station.dimmed(datetime.now()):
            assert app.dimmer.brightness == pytest.approx(0.3)
        tap(app.question.smileys[4])
        assert app.current == "reason"
    finally:
        app.dispatch("on_stop")
        for child in window.children[:]:
            window.remove_widget(child)


LANGUAGES = ("en", "de", "zh-Hans")
# What an SD card that is full says, as the kiosk's own error: long, and without spaces to
# break at in places.
DISK_FULL = ("could not write the press journal: database or disk is full "
             "(/var/lib/peakend/presses.sqlite-wal)")


def link_stats(**over):  # type: ignore[no-untyped-def]
    from peakend.broker.device.link import LinkStats

    values = dict(connected=False, outbox_depth=1234, last_seq=98765, acked_seq=98000,
                  acked_at=time.time() - 3600, last_error="disconnected: Unspecified error",
                  broker="mqtts://kiosk-01:***@hub.store-0042.example.net:8883")
    return LinkStats(**{**values, **over})


def open_menu(app) -> None:  # type: ignore[no-untyped-def]
    from peakend.kiosk.app import KioskApp

    assert isinstance(app, KioskApp)
    app.open_pin()
    for key in "4071":
        tap(app.pin.keys[key])
    tap(app.pin.keys["ok"])
    assert app.current == "tech"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_technician_menu_fits_its_boxes_and_says_what_to_do_in_every_language(
    kiosk, artifacts, monkeypatch, language
) -> None:
    app, _clock = kiosk
    station = app.station
    station.catalog.switch(language)
    app.refresh_text()
    frames(2)
    assert overflowing(app.question) == [], language
    assert_drawn(screenshot(artifacts / f"question-{language}.png"))
    app.open_pin()
    frames(2)
    assert overflowing(app.pin) == [], language
    assert_drawn(screenshot(artifacts / f"pin-{language}.png"))
    for key in "4071":
        tap(app.pin.keys[key])
    tap(app.pin.keys["ok"])
    assert app.current == "tech"
    states = {
        "unreachable": (link_stats(), None),
        "refused": (link_stats(last_error="broker refused the connection: Not authorized"),
                    None),
        "hub-silent": (link_stats(connected=True,
                                  last_error="waiting for the hub to answer this device's "
                                  "birth"), None),
        "disk-full": (link_stats(), DISK_FULL),
    }
    app.link_watch.down_since = time.time() - 600
    for name, (stats, kiosk_error) in states.items():
        monkeypatch.setattr(station.link, "stats", lambda s=stats: s)
        station.touchpoint.last_error = kiosk_error
        app.tick_tech()
        frames(2)
        error = app.tech.values["tech_last_error"].text
        assert "Unspecified" not in error and "***" not in error and "secret" not in error
        assert "hub.store-0042.example.net:8883" in error or error == DISK_FULL, error
        assert overflowing(app.tech) == [], (language, name)
        assert_drawn(screenshot(artifacts / f"technician-{language}-{name}.png"))
    tap(app.tech.back)
    assert app.current == "question"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_shopper_screen_fits_in_every_language(kiosk, window, artifacts, language) -> None:
    app, clock = kiosk
    for size in ((800, 480), (540, 960)):
        window.size = size
        app.station.catalog.switch(language)
        app.refresh_text()
        frames(3)
        assert overflowing(app.question) == [], (language, size)
        tap(app.question.smileys[1])
        assert app.current == "reason"
        frames(2)
        assert overflowing(app.reason) == [], (language, size)
        clock.advance(0.5)
        tap(app.reason.buttons["wait"])
        frames(2)
        assert overflowing(app.thanks) == [], (language, size)
        frames(3)  # on a busy machine the resized window needs a few frames before its picture
        shape = "landscape" if size[0] > size[1] else "portrait"
        assert_drawn(screenshot(artifacts / f"thanks-{language}-{shape}.png"))
        clock.advance(5.1)  # past the repeat interval: the next press is a new visit
        assert until(lambda: app.current == "question")
