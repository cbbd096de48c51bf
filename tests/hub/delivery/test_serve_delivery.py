"""`peakend serve` runs alert delivery in a process of its own: it sends what the outbox
holds, comes back when killed, and goes when serve stops."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from receivers import WebhookReceiver

from hubtools import wait_until
from peakend.broker.hub.delivery import outbox
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.server import start

from .conftest import HOOK_ENV, hub_config, webhook


def add_alert(db: Path, channel: str) -> None:
    conn = open_db(db)
    try:
        now = datetime.now(UTC)
        (alert_id,) = conn.execute(
            "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, value, "
            "threshold) VALUES ('s001', 'checkout', 'wait', 'closed', $1, "
            "'checkout p90 wait 7:00', 420, 300) RETURNING id", (now.isoformat(),)).fetchone()
        outbox.enqueue(conn, alert_id, [channel], 420.0, now)
    finally:
        conn.close()


def test_serve_delivers_in_its_own_process_and_restarts_it(
        bare_hub, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = WebhookReceiver(HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"].encode())
    monkeypatch.setenv("PEAKEND_TEST_HOOK_URL", receiver.url)
    monkeypatch.setenv("PEAKEND_TEST_HOOK_SECRET", HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"])
    receiver.start()
    hub = bare_hub
    hub.start_broker()
    server = start(mqtt_url=hub.aggregator_url, db=str(hub.db_path),
                   config=hub_config([webhook()]))
    try:
        assert server.delivery is not None
        first = server.delivery.pid
        assert first is not None and first != os.getpid()
        add_alert(hub.db_path, "slack")
        assert wait_until(lambda: len(receiver.received) == 1, 30)
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: server.delivery.pid != first, 30)
        add_alert(hub.db_path, "slack")
        assert wait_until(lambda: len(receiver.received) == 2, 30)
        assert server.delivery.restarts == 1 and server.aggregator.alive()
        second = server.delivery.pid
    finally:
        server.stop()
        receiver.stop()
    assert second is not None
    assert wait_until(lambda: not Path(f"/proc/{second}").exists()
                      or Path(f"/proc/{second}/stat").read_text().split(")")[-1].split()[0]
                      == "Z", 10)
    assert len({r.delivery for r in receiver.received}) == 2
