"""The hub's SQLite store: schema (as numbered migrations) and the idempotent ingest.

Every handled message leaves one row in ``ledger`` keyed by (device_id, seq), whether it was
stored, quarantined or declared skipped by the device. The contiguous run of ledger seqs is the
ack, computed from the database so that several aggregator workers agree on it.

Times are stored as UTC text with milliseconds (``2026-11-22T11:21:03.512Z``), which sorts
correctly. ``at`` is the moment the event happened as the hub believes it: the device's ``ts``
when its clock was synchronised, else the hub's receive time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from peakend.broker.contract import Dwell, Envelope, Health, Queue, Rating, format_ts

migrations = Migrations("peakend")


@migrations()
def m001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE ledger (
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            msg_id TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('stored', 'quarantined', 'skipped')),
            received_at TEXT NOT NULL,
            PRIMARY KEY (device_id, seq)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX ledger_msg_id ON ledger (msg_id) WHERE msg_id IS NOT NULL;

        CREATE TABLE ratings (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            at TEXT NOT NULL,
            score INTEGER NOT NULL,
            reason TEXT,
            flags TEXT NOT NULL DEFAULT '[]',
            flagged INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX ratings_zone_at ON ratings (store_id, zone_id, at);

        CREATE TABLE dwells (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            at TEXT NOT NULL,
            track TEXT NOT NULL,
            enter TEXT NOT NULL,
            exit TEXT NOT NULL,
            dwell_s REAL NOT NULL,
            wait_s REAL
        );
        CREATE INDEX dwells_zone_exit ON dwells (store_id, zone_id, exit);

        CREATE TABLE queue_windows (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            at TEXT NOT NULL,
            window_s REAL NOT NULL,
            length REAL NOT NULL,
            arrivals INTEGER NOT NULL,
            departures INTEGER NOT NULL,
            wait_s REAL,
            wait_measured_s REAL
        );
        CREATE INDEX queue_windows_zone_at ON queue_windows (store_id, zone_id, at);

        CREATE TABLE health (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            at TEXT NOT NULL,
            fps REAL,
            cpu REAL,
            outbox INTEGER,
            temp_c REAL,
            data TEXT NOT NULL
        );
        CREATE INDEX health_device_at ON health (device_id, at);

        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            last_received_at TEXT NOT NULL,
            times INTEGER NOT NULL DEFAULT 1,
            topic TEXT NOT NULL,
            device_id TEXT,
            seq INTEGER,
            reason TEXT NOT NULL,
            raw BLOB NOT NULL,
            sha256 TEXT NOT NULL UNIQUE
        );

        CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            store_id TEXT NOT NULL,
            role TEXT,
            zone_id TEXT,
            state TEXT NOT NULL DEFAULT 'unknown',
            boot_id TEXT,
            version TEXT,
            config_hash TEXT,
            status_at TEXT,
            last_seen TEXT,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            messages INTEGER NOT NULL DEFAULT 0
        );
        """
    )



# -- managers' side: rollups for reports, web accounts, alerts ------------------------------


@migrations()
def m002_report_rollups(db: sqlite_utils.Database) -> None:
    # Per zone and UTC hour (epoch hours): counts and the raw wait/dwell values as float64
    # blobs, so a month's report reads a few thousand rows and its percentiles stay exact.
    db.executescript(
        """
        CREATE TABLE zone_hours (
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            hour INTEGER NOT NULL,
            n1 INTEGER NOT NULL DEFAULT 0,
            n2 INTEGER NOT NULL DEFAULT 0,
            n3 INTEGER NOT NULL DEFAULT 0,
            n4 INTEGER NOT NULL DEFAULT 0,
            flagged INTEGER NOT NULL DEFAULT 0,
            visits INTEGER NOT NULL DEFAULT 0,
            waits BLOB NOT NULL DEFAULT x'',
            dwells BLOB NOT NULL DEFAULT x'',
            PRIMARY KEY (store_id, zone_id, hour)
        ) WITHOUT ROWID;
        CREATE TABLE zone_last (
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            last_at TEXT NOT NULL,
            PRIMARY KEY (store_id, zone_id, kind)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_marks (
            name TEXT PRIMARY KEY,
            last_rowid INTEGER NOT NULL
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m003_web_accounts(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE user_stores (
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            store_id TEXT NOT NULL,
            PRIMARY KEY (user_id, store_id)
        ) WITHOUT ROWID;
        CREATE TABLE web_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m004_alerts(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            cause TEXT NOT NULL,
            value REAL,
            threshold REAL,
            acked_at TEXT,
            acked_by TEXT
        );
        -- one open alert per cause: the storm guard lives in the schema too
        CREATE UNIQUE INDEX alerts_one_open ON alerts (store_id, zone_id, kind)
            WHERE state = 'open';
        CREATE INDEX alerts_store_opened ON alerts (store_id, opened_at);
        CREATE TABLE alert_comments (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        );
        """
    )

_FREE = object()  # marks a (device, seq) that no ledger row holds yet

TABLE_BY_TYPE = {"rating": "ratings", "dwell": "dwells", "queue": "queue_windows", "health": "health"}


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: stored, duplicate (already stored), or quarantined."""

    kind: str
    reason: str | None = None


class Store:
    """Single-writer access to the hub database (the aggregator owns the writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode still never corrupts; FULL makes each acked batch survive power loss,
        # which the ack promises to the device.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        self.db = sqlite_utils.Database(conn)
        migrations.apply(self.db)
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    # -- writes (call inside transaction()) -------------------------------------------

    def transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def store_event(self, envelope: Envelope, received_at: datetime) -> Outcome:
        """Insert one valid envelope idempotently (see store_events)."""
        return self.store_events([(envelope, received_at)])[0]

    def store_events(self, items: list[tuple[Envelope, datetime]]) -> list[Outcome]:
        """Insert valid envelopes idempotently, in bulk. A redelivery is a "duplicate"; a msg_id
        or a seq reused for other content is a "conflict" whose reason the caller quarantines."""
        if not items:
            return []
        by_msg: dict[str, tuple[str, int]] = {}
        by_seq: dict[tuple[str, int], str | None] = {}
        msg_ids = [str(e.msg_id) for e, _ in items]
        for i in range(0, len(msg_ids), 500):
            chunk = msg_ids[i : i + 500]
            for msg_id, device_id, seq in self.conn.execute(
                f"SELECT msg_id, device_id, seq FROM ledger WHERE msg_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                by_msg[msg_id] = (device_id, seq)
        spans: dict[str, tuple[int, int]] = {}
        for e, _ in items:
            lo, hi = spans.get(e.device_id, (e.seq, e.seq))
            spans[e.device_id] = (min(lo, e.seq), max(hi, e.seq))
        for device_id, (lo, hi) in spans.items():
            for seq, msg_id in self.conn.execute(
                "SELECT seq, msg_id FROM ledger WHERE device_id = ? AND seq BETWEEN ? AND ?",
                (device_id, lo, hi),
            ):
                by_seq[(device_id, seq)] = msg_id

        outcomes: list[Outcome] = []
        ledger_rows: list[tuple[Any, ...]] = []
        typed: dict[str, list[tuple[Any, ...]]] = {}
        skipped: list[tuple[str, list[tuple[int, int]], str]] = []
        for (e, received_at), msg_id in zip(items, msg_ids, strict=True):
            known = by_msg.get(msg_id)
            owner = by_seq.get((e.device_id, e.seq), _FREE)
            if known == (e.device_id, e.seq) and owner == msg_id:
                outcomes.append(Outcome("duplicate"))
                continue
            if known is not None:
                outcomes.append(Outcome(
                    "conflict", f"replayed msg_id: already stored as {known[0]} seq {known[1]}"
                ))
                continue
            if owner is not _FREE:
                outcomes.append(Outcome(
                    "conflict", f"seq {e.seq} of {e.device_id} was already used by msg_id {owner}"
                ))
                continue
            by_msg[msg_id] = (e.device_id, e.seq)
            by_seq[(e.device_id, e.seq)] = msg_id
            received = format_ts(received_at)
            ledger_rows.append((e.device_id, e.seq, msg_id, received))
            table, row = self._typed_row(e, msg_id, received_at, received)
            typed.setdefault(table, []).append(row)
            if isinstance(e.data, Health) and e.data.skipped:
                skipped.append((e.device_id, e.data.skipped, received))
            outcomes.append(Outcome("stored"))
        self.conn.executemany(
            "INSERT INTO ledger (device_id, seq, msg_id, outcome, received_at) "
            "VALUES (?, ?, ?, 'stored', ?)",
            ledger_rows,
        )
        for table, rows in typed.items():
            self.conn.executemany(
                f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows
            )
        for device_id, ranges, received in skipped:
            self._mark_skipped(device_id, ranges, received)
        return outcomes

    def quarantine(
        self,
        *,
        topic: str,
        raw: bytes,
        reason: str,
        received_at: datetime,
        device_id: str | None,
        seq: int | None,
    ) -> None:
        received = format_ts(received_at)
        digest = hashlib.sha256(topic.encode() + b"\0" + raw).hexdigest()
        self.conn.execute(
            "INSERT INTO quarantine (received_at, last_received_at, topic, device_id, seq, "
            "reason, raw, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(sha256) DO UPDATE SET times = times + 1, "
            "last_received_at = excluded.last_received_at",
            (received, received, topic, device_id, seq, reason, raw, digest),
        )
        # A quarantined message counts as handled, so the device's ack can move past it; but a
        # bad copy must never take the place of a good message already stored under that seq.
        if device_id is not None and seq is not None:
            self.conn.execute(
                "INSERT OR IGNORE INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                "VALUES (?, ?, NULL, 'quarantined', ?)",
                (device_id, seq, received),
            )

    def record_status(
        self, device_id: str, store_id: str, status: dict[str, Any], received_at: datetime
    ) -> None:
        received = format_ts(received_at)
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, role, zone_id, state, boot_id, version, "
            "config_hash, status_at, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(device_id) DO UPDATE SET store_id = excluded.store_id, "
            "role = coalesce(excluded.role, role), zone_id = coalesce(excluded.zone_id, zone_id), "
            "state = excluded.state, boot_id = coalesce(excluded.boot_id, boot_id), "
            "version = coalesce(excluded.version, version), "
            "config_hash = coalesce(excluded.config_hash, config_hash), "
            "status_at = excluded.status_at, last_seen = excluded.last_seen",
            (
                device_id,
                store_id,
                status.get("role"),
                status.get("zone_id"),
                status.get("state", "unknown"),
                status.get("boot_id"),
                status.get("version"),
                status.get("config_hash"),
                received,
                received,
            ),
        )

    def touch_device(self, device_id: str, store_id: str, received_at: datetime, count: int) -> None:
        received = format_ts(received_at)
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, last_seen, messages) VALUES (?,?,?,?) "
            "ON CONFLICT(device_id) DO UPDATE SET last_seen = excluded.last_seen, "
            "messages = messages + excluded.messages",
            (device_id, store_id, received, count),
        )

    def advance_ack(self, device_id: str) -> int:
        """Move the device's ack over the contiguous run of handled seqs; returns the ack."""
        row = self.conn.execute(
            "SELECT acked_seq FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        acked = row[0] if row else 0
        while True:
            seqs = [
                r[0]
                for r in self.conn.execute(
                    "SELECT seq FROM ledger WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT 2000",
                    (device_id, acked),
                )
            ]
            moved = False
            for seq in seqs:
                if seq != acked + 1:
                    break
                acked = seq
                moved = True
            if not moved or len(seqs) < 2000 or seqs[-1] != acked:
                break
        self.conn.execute(
            "UPDATE devices SET acked_seq = ? WHERE device_id = ? AND acked_seq < ?",
            (acked, device_id, acked),
        )
        return acked

    # -- reads ----------------------------------------------------------------------------

    def acked_seq(self, device_id: str) -> int:
        row = self.conn.execute(
            "SELECT acked_seq FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        return row[0] if row else 0

    def count(self, table: str) -> int:
        return self.conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]

    # -- internals ------------------------------------------------------------------------

    def _typed_row(
        self, e: Envelope, msg_id: str, received_at: datetime, received: str
    ) -> tuple[str, tuple[Any, ...]]:
        ts = format_ts(e.ts)
        # Without a synchronised clock the device's times are only good relative to each other:
        # shift them by the gap between its clock and ours at the moment of sending.
        offset = (received_at - e.ts) if not e.clock_synced else None
        at = ts if offset is None else received
        base = (msg_id, e.device_id, e.seq, e.store_id)
        data = e.data
        if isinstance(data, Rating):
            flags = sorted(set(data.flags))
            return "ratings", (
                *base, e.zone_id, ts, received, int(e.clock_synced), at, data.score,
                data.reason, json.dumps(flags) if flags else "[]", int(bool(flags)),
            )
        if isinstance(data, Dwell):
            enter, exit_ = data.enter, data.exit
            if offset is not None:
                enter, exit_ = enter + offset, exit_ + offset
            return "dwells", (
                *base, e.zone_id, ts, received, int(e.clock_synced), at, str(data.track),
                format_ts(enter), format_ts(exit_), float(data.dwell_s), _num(data.wait_s),
            )
        if isinstance(data, Queue):
            return "queue_windows", (
                *base, e.zone_id, ts, received, int(e.clock_synced), at, float(data.window_s),
                float(data.length), data.arrivals, data.departures, _num(data.wait_s),
                _num(data.wait_measured_s),
            )
        assert isinstance(data, Health)
        return "health", (
            *base, ts, received, at, _num(data.fps), _num(data.cpu), data.outbox,
            _num(data.temp_c), data.model_dump_json(exclude_none=True),
        )

    def _mark_skipped(
        self, device_id: str, ranges: Iterable[tuple[int, int]], received: str
    ) -> None:
        for first, last in ranges:
            if last < first or last - first > 1_000_000:
                continue
            self.conn.executemany(
                "INSERT OR IGNORE INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                "VALUES (?, ?, NULL, 'skipped', ?)",
                [(device_id, s, received) for s in range(first, last + 1)],
            )


def _num(value: float | int | None) -> float | None:
    return None if value is None else float(value)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")


def utcnow() -> datetime:
    return datetime.now(UTC)
