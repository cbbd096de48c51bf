"""Text a database cannot hold is made storable at parse time, nesting is bounded there, and a
refused payload still tells its seq when its top level can be read (pure logic, no broker)."""

from __future__ import annotations

import json

import pytest

from peakend.broker.wire import contract as c
from peakend.broker.wire.storable import MAX_DEPTH, storable_text, top_level

DWELL = "peakend/v1/s001/cam-01/evt/dwell"
HEALTH = "peakend/v1/s001/cam-01/evt/health"


def envelope(event_type: str, data: dict, seq: int = 7) -> dict:
    return json.loads(c.new_envelope(
        device_id="cam-01", store_id="s001", zone_id="checkout", seq=seq,
        event_type=event_type, data=data).to_json())


def visit(track: object) -> bytes:
    doc = envelope("dwell", {"track": 1, "enter": "2026-01-05T09:00:00Z",
                             "exit": "2026-01-05T09:00:10Z", "dwell_s": 10})
    doc["data"]["track"] = track
    # ensure_ascii: the surrogate travels as the escape JavaScript's JSON.stringify writes
    return json.dumps(doc, ensure_ascii=True).encode()


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def test_a_lone_surrogate_or_a_nul_in_text_becomes_the_replacement_character():
    env = c.parse_event(DWELL, visit("left\ud800 of a\u0000b"))
    assert env.data.track == "left\ufffd of a\ufffdb"
    env.to_json().decode("utf-8")  # and it serialises again, as the store does
    assert storable_text("ok \U0001f600") == "ok \U0001f600"  # a real pair is left alone
    assert c.parse_event(DWELL, visit("\ud83d\ude00")).data.track == "\U0001f600"


def test_a_surrogate_in_a_vitals_key_or_value_is_replaced_too():
    doc = envelope("health", {"fps": 9.5})
    doc["data"]["\udc80note"] = ["x\udbff"]
    env = c.parse_event(HEALTH, json.dumps(doc).encode())
    assert json.loads(env.data.model_dump_json()) == {
        "fps": 9.5, "cpu": None, "outbox": None, "temp_c": None, "skipped": None,
        "\ufffdnote": ["x\ufffd"]}


@pytest.mark.parametrize("levels", [MAX_DEPTH, 256, 1500])
def test_deep_nesting_is_refused_at_parse_time_and_the_seq_still_read(levels: int):
    # 1500 levels: deeper than Python's JSON parser goes, and still under 4 KiB
    doc = envelope("health", {"fps": 1.0}, seq=41)
    doc["data"]["deep"] = "DEEP"
    raw = json.dumps(doc).encode().replace(b'"DEEP"', b"[" * levels + b"1" + b"]" * levels)
    assert len(raw) <= c.MAX_PAYLOAD_BYTES
    with pytest.raises(c.ContractError, match=f"nested more than {MAX_DEPTH} levels"):
        c.parse_event(HEALTH, raw)
    assert c.peek_seq(raw) == 41


def test_nesting_up_to_the_bound_passes():
    doc = envelope("health", {"fps": 1.0})
    doc["data"]["deep"] = nested(MAX_DEPTH - 2)  # envelope, data, then the vital's lists
    env = c.parse_event(HEALTH, json.dumps(doc).encode())
    assert "deep" in env.data.model_dump_json()


def test_the_top_level_of_a_payload_too_deep_to_parse():
    text = '{"seq": 5, "s": "[{\\"", "data": ' + "[" * 2000 + "]" * 2000 + ', "v": 1}'
    assert top_level(text) == {"seq": 5, "s": '[{"', "data": None, "v": 1}


def test_the_seq_of_a_payload_that_is_not_all_utf8_is_still_read():
    raw = b'{"seq": 12, "data": {"track": "\xff\xfe"}}'
    with pytest.raises(c.ContractError, match="not UTF-8"):
        c.parse_event(DWELL, raw)
    assert c.peek_seq(raw) == 12
    assert c.peek_seq(b"[[[") is None and c.peek_seq(b"\xff") is None


def test_a_status_with_unstorable_text_is_made_storable_or_refused():
    status = c.parse_status(b'{"state": "online", "boot_id": "b\\ud800", "version": "1\\u0000"}')
    assert (status.boot_id, status.version) == ("b\ufffd", "1\ufffd")
    with pytest.raises(c.ContractError, match="nested more than"):
        c.parse_status(json.dumps({"state": "online", "x": nested(100)}).encode())
    with pytest.raises(c.ContractError, match="state"):
        c.parse_status(b'{"state": "asleep"}')


def test_the_schema_for_device_builders_states_the_nesting_bound():
    assert c.json_schema()["max_nesting_levels"] == MAX_DEPTH
