"""One place that turns an MQTT URL into a configured paho-mqtt 2.x v5 client."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from peakend.broker.device.config import MqttUrl, parse_mqtt_url

# Long enough to ride out a weekend-long hub outage without the broker forgetting the session.
SESSION_EXPIRY_S = 14 * 24 * 3600


def make_client(
    url: str | MqttUrl,
    client_id: str,
    *,
    ca_file: str | None = None,
    manual_ack: bool = False,
) -> tuple[mqtt.Client, MqttUrl]:
    target = parse_mqtt_url(url) if isinstance(url, str) else url
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        context = ssl.create_default_context(cafile=ca_file)
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client, target


def connect_properties(*, persistent: bool, receive_maximum: int | None = None) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    return props
