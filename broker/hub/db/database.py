"""One way into the hub's database, whichever engine holds it.

``open_hub_db(url)`` takes the ``--db`` value: a bare path or ``sqlite:///path`` (one writer,
the default for a store's hub) or ``postgresql://...`` (a chain's several aggregator workers).
It returns a :class:`HubDb`: one connection with the engine's :class:`Dialect`, on which every
statement of the hub is written once with ``$1, $2, ...`` parameters.

Only the writer and the commands that manage the hub migrate (``migrate=True``); pages, reports
and alerts open the database as it is, check that its schema is current, and never write to
it, so they can run on a read-only role or a replica.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from peakend.broker.device.sqlite_tx import Transaction, open_sqlite
from peakend.broker.hub.db.dialect import POSTGRESQL, SQLITE, Dialect

# Every PostgreSQL process that must not write alongside another (the migrations, the rollup
# fold) takes this lock for the length of its transaction; the value is arbitrary.
# Advisory locks of PostgreSQL workers that must take turns, one per kind of work. The keys
# are those earlier versions used, so a chain upgraded worker by worker still excludes itself.
MIGRATION_LOCK = 0x7065616B  # "peak"
FOLD_LOCK = 0x70656E64  # "pend"
# Workers pruning the quarantine at the same minute would only wait on (or deadlock over) the
# same rows.
PRUNE_LOCK = 0x7072756E  # "prun"


class DatabaseError(ValueError):
    """The database cannot be used as asked; the message is meant for a person."""


@dataclass(frozen=True)
class DbTarget:
    """Where the hub's data lives: ``engine`` is "sqlite" (``location`` a file path) or
    "postgresql" (``location`` a libpq connection URL)."""

    engine: str
    location: str

    def redacted(self) -> str:
        if self.engine == "sqlite":
            return self.location
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


def open_hub_db(
    db: str | Path, *, migrate: bool = False, must_exist: bool = False, read_only: bool = False
) -> HubDb:
    """The hub database behind a ``--db`` value (see :func:`parse_db`).

    ``migrate``: bring the schema up to date (the writer and the commands that manage the hub);
    otherwise the schema must already be current and the connection only reads what is there.
    ``must_exist``: a SQLite file that is missing is an error instead of a new database.
    ``read_only``: the engine itself refuses any write on this connection (SQLite's
    ``query_only``, a PostgreSQL session of read-only transactions), so a page view that
    would write fails instead of competing with ingest.
    Raises :class:`DatabaseError` (bad URL, missing file, no server, schema behind)."""
    from peakend.broker.hub.db import migrations

    try:
        target = parse_db(db)
    except ValueError as exc:
        raise DatabaseError(str(exc)) from None
    if target.engine == "postgresql":
        hub = HubDb(_connect_postgresql(target.location), POSTGRESQL, target)
    else:
        path = Path(target.location)
        if not path.exists():
            if must_exist or not migrate:
                raise DatabaseError(f"{path}: no such database. Give the hub's --db path.")
            path.parent.mkdir(parents=True, exist_ok=True)
        hub = HubDb(open_sqlite(path, busy_ms=10_000, durable=migrate), SQLITE, target)
        hub.raw.execute("PRAGMA foreign_keys=ON")
    try:
        if migrate:
            migrations.apply(hub)
        else:
            migrations.require_current(hub)
        if read_only and not migrate:
            if hub.engine == "postgresql":
                hub.raw.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            else:
                hub.raw.execute("PRAGMA query_only = ON")
    except BaseException:
        hub.close()
        raise
    return hub


def _connect_postgresql(dsn: str) -> Any:
    import psycopg

    try:
        # autocommit: every transaction is explicit (HubDb.transaction / HubDb.snapshot)
        return psycopg.connect(
            dsn, autocommit=True, connect_timeout=10, cursor_factory=psycopg.RawCursor
        )
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL ({str(exc).strip().splitlines()[0]}). Check the "
            "--db URL (postgresql://user:password@host:port/dbname) and that the server runs."
        ) from None


class HubDb:
    """One connection to the hub database; statements use ``$1, $2, ...`` parameters."""

    def __init__(self, raw: Any, dialect: Dialect, target: DbTarget) -> None:
        self.raw = raw
        self.dialect = dialect
        self.target = target

    @property
    def engine(self) -> str:
        return self.dialect.name

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement; returns its cursor (``fetchone``, ``fetchall``, iteration)."""
        if self.dialect is SQLITE:
            return self.raw.execute(sql, _sqlite_args(sql, args))
        return self.raw.execute(sql, tuple(args) if args else None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.dialect is SQLITE:
            self.raw.executemany(sql, [_sqlite_args(sql, r) for r in rows])
        else:
            with self.raw.cursor() as cur:
                cur.executemany(sql, [tuple(r) for r in rows])

    def load(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many whole rows at once: ``COPY`` on PostgreSQL, a prepared insert run for
        each row on SQLite (which the statement cache makes as fast as it gets there)."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect is SQLITE:
            marks = ", ".join("?" * len(columns))
            self.raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            return
        with self.raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def transaction(self, *, take_turns: int | None = None) -> AbstractContextManager[None]:
        """A write transaction. SQLite has one writer at a time anyway (``BEGIN IMMEDIATE``);
        PostgreSQL workers write side by side unless ``take_turns`` names the advisory lock
        (:data:`MIGRATION_LOCK`, :data:`FOLD_LOCK`, :data:`PRUNE_LOCK`) of a kind of work only
        one may do at once."""
        if self.dialect is SQLITE:
            return Transaction(self.raw)
        return self._pg_transaction(take_turns)

    @contextmanager
    def _pg_transaction(self, take_turns: int | None) -> Iterator[None]:
        with self.raw.transaction():
            if take_turns is not None:
                self.raw.execute("SELECT pg_advisory_xact_lock($1)", (take_turns,))
            yield

    def snapshot(self) -> AbstractContextManager[None]:
        """A read-only transaction: every statement inside sees the same committed state, so
        a rollup and the raw rows past its mark add up even while the writer folds."""
        if self.dialect is SQLITE:
            return Transaction(self.raw, begin="BEGIN DEFERRED")
        return self._pg_snapshot()

    @contextmanager
    def _pg_snapshot(self) -> Iterator[None]:
        with self.raw.transaction():
            self.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def is_retryable(self, exc: BaseException) -> bool:
        """A transaction that lost a race with another worker (deadlock, serialisation) and may
        simply run again; SQLite's one writer never races."""
        if self.dialect is SQLITE:
            return False
        from psycopg import errors as pg_errors

        return isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure)

    def is_storage_failure(self, exc: BaseException) -> bool:
        """A failure of the database itself, not of what was being stored: a full disk, a
        lock held too long, a read-only or damaged file, an I/O error, a lost connection. No
        message is to blame, so none may be quarantined for it; the same write succeeds once
        the cause passes. Judged by the engine's error code, never by the message's text (a
        device chooses what its payload says)."""
        if self.dialect is SQLITE:
            code = getattr(exc, "sqlite_errorcode", None)
            return isinstance(exc, sqlite3.Error) and (code or 0) & 0xFF in _SQLITE_STORAGE
        import psycopg

        if not isinstance(exc, psycopg.Error):
            return False
        state = getattr(exc, "sqlstate", None)
        if state is None:  # no answer from the server at all: the connection itself failed
            return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        return state[:2] in _PG_STORAGE_CLASSES or state in _PG_STORAGE_STATES

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> HubDb:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


# SQLite's primary result codes that are the database's own trouble (sqlite3.h).
_SQLITE_STORAGE = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
})
# PostgreSQL SQLSTATE classes of the same kind: connection exception, transaction rollback
# (a race lost more often than the writer retries it), insufficient resources (disk full, out
# of memory), operator intervention (shutdown), system error (I/O); and lock not available.
# Class 54 (program limit exceeded) is left out: a value can cause it.
_PG_STORAGE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_PG_STORAGE_STATES = frozenset({"55P03"})


def _sqlite_args(sql: str, args: Sequence[Any]) -> Sequence[Any] | dict[str, Any]:
    """``$1`` is a named parameter to SQLite, bound from a mapping by its name "1"; a statement
    built with the dialect's numbered ``?1`` parameters (and no ``$``) binds by position."""
    if "$" in sql:
        return {str(i): a for i, a in enumerate(args, 1)}
    return tuple(args)
