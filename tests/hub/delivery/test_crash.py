"""A delivering process killed between sending and recording loses nothing: the restarted one
sends the message again under the same delivery id (at least once, recorded once)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from receivers import WebhookReceiver

from hubtools import stop_process, wait_until
from peakend.broker.hub.reports.queries import open_db

from .conftest import HOOK_ENV, open_unhappy_alert

CHILD = """
import os, sys
from peakend.broker.device.config import load_config
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.delivery.worker import DeliverySpec, run_delivery
run_delivery(DeliverySpec(db=sys.argv[1], config=load_config(sys.argv[2], HubConfig),
                          lease_s=1.0, poll_s=0.1), os.getppid())
"""

HUB_TOML = """
[[stores]]
id = "s001"
timezone = "Europe/Berlin"

[alerts.default]
unhappy_count = 3

[delivery]
base_url = "https://hub.shop.example"
first_retry_s = 1

[[delivery.channels]]
type = "webhook"
name = "slack"
url_env = "PEAKEND_TEST_HOOK_URL"
secret_env = "PEAKEND_TEST_HOOK_SECRET"
"""


def row(db: Path) -> tuple:
    conn = open_db(db)
    try:
        return conn.execute("SELECT id, state, attempts FROM alert_deliveries").fetchone()
    finally:
        conn.close()


def test_killed_between_send_and_record_the_message_is_sent_again_not_lost(
        tmp_path: Path) -> None:
    from peakend.broker.device.config import load_config
    from peakend.broker.hub.config import HubConfig

    db, toml = tmp_path / "hub.sqlite", tmp_path / "hub.toml"
    toml.write_text(HUB_TOML)
    open_unhappy_alert(db, load_config(toml, HubConfig), at=_recent())
    receiver = WebhookReceiver(HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"].encode())
    env = {**os.environ, "PEAKEND_TEST_HOOK_URL": receiver.url,
           "PEAKEND_TEST_HOOK_SECRET": HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"]}
    receiver.start()
    try:
        first = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(toml)], env=env)
        receiver.kill_pid = first.pid  # SIGKILL once the message is here, before the answer
        assert wait_until(lambda: first.poll() is not None, timeout=30)
        assert first.returncode == -9
        row_id, state, attempts = row(db)
        assert (state, attempts) == ("sending", 1)  # sent, but never recorded as sent
        second = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(toml)], env=env)
        try:
            assert wait_until(lambda: row(db)[1] == "sent", timeout=30)
            time.sleep(0.5)  # and it is not sent a third time
        finally:
            stop_process(second)
    finally:
        receiver.stop()
    assert row(db) == (row_id, "sent", 2)
    assert len(receiver.received) == 2  # delivered at least once...
    assert {r.delivery for r in receiver.received} == {str(row_id)}  # ...under one id


def _recent():
    # the alert's time does not matter to delivery; quiet hours are off in this config
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(minutes=5)


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PEAKEND_TEST_HOOK_URL", raising=False)
