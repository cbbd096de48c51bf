"""Aggregator workers into PostgreSQL (1, 2, 4, shared subscription) against the SQLite writer.

All on this machine, in one run: one mosquitto (the chain's central broker), a throwaway
PostgreSQL cluster (fsync on, as in production), the workers as `peakend serve` processes.

For each set-up the workers' persistent sessions are made first and left offline; one publish
run then fills them (a shared group spreads the messages over its sessions); the workers start
and drain. Rate = messages stored per second while the database went from 20 % to 80 % of the
run, so staggered worker start-up and the last stragglers do not count.

    python bench/scaleout.py [--messages 20000] [--devices 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.device.mqtt import connect_properties
from peakend.broker.devtools.pg_cluster import ClusterUnavailable, TempCluster
from peakend.broker.field.mosquitto import (
    Mosquitto,
    free_port,
    hub_account,
    prepare,
)
from peakend.broker.field.provision import register_device
from peakend.broker.wire.contract import event_topic, new_envelope

PEAKEND = [sys.executable, "-m", "peakend.broker.cli"]
STORE, ZONE = "s001", "checkout"


def envelopes(device: str, count: int) -> list[tuple[str, bytes]]:
    topic = event_topic(STORE, device, "rating")
    return [
        (topic, new_envelope(device_id=device, store_id=STORE, zone_id=ZONE, seq=s,
                             event_type="rating", data={"score": 1 + s % 4}).to_json())
        for s in range(1, count + 1)
    ]


def publish_all(port: int, device: str, password: str, count: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv5)
    client.username_pw_set(device, password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(t, p, qos=1) for t, p in envelopes(device, count)]
    for info in infos:
        info.wait_for_publish(300)
    client.disconnect()
    client.loop_stop()


def drop_session(port: int, url: str, client_id: str) -> None:
    """Connect clean with no expiry as the worker's account (the broker names connections by
    account): the broker forgets the session and its queue."""
    target = parse_mqtt_url(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(target.username, target.password)
    client.connect("127.0.0.1", port, clean_start=True,
                   properties=connect_properties(persistent=False))
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


class Workers:
    def __init__(self, root: Path, broker_dir: Path, db: str, n: int, tag: str) -> None:
        self.root, self.broker_dir, self.db, self.n, self.tag = root, broker_dir, db, n, tag
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def client_ids(self) -> list[str]:
        return [f"peakend-bench-{self.tag}-{i}" for i in range(self.n)]

    def start(self) -> None:
        for cid in self.client_ids:
            cmd = [*PEAKEND, "serve", "--db", self.db, "--broker-data", str(self.broker_dir),
                   "--client-id", cid, "--no-alerts"]
            if self.n > 1 or self.db.startswith("postgresql"):
                cmd += ["--shared", f"g{self.tag}"]
            log = open(self.root / f"{cid}.log", "ab")
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log))

    def wait_connected(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for cid in self.client_ids:
            log = self.root / f"{cid}.log"
            while "aggregator connected" not in (log.read_text() if log.exists() else ""):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cid} did not connect: {log.read_text()[-1000:]}")
                time.sleep(0.1)

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def counter(db: str):
    if db.startswith("postgresql"):
        import psycopg

        conn = psycopg.connect(db, autocommit=True)
        return lambda: conn.execute("SELECT count(*) FROM ratings").fetchone()[0]
    conn = sqlite3.connect(db, timeout=30)
    return lambda: conn.execute("SELECT count(*) FROM ratings").fetchone()[0]


def run(root: Path, broker_dir: Path, port: int, devices: dict[str, str], db: str, n: int,
        tag: str, per_device: int) -> float:
    total = per_device * len(devices)
    workers = Workers(root, broker_dir, db, n, tag)
    # 1. The group's sessions (and the schema), then offline.
    workers.start()
    workers.wait_connected()
    time.sleep(0.5)
    workers.stop()
    # 2. One publish run fills the sessions.
    procs = [mp.Process(target=publish_all, args=(port, dev, pw, per_device))
             for dev, pw in devices.items()]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    time.sleep(1.0)
    # 3. The workers drain them.
    count = counter(db)
    workers.procs = []
    workers.root = root
    for cid in workers.client_ids:
        (root / f"{cid}.log").unlink(missing_ok=True)
    workers.start()
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        c = count()
        samples.append((time.perf_counter(), c))
        if c >= total:
            break
        time.sleep(0.05)
    workers.stop()
    lo = next(s for s in samples if s[1] >= total * 0.2)
    hi = next(s for s in samples if s[1] >= total * 0.8)
    rate = (hi[1] - lo[1]) / (hi[0] - lo[0])
    stored = samples[-1][1]
    for cid in workers.client_ids:
        drop_session(port, hub_account(broker_dir, cid), cid)
    if stored != total:
        raise RuntimeError(f"{tag}: stored {stored} of {total}")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=8)
    args = parser.parse_args()
    try:
        cluster = TempCluster.start()
    except ClusterUnavailable as exc:
        print(f"skipped: {exc}")
        return 0
    root = Path(tempfile.mkdtemp(prefix="peakend-bench-"))
    root.chmod(0o755)
    port = free_port()
    d = prepare(root / "broker", port=port)
    broker = Mosquitto(d, port=port)
    broker.start()
    per = args.messages // args.devices
    total = per * args.devices
    results: dict[str, float] = {}
    try:
        devices = {f"kiosk-{i:02d}": register_device(d, device_id=f"kiosk-{i:02d}", store=STORE,
                                                     zones=[ZONE], role="kiosk").password
                   for i in range(args.devices)}
        time.sleep(0.5)
        setups = [("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 4)]
        for k, (engine, n) in enumerate(setups):
            db = (str(root / f"hub{k}.sqlite") if engine == "sqlite"
                  else cluster.create_database(f"bench{k}"))
            label = f"{engine} x{n}"
            results[label] = run(root, d.root, port, devices, db, n, str(k), per)
            print(f"{label:<16} {results[label]:8,.0f} msg/s", flush=True)
    finally:
        broker.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    base = results["sqlite x1"]
    cores = os.cpu_count()
    print(f"\n{total:,} messages per set-up, {args.devices} devices, {cores} cores, one machine "
          "(broker, workers, database and publishers share it)")
    print(f"{'set-up':<22}{'msg/s':>10}{'vs SQLite':>11}")
    for label, rate in results.items():
        name = "SQLite single writer" if label == "sqlite x1" else \
            f"PostgreSQL, {label.split('x')[1]} worker{'s' if label[-1] != '1' else ''}"
        print(f"{name:<22}{rate:>10,.0f}{rate / base:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
