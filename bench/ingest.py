"""Hub ingest through a real mosquitto into SQLite, against a bare paho subscriber.

Both consumers get the same stream: one publish run fills two offline persistent sessions
(a bare paho subscriber's and the aggregator's) with identical messages; each then drains its
queue on an otherwise idle machine. Rate = messages / drain time. Then the publish-to-stored
latency at a steady 100 messages/s.

    python bench/ingest.py [--messages 60000] [--devices 4] [--failing-channel]

``--failing-channel``: while the aggregator drains, alert delivery runs as ``peakend serve``
runs it (a process of its own) with thousands of alerts due on a webhook whose receiver
refuses every connection, so it records a failed attempt after another in the same database
the whole time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from peakend.broker.device.mqtt import connect_properties
from peakend.broker.field.mosquitto import (
    Mosquitto,
    aggregator_url,
    free_port,
    hub_account,
    prepare,
)
from peakend.broker.field.provision import register_device
from peakend.broker.hub.aggregator import RECEIVE_MAXIMUM, Aggregator
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.database import open_hub_db
from peakend.broker.hub.delivery import outbox as delivery_outbox
from peakend.broker.hub.delivery.worker import DeliverySpec
from peakend.broker.hub.server import DeliveryProcess
from peakend.broker.wire.contract import event_topic, new_envelope, parse_ts

STORE, ZONE = "s001", "checkout"
BARE = "peakend-bench-bare"


def envelopes(device: str, count: int, start_seq: int = 1) -> list[tuple[str, bytes]]:
    topic = event_topic(STORE, device, "rating")
    return [
        (
            topic,
            new_envelope(
                device_id=device,
                store_id=STORE,
                zone_id=ZONE,
                seq=s,
                event_type="rating",
                data={"score": 1 + s % 4},
            ).to_json(),
        )
        for s in range(start_seq, start_seq + count)
    ]


def publish_all(port: int, device: str, password: str, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv5)
    client.username_pw_set(device, password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(t, p, qos=1) for t, p in messages]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def bare_subscriber(url_user: str, password: str, port: int):
    """A bare paho subscriber on a persistent session: (client, state, done, expected).
    Its own account: the broker names a connection by its account, so on the aggregator's
    the two would share one session."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=url_user, protocol=mqtt.MQTTv5
    )
    client.username_pw_set(url_user, password)
    state = {"n": 0, "first": None, "last": None}
    done = threading.Event()
    expected = {"n": 0}

    def on_message(c, u, msg):
        now = time.perf_counter()
        state["first"] = state["first"] or now
        state["last"] = now
        state["n"] += 1
        if state["n"] >= expected["n"] > 0:
            done.set()

    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe("peakend/v1/+/+/evt/#", qos=1)
    client.connect(
        "127.0.0.1",
        port,
        clean_start=False,
        properties=connect_properties(persistent=True, receive_maximum=RECEIVE_MAXIMUM),
    )
    return client, state, done, expected


FAILING_ALERTS = 20_000


def start_failing_delivery(db: Path) -> tuple[Any, int]:
    """Alerts due on a webhook nobody answers, and the delivery process working on them:
    (the process, the port that refuses)."""
    refused = free_port()  # nothing listens there
    os.environ["PEAKEND_BENCH_HOOK_URL"] = f"http://127.0.0.1:{refused}/hook"
    os.environ["PEAKEND_BENCH_HOOK_SECRET"] = "bench-secret"
    config = HubConfig.model_validate({
        "stores": [{"id": STORE, "name": "Bench", "timezone": "UTC"}],
        "delivery": {"channels": [{
            "type": "webhook", "name": "down", "url_env": "PEAKEND_BENCH_HOOK_URL",
            "secret_env": "PEAKEND_BENCH_HOOK_SECRET"}]},
    })
    conn = open_hub_db(db)
    try:
        now = datetime.now(UTC)
        with conn.transaction():
            for _ in range(FAILING_ALERTS):
                (alert_id,) = conn.execute(
                    "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, "
                    "value, threshold) VALUES ($1, $2, 'wait', 'closed', $3, "
                    "'checkout p90 wait 7:00', 420, 300) RETURNING id",
                    (STORE, ZONE, now.isoformat())).fetchone()
                delivery_outbox.enqueue(conn, alert_id, ["down"], 420.0, now)
    finally:
        conn.close()
    process = DeliveryProcess(DeliverySpec(db=str(db), config=config, poll_s=0.5))
    process.start()
    return process, refused


def failed_attempts(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT coalesce(sum(attempts), 0) FROM alert_deliveries "
                            "WHERE state != 'sent'").fetchone()[0]
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--failing-channel", action="store_true",
                        help="alert delivery failing all along while the aggregator drains")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="peakend-bench-"))
    root.chmod(0o755)
    port = free_port()
    d = prepare(root / "broker", port=port)
    bare_url = hub_account(d.root, BARE)
    bare_pw = bare_url.split(":")[2].split("@")[0]
    broker = Mosquitto(d, port=port)
    broker.start()
    agg_url = aggregator_url(d.root)
    try:
        devices = {
            f"kiosk-{i:02d}": register_device(
                d, device_id=f"kiosk-{i:02d}", store=STORE, zones=[ZONE], role="kiosk"
            ).password
            for i in range(args.devices)
        }
        time.sleep(0.5)
        per = args.messages // args.devices
        total = per * args.devices

        # 1. Create both persistent sessions, then take them offline.
        client, *_ = bare_subscriber(BARE, bare_pw, port)
        client.loop_start()
        time.sleep(0.5)
        client.disconnect()
        client.loop_stop()
        db = root / "hub.sqlite"
        agg = Aggregator(agg_url, db, registry_path=d.registry)
        agg.start()
        agg.connected.wait(10)
        time.sleep(0.3)
        agg.stop()

        # 2. One publish run fills both queues with the same stream.
        t0 = time.perf_counter()
        procs = [
            mp.Process(target=publish_all, args=(port, dev, pw, envelopes(dev, per)))
            for dev, pw in devices.items()
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        publish_rate = total / (time.perf_counter() - t0)
        time.sleep(1.0)

        # 3. The bare subscriber drains its queue.
        client, state, done, expected = bare_subscriber(BARE, bare_pw, port)
        expected["n"] = total
        client.loop_start()
        done.wait(300)
        client.disconnect()
        client.loop_stop()
        bare_rate = state["n"] / (state["last"] - state["first"])

        # 4. The aggregator drains the same stream into SQLite.
        delivery = None
        if args.failing_channel:
            delivery, _ = start_failing_delivery(db)
            attempts_before = failed_attempts(db)
        agg = Aggregator(agg_url, db, registry_path=d.registry)
        t0 = time.perf_counter()
        agg.start()
        conn = sqlite3.connect(db)
        # The aggregator runs in this process: watch its own count of committed rows, which
        # costs it nothing, rather than count the table, which would take its interpreter lock
        # for a millisecond or more fifty times a second (the bare subscriber pays no such tax).
        while agg.counters.stored < total:
            time.sleep(0.02)
            if time.perf_counter() - t0 > 600:
                break
        done_wall = time.time()
        stored = conn.execute("SELECT count(*) FROM ratings").fetchone()[0]
        first = conn.execute("SELECT min(received_at) FROM ratings").fetchone()[0]
        # Like the bare subscriber: first arrival (stamped by the aggregator) to the last commit.
        agg_rate = stored / (done_wall - parse_ts(first).timestamp())

        if delivery is not None:
            attempts = failed_attempts(db) - attempts_before
            delivery.stop()
            print(f"failing channel: {attempts} failed delivery attempts recorded while the "
                  "aggregator drained", flush=True)
        print(f"bare {bare_rate:,.0f}/s, aggregator {agg_rate:,.0f}/s, stored {stored}", flush=True)
        print(f"counters: {agg.counters}", flush=True)
        # 5. Latency at a steady 100 msg/s through the aggregator (still running).
        lat = latency_run(port, devices, agg, conn, per, args.latency_seconds)
        agg.stop()
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)

    print(f"messages: {total} from {args.devices} devices; publish rate {publish_rate:,.0f}/s")
    print(f"bare paho subscriber:        {bare_rate:,.0f} msg/s")
    print(f"aggregator into SQLite:      {agg_rate:,.0f} msg/s  (stored {stored})")
    during = " while a channel fails" if args.failing_channel else ""
    print(f"ratio aggregator / bare:     {agg_rate / bare_rate:.3f}  (target >= 0.95){during}")
    print(f"target >= 5,000 msg/s:       {'met' if agg_rate >= 5000 else 'NOT met'}")
    print(
        f"publish->stored latency at 100 msg/s: p50 {lat[0]:.1f} ms, p99 {lat[1]:.1f} ms "
        f"(target p99 < 250 ms; {lat[2]} samples)"
    )
    return 0


def latency_run(port, devices, agg, conn, start_after, seconds):
    """Publish at 100/s and time each message until its row is visible in the database."""
    dev, pw = next(iter(devices.items()))
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=dev, protocol=mqtt.MQTTv5)
    client.username_pw_set(dev, pw)
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    last_rowid = conn.execute("SELECT max(rowid) FROM ratings").fetchone()[0] or 0
    db_file = conn.execute("PRAGMA database_list").fetchone()[2]

    def watch() -> None:
        nonlocal last_rowid
        watcher = sqlite3.connect(db_file)
        while not stop.is_set():
            rows = watcher.execute(
                "SELECT rowid, msg_id FROM ratings WHERE rowid > ?", (last_rowid,)
            ).fetchall()
            now = time.perf_counter()
            for rowid, msg_id in rows:
                seen[msg_id] = now
                last_rowid = max(last_rowid, rowid)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    n = int(seconds * 100)
    next_at = time.perf_counter()
    for topic, payload in envelopes(dev, n, start_seq=start_after + 1):
        msg_id = payload.split(b'"msg_id":"')[1].split(b'"')[0].decode()
        sent[msg_id] = time.perf_counter()
        client.publish(topic, payload, qos=1)
        next_at += 0.01
        time.sleep(max(0.0, next_at - time.perf_counter()))
    deadline = time.perf_counter() + 10
    while len(seen) < n and time.perf_counter() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join()
    client.disconnect()
    client.loop_stop()
    lat = sorted((seen[m] - t) * 1000 for m, t in sent.items() if m in seen)
    return statistics.median(lat), lat[max(0, int(len(lat) * 0.99) - 1)], len(lat)


if __name__ == "__main__":
    sys.exit(main())
