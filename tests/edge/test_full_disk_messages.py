"""A camera whose disk fills up keeps counting: what the outbox cannot take is held in order,
said once in a clear line, and queued (before anything newer) once there is room again."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from fake_mqtt import FakeBroker
from manual_clock import ManualClock
from small_disk import fill, small_disk

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.wire.contract import parse_ts
from peakend.edge.estimators import QueueWindow
from peakend.edge.messages import Messenger

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def window(i: int) -> QueueWindow:
    return QueueWindow("checkout", 10.0 * i, 10.0 * (i + 1), 2.0, 1, 1, 30.0, 28.0)


def test_windows_made_while_the_disk_is_full_are_queued_in_order_once_it_has_room(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = FakeBroker()
    with small_disk(2048) as disk:
        link = DeviceLink(
            LinkSettings(mqtt_url="mqtt://cam-01:secret@hub.local:1883", device_id="cam-01",
                         store_id="s001", zone_id=None, role="edge",
                         outbox_path=disk / "outbox.sqlite"),
            client=broker.client("cam-01"),
            clock=ManualClock(),
        )
        messenger = Messenger(device_id="cam-01", store_id="s001", link=link)
        try:
            for i in range(3):
                assert messenger.queue(window(i), T0) is not None
            filler = fill(disk)
            held = 0
            with caplog.at_level(logging.ERROR):
                for i in range(3, 30):
                    if messenger.queue(window(i), T0) is None:
                        held += 1
            assert held > 0 and len(messenger.held) == held, "the disk did fill"
            lines = [r.getMessage() for r in caplog.records if "held in memory" in r.getMessage()]
            assert len(lines) == 1 and "disk is full" in lines[0], lines
            assert "secret" not in lines[0]

            filler.unlink()
            sent = messenger.queue(window(30), T0)
            assert sent is not None, (len(messenger.held), caplog.text[-600:])
            assert not messenger.held
            rows = link.outbox.pending(0, 10_000)
            ends = [round((parse_ts(json.loads(r.payload)["ts"]) - T0) / timedelta(seconds=1))
                    for r in rows]
            assert ends == [10 * (i + 1) for i in range(31)], "every window, in order, once"
            assert [r.seq for r in rows] == list(range(1, 32))
        finally:
            link.stop()
