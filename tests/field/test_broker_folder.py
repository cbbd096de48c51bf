"""A broker folder survives restarts on other ports: credentials stay, addresses follow."""

from __future__ import annotations

from hubtools import Hub
from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.field.mosquitto import Mosquitto, aggregator_url, free_port, prepare


def test_a_restart_on_another_port_keeps_the_password_and_moves_the_aggregator(bare_hub: Hub):
    first = parse_mqtt_url(aggregator_url(bare_hub.dir.root))
    port = free_port()
    d = prepare(bare_hub.dir.root, port=port)
    second = parse_mqtt_url(aggregator_url(d.root))
    assert second.port == port != first.port
    assert second.password == first.password
    broker = Mosquitto(d, port=port)
    broker.start()
    try:
        bare_hub.aggregator_url = aggregator_url(d.root)
        bare_hub.start_aggregator()  # asserts that it connects
    finally:
        bare_hub.stop_aggregator()
        broker.stop()
