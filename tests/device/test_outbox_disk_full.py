"""A device whose disk is full: the outbox says so (the file and the fix), keeps what it has,
and takes messages again, with no gap in its seqs, once there is room."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from fake_hub import FakeHub
from fake_mqtt import FakeBroker, settle
from manual_clock import ManualClock
from small_disk import fill, small_disk

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.outbox import Outbox


def append_until_full(box: Outbox, limit: int = 500) -> sqlite3.Error:
    for _ in range(limit):
        try:
            box.append("rating", {"score": 3, "reason": "x" * 60}, zone_id="checkout")
        except sqlite3.Error as exc:
            return exc
    raise AssertionError(f"{limit} appends fitted on a full disk")


def test_a_full_disk_is_reported_as_such_and_the_outbox_resumes_without_a_gap() -> None:
    with small_disk(512) as disk:
        path = disk / "outbox.sqlite"
        box = Outbox(path, device_id="kiosk-01", store_id="s001")
        try:
            filler = fill(disk)
            error = append_until_full(box)
            # not "cannot rollback - no transaction is active", which hid it before
            assert "disk is full" in str(error), str(error)
            assert str(path) in str(error) and "Free space" in str(error)
            assert error.__cause__ is not None, "SQLite's own error stays attached"
            kept = box.pending(0, 10_000)
            assert box.depth == len(kept) and box.last_seq == len(kept)
            assert [p.seq for p in kept] == list(range(1, len(kept) + 1))

            filler.unlink()
            envelope = box.append("rating", {"score": 4}, zone_id="checkout")
            assert envelope.seq == len(kept) + 1, "the failed append used no seq"
            assert [p.seq for p in box.pending(0, 10_000)] == list(range(1, envelope.seq + 1))
        finally:
            box.close()


def test_an_ack_the_full_outbox_cannot_apply_is_one_clear_line_and_applies_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = FakeBroker()
    hub = FakeHub(broker)
    with small_disk(512) as disk:
        link = DeviceLink(
            LinkSettings(mqtt_url="mqtt://kiosk-01:secret@hub.local:1883", device_id="kiosk-01",
                         store_id="s001", zone_id="checkout", role="kiosk",
                         outbox_path=disk / "outbox.sqlite"),
            client=broker.client("kiosk-01"),
            clock=ManualClock(),
        )
        link.start(background=False)
        try:
            settle(broker, [link])
            hub.acking = False  # the hub stores, and its ack comes once the disk is full
            for _ in range(5):
                link.send("rating", {"score": 4})
            settle(broker, [link])
            filler = fill(disk)
            append_until_full(link.outbox)
            depth = link.outbox.depth
            with caplog.at_level(logging.ERROR):
                hub._ack("kiosk-01")
                settle(broker, [link])
            [line] = [r for r in caplog.records if "hub's ack" in r.getMessage()]
            assert "disk is full" in line.getMessage() and line.exc_info is None
            assert link.outbox.depth == depth, "nothing deleted, nothing lost"

            filler.unlink()
            hub._ack("kiosk-01")
            settle(broker, [link])
            assert link.outbox.acked_seq == 5 and link.outbox.depth == depth - 5
        finally:
            link.stop()
