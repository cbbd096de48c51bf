"""Just enough of ``sqlite3.Connection`` over PostgreSQL for the reports and alerts.

The report code (:mod:`peakend.broker.hub.reports.queries`,
:mod:`peakend.broker.hub.reports.alerts`) is SQL around pure functions and was written for
SQLite. Rather than fork it, its connection is wrapped: ``?`` placeholders become ``%s``,
``BEGIN IMMEDIATE`` (SQLite's "one writer at a time") becomes a transaction holding one advisory
lock, so several workers refreshing the rollups take turns as they would on SQLite; ``INSERT OR
IGNORE`` becomes ``ON CONFLICT DO NOTHING``; ``PRAGMA`` lines do nothing. The schema supplies
the few SQLite functions the SQL calls (``julianday``, two-argument ``max``, see
:mod:`peakend.broker.hub.db.schema`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

from peakend.broker.hub.db.store_pg import connect as pg_connect

# Every process that runs a SQLite "BEGIN IMMEDIATE" transaction on PostgreSQL takes this lock.
_WRITER_LOCK = 0x70656E64  # "pend"


def connect(dsn: str) -> SqliteLikeConnection:
    return SqliteLikeConnection(pg_connect(dsn))


class SqliteLikeConnection:
    engine = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.pg = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        statement = sql.strip().rstrip(";")
        upper = statement.upper()
        if upper.startswith("PRAGMA"):
            return Cursor(self, None)
        if upper == "BEGIN IMMEDIATE":
            self.pg.execute("BEGIN")
            self.pg.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITER_LOCK,))
            return Cursor(self, None)
        cur = self.pg.cursor()
        if params:
            cur.execute(translate(statement), tuple(params))  # type: ignore[arg-type]
        else:  # without parameters psycopg leaves % alone
            cur.execute(translate(statement, placeholders=False))  # type: ignore[arg-type]
        return Cursor(self, cur)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        cur = self.pg.cursor()
        rows = [tuple(p) for p in seq]
        cur.executemany(translate(sql.strip().rstrip(";")), rows)  # type: ignore[arg-type]
        return Cursor(self, cur)

    def horizons(self, tables: Sequence[str]) -> dict[str, int]:
        """For each table, the highest rowid below which every row is committed.

        Workers allocate rowids when they insert but commit in their own order, so a reader can
        see rowid 10 while 9 is still in flight; a watermark moved to 10 would skip 9 for good.
        A SHARE lock waits for the inserts in flight to commit and holds new ones off for the
        instant it takes to read the sequences."""
        out: dict[str, int] = {}
        with self.pg.transaction():
            self.pg.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE MODE")
            for table in tables:
                row = self.pg.execute(
                    "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'rowid'))",
                    (table,),
                ).fetchone()
                out[table] = int(row[0] or 0) if row else 0
        return out

    def close(self) -> None:
        self.pg.close()

    def __enter__(self) -> SqliteLikeConnection:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class Cursor:
    def __init__(self, owner: SqliteLikeConnection, cur: psycopg.Cursor[Any] | None) -> None:
        self._owner = owner
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount if self._cur is not None else -1

    @property
    def lastrowid(self) -> int | None:
        """The id the last INSERT drew from a sequence (SQLite's rowid of the new row)."""
        row = self._owner.pg.execute("SELECT lastval()").fetchone()
        return int(row[0]) if row else None

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cur is None or self._cur.description is None:
            return None
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cur is None or self._cur.description is None:
            return []
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.I)


def translate(sql: str, *, placeholders: bool = True) -> str:
    """SQLite's dialect of one statement, as PostgreSQL reads it (see the module docstring)."""
    if re.match(r"^\s*INSERT\s+OR\s+REPLACE\b", sql, re.I):
        raise ValueError("INSERT OR REPLACE has no PostgreSQL form: write ON CONFLICT DO UPDATE")
    ignore = _OR_IGNORE.match(sql) is not None
    if ignore:
        sql = _OR_IGNORE.sub("INSERT INTO", sql, count=1)
        sql += " ON CONFLICT DO NOTHING"
    if not placeholders:
        return sql
    out = []
    quote = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
            continue
        if ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)
