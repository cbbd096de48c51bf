"""What really differs between SQLite and PostgreSQL for the hub, and nothing else.

Every statement of the hub is written once, with ``$1, $2, ...`` parameters: PostgreSQL's own
style, and a named parameter SQLite binds from a mapping (see
:meth:`peakend.broker.hub.db.database.HubDb.execute`). Statements with hundreds of parameters
(the writer's multi-row inserts, long ``IN`` lists) take the engine's numbered parameters from
:meth:`Dialect.values` / :meth:`Dialect.params` instead, which SQLite binds by position: binding
a name costs SQLite a scan of all the statement's names. Both engines take ``ON CONFLICT ...
DO NOTHING / DO UPDATE``, ``RETURNING``, ``WITH RECURSIVE`` and ``CAST`` the same way. What is
left differs, and lives here:

- column types: SQLite's ``INTEGER`` is 64-bit and ``REAL`` a double, so PostgreSQL gets
  ``BIGINT`` and ``DOUBLE PRECISION`` (its ``REAL`` is 32-bit and would round waits);
  ``INTEGER PRIMARY KEY`` is SQLite's auto-numbered key, an identity column on PostgreSQL;
- ``rowid``: implicit in SQLite (the rollups' watermark), an explicit identity column at the
  end of the table on PostgreSQL;
- epoch seconds from the stored UTC text, and two-argument greatest/least;
- keeping a column from choosing an index (a keyset walk on the rowid);
- the write lock: SQLite has one writer (``BEGIN IMMEDIATE``); PostgreSQL workers write at
  once and take an advisory lock only where they must take turns (migrations, the rollup fold);
- bulk loading (``COPY`` on PostgreSQL) and which errors are a race worth running again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments one engine spells its own way (see the module docstring)."""

    name: str
    # the numbered parameter's prefix: "$1" on PostgreSQL, "?1" on SQLite, which binds "?NNN"
    # by position (see HubDb.execute)
    mark: str
    integer: str
    real: str
    blob: str
    empty_blob: str
    auto_key: str
    without_rowid: str
    rowid_column: str
    # appended to a SELECT to lock its rows until the transaction ends; on SQLite the write
    # transaction already holds the whole database
    lock_rows: str

    def table(self, name: str, body: str, *, rowid: str = "watermark") -> str:
        """``CREATE TABLE`` with the engine's rowid. ``rowid``: "watermark" keeps one for the
        rollups to read (SQLite's implicit one, an identity column on PostgreSQL); "key" is a
        table whose ``auto_key`` column is its rowid; "none" has none (SQLite's ``WITHOUT
        ROWID``)."""
        if rowid == "watermark":
            return f"CREATE TABLE {name} ({body}{self.rowid_column}\n)"
        if rowid == "key":
            return f"CREATE TABLE {name} ({body}\n)"
        return f"CREATE TABLE {name} ({body}\n){self.without_rowid}"

    def param(self, n: int) -> str:
        """The ``n``-th parameter, numbered from 1."""
        return f"{self.mark}{n}"

    # the writer asks for the same few shapes on every batch
    @lru_cache(maxsize=256)  # noqa: B019  (two module-level dialects: nothing to leak)
    def params(self, first: int, count: int) -> str:
        """``count`` parameters from ``first`` on, for an ``IN (...)`` list."""
        return ", ".join(f"{self.mark}{i}" for i in range(first, first + count))

    @lru_cache(maxsize=256)  # noqa: B019
    def values(self, rows: int, columns: int) -> str:
        """``(p1, p2), (p3, p4), ...``: a multi-row ``VALUES`` for ``rows`` rows."""
        return ", ".join(f"({self.params(r * columns + 1, columns)})" for r in range(rows))

    def epoch(self, column: str) -> str:
        """Epoch seconds (a double, to the millisecond) of a stored UTC text time."""
        if self.name == "sqlite":
            return f"round((julianday({column}) - 2440587.5) * 86400.0, 3)"
        return f"CAST(extract(epoch FROM CAST({column} AS timestamptz)) AS double precision)"

    def unindexed(self, column: str) -> str:
        """The column, kept from choosing the index: SQLite's planner takes an index on an
        equality (``store_id IN (...)``) over walking the rowid, then sorts a whole store's
        rows for every page of a keyset on the rowid; the unary ``+`` is SQLite's documented
        way to rule the index out. PostgreSQL weighs both paths itself."""
        return f"+{column}" if self.name == "sqlite" else column

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})" if self.name == "sqlite" else f"greatest({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"min({a}, {b})" if self.name == "sqlite" else f"least({a}, {b})"


SQLITE = Dialect(
    name="sqlite",
    mark="?",
    integer="INTEGER",
    real="REAL",
    blob="BLOB",
    empty_blob="x''",
    auto_key="INTEGER PRIMARY KEY",
    without_rowid=" WITHOUT ROWID",
    rowid_column="",
    lock_rows="",
)

POSTGRESQL = Dialect(
    name="postgresql",
    mark="$",
    integer="BIGINT",
    real="DOUBLE PRECISION",
    blob="BYTEA",
    empty_blob="'\\x'::bytea",
    auto_key="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    without_rowid="",
    rowid_column=",\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE",
    lock_rows=" FOR UPDATE",
)

