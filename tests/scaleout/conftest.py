"""Fixtures for the chain scale-out: a central broker, a bridged store broker and workers into
PostgreSQL. ``pg_url`` and ``db_url`` come from the shared plugin ``pgtools``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.field.bridge import Bridge, add_store_bridge, attach_bridge, bridge_section
from peakend.broker.field.mosquitto import Mosquitto, free_port, prepare, tools_url
from peakend.broker.field.provision import register_device
from peakend.broker.hub.registry import load_registry, save_registry

# -- a chain on one machine: store broker bridged to a central broker, workers, PostgreSQL ------

PEAKEND = [sys.executable, "-m", "peakend.broker.cli"]


class Chain:
    """A central broker with workers into PostgreSQL, and one store broker bridged to it that
    carries the devices of several stores."""

    def __init__(self, root: Path, db: str, stores: list[str]) -> None:
        self.root = root
        self.db = db
        self.centre_port, self.store_port = free_port(), free_port()
        self.centre_dir = prepare(root / "centre", port=self.centre_port)
        self.store_dir = prepare(root / "store", port=self.store_port)
        self.bridge = Bridge("lab", tuple(stores))
        password = add_store_bridge(self.centre_dir, self.bridge)
        attach_bridge(
            self.store_dir,
            bridge_section(self.bridge, address=f"127.0.0.1:{self.centre_port}",
                           password=password, restart_timeout=(1, 3)),
        )
        self.centre = Mosquitto(self.centre_dir, port=self.centre_port)
        self.store = Mosquitto(self.store_dir, port=self.store_port)
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self._log_start: dict[str, int] = {}

    def provision(self, device_id: str, store: str, zone: str, role: str) -> dict[str, str]:
        """Register at the store broker; the centre's registry gets the same entry."""
        reg = register_device(self.store_dir, device_id=device_id, store=store, zones=[zone],
                              role=role)
        return {"device": device_id, "store": store, "zone": zone, "role": role,
                "url": f"mqtt://{device_id}:{reg.password}@127.0.0.1:{self.store_port}"}

    def publish_registry(self) -> None:
        save_registry(self.centre_dir.registry, load_registry(self.store_dir.registry))

    def start_worker(self, name: str, *, alerts: bool = False) -> None:
        cmd = [*PEAKEND, "serve", "--db", self.db, "--broker-data", str(self.centre_dir.root),
               "--shared", "agg", "--client-id", f"peakend-{name}"]
        if not alerts:
            cmd.append("--no-alerts")
        log = self.root / f"{name}.log"
        self._log_start[name] = log.stat().st_size if log.exists() else 0
        self.workers[name] = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=open(self.root / f"{name}.log", "ab"))

    def wait_worker(self, name: str, timeout: float = 30.0) -> None:
        """Until the worker has connected and subscribed: a shared subscription only receives
        what is published after its group exists."""
        log = self.root / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.workers[name].poll() is None, log.read_text()[-2000:]
            if log.exists() and "aggregator connected" in log.read_text()[self._log_start[name]:]:
                time.sleep(0.5)
                return
            time.sleep(0.1)
        raise AssertionError(f"worker {name} did not connect: {log.read_text()[-2000:]}")

    def kill_worker(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_workers(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()

    def _hub_account(self, port: int) -> tuple[str, str]:
        broker = self.centre_dir if port == self.centre_port else self.store_dir
        target = parse_mqtt_url(tools_url(broker.root))
        return target.username or "", target.password or ""

    def publish_retained(self, port: int, topic: str, payload: str) -> None:
        """Publish with the hub's account, e.g. an old ack as a restored broker would keep."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(*self._hub_account(port))
        client.connect("127.0.0.1", port)
        client.loop_start()
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()

    def retained(self, port: int, topic: str, timeout: float = 5.0) -> dict[str, bytes]:
        """Retained messages below ``topic`` on a broker, read with the hub's account (and what
        is published there meanwhile: the last payload per topic)."""
        got: dict[str, bytes] = {}
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(*self._hub_account(port))
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.on_message = lambda c, u, m: got.__setitem__(m.topic, m.payload)
        client.connect("127.0.0.1", port)
        client.loop_start()
        last = -1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # until the retained flood has stopped growing
            time.sleep(0.5)
            if len(got) == last and got:
                break
            last = len(got)
        client.disconnect()
        client.loop_stop()
        return got

    def close(self) -> None:
        self.stop_workers()
        self.store.stop()
        self.centre.stop()


def _mosquitto_root() -> Path:
    # mosquitto drops to its own user when started as root: a folder it can enter
    root = Path(tempfile.mkdtemp(prefix="peakend-chain-"))
    os.chmod(root, 0o755)
    return root


@pytest.fixture
def chain_factory(pg_url: str) -> Iterator[object]:
    made: list[Chain] = []
    roots: list[Path] = []

    def make(stores: list[str]) -> Chain:
        root = _mosquitto_root()
        roots.append(root)
        chain = Chain(root, pg_url, stores)
        made.append(chain)
        return chain

    try:
        yield make
    finally:
        for chain in made:
            chain.close()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)

