"""Which channels take an alert, when a failed message is retried, what it says, how it is
signed: the pure rules, without sockets or SQL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from peakend.broker.device.config import ConfigError, load_config
from peakend.broker.hub.config import DeliverySection, HubConfig
from peakend.broker.hub.delivery.rules import (
    channels_for,
    compose,
    in_quiet_hours,
    next_attempt,
    sign,
    verify,
)

BERLIN = ZoneInfo("Europe/Berlin")


def delivery(*channels: dict, **options: object) -> DeliverySection:
    return DeliverySection.model_validate({"channels": list(channels), **options})


def hook(name: str, **kw: object) -> dict:
    return {"type": "webhook", "name": name, "url_env": "HOOK_URL", **kw}


def test_channels_pick_alerts_by_store_kind_and_store_local_quiet_hours() -> None:
    d = delivery(hook("all"), hook("s002-only", stores=["s002"]),
                 hook("waits", kinds=["wait"]), hook("days", quiet_hours="21:00-07:00"))
    # 05:30 UTC is 06:30 in Berlin in winter: quiet for "days"
    early = datetime(2026, 1, 12, 5, 30, tzinfo=UTC)
    assert [c.name for c in channels_for(d, "s001", "unhappy", early, BERLIN)] == ["all"]
    # 06:30 UTC is 07:30 in Berlin: past the quiet hours
    later = early + timedelta(hours=1)
    assert [c.name for c in channels_for(d, "s001", "wait", later, BERLIN)] == [
        "all", "waits", "days"]
    assert [c.name for c in channels_for(d, "s002", "unhappy", later, BERLIN)] == [
        "all", "s002-only", "days"]
    # 20:30 UTC is 21:30 in Berlin: quiet there, though not by a clock in UTC
    evening = datetime(2026, 1, 12, 20, 30, tzinfo=UTC)
    assert [c.name for c in channels_for(d, "s001", "unhappy", evening, BERLIN)] == ["all"]
    assert [c.name for c in channels_for(d, "s001", "unhappy", evening, ZoneInfo("UTC"))] == [
        "all", "days"]


@pytest.mark.parametrize(("quiet", "at", "inside"), [
    ("21:00-07:00", "21:00", True), ("21:00-07:00", "23:59", True),
    ("21:00-07:00", "00:00", True), ("21:00-07:00", "06:59", True),
    ("21:00-07:00", "07:00", False), ("21:00-07:00", "12:00", False),
    ("12:00-13:30", "12:30", True), ("12:00-13:30", "13:30", False), (None, "03:00", False),
])
def test_quiet_hours_wrap_past_midnight(quiet: str | None, at: str, inside: bool) -> None:
    assert in_quiet_hours(quiet, time.fromisoformat(at)) is inside


def test_retries_double_up_to_the_longest_wait_then_give_up() -> None:
    d = delivery(max_attempts=6, first_retry_s=10, max_retry_s=60)
    now = datetime(2026, 1, 12, tzinfo=UTC)
    waits = [(next_attempt(d, n, now) - now).total_seconds() for n in range(1, 6)]  # type: ignore[operator]
    assert waits == [10, 20, 40, 60, 60]
    assert next_attempt(d, 6, now) is None


def test_message_says_cause_value_at_opening_and_now_and_links_the_zone() -> None:
    alert = {"store_id": "s001", "zone_id": "checkout", "kind": "wait", "state": "open",
             "opened_at": "2026-01-12T09:00:00.000Z", "cause": "checkout p90 wait 7:00",
             "threshold": 300.0, "value_now": 540.0}
    m = compose(alert, 420.0, "https://hub.shop.example/", "Market St", BERLIN)
    assert m.link == "https://hub.shop.example/s/s001/z/checkout"
    assert "Market St / checkout: checkout p90 wait 7:00." in m.text
    assert "Opened 2026-01-12 10:00 (store time) at p90 wait 7:00; now p90 wait 9:00." in m.text
    assert m.link in m.text and "checkout" in m.subject
    closed = compose({**alert, "state": "closed"}, 420.0, "http://h", "Market St", BERLIN)
    assert "closed since" in closed.text


def test_signature_covers_timestamp_and_body_and_refuses_old_ones() -> None:
    body, secret = b'{"text": "hi"}', b"shared"
    sig = sign(secret, 1_700_000_000, body)
    assert verify(secret, "1700000000", body, sig, now=1_700_000_010)
    assert not verify(secret, "1700000000", body + b" ", sig, now=1_700_000_010)
    assert not verify(b"other", "1700000000", body, sig, now=1_700_000_010)
    assert not verify(secret, "1700000001", body, sig, now=1_700_000_010)
    # a replay ten minutes later is refused even with its original signature
    assert not verify(secret, "1700000000", body, sig, now=1_700_000_600)


def test_bad_channel_config_names_the_field_and_never_shows_a_secret(tmp_path: Path) -> None:
    toml = tmp_path / "hub.toml"
    toml.write_text('[[delivery.channels]]\ntype = "email"\nname = "mail"\n'
                    'smtp_host = "smtp.example.com"\nsender = "p@shop.example"\n'
                    'to = ["m@shop.example"]\nusername = "peakend"\n'
                    'password = "hunter2-in-the-file"\n')
    with pytest.raises(ConfigError) as err:
        load_config(toml, HubConfig)
    assert "password" in str(err.value) and "hunter2" not in str(err.value)
    toml.write_text('[[delivery.channels]]\ntype = "email"\nname = "mail"\n'
                    'smtp_host = "smtp.example.com"\nsender = "p@shop.example"\n'
                    'to = ["m@shop.example"]\nusername = "peakend"\n')
    with pytest.raises(ConfigError, match="password_env"):
        load_config(toml, HubConfig)
    toml.write_text('[delivery]\n[[delivery.channels]]\ntype = "webhook"\nname = "a"\n'
                    'url_env = "A"\nquiet_hours = "25:00-07:00"\n')
    with pytest.raises(ConfigError, match="quiet_hours"):
        load_config(toml, HubConfig)
    toml.write_text('[[delivery.channels]]\ntype = "webhook"\nname = "a"\nurl_env = "A"\n'
                    '[[delivery.channels]]\ntype = "webhook"\nname = "a"\nurl_env = "B"\n')
    with pytest.raises(ConfigError, match="used twice"):
        load_config(toml, HubConfig)
