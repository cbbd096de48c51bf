"""A tap the kiosk's outbox cannot take because its disk is full: the screen goes on, the
press stays in the journal, and the technician menu reads a sentence, not a traceback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from small_disk import fill, small_disk

from peakend.broker.device.outbox import Outbox
from peakend.kiosk.flow import FlowRules, RatingFlow
from peakend.kiosk.journal import PressJournal
from peakend.kiosk.touchpoint import Touchpoint


def fill_outbox(box: Outbox) -> None:
    """Append until the outbox cannot take more (SQLite may still have room in its pages)."""
    for _ in range(500):
        try:
            box.append("rating", {"score": 3}, zone_id="checkout")
        except sqlite3.Error:
            return
    raise AssertionError("500 appends fitted on a full disk")


class OutboxSender:
    """A kiosk's link as the touchpoint sees it, without MQTT: straight into the outbox."""

    def __init__(self, box: Outbox) -> None:
        self.box = box

    def send(self, event_type: str, data: dict[str, Any], **kw: Any) -> Any:
        return self.box.append(
            event_type, data, zone_id="checkout", ts=kw.get("ts"), msg_id=kw.get("msg_id"),
            clock_synced=bool(kw.get("clock_is_synced", True)),
        )


def test_a_tap_the_full_outbox_cannot_take_gives_the_technician_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(512) as disk:
        box = Outbox(disk / "outbox.sqlite", device_id="kiosk-01", store_id="s001")
        journal = PressJournal(tmp_path / "presses.sqlite")
        try:
            fill(disk)
            fill_outbox(box)
            tp = Touchpoint(RatingFlow(FlowRules()), journal, OutboxSender(box))
            with caplog.at_level(logging.ERROR):
                tp.press(2)  # no exception reaches the screen
            assert tp.last_error is not None
            assert tp.last_error.startswith("could not queue a rating:")
            assert "disk is full" in tp.last_error, tp.last_error
            assert not any(r.exc_info for r in caplog.records), "a traceback, not a sentence"
            # the press stays in the journal, sent at the next start
            [waiting] = journal.unsent()
            assert waiting.score == 2
        finally:
            box.close()
            journal.close()
