"""One write transaction on a sqlite3 connection opened with ``isolation_level=None``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any


class Transaction:
    """``BEGIN IMMEDIATE`` .. ``COMMIT``; rolls back on an error, including a failed COMMIT
    (SQLITE_BUSY would otherwise leave the transaction open and every later BEGIN failing)."""

    def __init__(self, db: sqlite3.Connection, on_rollback: Callable[[], None] | None = None):
        self._db = db
        self._on_rollback = on_rollback

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

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
