"""A bad config file names the file, the field and the fix."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from peakend.broker.device.config import (
    ConfigError,
    DeviceSection,
    MqttSection,
    load_config,
    parse_mqtt_url,
)


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: DeviceSection
    mqtt: MqttSection


GOOD = """
[device]
id = "kiosk-01"
store = "s001"
zone = "checkout"
role = "kiosk"

[mqtt]
url = "mqtt://kiosk-01:secret@hub.local:1883"
"""


def problem(tmp_path, text: str) -> str:
    path = tmp_path / "device.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, Device)
    message = str(exc.value)
    assert str(path) in message
    return message


def test_a_good_file_loads(tmp_path):
    path = tmp_path / "device.toml"
    path.write_text(GOOD)
    assert load_config(path, Device).device.id == "kiosk-01"


@pytest.mark.parametrize(
    "change, words",
    [
        (('store = "s001"', 'store = "Store 1"'), ["device.store", "lowercase letters"]),
        (('role = "kiosk"', 'role = "camera"'), ["device.role", "kiosk, edge"]),
        (('url = "mqtt://', 'url = "http://'), ["mqtt.url", "mqtt://USER:PASSWORD@HOST:PORT"]),
        (('zone = "checkout"', 'zone = "checkout"\nzonez = 3'), ["device.zonez", "spelling"]),
        (('id = "kiosk-01"\n', ""), ["device.id", "add it"]),
        (('[mqtt]', '[mqtt'), ["not valid TOML"]),
    ],
)
def test_each_mistake_names_its_field_and_fix(tmp_path, change, words):
    message = problem(tmp_path, GOOD.replace(*change))
    for word in words:
        assert word in message, message


def test_a_missing_file_points_to_the_examples(tmp_path):
    with pytest.raises(ConfigError, match="deploy/examples"):
        load_config(tmp_path / "nope.toml", Device)


def test_mqtt_urls_parse_with_tls_default_ports_and_env_password(monkeypatch):
    url = parse_mqtt_url("mqtts://cam-01@hub:8884")
    assert url.tls and url.port == 8884 and url.username == "cam-01"
    monkeypatch.setenv("PEAKEND_MQTT_PASSWORD", "from-env")
    assert parse_mqtt_url("mqtt://cam-01@hub").password == "from-env"
    assert parse_mqtt_url("mqtt://cam-01@hub").port == 1883
    assert "***" in parse_mqtt_url("mqtt://a:b@h:1").redacted()
