"""The device link against a real mosquitto and the real aggregator."""

from __future__ import annotations

import time

from peakend.broker.device.link import DeviceLink, LinkSettings


def make_link(
    hub, tmp_path, device_id="kiosk-01", store="s001", zone="checkout", **kw
) -> DeviceLink:
    url = hub.provision(device_id, store, [zone], "kiosk")
    settings = LinkSettings(
        mqtt_url=url,
        device_id=device_id,
        store_id=store,
        zone_id=zone,
        role="kiosk",
        outbox_path=tmp_path / f"{device_id}.sqlite",
        **kw,
    )
    return DeviceLink(settings)


def test_rating_is_stored_acked_and_leaves_the_outbox(hub, tmp_path):
    link = make_link(hub, tmp_path)
    link.start()
    try:
        sent = [link.send("rating", {"score": s}) for s in (1, 2, 3, 4)]
        assert link.wait_acked(timeout=15), link.stats()
        assert link.stats().outbox_depth == 0
    finally:
        link.stop()
    rows = hub.rows("SELECT msg_id, score, seq FROM ratings ORDER BY seq")
    assert [r["msg_id"] for r in rows] == [str(e.msg_id) for e in sent]
    assert [r["score"] for r in rows] == [1, 2, 3, 4]
    assert hub.scalar("SELECT acked_seq FROM devices WHERE device_id='kiosk-01'") == 4
    assert hub.wait_until(
        lambda: hub.scalar("SELECT state FROM devices WHERE device_id='kiosk-01'") == "offline"
    )


def test_a_device_that_connects_gets_the_databases_ack_not_a_stale_retained_one(hub, tmp_path):
    """A bridge or broker restart can leave an older ack retained; the device's birth is
    answered from the database, so the ack it finds on connecting is right again."""
    link = make_link(hub, tmp_path)
    link.start()
    try:
        for s in (1, 2, 3, 4, 2):
            link.send("rating", {"score": s})
        assert link.wait_acked(timeout=15), link.stats()
    finally:
        link.stop()
    assert hub.wait_until(lambda: hub.retained_ack("s001", "kiosk-01") == 5)
    # what a broker restored from an older persistence file, or a late bridge redelivery, does
    hub.publish_retained("peakend/v1/s001/kiosk-01/ack", '{"seq": 2}')
    assert hub.retained_ack("s001", "kiosk-01") == 2

    link = make_link(hub, tmp_path)  # the device comes back (same outbox)
    link.start()
    try:
        assert hub.wait_until(lambda: hub.retained_ack("s001", "kiosk-01") == 5, timeout=15)
        assert link.stats().acked_seq == 5 and link.stats().outbox_depth == 0
    finally:
        link.stop()
    # the birth moved no message counter and stored nothing
    assert hub.scalar("SELECT count(*) FROM ratings") == 5


def test_a_status_under_another_store_is_quarantined_and_gets_no_ack(hub, tmp_path):
    import paho.mqtt.client as mqtt

    from peakend.broker.device.config import parse_mqtt_url

    link = make_link(hub, tmp_path)
    password = parse_mqtt_url(link.settings.mqtt_url).password
    link.start()
    try:
        link.send("rating", {"score": 3})
        assert link.wait_acked(timeout=15), link.stats()
    finally:
        link.stop()
    # the broker's ACL lets a device name any store in its topics; the registry does not
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set("kiosk-01", password)
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    client.publish("peakend/v1/s002/kiosk-01/status", '{"state": "online"}', qos=1,
                   retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM quarantine") == 1, 10)
    assert "store 's002' does not match store 's001'" in hub.scalar(
        "SELECT reason FROM quarantine")
    assert hub.scalar("SELECT store_id FROM devices WHERE device_id='kiosk-01'") == "s001"
    assert hub.retained_ack("s002", "kiosk-01") is None
    assert hub.retained_ack("s001", "kiosk-01") == 1


def test_a_hub_restart_answers_no_birth_of_devices_that_have_heard_from_it(hub, tmp_path):
    """Replayed retained births are no news: a restart of the hub (or of a chain's centre)
    must not publish an ack for every device at once."""
    import json

    import paho.mqtt.client as mqtt

    from peakend.broker.device.config import parse_mqtt_url
    from peakend.broker.field.mosquitto import tools_url

    links = [make_link(hub, tmp_path, device_id=f"kiosk-0{i}") for i in (1, 2, 3)]
    for link in links:
        link.start()
    try:
        for link in links:
            link.send("rating", {"score": 4})
        assert all(link.wait_acked(timeout=15) for link in links)
        statuses = hub.rows("SELECT device_id, state FROM devices ORDER BY device_id")
        assert [s["state"] for s in statuses] == ["online"] * 3
        seen: list[tuple[str, int]] = []
        target = parse_mqtt_url(tools_url(hub.dir.root))
        watch = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        watch.username_pw_set(target.username, target.password)
        # retain-handling 2: only acks published from now on, not the retained ones
        watch.on_connect = lambda c, *_: c.subscribe(
            "peakend/v1/+/+/ack", options=mqtt.SubscribeOptions(qos=1, retainHandling=2))
        watch.on_message = lambda c, u, m: seen.append((m.topic, json.loads(m.payload)["seq"]))
        watch.connect("127.0.0.1", hub.port)
        watch.loop_start()
        time.sleep(1.0)
        # a restart: on subscribing again, the broker replays every retained birth to the hub
        hub.stop_aggregator()
        hub.start_aggregator()
        assert hub.wait_until(lambda: hub.aggregator.counters.statuses >= 3, 10)
        time.sleep(1.0)
        watch.disconnect()
        watch.loop_stop()
        assert seen == []
    finally:
        for link in links:
            link.stop()
