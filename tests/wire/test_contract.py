"""The wire contract: what passes, what is refused and why (pure logic, no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from peakend.broker.wire import contract as c

TOPIC = "peakend/v1/s001/kiosk-01/evt/rating"


def doc(**over) -> dict:
    d = json.loads(
        c.new_envelope(
            device_id="kiosk-01",
            store_id="s001",
            zone_id="checkout",
            seq=1,
            event_type="rating",
            data={"score": 4},
        ).to_json()
    )
    d.update(over)
    return d


def reason(payload: dict | bytes, topic: str = TOPIC) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(c.ContractError) as exc:
        c.parse_event(topic, raw)
    return str(exc.value)


def test_a_valid_rating_round_trips_with_millisecond_utc():
    env = c.parse_event(TOPIC, json.dumps(doc(ts="2026-11-22T11:21:03.512Z")).encode())
    assert env.data.score == 4
    assert json.loads(env.to_json())["ts"] == "2026-11-22T11:21:03.512Z"


@pytest.mark.parametrize(
    "over, words",
    [
        ({"data": {"score": 5}}, "data.score"),
        ({"data": {"score": True}}, "data.score"),
        ({"data": {"score": 4.0}}, "data.score"),
        ({"device_id": "Kiosk 01"}, "device_id"),
        ({"store_id": "s002"}, "does not match topic store"),
        ({"type": "dwell"}, "data."),
        ({"ts": "2026-11-22 11:21:03"}, "no timezone"),
        ({"ts": "yesterday"}, "ts"),
        ({"v": 2}, "v"),
        ({"msg_id": "not-a-uuid"}, "msg_id"),
        ({"zone_id": None}, "needs a zone_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_envelopes_name_the_field(over, words):
    assert words in reason(doc(**over))


def test_ts_more_than_a_day_ahead_is_refused_but_a_little_skew_is_not():
    soon = c.format_ts(datetime.now(UTC) + timedelta(hours=2))
    c.parse_event(TOPIC, json.dumps(doc(ts=soon)).encode())
    later = c.format_ts(datetime.now(UTC) + timedelta(days=2))
    assert "future" in reason(doc(ts=later))


def test_payload_limits_and_encodings():
    assert "limit is 4096" in reason(b"{" + b" " * 5000 + b"}")
    assert "not UTF-8" in reason(b"\xc3\x28")
    assert "not JSON" in reason(b"{")
    assert "JSON object" in reason(b"42")


def test_dwell_exit_before_enter_is_refused():
    with pytest.raises(c.ContractError, match="exit is before enter"):
        c.new_envelope(
            device_id="cam-01",
            store_id="s001",
            zone_id="checkout",
            seq=1,
            event_type="dwell",
            data={
                "track": 1,
                "enter": "2026-11-22T11:00:01Z",
                "exit": "2026-11-22T11:00:00Z",
                "dwell_s": 1,
            },
        )


def test_topics_are_built_and_parsed_consistently():
    t = c.event_topic("s001", "cam-01", "queue")
    assert c.parse_topic(t).event_type == "queue"
    assert c.parse_topic(c.ack_topic("s001", "cam-01")).kind == "ack"
    with pytest.raises(c.ContractError):
        c.parse_topic("peakend/v1/S001/cam-01/status")
    with pytest.raises(ValueError):
        c.status_topic("s001", "cam/01")


def test_schema_documents_every_event_type():
    schema = json.dumps(c.json_schema())
    for name in ("Rating", "Dwell", "Queue", "Health", "Status", "Ack"):
        assert name in schema


def test_a_correction_names_the_rating_it_replaces_and_plain_ratings_stay_as_they_were():
    import uuid as _uuid

    common = dict(device_id="kiosk-01", store_id="s001", zone_id="checkout",
                  event_type="rating")
    plain = c.new_envelope(seq=1, data={"score": 4, "flags": []}, **common)
    assert b"replaces" not in plain.to_json(), "a hub of an earlier release reads it as ever"
    wrong = _uuid.uuid4()
    fixed = c.new_envelope(seq=2, data={"score": 3, "flags": ["correction"],
                                      "replaces": str(wrong)}, **common)
    assert f'"replaces":"{wrong}"'.encode() in fixed.to_json()
    assert fixed.data.replaces == wrong  # type: ignore[union-attr]
    with pytest.raises(c.ContractError, match="replaces"):
        c.new_envelope(seq=3, data={"score": 3, "replaces": "the last one"}, **common)
    assert "replaces" in c.json_schema()["envelope"]["$defs"]["Rating"]["properties"]


def test_a_wait_known_only_as_a_floor_is_marked_and_plain_dwells_stay_as_they_were():
    common = dict(device_id="cam-01", store_id="s001", zone_id="checkout", event_type="dwell")
    visit = {"track": 7, "enter": "2026-03-02T09:00:00Z", "exit": "2026-03-02T09:01:00Z",
             "dwell_s": 60.0, "wait_s": 55.0}
    plain = c.new_envelope(seq=1, data=visit, **common)
    assert b"wait_floor" not in plain.to_json(), "a hub of an earlier release reads it as ever"
    floor = c.new_envelope(seq=2, data={**visit, "wait_floor": True}, **common)
    assert b'"wait_floor":true' in floor.to_json()
    got = c.parse_event(c.event_topic("s001", "cam-01", "dwell"), floor.to_json())
    assert got.data.wait_floor is True  # type: ignore[union-attr]
    with pytest.raises(c.ContractError, match="wait_floor is true but there is no wait_s"):
        c.new_envelope(seq=3, data={**visit, "wait_s": None, "wait_floor": True}, **common)
    with pytest.raises(c.ContractError, match="wait_floor"):
        c.new_envelope(seq=4, data={**visit, "wait_floor": "yes"}, **common)
    assert "wait_floor" in c.json_schema()["envelope"]["$defs"]["Dwell"]["properties"]
