"""``age_s``: optional, bounded, added by the device at each publication, read by the hub."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from peakend.broker.hub.event_time import device_offset
from peakend.broker.wire.contract import (
    MAX_AGE_S,
    MAX_PAYLOAD_BYTES,
    ContractError,
    json_schema,
    new_envelope,
    parse_event,
    with_age,
)

TOPIC = "peakend/v1/s001/cam-01/evt/dwell"
NOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


def dwell(synced: bool = False, ts: datetime = NOW - timedelta(days=3)):
    return new_envelope(
        device_id="cam-01", store_id="s001", zone_id="checkout", seq=7, event_type="dwell",
        data={"track": 3, "enter": ts - timedelta(seconds=90), "exit": ts, "dwell_s": 90.0},
        ts=ts, clock_synced=synced,
    )


def test_the_age_added_at_publication_is_read_back_by_the_hub():
    env = dwell()
    parsed = parse_event(TOPIC, with_age(env.to_json(), 42.5), now=NOW)
    assert parsed.age_s == 42.5
    assert parsed.model_copy(update={"age_s": None}) == env


def test_the_hub_dates_an_unsynchronised_event_at_receive_time_minus_its_age():
    env = parse_event(TOPIC, with_age(dwell().to_json(), 42.5), now=NOW)
    offset = device_offset(env, NOW)
    assert env.ts + offset == NOW - timedelta(seconds=42.5)
    # a visit's enter and exit move with it, keeping the visit's length
    assert env.data.enter + offset == NOW - timedelta(seconds=132.5)


def test_without_an_age_the_hub_keeps_its_receive_time_and_trusts_a_synced_clock():
    old_device = parse_event(TOPIC, dwell().to_json(), now=NOW)
    assert old_device.ts + device_offset(old_device, NOW) == NOW
    synced = parse_event(TOPIC, with_age(dwell(synced=True, ts=NOW).to_json(), 9.0), now=NOW)
    assert device_offset(synced, NOW) is None


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        ("-5", "age_s: Input should be greater than or equal to 0"),
        (str(MAX_AGE_S + 1), "age_s: Input should be less than or equal to"),
        ('"12"', "age_s"),
        ("NaN", "age_s: Input should be"),
        ("1e400", "age_s: Input should be"),
    ],
)
def test_an_impossible_age_is_refused_with_its_reason(age, reason):
    raw = dwell().to_json()[:-1] + f',"age_s":{age}}}'.encode()
    with pytest.raises(ContractError, match=reason.replace("(", r"\(")):
        parse_event(TOPIC, raw, now=NOW)


def test_an_unsynchronised_envelope_keeps_room_for_its_age():
    reason = "r" * 64
    big = {"fps": 1.0, **{f"vital_{i}": reason for i in range(60)}}
    sizes = []
    for synced in (True, False):
        try:
            env = new_envelope(device_id="cam-01", store_id="s001", zone_id=None, seq=1,
                               event_type="health", data=big, clock_synced=synced)
            sizes.append(len(with_age(env.to_json(), MAX_AGE_S)))
        except ContractError:
            sizes.append(None)
    assert all(s is None or s <= MAX_PAYLOAD_BYTES for s in sizes)


def test_the_schema_documents_age_s_as_optional():
    envelope = json_schema()["envelope"]
    assert "age_s" in envelope["properties"]
    assert "age_s" not in envelope.get("required", [])
    assert "receive time minus this age" in json.dumps(envelope["properties"]["age_s"])
