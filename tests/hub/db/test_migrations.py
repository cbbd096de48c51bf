"""Databases made by earlier peakends open and take only the migrations they lack; a reader
never migrates and says so when the schema is behind."""

from __future__ import annotations

import sqlite3
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from peakend.broker.cli import report as report_cli
from peakend.broker.hub.db.database import DatabaseError, DbTarget, HubDb, open_hub_db
from peakend.broker.hub.db.dialect import SQLITE
from peakend.broker.hub.db.migrations import (
    MIGRATIONS,
    m010_deliveries_and_tokens,
    m012_alert_threads,
    pending,
)
from peakend.broker.hub.db.store import Store


def old_sqlite_hub(path: Path) -> None:
    """A hub as an earlier peakend left it: sqlite-utils' Migrations applied the first three
    steps and recorded them in its own table."""
    conn = sqlite3.connect(path, isolation_level=None)
    hub = HubDb(conn, SQLITE, DbTarget("sqlite", str(path)))
    steps = Migrations("peakend")
    for migration in MIGRATIONS[:3]:
        steps(name=migration.__name__)(lambda _db, m=migration: m(hub))  # type: ignore[misc]
    steps.apply(sqlite_utils.Database(conn))
    conn.execute("INSERT INTO devices (device_id, store_id, acked_seq) VALUES ('k1', 's001', 7)")
    conn.close()


def test_an_older_sqlite_hub_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    old_sqlite_hub(path)
    with pytest.raises(DatabaseError, match="older schema .*m004_alerts"):
        open_hub_db(path)
    db = open_hub_db(path, migrate=True)
    try:
        assert pending(db) == []
        names = [r[0] for r in db.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'peakend' ORDER BY id")]
        assert names == [m.__name__ for m in MIGRATIONS]
        assert db.execute("SELECT acked_seq FROM devices").fetchone()[0] == 7
        assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    finally:
        db.close()
    open_hub_db(path).close()  # current now: a reader opens it


def test_a_hub_lacking_only_a_tidy_up_is_read_as_it_is(tmp_path: Path) -> None:
    """The last release's hub had m001-m004; m005 only drops functions earlier versions made
    on PostgreSQL, and m006 adds a table only the writer reads. A reader (a report on a copied
    backup, a page before the writer restarted) opens it without asking for a migration."""
    path = tmp_path / "hub.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    hub = HubDb(conn, SQLITE, DbTarget("sqlite", str(path)))
    steps = Migrations("peakend")
    for migration in MIGRATIONS[:4]:
        steps(name=migration.__name__)(lambda _db, m=migration: m(hub))  # type: ignore[misc]
    steps.apply(sqlite_utils.Database(conn))
    conn.close()
    db = open_hub_db(path)
    try:
        # and the ones only the writer relies on
        assert pending(db) == ["m005_no_functions_in_schema", "m006_skipped_ranges",
                               "m007_quarantine_bounds", "m008_rating_corrections",
                               "m009_accounts", "m010_deliveries_and_tokens",
                               "m011_user_language", "m012_alert_threads",
                               "m013_dwell_wait_floor"]
    finally:
        db.close()


def test_report_on_a_hub_not_migrated_says_so_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    old_sqlite_hub(path)
    before = path.read_bytes()
    err = StringIO()
    with redirect_stderr(err):
        assert report_cli.main(["--db", str(path)]) == 2
    assert "older schema (missing m004_alerts" in err.getvalue()
    assert "peakend serve" in err.getvalue()
    assert path.read_bytes() == before


def test_an_older_postgresql_hub_loses_the_functions_it_no_longer_needs(pg_url: str) -> None:
    import psycopg

    # as an earlier peakend left it: SQLite's functions in the schema, recorded as pg000
    db = open_hub_db(pg_url, migrate=True)
    try:
        for step in [*reversed(MIGRATIONS[3:5]), m010_deliveries_and_tokens,
                     m012_alert_threads]:
            db.execute("DELETE FROM _peakend_migrations WHERE name = $1", (step.__name__,))
        db.execute("DROP TABLE alert_echoes, digest_runs, api_tokens, alert_deliveries, "
                   "alert_comments, alerts")
        db.execute("DROP INDEX quarantine_last_received")
        db.execute("ALTER TABLE quarantine DROP COLUMN raw_size")
        db.execute("INSERT INTO _peakend_migrations (name) VALUES ('pg000_sqlite_functions')")
    finally:
        db.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION julianday(t text) RETURNS double precision LANGUAGE sql IMMUTABLE "
            "AS $$ SELECT extract(epoch FROM t::timestamptz)::double precision / 86400.0 "
            "+ 2440587.5 $$")
        conn.execute("CREATE FUNCTION max(a text, b text) RETURNS text LANGUAGE sql "
                     "IMMUTABLE AS $$ SELECT greatest(a, b) $$")
    with pytest.raises(DatabaseError, match="older schema"):
        open_hub_db(pg_url)
    db = open_hub_db(pg_url, migrate=True)
    try:
        assert pending(db) == []
        assert db.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.proname IN ('julianday', 'max')"
        ).fetchone()[0] == 0
    finally:
        db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "hub.sqlite")
    return request.getfixturevalue("pg_url")


def test_skipped_rows_of_an_earlier_hub_become_ranges_and_keep_their_acks(
    engine_url: str,
) -> None:
    """Earlier hubs wrote one ledger row per seq a device declared skipped; the upgrade keeps
    one range per run of them, and the acks computed afterwards are the same."""
    db = open_hub_db(engine_url, migrate=True)
    try:
        # as m001-m005 left it, with a device's notice (seq 9) that skipped 3-5 and 7-8
        db.execute("DELETE FROM skipped_ranges")
        db.execute("DROP TABLE skipped_ranges")
        db.execute("DELETE FROM " + ("_sqlite_migrations" if db.engine == "sqlite"
                                     else "_peakend_migrations") + " WHERE name = $1",
                   ("m006_skipped_ranges",))
        rows = [("k1", s, f"m{s}", "stored") for s in (1, 2, 6, 9)]
        rows += [("k1", s, None, "skipped") for s in (3, 4, 5, 7, 8)]
        rows += [("k2", s, None, "skipped") for s in (1, 2)] + [("k2", 4, "n4", "stored")]
        db.executemany("INSERT INTO ledger (device_id, seq, msg_id, outcome, received_at) "
                       "VALUES ($1, $2, $3, $4, '2026-01-01T00:00:00.000Z')", rows)
        db.execute("INSERT INTO devices (device_id, store_id) VALUES ('k1', 's1'), ('k2', 's1')")
    finally:
        db.close()
    store = Store(engine_url)
    try:
        assert store.db.execute(
            "SELECT device_id, first_seq, last_seq FROM skipped_ranges "
            "ORDER BY device_id, first_seq").fetchall() == [
            ("k1", 3, 5), ("k1", 7, 8), ("k2", 1, 2)]
        assert store.db.execute("SELECT count(*) FROM ledger WHERE outcome = 'skipped'"
                                ).fetchone()[0] == 0
        with store.transaction():
            # k2 lacks seq 3: its run stops there, as before the upgrade
            assert store.advance_acks(["k1", "k2"]) == {"k1": 9, "k2": 2}
    finally:
        store.close()
