"""Client id = account, enforced by the real mosquitto: a device account that asks for the
aggregator's client id, or another device's, neither knocks that client off nor gets its
session."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from peakend.broker.field.mosquitto import AGGREGATOR_USER, hub_account

from .conftest import run_peakend


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


class Client:
    """A paho client that records its connection's fate."""

    def __init__(self, port: int, user: str, password: str, client_id: str,
                 expiry_s: int = 3600) -> None:
        self.connected = threading.Event()
        self.session_present: bool | None = None
        self.reason: Any = None
        self.disconnects: list[str] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda c, u, f, reason, p: self.disconnects.append(str(reason))
        # clean_start False: a session the broker holds for the id is resumed, and says so
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = expiry_s
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.connected.wait(5), f"{user} ({client_id}) got no CONNACK"

    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self.reason = reason
        self.session_present = bool(flags.session_present)
        self.connected.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_device_account_cannot_take_the_aggregators_or_another_devices_client_id(hub) -> None:
    attacker_url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    victim_url = hub.provision("kiosk-02", "s001", ["checkout"], "kiosk")
    aggregator = hub.aggregator
    assert aggregator.connected.wait(10)
    # kiosk-02 leaves a persistent session at the broker, then comes back to it
    victim = Client(hub.port, "kiosk-02", password_of(victim_url), "kiosk-02")
    victim.client.subscribe("peakend/v1/s001/kiosk-02/ack", qos=1)
    time.sleep(0.3)
    victim.close()
    victim = Client(hub.port, "kiosk-02", password_of(victim_url), "kiosk-02")
    assert victim.session_present
    aggregator_drops: list[float] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            if not aggregator.connected.is_set():
                aggregator_drops.append(time.monotonic())
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for stolen in (AGGREGATOR_USER, "kiosk-02"):
            attacker = Client(hub.port, "kiosk-01", password_of(attacker_url), stolen, 0)
            try:
                # let in, as itself: had it got the id it asked for, it would have resumed
                # that client's persistent session
                assert not attacker.reason.is_failure
                assert not attacker.session_present, f"kiosk-01 got the session of {stolen}"
                time.sleep(1.5)  # paho reconnects after 1 s: a takeover would show by now
                assert attacker.disconnects == []
            finally:
                attacker.close()
        assert aggregator_drops == [], "the aggregator was knocked off"
        assert victim.disconnects == [], f"kiosk-02 was knocked off: {victim.disconnects}"
        # and ingest went on: kiosk-02's rating is stored
        from peakend.broker.wire.contract import new_envelope

        envelope = new_envelope(device_id="kiosk-02", store_id="s001", zone_id="checkout",
                                seq=1, event_type="rating", data={"score": 4})
        victim.client.publish("peakend/v1/s001/kiosk-02/evt/rating", envelope.to_json(), qos=1)
        assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM ratings") == 1, 10)
    finally:
        watching.set()
        watcher.join()
        victim.close()


def test_each_worker_gets_an_account_of_its_own_and_a_bad_client_id_is_refused(bare_hub) -> None:
    hub = bare_hub
    hub.start_broker()
    # `peakend bridge worker` makes the worker's account once and prints its URL
    first = run_peakend("bridge", "worker", "--data", str(hub.dir.root), "--name",
                        "peakend-worker-1", "--centre", "mqtts://central.example.net:8883")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("mqtts://peakend-worker-1:") and url.endswith(
        "@central.example.net:8883")
    again = run_peakend("bridge", "worker", "--data", str(hub.dir.root), "--name",
                        "peakend-worker-1", "--centre", "mqtts://central.example.net:8883")
    assert again.stdout.strip() == url  # the same account, not a new password
    local = hub_account(hub.dir.root, "peakend-worker-1")
    password = local.split("@")[0].rsplit(":", 1)[1]
    assert hub.wait_until(lambda: hub.can_connect("peakend-worker-1", password), 10)
    assert "user peakend-worker-1" in hub.dir.acl.read_text()

    bad = run_peakend("serve", "--db", str(hub.db_path), "--broker-data", str(hub.dir.root),
                      "--client-id", "kiosk-01")
    assert bad.returncode == 2
    assert "cannot be a hub account" in bad.stderr and "peakend-worker-1" in bad.stderr
    mismatch = run_peakend("serve", "--db", str(hub.db_path), "--mqtt", local,
                           "--client-id", "peakend-worker-2")
    assert mismatch.returncode == 2
    assert "is not the account of --mqtt (peakend-worker-1)" in mismatch.stderr
    assert password not in mismatch.stderr  # the URL is shown without its password
