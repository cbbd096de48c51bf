"""The press journal: a tap is on disk the moment it is touched, before its reason is known.

A rating travels as one message with its reason, but the reason comes seconds after the press
(or never). So the press is written here at the touch (WAL, synchronous FULL), and the rating
message goes to the link's outbox when the follow-up ends. The journal row keeps the press
time and a message id chosen at the touch; if the app stops while a press waits for its reason,
the next start sends it without one, with the same id and time. Should the app die between
the outbox write and marking the row sent, the resend carries the same msg_id, which the
outbox recognises as already issued, so it adds nothing.

The row also keeps the press on the boot clock: a kiosk whose clock is not synchronised then
tells the hub how long ago the press was, however long the rating waited for its reason or a
broker.

A damaged file (a power cut on an SD card) does not stop the kiosk: it is set aside, the presses
still readable in it are kept in a fresh journal (those never sent go out at the start, with
their msg_id, so none is sent twice), and the screen keeps taking ratings.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peakend.broker.device.clock import Stamp, stamp
from peakend.broker.device.salvage import Layout, Recovered, open_or_salvage

# Sent rows kept for a tech to look at; older ones are pruned so the file stays small.
KEEP_SENT = 1000


@dataclass(frozen=True)
class Press:
    id: int
    msg_id: uuid.UUID
    score: int
    flags: tuple[str, ...]
    pressed_at: datetime
    clock_synced: bool
    at: Stamp | None = None  # the press on the boot clock (None in rows of earlier versions)


class PressJournal:
    """SQLite journal of presses; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # What was found and saved when the file was damaged; None when it was sound.
        self.salvage_report = open_or_salvage(
            self.path, what="press journal", rebuild=_rebuild, layouts=_LAYOUTS
        )
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the press must survive a power cut the moment record() returns.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(
            """
            CREATE TABLE IF NOT EXISTS presses (
                id INTEGER PRIMARY KEY,
                msg_id TEXT NOT NULL UNIQUE,
                score INTEGER NOT NULL,
                flags TEXT NOT NULL,
                pressed_at TEXT NOT NULL,
                clock_synced INTEGER NOT NULL,
                reason TEXT,
                sent_seq INTEGER
            )
            """
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(presses)")}
        for name, kind in (("boot_id", "TEXT"), ("elapsed", "REAL")):
            if name not in columns:
                self._db.execute(f"ALTER TABLE presses ADD COLUMN {name} {kind}")

    def record(self, score: int, flags: tuple[str, ...], *, clock_synced: bool = True) -> Press:
        """Write a press; returns once it is on disk."""
        press_id = uuid.uuid4()
        at = datetime.now(UTC)
        on_boot = stamp()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO presses (msg_id, score, flags, pressed_at, clock_synced, boot_id, "
                "elapsed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (str(press_id), score, json.dumps(list(flags)), at.isoformat(), int(clock_synced),
                 on_boot.boot_id, on_boot.elapsed),
            )
        return Press(int(cursor.lastrowid or 0), press_id, score, tuple(flags), at, clock_synced,
                     on_boot)

    def mark_sent(self, press: Press, reason: str | None, seq: int) -> None:
        """The rating is in the outbox as ``seq``; the journal no longer needs to resend it."""
        with self._lock:
            self._db.execute(
                "UPDATE presses SET reason = ?, sent_seq = ? WHERE id = ?", (reason, seq, press.id)
            )
            if press.id % 100 == 0:
                self._db.execute(
                    "DELETE FROM presses WHERE sent_seq IS NOT NULL AND id < ?",
                    (press.id - KEEP_SENT,),
                )

    def unsent(self) -> list[Press]:
        """Presses written but never handed to the outbox (the app stopped in between)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, msg_id, score, flags, pressed_at, clock_synced, boot_id, elapsed "
                "FROM presses WHERE sent_seq IS NULL ORDER BY id"
            ).fetchall()
        return [
            Press(
                id=row[0],
                msg_id=uuid.UUID(row[1]),
                score=row[2],
                flags=tuple(json.loads(row[3])),
                pressed_at=datetime.fromisoformat(row[4]),
                clock_synced=bool(row[5]),
                at=Stamp(row[6], row[7]) if row[6] is not None and row[7] is not None else None,
            )
            for row in rows
        ]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM presses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


_COLUMNS = ("id", "msg_id", "score", "flags", "pressed_at", "clock_synced", "reason", "sent_seq",
            "boot_id", "elapsed")


def _rebuild(found: Recovered, fresh: Path) -> str:
    """A fresh journal at ``fresh`` with the presses of a damaged one that can still be read."""
    rows = [r for r in found.table("presses") if _intact(r)]
    journal = PressJournal(fresh)
    try:
        with journal._lock:
            journal._db.execute("BEGIN IMMEDIATE")
            journal._db.executemany(
                f"INSERT OR IGNORE INTO presses ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                [tuple(r.get(c) for c in _COLUMNS) for r in rows],
            )
            journal._db.execute("COMMIT")
    finally:
        journal.close()
    unsent = sum(1 for r in rows if r.get("sent_seq") is None)
    bad = len(found.rows.get("presses", [])) - len(rows)
    saved = (f"Recovered {len(rows)} press(es); the {unsent} not yet sent go out now with "
             "their msg_id (the outbox and the hub take each once)." if rows
             else "No press in it could be read.")
    if bad:
        saved += f" {bad} row(s) were read but damaged, and dropped."
    return saved


def _intact(row: dict[str, Any]) -> bool:
    """A row a damaged page handed back may hold garbage: keep only what reads as a press."""
    try:
        uuid.UUID(str(row["msg_id"]))
        datetime.fromisoformat(str(row["pressed_at"]))
        flags = json.loads(str(row["flags"]))
    except (KeyError, ValueError):
        return False
    return row.get("score") in (1, 2, 3, 4) and isinstance(flags, list)


# The presses table as its rows lie on disk (boot_id and elapsed were added later), for reading
# a file whose schema SQLite can no longer read.
_LAYOUTS = {"presses": Layout(_COLUMNS, _intact, rowid_first=True)}
