"""Test helpers for a real hub: mosquitto on an ephemeral loopback port and the aggregator.

Imported by tests as `hubtools` (a unique name: every folder may have its own conftest)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.field.mosquitto import (
    BrokerDir,
    Mosquitto,
    aggregator_url,
    free_port,
    prepare,
    tools_url,
)
from peakend.broker.field.provision import register_device
from peakend.broker.hub.aggregator import Aggregator

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
# The `peakend` command as installed, run with this interpreter.
PEAKEND = [sys.executable, "-m", "peakend.broker.cli"]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Hub:
    """One store's hub for a test: broker folder, mosquitto, database, aggregator."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.dir: BrokerDir = prepare(root / "broker", port=self.port)
        self.broker = Mosquitto(self.dir, port=self.port)
        self.db_path = root / "hub.sqlite"
        self.aggregator: Aggregator | None = None
        self.aggregator_proc: subprocess.Popen[bytes] | None = None
        self.aggregator_url = aggregator_url(self.dir.root)

    # -- devices --------------------------------------------------------------------------

    def provision(self, device_id: str, store: str, zones: list[str], role: str) -> str:
        """Register a device and return its MQTT URL once the broker accepts it."""
        reg = register_device(self.dir, device_id=device_id, store=store, zones=zones, role=role)
        url = f"mqtt://{device_id}:{reg.password}@127.0.0.1:{self.port}"
        if self.broker.running():
            assert wait_until(lambda: self.can_connect(device_id, reg.password), 10), (
                f"broker did not accept the new account {device_id}"
            )
        return url

    def can_connect(self, user: str, password: str) -> bool:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(user, password)
        try:
            rc = client.connect("127.0.0.1", self.port, keepalive=5)
            if rc != 0:
                return False
            ok: list[bool] = []
            client.on_connect = lambda c, u, f, reason, p: ok.append(not reason.is_failure)
            deadline = time.monotonic() + 2
            while not ok and time.monotonic() < deadline:
                client.loop(0.05)
            client.disconnect()
            return bool(ok and ok[0])
        except OSError:
            return False

    # -- broker ---------------------------------------------------------------------------

    def start_broker(self) -> None:
        self.broker.start()

    def stop_broker(self) -> None:
        self.broker.stop()

    def kill_broker(self) -> None:
        self.broker.kill()

    # -- aggregator -----------------------------------------------------------------------

    def start_aggregator(self, **kwargs: Any) -> Aggregator:
        self.stop_aggregator()  # one in-process aggregator at a time
        self.aggregator = Aggregator(
            self.aggregator_url, self.db_path, registry_path=self.dir.registry, **kwargs
        )
        self.aggregator.start()
        assert self.aggregator.connected.wait(10), "aggregator did not connect"
        return self.aggregator

    def stop_aggregator(self) -> None:
        if self.aggregator is not None:
            self.aggregator.stop()
            self.aggregator = None

    def spawn_aggregator(self) -> subprocess.Popen[bytes]:
        """The aggregator as its own process (`peakend serve`), so a test can SIGKILL it."""
        self.aggregator_proc = subprocess.Popen(
            [
                *PEAKEND,
                "serve",
                "--mqtt",
                self.aggregator_url,
                "--db",
                str(self.db_path),
                "--broker-data",
                str(self.dir.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "aggregator.log", "ab"),
        )
        return self.aggregator_proc

    def kill_spawned_aggregator(self) -> None:
        if self.aggregator_proc and self.aggregator_proc.poll() is None:
            self.aggregator_proc.send_signal(signal.SIGKILL)
            self.aggregator_proc.wait()

    # -- reading the hub's database ----------------------------------------------------------

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if not self.db_path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.rows(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        return wait_until(predicate, timeout)

    # -- the broker, as the hub's account sees it -------------------------------------------

    def _hub_client(self) -> mqtt.Client:
        # the tools' account: the broker names connections by account, so a test client on
        # the aggregator's account would knock the aggregator off
        target = parse_mqtt_url(tools_url(self.dir.root))
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(target.username, target.password)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        return client

    def publish_retained(self, topic: str, payload: str) -> None:
        """Publish with the hub's account, e.g. an old ack as a restored broker would keep."""
        client = self._hub_client()
        try:
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
        finally:
            client.disconnect()
            client.loop_stop()

    def retained_ack(self, store: str, device: str) -> int | None:
        """The ack a device connecting now would find retained at the broker."""
        got: list[int] = []
        done = threading.Event()
        client = self._hub_client()
        client.on_message = lambda c, u, m: (got.append(json.loads(m.payload)["seq"]), done.set())
        client.subscribe(f"peakend/v1/{store}/{device}/ack", qos=1)
        done.wait(3)
        client.disconnect()
        client.loop_stop()
        return got[0] if got else None

    def close(self) -> None:
        self.stop_aggregator()
        self.kill_spawned_aggregator()
        self.broker.stop()


@contextmanager
def temp_hub(make: Callable[[Path], Hub] = Hub, *, start: bool = True) -> Iterator[Hub]:
    """A hub in a fresh folder (broker and aggregator running unless ``start`` is False),
    closed and removed afterwards."""
    root = broker_root()
    hub = make(root)
    try:
        if start:
            hub.start_broker()
            hub.start_aggregator()
        yield hub
    finally:
        hub.close()
        shutil.rmtree(root, ignore_errors=True)


def make_tls_hub(root: Path) -> Hub:
    """A hub whose broker takes devices on an mqtts port (as `peakend broker --tls` makes it);
    the aggregator stays on the plain loopback listener. Nothing started yet."""
    from peakend.broker.field.tls import ensure_tls

    hub = Hub(root)
    hub.tls_port = free_port()  # type: ignore[attr-defined]
    files = ensure_tls(hub.dir, [])
    hub.dir = prepare(hub.dir.root, port=hub.port, bind="127.0.0.1", tls=files,
                      tls_port=hub.tls_port, plain_bind="127.0.0.1")  # type: ignore[attr-defined]
    hub.broker = Mosquitto(hub.dir, port=hub.port)
    return hub


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def broker_root() -> Path:
    # Not pytest's tmp_path: as root, mosquitto drops to its own user, which cannot enter
    # pytest's private temp folder.
    root = Path(tempfile.mkdtemp(prefix="peakend-test-"))
    os.chmod(root, 0o755)
    return root
