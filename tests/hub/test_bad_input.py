"""Bad input is quarantined with a reason, changes nothing else, and never stops the hub."""

from __future__ import annotations

import json
import uuid

import paho.mqtt.client as mqtt
import pytest

from peakend.broker.wire.contract import new_envelope


def device_client(hub, url_user: str, password: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=url_user, protocol=mqtt.MQTTv5)
    client.username_pw_set(url_user, password)
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    return client


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def good(seq: int, **over) -> dict:
    env = new_envelope(
        device_id="kiosk-01",
        store_id="s001",
        zone_id="checkout",
        seq=seq,
        event_type="rating",
        data={"score": 3},
    )
    doc = json.loads(env.to_json())
    doc.update(over)
    return doc


@pytest.fixture
def kiosk(hub):
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    client = device_client(hub, "kiosk-01", password_of(url))
    yield client
    client.loop_stop()
    client.disconnect()


def publish(client, topic: str, payload: bytes) -> None:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(5)


RATING = "peakend/v1/s001/kiosk-01/evt/rating"


def test_each_kind_of_bad_input_is_quarantined_with_its_reason(hub, kiosk):
    first = good(1)
    wrong_type = good(3)
    wrong_type["data"] = {"score": "four"}
    unknown = good(4, type="selfie")
    huge = good(5)
    huge["data"] = {"score": 3, "reason": None, "flags": [], "pad": "x" * 5000}
    replay = good(8, msg_id=first["msg_id"])
    cases = [
        (RATING, json.dumps(first).encode(), None),
        (RATING, b'{"v": 1, "seq": 2, "msg_id": ', "not JSON"),
        (RATING, json.dumps(wrong_type).encode(), "data.score"),
        ("peakend/v1/s001/kiosk-01/evt/selfie", json.dumps(unknown).encode(), "unknown type"),
        (RATING, json.dumps(huge).encode(), "limit is 4096"),
        (RATING, b"\xff\xfe\x00not utf-8", "not UTF-8"),
        (
            "peakend/v1/s002/kiosk-01/evt/rating",
            json.dumps(good(6, store_id="s002")).encode(),
            "does not match store 's001' registered",
        ),
        (RATING, json.dumps(good(7, zone_id="entrance")).encode(), "not a zone registered"),
        (RATING, json.dumps(replay).encode(), "replayed msg_id"),
        (RATING, json.dumps(good(9, ts="2031-01-01T00:00:00.000Z")).encode(), "in the future"),
        (RATING, json.dumps(good(10, clock_synced="yes")).encode(), "clock_synced"),
        (RATING, b"[1, 2, 3]", "JSON object"),
    ]
    for topic, payload, _ in cases:
        publish(kiosk, topic, payload)
    last = good(11)
    publish(kiosk, RATING, json.dumps(last).encode())

    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM ratings") == 2, 10)
    reasons = [r["reason"] for r in hub.rows("SELECT reason FROM quarantine ORDER BY id")]
    expected = [want for _, _, want in cases if want]
    assert len(reasons) == len(expected), reasons
    for want in expected:
        assert sum(want in reason for reason in reasons) == 1, (want, reasons)
    # The raw bytes are kept for forensics.
    raw = hub.scalar("SELECT raw FROM quarantine WHERE reason LIKE '%not UTF-8%'")
    assert raw == b"\xff\xfe\x00not utf-8"
    # Only the two valid ratings count; the hub kept working after every bad one.
    stored = hub.rows("SELECT msg_id, score FROM ratings ORDER BY seq")
    assert [r["msg_id"] for r in stored] == [first["msg_id"], last["msg_id"]]
    assert hub.aggregator is not None and hub.aggregator.counters.quarantined == len(expected)


def test_a_quarantined_message_with_a_readable_seq_still_moves_the_ack(hub, kiosk):
    bad = good(2)
    bad["data"] = {"score": 9}
    for doc in (good(1), bad, good(3)):
        publish(kiosk, RATING, json.dumps(doc).encode())
    assert hub.wait_until(
        lambda: hub.scalar("SELECT acked_seq FROM devices WHERE device_id='kiosk-01'") == 3
    )
    assert hub.scalar("SELECT count(*) FROM ratings") == 2
    assert "less than or equal to 4" in hub.scalar("SELECT reason FROM quarantine")


def test_a_redelivered_message_is_stored_once_and_not_quarantined(hub, kiosk):
    doc = json.dumps(good(1)).encode()
    for _ in range(3):
        publish(kiosk, RATING, doc)
    assert hub.wait_until(lambda: hub.aggregator.counters.duplicates == 2, 10)
    assert hub.scalar("SELECT count(*) FROM ratings") == 1
    assert hub.scalar("SELECT count(*) FROM quarantine") == 0


def test_a_seq_reused_for_another_message_is_quarantined_not_stored(hub, kiosk):
    publish(kiosk, RATING, json.dumps(good(1)).encode())
    other = good(1, msg_id=str(uuid.uuid4()))
    publish(kiosk, RATING, json.dumps(other).encode())
    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM quarantine") == 1, 10)
    assert "already used by msg_id" in hub.scalar("SELECT reason FROM quarantine")
    assert hub.scalar("SELECT count(*) FROM ratings") == 1


def test_a_message_under_another_store_is_acked_where_the_device_publishes(hub, kiosk):
    """A device configured for the wrong store listens there: its quarantined messages are
    acked on that topic, so it drains into the quarantine instead of resending for ever."""
    publish(kiosk, "peakend/v1/s002/kiosk-01/evt/rating",
            json.dumps(good(1, store_id="s002")).encode())
    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM quarantine") == 1, 10)
    assert hub.wait_until(lambda: hub.retained_ack("s002", "kiosk-01") == 1, 10)
    publish(kiosk, RATING, json.dumps(good(2)).encode())
    assert hub.wait_until(lambda: hub.retained_ack("s001", "kiosk-01") == 2, 10)
