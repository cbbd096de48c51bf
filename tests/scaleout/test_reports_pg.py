"""The managers' reports and alerts on PostgreSQL: the same numbers as on SQLite from the same
messages, rollups that never skip a row a concurrent worker commits late, alerts that open."""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peakend.broker.cli.report import main as report_main
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import EventStore, open_store
from peakend.broker.hub.reports.alerts import AlertMonitor, acknowledge, store_alerts
from peakend.broker.hub.reports.queries import (
    Period,
    open_db,
    refresh_rollups,
    store_report,
    zone_report,
)
from peakend.broker.wire.contract import Envelope, new_envelope

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NS = uuid.UUID("5d0f3c1e-2b7a-4c8e-8f90-1a2b3c4d5e6f")


def day_of_messages(seed: int, hours: float) -> list[Envelope]:
    """Visits and ratings of three zones in two stores, with deterministic message ids."""
    rng = random.Random(seed)
    seqs: dict[str, int] = {}
    out = []

    def envelope(device: str, store: str, zone: str, kind: str, at: datetime, data: dict):
        seqs[device] = seqs.get(device, 0) + 1
        out.append(new_envelope(
            device_id=device, store_id=store, zone_id=zone, seq=seqs[device], event_type=kind,
            ts=at, data=data, msg_id=uuid.uuid5(NS, f"{device}/{seqs[device]}")))

    for store, zone in [("s001", "checkout"), ("s001", "deli"), ("s002", "checkout")]:
        t = T0
        while t < T0 + timedelta(hours=hours):
            t += timedelta(seconds=rng.uniform(20, 200))
            w = rng.uniform(5, 500)
            envelope(f"cam-{store}", store, zone, "dwell", t, {
                "track": rng.randrange(10**6), "enter": t - timedelta(seconds=w + 30),
                "exit": t, "dwell_s": w + 30, "wait_s": None if rng.random() < 0.1 else w})
            if rng.random() < 0.3:
                envelope(f"kiosk-{store}-{zone}", store, zone, "rating", t + timedelta(seconds=5),
                         {"score": rng.randint(1, 4),
                          "flags": ["repeat"] if rng.random() < 0.05 else []})
            if rng.random() < 0.1:
                envelope(f"cam-{store}", store, zone, "queue", t, {
                    "window_s": 10.0, "length": rng.uniform(0, 6), "arrivals": 1,
                    "departures": 1, "wait_s": w, "wait_measured_s": w})
    return out


def feed(store: EventStore, envelopes: list[Envelope], batch: int = 97) -> None:
    for i in range(0, len(envelopes), batch):
        with store.transaction():
            store.store_events([(e, e.ts) for e in envelopes[i : i + batch]])


def test_reports_on_postgresql_equal_those_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    messages = day_of_messages(7, 8)
    lite_path = tmp_path / "hub.sqlite"
    stores = [open_store(lite_path), open_store(pg_url)]
    conns = [open_db(lite_path), open_db(pg_url)]
    try:
        half = len(messages) // 2
        for store in stores:
            feed(store, messages[:half])
        for conn in conns:  # a refresh in between: the rollup must take in the second half
            refresh_rollups(conn)
        for store in stores:
            feed(store, messages[half:])
        period = Period(T0 + timedelta(minutes=37, seconds=11), T0 + timedelta(hours=7, minutes=3))
        lite, pg = ([line.as_dict() for line in store_report(c, period)] for c in conns)
        assert [(x["store_id"], x["zone_id"]) for x in pg] == [
            ("s001", "checkout"), ("s001", "deli"), ("s002", "checkout")]
        assert pg == lite
        assert pg[0]["ratings"] > 20 and pg[0]["visits"] > 100
        zl, zp = (zone_report(c, "s001", "checkout", period).as_dict() for c in conns)
        assert zp == zl
        assert zp["tolerance"]["ratings"] > 0
    finally:
        for c in conns:
            c.close()
        for s in stores:
            s.close()

    outputs = []
    for db in (str(lite_path), pg_url):
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = report_main(["--db", db, "--since", "2026-03-02T08:30:00Z",
                                "--until", "2026-03-02T15:00:00Z", "--format", "json"])
        assert code == 0
        outputs.append(json.loads(buf.getvalue()))
    assert outputs[1] == outputs[0]
    assert len(outputs[1]["zones"]) == 3


def test_a_row_committed_late_by_another_worker_still_reaches_the_rollup(pg_url: str) -> None:
    messages = [e for e in day_of_messages(3, 2) if e.type == "rating"]
    early, late, rest = messages[0], messages[1], messages[2:]
    slow, fast = open_store(pg_url), open_store(pg_url)
    conn = open_db(pg_url)
    try:
        with slow.transaction():
            slow.store_events([(early, early.ts)])  # takes a rowid, commits late
            feed(fast, [late, *rest])  # later rowids, committed at once
            folding = threading.Thread(target=refresh_rollups, args=(conn,))
            folding.start()
            time.sleep(0.5)
            # the fold waits for the open insert instead of moving its watermark past it
            assert folding.is_alive()
        folding.join(10)
        assert not folding.is_alive()
        period = Period(T0 - timedelta(hours=1), T0 + timedelta(hours=4))
        lines = store_report(conn, period)
        flagged = sum(1 for e in messages if e.data.flags)  # type: ignore[union-attr]
        assert sum(x.summary.ratings for x in lines) == len(messages) - flagged
    finally:
        conn.close()
        slow.close()
        fast.close()


def test_alerts_open_with_their_cause_and_take_comments_on_postgresql(pg_url: str) -> None:
    config = HubConfig.model_validate({"alerts": {"default": {
        "wait_p90_s": 300, "wait_window_min": 10, "unhappy_count": 3, "unhappy_window_min": 10,
        "min_open_min": 5, "cooldown_min": 10}}})
    store = open_store(pg_url)
    monitor = AlertMonitor(pg_url, config)
    try:
        envelopes = [
            new_envelope(device_id="kiosk-1", store_id="s001", zone_id="checkout", seq=m,
                         event_type="rating", ts=T0 + timedelta(minutes=m), data={"score": 1})
            for m in (1, 2, 3)
        ]
        feed(store, envelopes)
        events = monitor.check(T0 + timedelta(minutes=4))
        assert [(s, e["kind"], e["state"]) for s, e in events] == [("s001", "unhappy", "open")]
        assert events[0][1]["cause"] == "3 unhappy in 10 min"
        assert monitor.check(T0 + timedelta(minutes=5)) == []  # one open alert per cause
        acknowledge(monitor.conn, events[0][1]["alert_id"], "ana", "opened a second till")
        (alert,) = store_alerts(monitor.conn, "s001")
        assert alert["acked_by"] == "ana"
        assert alert["comments"][0]["text"] == "opened a second till"
    finally:
        monitor.close()
        store.close()
