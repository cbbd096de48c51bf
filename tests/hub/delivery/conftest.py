"""An alert opened the way the hub opens one (presses stored through the real Store, the real
AlertMonitor), with delivery channels from a typed hub config."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from receivers import WebhookReceiver

from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import Store
from peakend.broker.hub.reports.alerts import AlertMonitor
from peakend.broker.wire.contract import new_envelope

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

HOOK_ENV = {"PEAKEND_TEST_HOOK_URL": "", "PEAKEND_TEST_HOOK_SECRET": "shared-hook-secret"}


def hub_config(channels: list[dict[str, Any]], **delivery: Any) -> HubConfig:
    return HubConfig.model_validate({
        "stores": [{"id": "s001", "name": "Market St", "timezone": "Europe/Berlin"}],
        "alerts": {"default": {"unhappy_count": 3, "unhappy_window_min": 10}},
        "delivery": {"base_url": "https://hub.shop.example", "channels": channels, **delivery},
    })


def webhook(name: str = "slack", **kw: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": name, "url_env": "PEAKEND_TEST_HOOK_URL",
            "secret_env": "PEAKEND_TEST_HOOK_SECRET", **kw}


def open_unhappy_alert(db: Path, config: HubConfig, at: datetime = T0) -> datetime:
    """Three unhappy presses at checkout and a check: one alert opens. Returns its time."""
    store = Store(db)
    for m in (1, 2, 3):
        env = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout",
                           seq=m + int(at.timestamp()), event_type="rating",
                           ts=at + timedelta(minutes=m), data={"score": 1, "flags": []})
        with store.transaction():
            store.store_event(env, at + timedelta(minutes=m))
    store.close()
    monitor = AlertMonitor(db, config)
    opened = at + timedelta(minutes=3, seconds=30)
    events = monitor.check(opened)
    monitor.close()
    assert [e["kind"] for _, e in events] == ["unhappy"]
    return opened


def mail_hub_toml(folder: Path, smtp: Any) -> Path:
    """A hub.toml with one store and an email channel to ``smtp`` (a receivers.smtp_receiver),
    logging in as peakend with the password in PEAKEND_TEST_SMTP_PASSWORD."""
    toml = folder / "hub.toml"
    toml.write_text(f"""
[[stores]]
id = "s001"
name = "Market St"
timezone = "Europe/Berlin"

[[delivery.channels]]
type = "email"
name = "managers"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
username = "peakend"
password_env = "PEAKEND_TEST_SMTP_PASSWORD"
ca_file = "{smtp.ca_file}"
sender = "peakend@shop.example"
to = ["manager@shop.example"]
""")
    return toml


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A real HTTP receiver that checks the signature, named by the channel's environment."""
    r = WebhookReceiver(HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"].encode())
    monkeypatch.setenv("PEAKEND_TEST_HOOK_URL", r.url)
    monkeypatch.setenv("PEAKEND_TEST_HOOK_SECRET", HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"])
    yield r
    r.stop()
