"""A device speaks only for itself: mosquitto's ACL and passwords, against the real broker."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

from hubtools import PEAKEND
from peakend.broker.wire.contract import new_envelope


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def connect(hub, user: str, password: str, client_id: str | None = None):
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or user, protocol=mqtt.MQTTv5
    )
    client.username_pw_set(user, password)
    result: dict = {"connected": threading.Event(), "reason": None, "messages": []}

    def on_connect(c, u, f, reason, p):
        result["reason"] = reason
        result["connected"].set()

    client.on_connect = on_connect
    client.on_message = lambda c, u, m: result["messages"].append((m.topic, m.payload))
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    result["connected"].wait(5)
    return client, result


def rating(device: str, seq: int = 1) -> bytes:
    return new_envelope(
        device_id=device,
        store_id="s001",
        zone_id="checkout",
        seq=seq,
        event_type="rating",
        data={"score": 4},
    ).to_json()


def test_wrong_password_is_refused(hub):
    hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    client, result = connect(hub, "kiosk-01", "not-the-password")
    try:
        assert result["reason"] is not None and result["reason"].is_failure
        assert "authori" in str(result["reason"]).lower()
    finally:
        client.loop_stop()


def test_a_device_cannot_publish_as_another_device(hub):
    url1 = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    hub.provision("kiosk-02", "s001", ["checkout"], "kiosk")
    client, result = connect(hub, "kiosk-01", password_of(url1))
    pubacks: list = []
    client.on_publish = lambda c, u, mid, reason, p: pubacks.append(reason)
    disconnects: list = []
    client.on_disconnect = lambda c, u, f, reason, p: disconnects.append(reason)
    try:
        assert not result["reason"].is_failure
        client.publish("peakend/v1/s001/kiosk-02/evt/rating", rating("kiosk-02"), qos=1)
        client.publish("peakend/v1/s001/kiosk-02/status", b'{"state":"online"}', qos=1)
        # Its own topic works on the same connection, so the refusals above are the ACL's doing.
        client.publish("peakend/v1/s001/kiosk-01/evt/rating", rating("kiosk-01"), qos=1)
        assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM ratings") == 1)
        time.sleep(0.5)
    finally:
        client.loop_stop()
        client.disconnect()
    assert hub.rows("SELECT * FROM ledger WHERE device_id = 'kiosk-02'") == []
    assert hub.rows("SELECT * FROM devices WHERE device_id = 'kiosk-02'") == []
    assert hub.scalar("SELECT device_id FROM ratings") == "kiosk-01"
    refused = [r for r in pubacks if r.is_failure] + [r for r in disconnects if r.is_failure]
    assert refused, (pubacks, disconnects)


def test_a_device_reads_only_its_own_ack(hub):
    url1 = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    url2 = hub.provision("kiosk-02", "s001", ["checkout"], "kiosk")
    # kiosk-02 gets a retained ack from the hub.
    sender, _ = connect(hub, "kiosk-02", password_of(url2))
    sender.publish(
        "peakend/v1/s001/kiosk-02/evt/rating", rating("kiosk-02"), qos=1
    ).wait_for_publish(5)
    assert hub.wait_until(
        lambda: hub.scalar("SELECT acked_seq FROM devices WHERE device_id='kiosk-02'") == 1
    )
    sender.loop_stop()
    sender.disconnect()

    spy, result = connect(hub, "kiosk-01", password_of(url1))
    try:
        spy.subscribe("peakend/v1/s001/kiosk-02/ack", qos=1)
        spy.subscribe("peakend/v1/+/+/ack", qos=1)
        spy.subscribe("peakend/v1/s001/kiosk-01/ack", qos=1)
        time.sleep(1.5)
    finally:
        spy.loop_stop()
        spy.disconnect()
    topics = {t for t, _ in result["messages"]}
    assert "peakend/v1/s001/kiosk-02/ack" not in topics

    # The same subscription made by kiosk-02 itself does see its ack: the check above is real.
    owner, result2 = connect(hub, "kiosk-02", password_of(url2))
    try:
        owner.subscribe("peakend/v1/s001/kiosk-02/ack", qos=1)
        assert hub.wait_until(lambda: result2["messages"], 5)
    finally:
        owner.loop_stop()
        owner.disconnect()
    assert json.loads(result2["messages"][0][1]) == {"seq": 1}


def test_mosquitto_pub_with_a_provisioned_account_delivers_a_rating(hub):
    url = hub.provision("kiosk-09", "s001", ["checkout"], "kiosk")
    payload = new_envelope(
        device_id="kiosk-09",
        store_id="s001",
        zone_id="checkout",
        seq=1,
        event_type="rating",
        data={"score": 1},
    ).to_json()
    subprocess.run(
        [
            "mosquitto_pub",
            "-V",
            "mqttv5",
            "-h",
            "127.0.0.1",
            "-p",
            str(hub.port),
            "-u",
            "kiosk-09",
            "-P",
            password_of(url),
            "-i",
            "kiosk-09",
            "-t",
            "peakend/v1/s001/kiosk-09/evt/rating",
            "-q",
            "1",
            "-m",
            payload.decode(),
        ],
        check=True,
        timeout=10,
    )
    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM ratings") == 1)
    report = subprocess.run(
        [*PEAKEND, "report", "--db", str(hub.db_path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    text = json.dumps(doc)
    assert "s001" in text and "checkout" in text
