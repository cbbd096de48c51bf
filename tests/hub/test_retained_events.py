"""Events are never retained: one a device publishes with the retain flag is stored (or
quarantined) once, and the broker keeps no copy to replay to a new subscriber or after a
restart."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt

from hubtools import Hub
from peakend.broker.wire.contract import event_topic, new_envelope, status_topic


def retained_events(hub: Hub) -> list[str]:
    """The event topics a subscriber arriving now is handed from the broker's retained store."""
    got: list[str] = []
    subscribed = threading.Event()
    client = hub._hub_client()
    client.on_message = lambda c, u, m: got.append(m.topic) if m.retain else None
    client.on_subscribe = lambda *a: subscribed.set()
    client.subscribe("peakend/v1/+/+/evt/#", qos=1)
    subscribed.wait(3)
    # retained messages come right behind the SUBACK; give them a moment
    threading.Event().wait(0.5)
    client.disconnect()
    client.loop_stop()
    return got


def test_a_retained_event_is_stored_once_and_not_kept_at_the_broker(hub: Hub) -> None:
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    device = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-01", protocol=mqtt.MQTTv5
    )
    device.username_pw_set("kiosk-01", password)
    device.connect("127.0.0.1", hub.port)
    device.loop_start()
    try:
        good = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout", seq=1,
                            event_type="rating", data={"score": 4}).to_json()
        rating = event_topic("s001", "kiosk-01", "rating")
        invented = "peakend/v1/s001/kiosk-01/evt/selfie"
        for topic, payload in ((rating, good), (invented, b'{"v": 1, "seq": 2}')):
            device.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
        # a retained status is the contract's birth, and stays
        device.publish(status_topic("s001", "kiosk-01"), json.dumps({"state": "online"}),
                       qos=1, retain=True).wait_for_publish(5)
    finally:
        device.loop_stop()
        device.disconnect()

    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM ratings") == 1)
    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM quarantine") == 1)
    assert hub.wait_until(lambda: retained_events(hub) == [], 10), retained_events(hub)

    hub.stop_aggregator()
    hub.stop_broker()
    hub.start_broker()
    assert retained_events(hub) == [], "replayed after a broker restart"
    hub.start_aggregator()
    assert hub.wait_until(lambda: hub.scalar(
        "SELECT state FROM devices WHERE device_id = 'kiosk-01'") == "online")
    # nothing more was stored or quarantined: the clearing messages are no events
    assert hub.scalar("SELECT count(*) FROM ratings") == 1
    assert hub.scalar("SELECT count(*) FROM quarantine") == 1
    assert hub.retained_ack("s001", "kiosk-01") == 2
