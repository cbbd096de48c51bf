"""A kiosk without a synchronised clock dates each press from the touch, on the boot clock:
the age it sends counts the seconds the press waited for its reason and for a broker, and a
press left over from before a reboot goes out without one."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from manual_clock import ManualClock

from peakend.kiosk import touchpoint
from peakend.kiosk.station import Station


@pytest.fixture
def unsynced(monkeypatch) -> None:
    monkeypatch.setattr(touchpoint, "clock_synced", lambda: False)


def ratings(station: Station) -> list[dict]:
    docs = [json.loads(r.payload) for r in station.link.outbox.pending(0, 100)]
    return [d for d in docs if d["type"] == "rating"]


def test_the_age_counts_from_the_touch_not_from_the_reason(write_config, unsynced) -> None:
    station = Station.open(write_config())
    tp = station.touchpoint
    clock = ManualClock()
    tp.monotonic = clock
    try:
        tp.press(1)
        time.sleep(0.6)  # the shopper reads the reasons
        clock.now += 1
        tp.choose("wait")
        [sent] = ratings(station)
        assert sent["clock_synced"] is False
        assert 0.6 <= sent["age_s"] < 5
    finally:
        station.stop()


def test_a_press_from_before_a_reboot_goes_out_without_an_age(write_config, unsynced) -> None:
    path = write_config()
    first = Station.open(path)
    first.touchpoint.press(2)  # the power goes out while the follow-up shows
    first.link.outbox.close()
    first.journal.close()
    journal = sqlite3.connect(first.journal.path)
    journal.execute("UPDATE presses SET boot_id = 'an-earlier-boot'")
    journal.commit()
    journal.close()
    second = Station.open(path)
    try:
        second.start()
        [sent] = ratings(second)
        assert sent["data"]["score"] == 2 and "age_s" not in sent
    finally:
        second.stop()
