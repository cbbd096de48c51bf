"""The hub's store: one interface, two engines.

Every handled message leaves one row in ``ledger`` keyed by (device_id, seq), whether it was
stored, quarantined or declared skipped by the device. The contiguous run of ledger seqs is the
ack, computed from the database so that several aggregator workers agree on it.

``open_store(db)`` picks the engine from the ``--db`` value: ``sqlite:///path`` or a bare path
is :class:`SqliteStore` here (one writer, the default for a store's hub), ``postgresql://...``
is :class:`peakend.broker.hub.db.store_pg.PostgresStore` (several aggregator workers of a
chain). Both apply the same migrations (:mod:`peakend.broker.hub.db.schema`) and give the same
outcomes.

Times are stored as UTC text with milliseconds (``2026-11-22T11:21:03.512Z``), which sorts
correctly. ``at`` is the moment the event happened as the hub believes it: the device's ``ts``
when its clock was synchronised, else the hub's receive time."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from peakend.broker.device.sqlite_tx import Transaction
from peakend.broker.hub.db.schema import migrations
from peakend.broker.wire.contract import Dwell, Envelope, Health, Queue, Rating, format_ts

__all__ = [
    "DbTarget",
    "EventStore",
    "Outcome",
    "SqliteStore",
    "Store",
    "migrations",
    "open_store",
    "parse_db",
]


# -- choosing the engine ----------------------------------------------------------------------


@dataclass(frozen=True)
class DbTarget:
    """Where the hub's data lives: ``engine`` is "sqlite" (``location`` a file path) or
    "postgresql" (``location`` a libpq connection URL)."""

    engine: str
    location: str

    def redacted(self) -> str:
        if self.engine == "sqlite":
            return self.location
        from urllib.parse import urlsplit

        parts = urlsplit(self.location)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.location


def parse_db(db: str | Path) -> DbTarget:
    """``sqlite:///path`` (``sqlite:////abs/path`` or ``sqlite:///rel/path``), a bare path, or
    ``postgresql://`` / ``postgres://`` URL."""
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")):
        return DbTarget("postgresql", text)
    if text.startswith("sqlite://"):
        rest = text[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise ValueError(
                f"{text!r}: write sqlite:///relative/path.sqlite or sqlite:////absolute/path.sqlite"
            )
        return DbTarget("sqlite", rest[1:])
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValueError(
            f"{text!r}: unknown database scheme {scheme!r}; use a file path, sqlite:///path or "
            "postgresql://user:password@host:port/dbname"
        )
    return DbTarget("sqlite", text)


def open_store(db: str | Path) -> EventStore:
    """The store for a ``--db`` value (see :func:`parse_db`), its schema brought up to date."""
    target = parse_db(db)
    if target.engine == "postgresql":
        from peakend.broker.hub.db.store_pg import PostgresStore

        return PostgresStore(target.location)
    return SqliteStore(target.location)


# -- the interface ------------------------------------------------------------------------------


class EventStore(Protocol):
    """What the aggregator's writer needs from a database. Writes go inside ``transaction()``;
    ``is_retryable`` says whether a failed transaction may simply be run again (a deadlock or
    serialisation failure between concurrent workers)."""

    def transaction(self) -> AbstractContextManager[Any]: ...

    def store_events(self, items: list[tuple[Envelope, datetime]]) -> list[Outcome]: ...

    def quarantine(
        self,
        *,
        topic: str,
        raw: bytes,
        reason: str,
        received_at: datetime,
        device_id: str | None,
        seq: int | None,
    ) -> None: ...

    def record_status(
        self, device_id: str, store_id: str, status: dict[str, Any], received_at: datetime
    ) -> None: ...

    def touch_devices(self, seen: list[tuple[str, str, int]], received_at: datetime) -> None: ...

    def advance_acks(self, device_ids: list[str]) -> dict[str, int]: ...

    def acked_seqs(self, device_ids: list[str]) -> dict[str, int]: ...

    def count(self, table: str) -> int: ...

    def is_retryable(self, exc: BaseException) -> bool: ...

    def close(self) -> None: ...


_FREE = object()  # marks a (device, seq) that no ledger row holds yet



@dataclass(frozen=True)
class Outcome:
    """What happened to one message: stored, duplicate (already stored), or quarantined."""

    kind: str
    reason: str | None = None


class SqliteStore:
    """Single-writer access to a SQLite hub database (the aggregator owns the writes)."""

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

    def is_retryable(self, exc: BaseException) -> bool:
        return False  # one writer: a failure is not a race another attempt would win

    # -- writes (call inside transaction()) -------------------------------------------

    def transaction(self) -> Transaction:
        return Transaction(self.conn)

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
            marks = ",".join("?" * len(chunk))
            for msg_id, device_id, seq in self.conn.execute(
                f"SELECT msg_id, device_id, seq FROM ledger WHERE msg_id IN ({marks})", chunk
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
            table, row = typed_row(e, msg_id, received_at, received)
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

    def touch_device(
        self, device_id: str, store_id: str, received_at: datetime, count: int
    ) -> None:
        received = format_ts(received_at)
        self.conn.execute(
            "INSERT INTO devices (device_id, store_id, last_seen, messages) VALUES (?,?,?,?) "
            "ON CONFLICT(device_id) DO UPDATE SET last_seen = excluded.last_seen, "
            "messages = messages + excluded.messages",
            (device_id, store_id, received, count),
        )

    def touch_devices(self, seen: list[tuple[str, str, int]], received_at: datetime) -> None:
        """(device, store, messages) of one batch."""
        for device_id, store_id, count in seen:
            self.touch_device(device_id, store_id, received_at, count)

    def advance_acks(self, device_ids: list[str]) -> dict[str, int]:
        return {d: self.advance_ack(d) for d in device_ids}

    def acked_seqs(self, device_ids: list[str]) -> dict[str, int]:
        return {d: self.acked_seq(d) for d in device_ids}

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
                    "SELECT seq FROM ledger WHERE device_id = ? AND seq > ? "
                    "ORDER BY seq LIMIT 2000",
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


def typed_row(
    e: Envelope, msg_id: str, received_at: datetime, received: str
) -> tuple[str, tuple[Any, ...]]:
    """The table and the row (in its column order) that store one valid envelope."""
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


def _num(value: float | int | None) -> float | None:
    return None if value is None else float(value)


# The name every caller used before there were two engines.
Store = SqliteStore
