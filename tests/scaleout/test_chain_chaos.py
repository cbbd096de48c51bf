"""A chain on one machine, exactly once through a worker kill and a central broker restart.

20 stores of 5 devices (real DeviceLinks with their outboxes, 50 per process) publish to a
store broker bridged to a central broker; two aggregator workers share the stream through an MQTT
v5 shared subscription into a throwaway PostgreSQL. Mid-stream one worker is SIGKILLed (and
restarted a few seconds later, as systemd would) and the central broker is restarted. Every
message must be stored exactly once, and every device's ack must be its last seq: in the
database, in each device's outbox, and retained at both brokers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from peakend.broker.devtools.simulate import msg_id_for
from peakend.broker.hub.db.store import Store

STORES = [f"s{i:03d}" for i in range(1, 21)]
PER_STORE = [("kiosk-1", "kiosk"), ("kiosk-2", "kiosk"), ("cam-1", "edge"), ("cam-2", "edge"),
             ("cam-3", "edge")]
COUNT = 30  # messages per device: 3,000 in all
RATE = 1.2  # per device and second: about 120 messages/s for 25 s


def stored(store: Store) -> int:
    return store.count("ledger")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_message_stored_once_and_every_ack_right_through_worker_kill_and_centre_restart(
    chain_factory, tmp_path
):
    chain = chain_factory(STORES)
    specs = [chain.provision(f"{s}-{d}", s, "checkout", role) for s in STORES
             for d, role in PER_STORE]
    chain.publish_registry()
    chain.centre.start()
    chain.store.start()
    chain.start_worker("w1", alerts=True)
    chain.start_worker("w2")
    chain.wait_worker("w1")
    chain.wait_worker("w2")

    half = len(specs) // 2
    sims = []
    for n, group in enumerate((specs[:half], specs[half:])):
        path = tmp_path / f"devices-{n}.json"
        path.write_text(json.dumps(group))
        sims.append(subprocess.Popen(
            [sys.executable, "-m", "peakend.broker.devtools.simulate_chain", "--devices", str(path),
             "--outbox-dir", str(tmp_path / "outboxes"), "--count", str(COUNT),
             "--rate", str(RATE), "--retransmit", "3", "--wait-acked", "150"],
            stdout=subprocess.PIPE, stderr=open(tmp_path / f"sim-{n}.log", "ab")))

    db = Store(chain.db)
    try:
        total = len(specs) * COUNT
        # 1. A worker dies hard mid-stream; systemd would restart it a few seconds later.
        assert chain_wait(lambda: stored(db) > total * 0.2, 60)
        chain.kill_worker("w2")
        time.sleep(3)
        chain.start_worker("w2")
        # 2. The central broker restarts; the bridge and the workers come back to it.
        assert chain_wait(lambda: stored(db) > total * 0.5, 60)
        chain.centre.stop()
        time.sleep(1)
        chain.centre.start()

        acked_by_device: dict[str, int] = {}
        for sim in sims:
            out, _ = sim.communicate(timeout=200)
            assert sim.returncode == 0, f"devices not all acked: {out[-2000:]!r}"
            acked_by_device.update(json.loads(out))
        assert acked_by_device == {s["device"]: COUNT for s in specs}

        # Every seq of every device stored once, each under its own msg_id: nothing lost, nothing
        # doubled, nothing skipped.
        rows = db.db.execute("SELECT device_id, seq, msg_id, outcome FROM ledger").fetchall()
        assert {r[3] for r in rows} == {"stored"}
        assert sorted((r[0], r[1]) for r in rows) == sorted(
            (s["device"], q) for s in specs for q in range(1, COUNT + 1))
        assert len({r[2] for r in rows}) == total
        # A device may declare a hole skipped when the hub seems to have lost what it acked
        # (a restored database); here the hub lost nothing, so such a notice may only name
        # seqs it holds, and it takes a seq of its own in the device's numbering.
        sent = {str(msg_id_for(s["device"], q)) for s in specs for q in range(1, COUNT + 1)}
        notices = {(r[0], r[1]) for r in rows if r[2] not in sent}
        health = {tuple(r) for r in db.db.execute(
            "SELECT device_id, seq FROM health WHERE data LIKE '%skipped%'").fetchall()}
        assert notices == health, "a row that is neither a sent message nor a skip notice"
        events = db.db.execute(
            "SELECT (SELECT count(*) FROM ratings) + (SELECT count(*) FROM dwells)"
            " + (SELECT count(*) FROM queue_windows)").fetchone()[0]
        assert events == total - len(notices)
        assert db.count("quarantine") == 0
        assert db.acked_seqs([s["device"] for s in specs]) == {s["device"]: COUNT for s in specs}
    finally:
        db.close()

    want = {f"peakend/v1/{s['store']}/{s['device']}/ack": COUNT for s in specs}
    state = chain.retained(chain.centre_port, "peakend/v1/lab/bridge/state")
    assert state == {"peakend/v1/lab/bridge/state": b"1"}
    # Retained acks converge on the database's values: a worker that sees an ack behind the
    # database (another worker's late publish, a restarted broker's older copy) publishes the
    # database's again, and the bridge carries it down to the store broker.
    deadline = time.monotonic() + 30
    while True:
        stale = {}
        for port in (chain.centre_port, chain.store_port):
            acks = chain.retained(port, "peakend/v1/+/+/ack", timeout=10)
            got = {t: json.loads(p)["seq"] for t, p in acks.items()}
            assert set(got) == set(want)
            # Never ahead of the database: a too-high ack would delete unstored rows on a device.
            assert all(seq <= COUNT for seq in got.values()), got
            stale.update({(port, t): seq for t, seq in got.items() if seq != COUNT})
        if not stale or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not stale, f"{len(stale)} retained ack(s) behind the database: {stale}"


def chain_wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())
