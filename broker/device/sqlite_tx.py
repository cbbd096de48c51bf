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


class DiskFull(sqlite3.OperationalError):
    """The disk that holds a database file is full. Nothing of the transaction was written;
    the same write succeeds once there is room again. The message names the file and the fix."""

    def __init__(self, path: str) -> None:
        where = path or "the database"
        folder = str(Path(path).parent) if path else "its folder"
        super().__init__(
            f"{where}: the disk is full, so nothing more can be stored there (nothing already "
            f"stored is lost). Free space on the disk that holds {folder} (`df -h {folder}` "
            "shows it; `sudo journalctl --vacuum-size=100M` drops old logs): storing resumes "
            "by itself."
        )
        self.path = path
        # as SQLite itself would say it, for whoever judges errors by their code
        self.sqlite_errorcode = sqlite3.SQLITE_FULL
        self.sqlite_errorname = "SQLITE_FULL"


class Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``; rolls back on an error, including a failed COMMIT
    (SQLITE_BUSY would otherwise leave the transaction open and every later BEGIN failing).
    A full disk is raised as :class:`DiskFull`."""

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
        try:
            self._db.execute(self._begin)
        except sqlite3.Error as exc:
            self._raise_disk_full(exc)
            raise

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                self._rollback()
                self._raise_disk_full(failed)
                raise
            except Exception:
                self._rollback()
                raise
        self._rollback()
        if isinstance(exc, sqlite3.Error):
            self._raise_disk_full(exc)

    def _rollback(self) -> None:
        # After SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM, SQLite may have rolled the
        # transaction back itself; a second ROLLBACK would then fail with "no transaction is
        # active" and hide the error that matters.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        if self._on_rollback is not None:
            self._on_rollback()

    def _raise_disk_full(self, exc: sqlite3.Error) -> None:
        if isinstance(exc, DiskFull) or not is_disk_full(exc):
            return
        raise DiskFull(_main_file(self._db)) from exc


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL: the disk (or the file's size limit) has no room."""
    code = getattr(exc, "sqlite_errorcode", None)
    # extended codes keep the primary code in the low byte
    return isinstance(exc, sqlite3.Error) and (code or 0) & 0xFF == sqlite3.SQLITE_FULL


def _main_file(db: sqlite3.Connection) -> str:
    """The database's file, to name it in the error; reading it needs no room on the disk."""
    try:
        for _, name, path in db.execute("PRAGMA database_list"):
            if name == "main":
                return str(path or "")
    except sqlite3.Error:
        pass
    return ""
