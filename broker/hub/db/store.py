"""The hub's store: the aggregator's writes, written once for both engines.

Every handled message leaves one row in ``ledger`` keyed by (device_id, seq), whether it was
stored or quarantined; seqs the device declares skipped are kept as ranges (see
:mod:`peakend.broker.hub.db.skipped`). The contiguous run of handled seqs (ledger rows and
skipped ranges) is the ack, computed from the database so that several aggregator workers agree
on it.

One algorithm serves one SQLite writer and several PostgreSQL workers at once:

- Idempotence comes from the database, not from a read-then-write: the ledger rows go in with
  ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, so of two workers handed the same redelivered
  message exactly one gets the row back and stores the event; the other finds the committed row
  afterwards (a conflicting insert waits for the first transaction to finish) and judges it a
  duplicate, or a conflict when the msg_id or the seq was reused for other content.
- The ack is computed inside the transaction from what it can see: committed rows and its own.
  Rows another worker has not committed yet are invisible, so the ack can come out lower than the
  truth (harmless: the device only deletes rows <= ack) but never higher. The device rows are
  locked in device order for the run, and ``acked_seq`` only ever grows.
- Rows are inserted and locked in (device, seq) order so two workers rarely deadlock; when
  PostgreSQL still detects one, ``is_retryable`` tells the writer to run the batch again.

Times are stored as UTC text with milliseconds (``2026-11-22T11:21:03.512Z``), which sorts
correctly. ``at`` is the moment the event happened as the hub believes it: the device's ``ts``
when its clock was synchronised, else the hub's receive time minus the age the device measured
(see event_time)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from peakend.broker.hub.db.database import FOLD_LOCK, DbTarget, HubDb, open_hub_db, parse_db
from peakend.broker.hub.db.skipped import SkippedRanges
from peakend.broker.hub.event_time import device_offset
from peakend.broker.wire.contract import (
    COUNTED_FLAGS,
    MAX_INT,
    Dwell,
    Envelope,
    Health,
    Queue,
    Rating,
    format_ts,
)
from peakend.broker.wire.storable import storable_text

__all__ = ["DbTarget", "EventStore", "Outcome", "Store", "open_store", "parse_db", "typed_row",
           "unplaceable"]

# Rows per multi-row statement: well under either engine's limit on parameters. A power of
# two: see _chunks.
_CHUNK = 1024

# What a quarantine row keeps of a message: the head of its payload (as much as the contract
# allows a whole event), and of its topic and reason.
QUARANTINE_RAW_BYTES = 4096
QUARANTINE_TEXT_CHARS = 1000


def open_store(db: str | Path) -> Store:
    """The store for a ``--db`` value (see :func:`parse_db`), its schema brought up to date."""
    return Store(db)


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: stored, duplicate (already stored), conflict (a msg_id or
    seq reused), or refused (a skip notice past the device's bound)."""

    kind: str
    reason: str | None = None


class LostRace(Exception):
    """A row this batch relied on changed under it; running the batch again settles it."""


class Store:
    """The aggregator's writes to the hub database, on either engine; one per writer process.
    Writes go inside ``transaction()``."""

    def __init__(self, db: str | Path | HubDb) -> None:
        self.db = db if isinstance(db, HubDb) else open_hub_db(db, migrate=True)
        self.skipped = SkippedRanges(self.db)

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[None]:
        return self.db.transaction()

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether a failed transaction may simply run again (a race between workers)."""
        return isinstance(exc, LostRace) or self.db.is_retryable(exc)

    def is_storage_failure(self, exc: BaseException) -> bool:
        """A failure of the database itself (disk full, locked): no message is to blame."""
        return self.db.is_storage_failure(exc)

    # -- events -------------------------------------------------------------------------------

    def store_event(self, envelope: Envelope, received_at: datetime) -> Outcome:
        return self.store_events([(envelope, received_at)])[0]

    def store_events(self, items: list[tuple[Envelope, datetime]]) -> list[Outcome]:
        """Insert valid envelopes idempotently, in bulk. A redelivery is a "duplicate"; a msg_id
        or a seq reused for other content is a "conflict" whose reason the caller quarantines."""
        if not items:
            return []
        msg_ids = [str(e.msg_id) for e, _ in items]
        received = [format_ts(at) for _, at in items]
        stored: set[int] = set()
        tried: set[int] = set()
        taken_msg: set[str] = set()
        taken_key: set[tuple[str, int]] = set()
        # Rounds: the first occurrence of each msg_id and of each (device, seq) not known to be
        # taken tries the insert. One that loses learns what took it, and a later copy whose
        # msg_id and seq are both still free tries in the next round (a msg_id replayed under a
        # new seq, or a seq reused with a new msg_id, behind a copy the ledger refused).
        while True:
            candidates = _first_free(items, msg_ids, tried, taken_msg, taken_key)
            if not candidates:
                break
            tried.update(candidates)
            inserted = self._insert_ledger(items, msg_ids, received, candidates)
            lost = []
            for i in candidates:
                key = (items[i][0].device_id, items[i][0].seq)
                if key in inserted:
                    stored.add(i)
                    taken_msg.add(msg_ids[i])
                    taken_key.add(key)
                else:
                    lost.append(i)
            if lost:
                by_msg, by_seq = self._ledger_owners(items, msg_ids, lost)
                taken_msg.update(by_msg)
                taken_key.update(by_seq)
        outcomes = self._judge(items, msg_ids, stored)
        for i, reason in self._record_skipped(items, stored, received).items():
            stored.discard(i)
            outcomes[i] = Outcome("refused", reason)

        typed: dict[str, list[tuple[Any, ...]]] = {}
        for i in sorted(stored, key=lambda i: (items[i][0].device_id, items[i][0].seq)):
            e, received_at = items[i]
            table, row = typed_row(e, msg_ids[i], received_at, received[i])
            typed.setdefault(table, []).append(row)
        for table, rows in typed.items():
            self.db.load(table, COLUMNS[table], rows)
        ratings = [
            (msg_ids[i], items[i][0]) for i in stored if isinstance(items[i][0].data, Rating)
        ]
        if ratings:
            self._leave_out_replaced(ratings)
        return outcomes

    def _leave_out_replaced(self, ratings: list[tuple[str, Envelope]]) -> None:
        """A kiosk's correction replaces an earlier press of the same device: that press stays
        stored, flagged "replaced", and leaves the reports like a repeat. Either may arrive
        first (workers of a shared subscription), so both directions are looked up. Two
        PostgreSQL workers storing the pair in the very same instant would not see each
        other's row; a device sends them seconds apart and in seq order, so that takes both
        being redelivered together to two workers."""
        wanted: dict[str, str] = {}  # replaced msg_id -> its device
        for _, e in ratings:
            if e.data.replaces is not None:  # type: ignore[union-attr]
                wanted[str(e.data.replaces)] = e.device_id  # type: ignore[union-attr]
        mine = {msg_id: e.device_id for msg_id, e in ratings}
        dialect = self.db.dialect
        ids = sorted(mine)
        for part in _chunks(ids):
            for replaced, device_id in self.db.execute(
                "SELECT replaces, device_id FROM ratings "
                f"WHERE replaces IN ({dialect.params(1, len(part))})",
                part,
            ):
                wanted[replaced] = device_id
        if not wanted:
            return
        targets = sorted(wanted)
        rows = self.db.execute(
            f"SELECT rowid, msg_id, device_id, score, flags, store_id, zone_id, "
            f"{dialect.epoch('at')} FROM ratings "
            f"WHERE flagged = 0 AND msg_id IN ({dialect.params(1, len(targets))})",
            targets,
        ).fetchall()
        # A device corrects only its own presses.
        rows = [r for r in rows if wanted[r[1]] == r[2]]
        if not rows:
            return
        if self.db.engine != "sqlite":
            # The rollup fix below must not interleave with another worker's fold.
            self.db.execute("SELECT pg_advisory_xact_lock($1)", (FOLD_LOCK,))
        folded = self.db.execute(
            "SELECT last_rowid FROM rollup_marks WHERE name = 'ratings'"
        ).fetchone()
        folded_upto = int(folded[0]) if folded else 0
        for rowid, _msg, _dev, score, flags, store_id, zone_id, t in rows:
            marked = sorted({*json.loads(flags), "replaced"})
            self.db.execute(
                "UPDATE ratings SET flagged = 1, flags = $1 WHERE rowid = $2",
                (json.dumps(marked), rowid),
            )
            if rowid <= folded_upto:
                # Already counted in its hour's rollup as a plain press: move it to flagged.
                self.db.execute(
                    f"UPDATE zone_hours SET n{score} = n{score} - 1, flagged = flagged + 1 "
                    "WHERE store_id = $1 AND zone_id = $2 AND hour = $3",
                    (store_id, zone_id, int(t // 3600)),
                )

    def _judge(
        self, items: list[tuple[Envelope, datetime]], msg_ids: list[str], stored: set[int]
    ) -> list[Outcome]:
        """Outcomes of the batch; what was not stored is judged by the ledger's committed rows
        (and this transaction's own)."""
        if len(stored) == len(items):
            return [Outcome("stored")] * len(items)
        rest = [i for i in range(len(items)) if i not in stored]
        by_msg, by_seq = self._ledger_owners(items, msg_ids, rest)
        outcomes = []
        for i, (e, _) in enumerate(items):
            if i in stored:
                outcomes.append(Outcome("stored"))
                continue
            known = by_msg.get(msg_ids[i])
            key = (e.device_id, e.seq)
            if known == key and by_seq.get(key) == msg_ids[i]:
                outcomes.append(Outcome("duplicate"))
            elif known is not None:
                outcomes.append(Outcome(
                    "conflict", f"replayed msg_id: already stored as {known[0]} seq {known[1]}"
                ))
            elif key in by_seq:
                outcomes.append(Outcome(
                    "conflict",
                    f"seq {e.seq} of {e.device_id} was already used by msg_id {by_seq[key]}",
                ))
            else:
                # Neither its msg_id nor its seq is taken, yet the insert did nothing: only a
                # concurrent delete explains it. Run the batch again.
                raise LostRace(
                    f"ledger row for {e.device_id} seq {e.seq} vanished during the batch"
                )
        return outcomes

    def _insert_ledger(
        self,
        items: list[tuple[Envelope, datetime]],
        msg_ids: list[str],
        received: list[str],
        candidates: list[int],
    ) -> set[tuple[str, int]]:
        """Ledger rows for the candidates, in (device, seq) order so that concurrent workers
        take row locks in one order; returns the (device, seq) keys this insert took."""
        order = sorted(candidates, key=lambda i: (items[i][0].device_id, items[i][0].seq))
        inserted: set[tuple[str, int]] = set()
        for part in _chunks(order):
            args = [
                a
                for i in part
                for a in (items[i][0].device_id, items[i][0].seq, msg_ids[i], received[i])
            ]
            inserted.update(
                (d, s)
                for d, s in self.db.execute(
                    "INSERT INTO ledger (device_id, seq, msg_id, received_at, outcome) "
                    f"SELECT *, 'stored' FROM (VALUES {self.db.dialect.values(len(part), 4)}) "
                    "AS v WHERE true ON CONFLICT DO NOTHING RETURNING device_id, seq",
                    args,
                )
            )
        return inserted

    def _ledger_owners(
        self, items: list[tuple[Envelope, datetime]], msg_ids: list[str], which: list[int]
    ) -> tuple[dict[str, tuple[str, int]], dict[tuple[str, int], str | None]]:
        """Who holds these items' msg_ids and (device, seq) keys in the ledger (committed rows
        and this transaction's own)."""
        dialect = self.db.dialect
        by_msg: dict[str, tuple[str, int]] = {}
        by_seq: dict[tuple[str, int], str | None] = {}
        for part in _chunks(which):
            wanted = sorted({msg_ids[i] for i in part})
            for m, d, s in self.db.execute(
                "SELECT msg_id, device_id, seq FROM ledger "
                f"WHERE msg_id IN ({dialect.params(1, len(wanted))})",
                wanted,
            ):
                by_msg[m] = (d, s)
            keys = sorted({(items[i][0].device_id, items[i][0].seq) for i in part})
            for d, s, m in self.db.execute(
                "SELECT device_id, seq, msg_id FROM ledger "
                f"WHERE (device_id, seq) IN (VALUES {dialect.values(len(keys), 2)})",
                [a for key in keys for a in key],
            ):
                by_seq[(d, s)] = m
        return by_msg, by_seq

    def _record_skipped(
        self, items: list[tuple[Envelope, datetime]], stored: set[int], received: list[str]
    ) -> dict[int, str]:
        """The ranges the skip notices just stored declare; returns the notices refused (past
        their device's bound), with the reason, their ledger rows now quarantined."""
        notices: dict[str, list[tuple[int, int]]] = {}  # device -> [(seq, item)]
        for i in stored:
            e = items[i][0]
            if isinstance(e.data, Health) and e.data.skipped:
                notices.setdefault(e.device_id, []).append((e.seq, i))
        refused: dict[int, str] = {}
        for device_id in sorted(notices):  # in device order, as the ledger's locks
            by_seq = sorted(notices[device_id])
            declared = []
            for seq, i in by_seq:
                health = items[i][0].data
                assert isinstance(health, Health)
                declared.append((seq, health.skipped or []))
            reasons = self.skipped.record(device_id, declared, received[by_seq[0][1]])
            for seq, i in by_seq:
                if seq in reasons:
                    refused[i] = reasons[seq]
                    self.db.execute(
                        "UPDATE ledger SET outcome = 'quarantined' "
                        "WHERE device_id = $1 AND seq = $2",
                        (device_id, seq),
                    )
        return refused

    # -- quarantine, status, devices ----------------------------------------------------------

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
        # The digest and the size are of what arrived; the row keeps only its head (a broker
        # passes up to 64 KiB, and a device in a loop could send that all day).
        digest = hashlib.sha256(topic.encode("utf-8", "replace") + b"\0" + raw).hexdigest()
        # An error may quote what the device sent: only storable text goes in.
        topic, reason = storable_text(topic), storable_text(reason)
        self.db.execute(
            "INSERT INTO quarantine (received_at, last_received_at, topic, device_id, seq, "
            "reason, raw, sha256, raw_size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (sha256) DO UPDATE SET times = quarantine.times + 1, "
            "last_received_at = excluded.last_received_at",
            (received, received, _cut(topic, QUARANTINE_TEXT_CHARS), device_id, seq,
             _cut(reason, QUARANTINE_TEXT_CHARS), raw[:QUARANTINE_RAW_BYTES], digest, len(raw)),
        )
        # A quarantined message counts as handled, so the device's ack can move past it; but a
        # bad copy must never take the place of a good message already stored under that seq.
        if device_id is not None and seq is not None:
            self.db.execute(
                "INSERT INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                "VALUES ($1, $2, NULL, 'quarantined', $3) ON CONFLICT DO NOTHING",
                (device_id, seq, received),
            )

    def prune_quarantine(self, *, before: datetime, keep: int) -> int:
        """Delete quarantine rows last received before ``before``, then the rows last received
        longest ago beyond the newest ``keep``; returns how many went."""
        deleted = self.db.execute(
            "DELETE FROM quarantine WHERE last_received_at < $1", (format_ts(before),)
        ).rowcount
        over = int(self.db.execute("SELECT count(*) FROM quarantine").fetchone()[0]) - keep
        if over > 0:
            deleted += self.db.execute(
                "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine "
                "ORDER BY last_received_at, id LIMIT $1)",
                (over,),
            ).rowcount
        return int(deleted)

    def record_status(
        self, device_id: str, store_id: str, status: dict[str, Any], received_at: datetime
    ) -> None:
        received = format_ts(received_at)
        self.db.execute(
            "INSERT INTO devices (device_id, store_id, role, zone_id, state, boot_id, version, "
            "config_hash, status_at, last_seen) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) "
            "ON CONFLICT (device_id) DO UPDATE SET store_id = excluded.store_id, "
            "role = coalesce(excluded.role, devices.role), "
            "zone_id = coalesce(excluded.zone_id, devices.zone_id), "
            "state = excluded.state, boot_id = coalesce(excluded.boot_id, devices.boot_id), "
            "version = coalesce(excluded.version, devices.version), "
            "config_hash = coalesce(excluded.config_hash, devices.config_hash), "
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

    def touch_devices(self, seen: list[tuple[str, str, int]], received_at: datetime) -> None:
        """(device, store, messages) of one batch; locks those device rows, in device order,
        until the transaction ends, which serialises the acks of concurrent workers."""
        if not seen:
            return
        received = format_ts(received_at)
        dialect = self.db.dialect
        for part in _chunks(sorted(seen)):
            self.db.execute(
                "INSERT INTO devices (device_id, store_id, messages, last_seen) "
                f"SELECT *, CAST({dialect.param(len(part) * 3 + 1)} AS TEXT) "
                f"FROM (VALUES {dialect.values(len(part), 3)}) AS v WHERE true "
                "ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen, "
                "messages = devices.messages + excluded.messages",
                [*(a for row in part for a in row), received],
            )

    def touch_device(
        self, device_id: str, store_id: str, received_at: datetime, count: int
    ) -> None:
        self.touch_devices([(device_id, store_id, count)], received_at)

    def advance_acks(self, device_ids: list[str]) -> dict[str, int]:
        """Move each device's ack over the contiguous run of handled seqs (ledger rows and
        skipped ranges) this transaction can see; returns the acks (never lower than what is
        already recorded)."""
        if not device_ids:
            return {}
        acks = {d: 0 for d in device_ids}
        moved: list[tuple[int, str]] = []
        dialect = self.db.dialect
        for part in _chunks(sorted(set(device_ids))):
            for device_id, acked, end, reach in self.db.execute(
                "WITH d AS (SELECT device_id, acked_seq FROM devices "
                f"WHERE device_id IN ({dialect.params(1, len(part))}) "
                f"ORDER BY device_id{dialect.lock_rows}), "
                "runs AS (SELECT d.device_id, d.acked_seq, "
                f"{_run_end('d.device_id', 'd.acked_seq')} AS run_end FROM d) "
                "SELECT runs.device_id, runs.acked_seq, runs.run_end, "
                f"{_range_end('runs.device_id', 'runs.run_end')} FROM runs",
                part,
            ):
                end = acked if end is None else end
                if reach is not None and reach > end:
                    end = self._walk(device_id, reach)
                acks[device_id] = max(acked, end)
                if end > acked:
                    moved.append((end, device_id))
        if moved:
            self.db.executemany(
                f"UPDATE devices SET acked_seq = {dialect.greatest('acked_seq', '$1')} "
                "WHERE device_id = $2",
                moved,
            )
        return acks

    def _walk(self, device_id: str, seq: int) -> int:
        """The end of the handled run through ``seq``, alternating ledger runs and skipped
        ranges; each step passes at least one range, so it ends within the device's bound."""
        while True:
            end, reach = self.db.execute(
                f"SELECT x.run_end, {_range_end('$1', 'x.run_end')} FROM "
                f"(SELECT {_run_end('$1', 'CAST($2 AS BIGINT)')} AS run_end) AS x",
                (device_id, seq),
            ).fetchone()
            end = seq if end is None else end
            if reach is None or reach <= end:
                return int(end)
            seq = reach

    def advance_ack(self, device_id: str) -> int:
        return self.advance_acks([device_id])[device_id]

    # -- reads ------------------------------------------------------------------------------

    def acked_seqs(self, device_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        dialect = self.db.dialect
        for part in _chunks(sorted(set(device_ids))):
            found.update(self.db.execute(
                "SELECT device_id, acked_seq FROM devices "
                f"WHERE device_id IN ({dialect.params(1, len(part))})",
                part,
            ).fetchall())
        return {d: found.get(d, 0) for d in device_ids}

    def acked_seq(self, device_id: str) -> int:
        return self.acked_seqs([device_id])[device_id]

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(f"no table {table!r}")
        return int(self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# The protocol the writer was typed against; the one Store is it.
EventStore = Store

_BASE = ("msg_id", "device_id", "seq", "store_id")
_PLACED = ("zone_id", "ts", "received_at", "clock_synced", "at")

# Column order of the rows typed_row makes, per table.
COLUMNS: dict[str, tuple[str, ...]] = {
    "ratings": (*_BASE, *_PLACED, "score", "reason", "flags", "flagged", "replaces"),
    "dwells": (*_BASE, *_PLACED, "track", "enter", "exit", "dwell_s", "wait_s",
               "wait_floor_s"),
    "queue_windows": (*_BASE, *_PLACED, "window_s", "length", "arrivals", "departures",
                      "wait_s", "wait_measured_s"),
    "health": (*_BASE, "ts", "received_at", "at", "fps", "cpu", "outbox", "temp_c", "data"),
}

TABLES = frozenset({*COLUMNS, "ledger", "quarantine", "devices", "zone_hours", "zone_last",
                    "rollup_marks", "users", "user_stores", "web_sessions", "alerts",
                    "alert_comments", "skipped_ranges"})


def _run_end(device: str, after: str) -> str:
    """SQL: the last seq of the ledger's run of consecutive seqs from ``after`` + 1, or
    ``after`` when the ledger lacks that seq. The largest seq is never a run's end (its successor
    would overflow; no device reaches it by steps of one)."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM ledger WHERE device_id = {device} "
        f"AND seq = {after} + 1) THEN (SELECT l.seq FROM ledger l WHERE l.device_id = {device} "
        f"AND l.seq > {after} AND l.seq < {MAX_INT} AND NOT EXISTS (SELECT 1 FROM ledger n "
        "WHERE n.device_id = l.device_id AND n.seq = l.seq + 1) ORDER BY l.seq LIMIT 1) "
        f"ELSE {after} END"
    )


def _range_end(device: str, after: str) -> str:
    """SQL: the last seq of the skipped range starting last at or before ``after`` + 1; that
    range holds ``after`` + 1 when its end is beyond ``after`` (ranges are disjoint)."""
    return (
        f"(SELECT k.last_seq FROM skipped_ranges k WHERE k.device_id = {device} "
        f"AND k.first_seq <= {after} + 1 ORDER BY k.first_seq DESC LIMIT 1)"
    )


def _chunks(seq: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """Consecutive parts of ``seq`` whose lengths are powers of two up to :data:`_CHUNK`
    (1000 items: 512, 256, 128, 64, 32, 8). A statement's text grows with its rows, and each
    new text is compiled afresh: for a multi-row insert that costs SQLite 20-60 times running
    it (a 999-row ledger insert, 64 ms against 3 ms). Batches come in every size, so parts of
    a dozen sizes keep every shape compiled in the engine's statement cache."""
    i, n = 0, len(seq)
    while i < n:
        size = min(_CHUNK, 1 << ((n - i).bit_length() - 1))
        yield seq[i : i + size]
        i += size


def _first_free(
    items: list[tuple[Envelope, datetime]],
    msg_ids: list[str],
    tried: set[int],
    taken_msg: set[str],
    taken_key: set[tuple[str, int]],
) -> list[int]:
    """The items that may try the insert now: not tried yet, msg_id and (device, seq) not
    known to be taken, and the first in the batch to claim either."""
    claim_msg: set[str] = set()
    claim_key: set[tuple[str, int]] = set()
    out = []
    for i, (e, _) in enumerate(items):
        key = (e.device_id, e.seq)
        if i in tried or msg_ids[i] in taken_msg or key in taken_key:
            continue
        if msg_ids[i] in claim_msg or key in claim_key:
            continue
        claim_msg.add(msg_ids[i])
        claim_key.add(key)
        out.append(i)
    return out


def unplaceable(e: Envelope, received_at: datetime) -> str | None:
    """Why the times of ``e`` cannot be placed on the hub's clock as :func:`typed_row` places
    them, or None."""
    offset = _clock_offset(e, received_at)
    if offset is None or not isinstance(e.data, Dwell):
        return None
    try:
        e.data.enter + offset
        e.data.exit + offset
    except OverflowError:
        return (
            "clock_synced is false and data.enter/exit cannot be moved to the hub's clock: "
            f"shifted by {offset.total_seconds():.0f} s they fall outside the years 1-9999"
        )
    return None


def _clock_offset(e: Envelope, received_at: datetime) -> timedelta | None:
    # Without a synchronised clock the device's times are only good relative to each other:
    # shift them onto our clock (event_time says how).
    return device_offset(e, received_at)


def typed_row(
    e: Envelope, msg_id: str, received_at: datetime, received: str
) -> tuple[str, tuple[Any, ...]]:
    """The table and the row (in its column order) that store one valid envelope."""
    ts = format_ts(e.ts)
    offset = _clock_offset(e, received_at)
    at = ts if offset is None else format_ts(e.ts + offset)
    base = (msg_id, e.device_id, e.seq, e.store_id)
    data = e.data
    if isinstance(data, Rating):
        flags, flagged = "[]", 0  # most presses have no flag
        if data.flags:
            marks = set(data.flags)
            flags, flagged = json.dumps(sorted(marks)), int(bool(marks - COUNTED_FLAGS))
        return "ratings", (
            *base, e.zone_id, ts, received, int(e.clock_synced), at, data.score,
            data.reason, flags, flagged, None if data.replaces is None else str(data.replaces),
        )
    if isinstance(data, Dwell):
        enter, exit_ = data.enter, data.exit
        if offset is not None:
            enter, exit_ = enter + offset, exit_ + offset
        return "dwells", (
            *base, e.zone_id, ts, received, int(e.clock_synced), at, str(data.track),
            format_ts(enter), format_ts(exit_), float(data.dwell_s),
            None if data.wait_floor else _num(data.wait_s),
            _num(data.wait_s) if data.wait_floor else None,
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


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(value: float | int | None) -> float | None:
    return None if value is None else float(value)
