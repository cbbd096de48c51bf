"""Durable SQLite for one process: the connection every writer opens, and its transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any


def open_sqlite(path: str | Path, *, busy_ms: int, durable: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit, see :class:`Transaction`),
    shared across threads, patient on locks. ``durable``: switch the file to WAL and make every
    commit survive a power cut (FULL), which an ack or ``send()`` promises; a reader passes
    False, since setting the journal mode writes to the file."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    if durable:
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode never corrupts either; FULL keeps each acked commit through a power
        # loss.
        conn.execute("PRAGMA synchronous=FULL")
    return conn


class Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``; rolls back on an error, including a failed COMMIT
    (SQLITE_BUSY would otherwise leave the transaction open and every later BEGIN failing)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        on_rollback: Callable[[], None] | None = None,
        *,
        begin: str = "BEGIN IMMEDIATE",
    ):
        self._db = db
        self._on_rollback = on_rollback
        self._begin = begin

    def __enter__(self) -> None:
        self._db.execute(self._begin)

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except Exception:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")
        if self._on_rollback is not None:
            self._on_rollback()
