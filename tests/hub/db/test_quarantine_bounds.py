"""The quarantine is bounded: a row keeps the head of what arrived with its size and digest,
and the writer deletes rows beyond hub.toml's [quarantine] keep_days and max_rows, in a
transaction of its own, on both engines."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import sqlite3
import time
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from peakend.broker.hub.config import QuarantineSection
from peakend.broker.hub.db.database import DbTarget, HubDb, open_hub_db
from peakend.broker.hub.db.dialect import SQLITE
from peakend.broker.hub.db.migrations import MIGRATIONS, m007_quarantine_bounds
from peakend.broker.hub.db.store import QUARANTINE_RAW_BYTES, open_store
from peakend.broker.hub.writer import Ingest, Ready, Stop, writer_main

TOPIC = "peakend/v1/s001/kiosk-01/evt/rating"
DAY = 86400.0


def count(hub: Ingest) -> int:
    return hub.store.count("quarantine")


def test_a_large_payload_keeps_its_head_its_size_and_its_digest(db_url: str) -> None:
    hub = Ingest(db_url)
    raw = b'{"v": 1, "seq": 1, "pad": "' + b"x" * 60_000 + b'"}'
    try:
        hub.handle([(TOPIC, raw, time.time())])
        hub.handle([(TOPIC, raw, time.time())])  # the same again: counted, not kept twice
        [(kept, size, digest, times)] = hub.store.db.execute(
            "SELECT raw, raw_size, sha256, times FROM quarantine").fetchall()
    finally:
        hub.close()
    assert bytes(kept) == raw[:QUARANTINE_RAW_BYTES]
    assert size == len(raw) and times == 2
    assert digest == hashlib.sha256(TOPIC.encode() + b"\0" + raw).hexdigest()


def test_the_writer_prunes_what_is_older_than_keep_days_then_the_oldest_beyond_max_rows(
    db_url: str,
) -> None:
    hub = Ingest(db_url, quarantine=QuarantineSection(keep_days=7, max_rows=100))
    now = time.time()
    old = [(TOPIC, f"old {i}".encode(), now - 10 * DAY + i) for i in range(5)]
    recent = [(TOPIC, f"recent {i}".encode(), now - 1000 + i) for i in range(150)]
    try:
        hub.handle(old + recent)
        assert count(hub) == 155, "storing never prunes"
        assert hub.prune_quarantine() == 55
        kept = [bytes(r[0]) for r in hub.store.db.execute(
            "SELECT raw FROM quarantine ORDER BY last_received_at")]
        assert kept == [f"recent {i}".encode() for i in range(50, 150)]
        assert hub.prune_quarantine() == 0
        # the ledger keeps nothing of these (no seq), and no ack depended on them
        assert hub.store.count("ledger") == 0
    finally:
        hub.close()


def test_the_writer_process_prunes_on_its_own(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.sqlite")
    seed = Ingest(db)
    seed.handle([(TOPIC, f"bad {i}".encode(), time.time() - 100 + i) for i in range(130)])
    seed.close()
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    writer = ctx.Process(target=writer_main, args=(
        theirs, db, None, 30, QuarantineSection(keep_days=1, max_rows=100)))
    writer.start()
    try:
        assert ours.poll(60) and isinstance(ours.recv(), Ready)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            store = open_store(db)
            left = store.count("quarantine")
            store.close()
            if left == 100:
                break
            time.sleep(0.1)
        assert left == 100
    finally:
        ours.send(Stop())
        writer.join(20)
        if writer.is_alive():
            writer.kill()


def test_an_older_hub_learns_the_sizes_and_its_large_rows_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    older = HubDb(conn, SQLITE, DbTarget("sqlite", str(path)))
    steps = Migrations("peakend")
    for migration in MIGRATIONS:
        if migration is not m007_quarantine_bounds:
            steps(name=migration.__name__)(lambda _db, m=migration: m(older))  # type: ignore[misc]
    steps.apply(sqlite_utils.Database(conn))
    conn.execute(
        "INSERT INTO quarantine (received_at, last_received_at, topic, reason, raw, sha256) "
        "VALUES ('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', ?, 'r', ?, 'h')",
        (TOPIC, b"y" * 60_000),
    )
    conn.close()
    db = open_hub_db(path, migrate=True)
    try:
        assert db.execute("SELECT raw_size, length(raw) FROM quarantine").fetchone() == (
            60_000, QUARANTINE_RAW_BYTES)
    finally:
        db.close()
