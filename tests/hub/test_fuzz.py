"""Nothing a device sends can stall it or the hub: over a thousand hostile messages generated
from a seed (tests/support/hostile.py) go from one device through real mosquitto to the real
hub, then good messages. The hub stays up, stores each valid message once, quarantines each
invalid one with a reason, and the device's ack reaches its last seq."""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hostile import DUPLICATE, QUARANTINED, STATUS, STORED, Case, HostileDevice

from peakend.broker.hub.registry import RegisteredDevice, RegistryFile, save_registry
from peakend.broker.hub.writer import Ingest

SEEDS = [20261205, 1, 2]
HOSTILE = 1200
GOOD = 40


def connect(hub, device: str, url: str) -> mqtt.Client:
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(device, password)
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, cases: list[Case]) -> None:
    infos = [client.publish(c.topic, c.payload, qos=1) for c in cases]
    for info in infos:
        info.wait_for_publish(30)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_thousand_hostile_messages_then_good_ones(hub, seed: int) -> None:
    started = time.monotonic()
    device = HostileDevice(seed, "cam-01", "s001", "checkout")
    hostile = device.stream(HOSTILE)
    good = device.good(GOOD)
    last = good[-1].seq
    assert len(hostile) >= 1000 and last is not None
    client = connect(hub, "cam-01", hub.provision("cam-01", "s001", ["checkout"], "edge"))
    try:
        publish_all(client, hostile)
        publish_all(client, good)
        acked = hub.wait_until(lambda: hub.scalar(
            "SELECT acked_seq FROM devices WHERE device_id = 'cam-01'") == last, 40)
        assert acked, stalled_at(hub)
        assert hub.wait_until(lambda: hub.retained_ack("s001", "cam-01") == last, 10)
    finally:
        client.loop_stop()
        client.disconnect()
    assert hub.aggregator is not None and hub.aggregator.alive()
    check_outcomes(hostile + good, hub.rows)
    # the writer keeps folding the report rollups past whatever the device sent
    assert hub.wait_until(lambda: folded(hub), 15), hub.rows("SELECT * FROM rollup_marks")
    kinds = Counter(c.expect for c in hostile)
    assert min(kinds[k] for k in (STORED, DUPLICATE, QUARANTINED, STATUS)) > 10, kinds
    assert time.monotonic() - started < 60


def test_the_same_stream_into_postgresql_in_random_batches(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL refuses text SQLite takes (a NUL): the same stream, straight into the writer
    in batches of random size, leaves every seq handled there too."""
    device = HostileDevice(SEEDS[0], "cam-01", "s001", "checkout")
    cases = device.stream(HOSTILE) + device.good(GOOD)
    registry = tmp_path / "registry.json"
    save_registry(registry, RegistryFile(devices={"cam-01": RegisteredDevice(
        store="s001", zones=["checkout"], role="edge")}))
    ingest = Ingest(pg_url, registry)
    sizes = random.Random(SEEDS[0])
    try:
        rest = cases
        while rest:
            size = sizes.randint(1, 300)
            batch, rest = rest[:size], rest[size:]
            ingest.handle([(c.topic, c.payload, time.time()) for c in batch])
        assert ingest.store.acked_seq("cam-01") == cases[-1].seq

        def rows(sql: str) -> list[dict]:
            cursor = ingest.store.db.execute(sql)
            names = [c.name for c in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

        check_outcomes(cases, rows)
    finally:
        ingest.close()


def check_outcomes(cases: list[Case], rows: Callable[[str], list[dict]]) -> None:
    """Each valid case stored once and never quarantined, each invalid one quarantined under
    the device with a reason (at its own seq when it has one), and nothing else stored."""
    # keyed by the digest of what arrived: a row keeps only the head of a large payload
    quarantined = {r["sha256"]: r for r in rows(
        "SELECT sha256, reason, device_id, seq FROM quarantine")}
    stored = Counter(r["msg_id"] for r in rows(
        "SELECT msg_id FROM ratings UNION ALL SELECT msg_id FROM dwells "
        "UNION ALL SELECT msg_id FROM queue_windows UNION ALL SELECT msg_id FROM health"))
    for case in cases:
        row = quarantined.get(hashlib.sha256(case.topic.encode() + b"\0" + case.payload)
                              .hexdigest())
        if case.expect in (STORED, DUPLICATE):
            assert stored[case.msg_id] == 1, case
            assert row is None, (case, row)
        elif case.expect == QUARANTINED:
            assert row is not None and row["reason"], case
            assert row["device_id"] == "cam-01", (case, row)
            if case.seq is not None:
                assert row["seq"] == case.seq, (case, row)
        else:
            assert case.expect == STATUS and row is None, (case, row)
    assert sum(stored.values()) == len({c.msg_id for c in cases if c.expect == STORED})
    assert [r["device_id"] for r in rows("SELECT device_id FROM devices")] == ["cam-01"]


def stalled_at(hub) -> str:
    acked = hub.scalar("SELECT acked_seq FROM devices WHERE device_id = 'cam-01'")
    near = hub.rows("SELECT seq, outcome FROM ledger WHERE seq BETWEEN ? AND ? ORDER BY seq",
                    ((acked or 0) - 2, (acked or 0) + 3))
    return f"ack stopped at {acked}; ledger around it: {near}"


def folded(hub) -> bool:
    marks = {r["name"]: r["last_rowid"] for r in hub.rows("SELECT * FROM rollup_marks")}
    return all(marks.get(t, 0) >= (hub.scalar(f"SELECT max(rowid) FROM {t}") or 0)
               for t in ("ratings", "dwells", "queue_windows"))
