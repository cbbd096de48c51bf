"""The hub's schema, once, for both storage engines.

Each migration is a numbered block of SQLite DDL. SQLite applies it through sqlite-utils'
``Migrations`` (as before); PostgreSQL applies the same block translated by
:func:`postgres_ddl`, so the two engines cannot drift apart. The translation keeps SQLite's
semantics where the hub relies on them:

- ``INTEGER`` is 64-bit in SQLite: ``BIGINT``; ``REAL`` is a double: ``DOUBLE PRECISION``
  (PostgreSQL's ``REAL`` is 32-bit and would round waits).
- ``INTEGER PRIMARY KEY`` is SQLite's auto-numbered key: an identity column.
- Every other table (not ``WITHOUT ROWID``) has an implicit ``rowid`` in SQLite, which the
  report rollups use as a watermark: PostgreSQL gets an explicit ``rowid`` identity column at the
  end, so positional ``INSERT ... VALUES`` still line up.

Add a migration by appending to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import re

import sqlite_utils
from sqlite_utils.migrations import Migrations

CORE = """
        CREATE TABLE ledger (
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            msg_id TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('stored', 'quarantined', 'skipped')),
            received_at TEXT NOT NULL,
            PRIMARY KEY (device_id, seq)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX ledger_msg_id ON ledger (msg_id) WHERE msg_id IS NOT NULL;

        CREATE TABLE ratings (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            at TEXT NOT NULL,
            score INTEGER NOT NULL,
            reason TEXT,
            flags TEXT NOT NULL DEFAULT '[]',
            flagged INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX ratings_zone_at ON ratings (store_id, zone_id, at);

        CREATE TABLE dwells (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            at TEXT NOT NULL,
            track TEXT NOT NULL,
            enter TEXT NOT NULL,
            exit TEXT NOT NULL,
            dwell_s REAL NOT NULL,
            wait_s REAL
        );
        CREATE INDEX dwells_zone_exit ON dwells (store_id, zone_id, exit);

        CREATE TABLE queue_windows (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            clock_synced INTEGER NOT NULL,
            at TEXT NOT NULL,
            window_s REAL NOT NULL,
            length REAL NOT NULL,
            arrivals INTEGER NOT NULL,
            departures INTEGER NOT NULL,
            wait_s REAL,
            wait_measured_s REAL
        );
        CREATE INDEX queue_windows_zone_at ON queue_windows (store_id, zone_id, at);

        CREATE TABLE health (
            msg_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            store_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            at TEXT NOT NULL,
            fps REAL,
            cpu REAL,
            outbox INTEGER,
            temp_c REAL,
            data TEXT NOT NULL
        );
        CREATE INDEX health_device_at ON health (device_id, at);

        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            last_received_at TEXT NOT NULL,
            times INTEGER NOT NULL DEFAULT 1,
            topic TEXT NOT NULL,
            device_id TEXT,
            seq INTEGER,
            reason TEXT NOT NULL,
            raw BLOB NOT NULL,
            sha256 TEXT NOT NULL UNIQUE
        );

        CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            store_id TEXT NOT NULL,
            role TEXT,
            zone_id TEXT,
            state TEXT NOT NULL DEFAULT 'unknown',
            boot_id TEXT,
            version TEXT,
            config_hash TEXT,
            status_at TEXT,
            last_seen TEXT,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            messages INTEGER NOT NULL DEFAULT 0
        );
        """

# Per zone and UTC hour (epoch hours): counts and the raw wait/dwell values as float64
# blobs, so a month's report reads a few thousand rows and its percentiles stay exact.
REPORT_ROLLUPS = """
        CREATE TABLE zone_hours (
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            hour INTEGER NOT NULL,
            n1 INTEGER NOT NULL DEFAULT 0,
            n2 INTEGER NOT NULL DEFAULT 0,
            n3 INTEGER NOT NULL DEFAULT 0,
            n4 INTEGER NOT NULL DEFAULT 0,
            flagged INTEGER NOT NULL DEFAULT 0,
            visits INTEGER NOT NULL DEFAULT 0,
            waits BLOB NOT NULL DEFAULT x'',
            dwells BLOB NOT NULL DEFAULT x'',
            PRIMARY KEY (store_id, zone_id, hour)
        ) WITHOUT ROWID;
        CREATE TABLE zone_last (
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            last_at TEXT NOT NULL,
            PRIMARY KEY (store_id, zone_id, kind)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_marks (
            name TEXT PRIMARY KEY,
            last_rowid INTEGER NOT NULL
        ) WITHOUT ROWID;
        """

WEB_ACCOUNTS = """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE user_stores (
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            store_id TEXT NOT NULL,
            PRIMARY KEY (user_id, store_id)
        ) WITHOUT ROWID;
        CREATE TABLE web_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        """

ALERTS = """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            store_id TEXT NOT NULL,
            zone_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            cause TEXT NOT NULL,
            value REAL,
            threshold REAL,
            acked_at TEXT,
            acked_by TEXT
        );
        -- one open alert per cause: the storm guard lives in the schema too
        CREATE UNIQUE INDEX alerts_one_open ON alerts (store_id, zone_id, kind)
            WHERE state = 'open';
        CREATE INDEX alerts_store_opened ON alerts (store_id, opened_at);
        CREATE TABLE alert_comments (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        );
        """

# (name, SQLite DDL), applied in this order by both engines.
MIGRATIONS: list[tuple[str, str]] = [
    ("m001_core", CORE),
    ("m002_report_rollups", REPORT_ROLLUPS),
    ("m003_web_accounts", WEB_ACCOUNTS),
    ("m004_alerts", ALERTS),
]


# -- SQLite: sqlite-utils migrations, recorded under the same names as ever --------------------

migrations = Migrations("peakend")


def _sqlite_step(ddl: str) -> object:
    def step(db: sqlite_utils.Database) -> None:
        db.executescript(ddl)

    return step


for _name, _ddl in MIGRATIONS:
    migrations(name=_name)(_sqlite_step(_ddl))  # type: ignore[arg-type]


# -- PostgreSQL: the same blocks, translated --------------------------------------------------

# SQLite's scalar functions the reports and alerts use, so their SQL runs unchanged:
# julianday() for epoch arithmetic, two-argument max()/min() (PostgreSQL only has the
# aggregates and greatest()/least()), round(double, n).
PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION julianday(t text) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT extract(epoch FROM t::timestamptz)::double precision / 86400.0 + 2440587.5 $$;
CREATE OR REPLACE FUNCTION round(x double precision, n integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT round(x::numeric, n)::double precision $$;
CREATE OR REPLACE FUNCTION max(a double precision, b double precision)
    RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT greatest(a, b) $$;
CREATE OR REPLACE FUNCTION max(a text, b text)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT greatest(a, b) $$;
CREATE OR REPLACE FUNCTION min(a double precision, b double precision)
    RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT least(a, b) $$;
CREATE OR REPLACE FUNCTION min(a text, b text)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT least(a, b) $$;
"""

PG_MIGRATIONS: list[tuple[str, str]] = [
    ("pg000_sqlite_functions", PG_FUNCTIONS),
    *[(name, "") for name, _ in MIGRATIONS],  # filled in below by translation
]


_TABLE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\s*\)( WITHOUT ROWID)?;", re.S)


def postgres_ddl(ddl: str) -> str:
    """The PostgreSQL form of one block of SQLite DDL (see the module docstring)."""

    def table(m: re.Match[str]) -> str:
        name, body, without_rowid = m.group(1), m.group(2), m.group(3)
        has_key = re.search(r"\bINTEGER PRIMARY KEY\b", body) is not None
        body = re.sub(
            r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", body
        )
        if not without_rowid and not has_key:
            body = body.rstrip() + ",\n            rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE"
        return f"CREATE TABLE {name} ({body}\n        );"

    out = _TABLE.sub(table, ddl)
    out = re.sub(r"\bINTEGER\b", "BIGINT", out)
    out = re.sub(r"\bREAL\b", "DOUBLE PRECISION", out)
    out = re.sub(r"\bBLOB\b", "BYTEA", out)
    out = out.replace("x''", "'\\x'::bytea")
    return out


PG_MIGRATIONS = [PG_MIGRATIONS[0], *[(name, postgres_ddl(ddl)) for name, ddl in MIGRATIONS]]
