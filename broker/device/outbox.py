"""The device's durable outbox: every message is on disk before anyone hears of it.

A row leaves only when the hub's retained ack covers its seq (a broker PUBACK is not enough:
the broker can lose what it holds). The seq counter lives in the same database, so it keeps
growing across restarts for the device's whole life.

When the outbox reaches its bound the oldest health and queue-window rows go first; ratings
and dwell visits are never dropped (the bound is exceeded instead). Dropped
seqs are announced in a health message (``data.skipped``) so the hub's contiguous ack can move
past them.

A message written while the clock is not synchronised keeps the event's stamp on the boot
clock (its boot's id and the seconds since that boot); each publication then says how old the
event is (``age_s``), so the hub can date it however long it waited here. A row from an earlier
boot goes out without an age: how long the device was off is not known.

A damaged file (a power cut on an SD card) does not stop the device: it is set aside, every
message still readable in it is queued again in a fresh outbox with its seq and msg_id (the hub
drops what it already has), and the seqs that could not be read are declared lost, so the
hub's ack moves past them (see :mod:`peakend.broker.device.salvage`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from peakend.broker.device.clock import Stamp, age_of, clock_synced, stamp
from peakend.broker.device.salvage import Layout, Recovered, open_or_salvage
from peakend.broker.device.sqlite_tx import Transaction, open_sqlite
from peakend.broker.wire.contract import (
    MAX_AGE_S,
    MAX_SKIPPED,
    Envelope,
    event_topic,
    new_envelope,
    with_age,
)

log = logging.getLogger(__name__)

DROP_ORDER = ("health", "queue")
ISSUED_KEPT = 10_000
RANGES_PER_NOTICE = 100  # keeps a notice well inside the contract's 4 KiB


@dataclass(frozen=True)
class Pending:
    seq: int
    topic: str
    payload: bytes


class Outbox:
    """A SQLite-backed queue of envelopes for one device; safe to share between threads."""

    def __init__(
        self,
        path: str | Path,
        *,
        device_id: str,
        store_id: str,
        max_rows: int = 200_000,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.device_id = device_id
        self.store_id = store_id
        self.max_rows = max_rows
        self._lock = threading.Lock()
        # What was found and saved when the file was damaged; None when it was sound.
        self.salvage_report = open_or_salvage(
            self.path, what="outbox", rebuild=self._rebuild, layouts=_LAYOUTS
        )
        # durable: a row must survive a power cut the moment send() returns.
        self._db = open_sqlite(self.path, busy_ms=5000)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS outbox (
                seq INTEGER PRIMARY KEY,
                type TEXT NOT NULL,
                topic TEXT NOT NULL,
                payload BLOB NOT NULL,
                created REAL NOT NULL
            );
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
            -- Envelopes issued for a caller-chosen msg_id, so that a caller which crashed
            -- before noting its send can send again without making a second message.
            CREATE TABLE IF NOT EXISTS issued (msg_id TEXT PRIMARY KEY, payload BLOB NOT NULL);
            """
        )
        self._add_stamp_columns()
        self._depth = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    # -- writing --------------------------------------------------------------------------

    def append(
        self,
        event_type: str,
        data: dict[str, Any] | BaseModel,
        *,
        zone_id: str | None,
        ts: datetime | None = None,
        clock_synced: bool = True,
        msg_id: uuid.UUID | None = None,
        at: Stamp | None = None,
    ) -> Envelope:
        """Give the message the next seq and commit it; returns once it is on disk.

        ``at``: when the event happened on the boot clock (default: now), kept while the clock
        is not synchronised so that each publication can say the event's age.
        With a ``msg_id`` this outbox has issued before, nothing is added: the envelope first
        issued for it is returned (the caller's retry after a crash is not a new message)."""
        with self._lock, self._transaction():
            if msg_id is not None:
                row = self._db.execute(
                    "SELECT payload FROM issued WHERE msg_id = ?", (str(msg_id),)
                ).fetchone()
                if row:
                    return Envelope.model_validate_json(row[0])
            seq = self._next_seq()
            envelope = new_envelope(
                device_id=self.device_id,
                store_id=self.store_id,
                zone_id=zone_id,
                seq=seq,
                event_type=event_type,
                data=data,
                ts=ts,
                clock_synced=clock_synced,
                msg_id=msg_id,
            )
            self._insert(envelope, None if clock_synced else at or stamp())
            if msg_id is not None:
                self._remember(envelope)
            if self._depth > self.max_rows:
                self._make_room(ts=ts, clock_synced=clock_synced)
        return envelope

    def acknowledge(self, seq: int) -> int:
        """The hub has stored everything up to ``seq``: forget it. Returns rows deleted."""
        with self._lock, self._transaction():
            if seq <= self._meta_int("acked_seq", 0):
                return 0
            deleted = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
            self._set_meta("acked_seq", seq)
            self._set_meta("acked_at", time.time())
            self._depth -= deleted
        return deleted

    def announce_lost(self, first: int, last: int, *, clock_synced: bool = False) -> int:
        """The hub no longer holds seqs ``first..last``, which it had acked and this outbox has
        deleted: its database was restored from a backup. Declare them skipped in notices at
        the end of the outbox, or the hub's contiguous ack would stop at the hole for good and
        nothing would ever leave this outbox again. Returns the notices queued."""
        if last < first:
            return 0
        with self._lock, self._transaction():
            return self._announce([(first, last)], ts=None, clock_synced=clock_synced)

    def adopt_hub_seq(self, hub_seq: int, *, first_contact: bool = False) -> int:
        """The hub acked a seq this outbox never issued: its history was wiped (a re-flashed
        SD card). Renumber what is pending to follow the hub's seq, or the retained ack would
        delete it unsent. ``first_contact``: this outbox has never heard from the hub, so any
        ack it gets belongs to an earlier life, however many rows it queued meanwhile.
        Returns the rows renumbered."""
        with self._lock, self._transaction():
            if hub_seq < self._meta_int("next_seq", 1) and not first_contact:
                return 0
            rows = self._db.execute(
                "SELECT seq, type, payload, boot_id, elapsed FROM outbox ORDER BY seq"
            ).fetchall()
            self._db.execute("DELETE FROM outbox")
            next_seq = hub_seq + 1
            for _, event_type, payload, boot, elapsed in rows:
                old = Envelope.model_validate_json(payload)
                renumbered = old.model_copy(update={"seq": next_seq})
                self._db.execute(
                    "INSERT INTO outbox (seq, type, topic, payload, created, boot_id, elapsed) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (
                        next_seq,
                        event_type,
                        self._topic(event_type),
                        renumbered.to_json(),
                        time.time(),
                        boot,
                        elapsed,
                    ),
                )
                next_seq += 1
            self._set_meta("next_seq", next_seq)
            self._set_meta("acked_seq", hub_seq)
            log.warning(
                "hub already acked seq %d, beyond this outbox's history: renumbered %d pending "
                "message(s) from %d",
                hub_seq,
                len(rows),
                hub_seq + 1,
            )
            return len(rows)

    # -- reading --------------------------------------------------------------------------

    def pending(self, after_seq: int, limit: int) -> list[Pending]:
        """Rows to publish now, each carrying its event's age at this moment when it has one."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, boot_id, elapsed FROM outbox "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        now = stamp()
        return [
            Pending(seq, topic, _aged(bytes(payload), boot, elapsed, now))
            for seq, topic, payload, boot, elapsed in rows
        ]

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def acked_seq(self) -> int:
        with self._lock:
            return self._meta_int("acked_seq", 0)

    @property
    def acked_at(self) -> float | None:
        with self._lock:
            value = self._meta("acked_at")
        return float(value) if value is not None else None

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._meta_int("next_seq", 1) - 1

    def get_flag(self, key: str) -> bool:
        with self._lock:
            return bool(self._meta(key))

    def set_flag(self, key: str) -> None:
        with self._lock, self._transaction():
            self._set_meta(key, 1)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals ------------------------------------------------------------------------

    def _rebuild(self, found: Recovered, fresh: Path) -> str:
        """A fresh outbox at ``fresh`` holding what could be read of a damaged one. Returns
        what was saved, in a sentence for the log and ``peakend doctor``."""
        meta = {row["key"]: row["value"] for row in found.table("meta")}
        kept, bad = _readable_messages(found.table("outbox"), self.device_id)
        if "acked_seq" in meta:
            # Rows read from the raw pages may include acked ones, deleted since (a page freed,
            # an older copy in the WAL): they are not the device's to send again.
            kept = [r for r in kept if r["seq"] > _as_int(meta["acked_seq"], 0)]
        issued = [row for row in found.table("issued") if _envelope(row.get("payload"))]
        box = Outbox(fresh, device_id=self.device_id, store_id=self.store_id,
                     max_rows=self.max_rows)
        seqs = [row["seq"] for row in kept]
        topics = {kind: box._topic(kind) for kind in {row["type"] for row in kept}}
        try:
            with box._lock, box._transaction():
                box._db.executemany(
                    "INSERT INTO outbox (seq, type, topic, payload, created, boot_id, elapsed) "
                    "VALUES (?,?,?,?,?,?,?)",
                    [
                        (r["seq"], r["type"], topics[r["type"]], r["payload"],
                         r.get("created") or time.time(), r.get("boot_id"), r.get("elapsed"))
                        for r in kept
                    ],
                )
                box._db.executemany(
                    "INSERT OR IGNORE INTO issued (msg_id, payload) VALUES (?, ?)",
                    [(r["msg_id"], r["payload"]) for r in issued],
                )
                box._depth = len(kept)
                for key, value in meta.items():
                    if key not in ("next_seq", "acked_seq"):
                        box._set_meta(key, value)
                next_seq = max(_as_int(meta.get("next_seq"), 1), max(seqs, default=0) + 1)
                box._set_meta("next_seq", next_seq)
                lost: list[tuple[int, int]] = []
                if "acked_seq" in meta:
                    acked = _as_int(meta["acked_seq"], 0)
                    box._set_meta("acked_seq", acked)
                    lost = _holes(acked + 1, next_seq - 1, seqs)
                    if lost:
                        box._announce(lost, ts=None, clock_synced=clock_synced())
                elif seqs:
                    # Without its metadata the outbox does not know what the hub acked; it
                    # claims nothing below what it holds, and (not knowing whether it ever
                    # heard the hub) waits for the hub's answer before sending, as a fresh
                    # device does.
                    box._set_meta("acked_seq", min(seqs) - 1)
        finally:
            box.close()
        saved = (
            f"Recovered {len(kept)} unsent message(s){_span(seqs)} and queued them again "
            "with their seq and msg_id (the hub stores each once)."
            if kept else "No message in it could be read."
        )
        if lost:
            count = sum(b - a + 1 for a, b in lost)
            saved += (f" {count} message(s) could not be read "
                      f"({_ranges_text(lost)}) and are declared lost to the hub.")
        if bad:
            saved += f" {bad} row(s) were read but damaged, and dropped."
        if "acked_seq" not in meta:
            saved += " Its metadata could not be read: it waits for the hub's ack first."
        return saved

    def _transaction(self) -> Transaction:
        return Transaction(self._db, on_rollback=self._recount)

    def _recount(self) -> None:
        self._depth = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def _next_seq(self) -> int:
        seq = self._meta_int("next_seq", 1)
        self._set_meta("next_seq", seq + 1)
        return seq

    def _insert(self, envelope: Envelope, at: Stamp | None) -> None:
        self._db.execute(
            "INSERT INTO outbox (seq, type, topic, payload, created, boot_id, elapsed) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                envelope.seq,
                envelope.type,
                self._topic(envelope.type),
                envelope.to_json(),
                time.time(),
                at.boot_id if at else None,
                at.elapsed if at else None,
            ),
        )
        self._depth += 1

    def _add_stamp_columns(self) -> None:
        """Outboxes written by earlier versions lack the boot-clock stamp: their rows go out
        without an age, as they always did."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        for name, kind in (("boot_id", "TEXT"), ("elapsed", "REAL")):
            if name not in columns:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")

    def _remember(self, envelope: Envelope) -> None:
        self._db.execute(
            "INSERT INTO issued (msg_id, payload) VALUES (?, ?)",
            (str(envelope.msg_id), envelope.to_json()),
        )
        if envelope.seq % 1000 == 0:
            # A retry comes within seconds of the crash; the last ISSUED_KEPT are plenty.
            self._db.execute(
                "DELETE FROM issued WHERE rowid <= (SELECT max(rowid) FROM issued) - ?",
                (ISSUED_KEPT,),
            )

    def _topic(self, event_type: str) -> str:
        return event_topic(self.store_id, self.device_id, event_type)

    def _make_room(self, *, ts: datetime | None, clock_synced: bool) -> None:
        batch = max(2, self.max_rows // 100)
        # The oldest droppable rows together, whatever their type: dropped seqs then form a few
        # long ranges, which the notices below can announce in little space.
        marks = ",".join("?" * len(DROP_ORDER))
        rows = self._db.execute(
            f"SELECT seq, payload FROM outbox WHERE type IN ({marks}) ORDER BY seq LIMIT ?",
            (*DROP_ORDER, batch),
        ).fetchall()
        seqs = [row[0] for row in rows]
        if not seqs:
            log.warning(
                "outbox holds %d rows, over its bound of %d, all ratings or visits: keeping them",
                self._depth,
                self.max_rows,
            )
            return
        self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self._depth -= len(seqs)
        log.warning("outbox full: dropped the %d oldest health/queue message(s)", len(seqs))
        self._announce(_merge(list(_ranges(seqs)) + _announced(rows)), ts=ts,
                       clock_synced=clock_synced)

    def _announce(
        self, ranges: list[tuple[int, int]], *, ts: datetime | None, clock_synced: bool
    ) -> int:
        """Queue health notices declaring ``ranges`` skipped; returns how many."""
        notices = 0
        for chunk in _notices(ranges):
            notice = new_envelope(
                device_id=self.device_id,
                store_id=self.store_id,
                zone_id=None,
                seq=self._next_seq(),
                event_type="health",
                data={"skipped": chunk, "outbox": self._depth},
                ts=ts,
                clock_synced=clock_synced,
            )
            self._insert(notice, None if clock_synced else stamp())
            notices += 1
        return notices

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _meta_int(self, key: str, default: int) -> int:
        value = self._meta(key)
        return int(value) if value is not None else default

    def _set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


_META_KEYS = frozenset({"next_seq", "acked_seq", "acked_at", "hub_synced"})


def _fits_outbox(row: dict[str, Any]) -> bool:
    env = _envelope(row["payload"])
    return env is not None and env.seq == row["seq"] and row["type"] == env.type


def _fits_issued(row: dict[str, Any]) -> bool:
    env = _envelope(row["payload"])
    return env is not None and str(env.msg_id) == row["msg_id"]


# The tables as their rows lie on disk (boot_id and elapsed were added later, so older rows
# lack them), for reading a file whose schema SQLite can no longer read.
_LAYOUTS = {
    "outbox": Layout(("seq", "type", "topic", "payload", "created", "boot_id", "elapsed"),
                     _fits_outbox, rowid_first=True),
    "meta": Layout(("key", "value"), lambda row: row["key"] in _META_KEYS),
    "issued": Layout(("msg_id", "payload"), _fits_issued),
}


def _readable_messages(rows: list[dict[str, Any]], device_id: str) -> tuple[list[dict], int]:
    """Rows of a damaged outbox whose message is intact (a damaged page can hand back a row
    whose bytes are garbage); returns them and how many were not."""
    kept, bad = [], 0
    for row in rows:
        env = _envelope(row.get("payload"))
        if env is None or env.seq != row.get("seq") or env.device_id != device_id:
            bad += 1
            continue
        kept.append({**row, "payload": bytes(row["payload"]), "type": env.type})
    return kept, bad


def _envelope(payload: Any) -> Envelope | None:
    if not isinstance(payload, bytes | str):
        return None
    try:
        return Envelope.model_validate_json(payload)
    except ValueError:
        return None


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _holes(first: int, last: int, present: list[int]) -> list[tuple[int, int]]:
    """The ranges of ``first..last`` not in ``present``."""
    have = sorted(s for s in set(present) if first <= s <= last)
    holes, start = [], first
    for s in have:
        if s > start:
            holes.append((start, s - 1))
        start = s + 1
    if start <= last:
        holes.append((start, last))
    return holes


def _span(seqs: list[int]) -> str:
    return f" (seq {min(seqs)}-{max(seqs)})" if seqs else ""


def _ranges_text(ranges: list[tuple[int, int]]) -> str:
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:5]]
    more = f" and {len(ranges) - 5} more range(s)" if len(ranges) > 5 else ""
    return "seq " + ", ".join(parts) + more


def _aged(payload: bytes, boot: str | None, elapsed: float | None, now: Stamp) -> bytes:
    """The payload with its event's age, when the row has a stamp from this boot."""
    if boot is None or elapsed is None:
        return payload
    age = age_of(Stamp(boot, elapsed), now)
    if age is None or age > MAX_AGE_S:
        return payload  # the hub falls back to its receive time, as for devices without ages
    return with_age(payload, age)


def _announced(rows: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """Ranges that earlier notices among the dropped rows announced: a dropped notice must pass
    its ranges on, or the hub never learns of them and its ack stops at the gap for good."""
    out: list[tuple[int, int]] = []
    for _, payload in rows:
        if b'"skipped":[' in payload:
            skipped = Envelope.model_validate_json(payload).data.skipped or []
            out += [(int(a), int(b)) for a, b in skipped]
    return out


def _notices(ranges: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """``ranges`` packed into notices the contract accepts: at most RANGES_PER_NOTICE ranges
    and MAX_SKIPPED seqs each (a long range is split)."""
    chunk: list[tuple[int, int]] = []
    total = 0
    for first, last in ranges:
        while first <= last:
            if len(chunk) == RANGES_PER_NOTICE or total == MAX_SKIPPED:
                yield chunk
                chunk, total = [], 0
            end = min(last, first + (MAX_SKIPPED - total) - 1)
            chunk.append((first, end))
            total += end - first + 1
            first = end + 1
    if chunk:
        yield chunk


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _ranges(seqs: list[int]) -> Iterator[tuple[int, int]]:
    seqs = sorted(seqs)
    start = prev = seqs[0]
    for s in seqs[1:]:
        if s != prev + 1:
            yield (start, prev)
            start = s
        prev = s
    yield (start, prev)
