"""No single message can freeze a device's ack or split its batch: inputs that pass JSON but
used to fail only at the database are made storable or refused with a reason, in one
transaction with the rest, and each leaves its seq in the ledger. On both engines, then once
through the real hub and mosquitto."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import event_topic, format_ts, new_envelope

Message = tuple[str, bytes, float]


def envelope(seq: int, event_type: str, data: dict, **over) -> dict:
    doc = json.loads(new_envelope(
        device_id="cam-01", store_id="s001", zone_id="checkout", seq=seq,
        event_type=event_type, data=data).to_json())
    return {**doc, **over}


def message(doc: dict, received: float | None = None) -> Message:
    # ensure_ascii: a lone surrogate travels as JavaScript's JSON.stringify writes it, "\ud800"
    raw = json.dumps(doc, ensure_ascii=True).encode()
    return event_topic("s001", "cam-01", doc["type"]), raw, received or time.time()


def rating(seq: int) -> dict:
    return envelope(seq, "rating", {"score": 3})


def visit(seq: int, track: object = 7, **over) -> dict:
    doc = envelope(seq, "dwell", {"track": 1, "enter": "2026-01-05T09:00:00Z",
                                  "exit": "2026-01-05T09:00:10Z", "dwell_s": 10}, **over)
    doc["data"]["track"] = track
    return doc


def deep_vital(seq: int, levels: int) -> bytes:
    doc = envelope(seq, "health", {"fps": 9.0})
    doc["data"]["deep"] = "DEEP"
    return json.dumps(doc).encode().replace(b'"DEEP"', b"[" * levels + b"1" + b"]" * levels)


def unshiftable(seq: int) -> tuple[dict, float]:
    """A visit entering at the first moment of year 1, from a device whose unsynchronised clock
    runs a second ahead of the hub's: moved to the hub's clock it would fall before year 1."""
    now = datetime.now(UTC)
    doc = envelope(seq, "dwell", {"track": 1, "enter": "0001-01-01T00:00:00Z",
                                  "exit": "0001-01-01T00:00:05Z", "dwell_s": 5},
                   clock_synced=False, ts=format_ts(now + timedelta(seconds=1)))
    return doc, now.timestamp()


@pytest.fixture
def ingest(db_url: str):
    ingest = Ingest(db_url)
    yield ingest
    ingest.close()


def handled_in_one_transaction(ingest: Ingest, batch: list[Message]):
    """The batch's result, and how many write transactions it took: a message that fails the
    whole batch makes the writer store it again one message at a time."""
    opened = []
    real = ingest.store.transaction

    def counting():
        opened.append(1)
        return real()

    ingest.store.transaction = counting  # type: ignore[method-assign]
    try:
        return ingest.handle(batch), len(opened)
    finally:
        ingest.store.transaction = real  # type: ignore[method-assign]


def ledger(ingest: Ingest) -> list[tuple[int, str]]:
    return [tuple(r) for r in ingest.store.db.execute(
        "SELECT seq, outcome FROM ledger WHERE device_id = 'cam-01' ORDER BY seq")]


def reasons(ingest: Ingest) -> dict[int, str]:
    return dict(ingest.store.db.execute("SELECT seq, reason FROM quarantine").fetchall())


def test_lone_surrogates_and_nuls_are_stored_replaced_and_the_ack_moves_on(ingest):
    vitals = envelope(3, "health", {"fps": 9.0})
    vitals["data"]["\ud800note"] = "fan\udfff\u0000"
    batch = [message(rating(1)), message(visit(2, track="a\ud800b\u0000")), message(vitals),
             message(rating(4))]
    result, transactions = handled_in_one_transaction(ingest, batch)
    assert (result.counters.stored, result.counters.quarantined) == (4, 0)
    assert transactions == 1
    assert result.acks["cam-01"] == ("s001", 4)
    db = ingest.store.db
    assert db.execute("SELECT track FROM dwells").fetchone()[0] == "a\ufffdb\ufffd"
    data = json.loads(db.execute("SELECT data FROM health").fetchone()[0])
    assert data["\ufffdnote"] == "fan\ufffd\ufffd"


def test_a_vital_nested_deep_is_refused_at_parse_time_and_its_seq_counts(ingest):
    # 256 levels used to pass the contract and fail in the store; 1500 is deeper than the JSON
    # parser goes, which hid the seq and froze the device's ack for good
    batch = [message(rating(1)),
             (event_topic("s001", "cam-01", "health"), deep_vital(2, 256), time.time()),
             (event_topic("s001", "cam-01", "health"), deep_vital(3, 1500), time.time()),
             message(rating(4))]
    result, transactions = handled_in_one_transaction(ingest, batch)
    assert (result.counters.stored, result.counters.quarantined) == (2, 2)
    assert transactions == 1
    assert result.acks["cam-01"] == ("s001", 4)
    assert ledger(ingest) == [(1, "stored"), (2, "quarantined"), (3, "quarantined"),
                              (4, "stored")]
    assert reasons(ingest) == {2: "payload is nested more than 32 levels deep",
                               3: "payload is nested more than 32 levels deep"}


def test_times_that_cannot_be_shifted_are_refused_with_a_reason_and_their_seq_counts(ingest):
    doc, received = unshiftable(2)
    batch = [message(rating(1)), message(doc, received), message(rating(3))]
    result, transactions = handled_in_one_transaction(ingest, batch)
    assert (result.counters.stored, result.counters.quarantined) == (2, 1)
    assert transactions == 1
    assert result.acks["cam-01"] == ("s001", 3)
    assert ledger(ingest) == [(1, "stored"), (2, "quarantined"), (3, "stored")]
    assert "cannot be moved to the hub's clock" in reasons(ingest)[2]
    assert ingest.store.count("dwells") == 0


def test_a_msg_id_replayed_under_a_new_seq_counts_at_that_seq_in_any_batch(ingest):
    first = rating(1)
    ingest.handle([message(first), message(rating(2))])
    # the copy arrives in a later batch (an outbox renumbered by a re-flash), then again
    replay = {**first, "seq": 3}
    result = ingest.handle([message(replay), message(rating(4))])
    assert result.acks["cam-01"] == ("s001", 4)
    again = ingest.handle([message(replay)])
    assert again.acks["cam-01"] == ("s001", 4)
    assert ledger(ingest) == [(1, "stored"), (2, "stored"), (3, "quarantined"), (4, "stored")]
    assert reasons(ingest)[3] == "replayed msg_id: already stored as cam-01 seq 1"
    assert ingest.store.count("ratings") == 3


def test_each_poison_goes_through_the_real_hub_and_the_ack_passes_it(hub):
    """The same inputs as a device publishes them to mosquitto: the hub keeps storing, each is
    handled at its seq, and the retained ack the device hears passes all of them."""
    url = hub.provision("cam-01", "s001", ["checkout"], "edge")
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cam-01",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set("cam-01", password)
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    first = rating(1)
    vitals = envelope(3, "health", {"fps": 9.0})
    vitals["data"]["note"] = "\ud800"
    time_bomb = envelope(6, "dwell", {"track": 1, "enter": "0001-01-01T00:00:00Z",
                                      "exit": "0001-01-01T00:00:05Z", "dwell_s": 5},
                         clock_synced=False, ts="0001-01-01T00:00:00.000Z")
    # the hub's clock is at least a day ahead of year 1; moved by that much, 9999 overflows
    time_bomb["data"].update(enter="9999-12-31T00:00:00Z", exit="9999-12-31T00:00:05Z")
    sends = [message(first)[:2], message(visit(2, track="\ud800"))[:2], message(vitals)[:2],
             (event_topic("s001", "cam-01", "health"), deep_vital(4, 256)),
             (event_topic("s001", "cam-01", "health"), deep_vital(5, 1500)),
             message(time_bomb)[:2], message({**first, "seq": 7})[:2], message(rating(8))[:2]]
    try:
        for topic, payload in sends:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        assert hub.wait_until(lambda: hub.retained_ack("s001", "cam-01") == 8, 20), (
            hub.rows("SELECT seq, outcome FROM ledger"), hub.rows("SELECT reason FROM quarantine"))
    finally:
        client.loop_stop()
        client.disconnect()
    assert hub.scalar("SELECT acked_seq FROM devices WHERE device_id = 'cam-01'") == 8
    assert [r["seq"] for r in hub.rows("SELECT seq FROM ledger ORDER BY seq")] == list(
        range(1, 9))
    quarantined = {r["seq"]: r["reason"] for r in hub.rows("SELECT seq, reason FROM quarantine")}
    assert sorted(quarantined) == [4, 5, 6, 7]
    assert "nested more than 32 levels" in quarantined[4] and "nested" in quarantined[5]
    assert "cannot be moved to the hub's clock" in quarantined[6]
    assert "replayed msg_id" in quarantined[7]
    assert hub.scalar("SELECT track FROM dwells") == "\ufffd"
    assert hub.aggregator is not None and hub.aggregator.alive()
