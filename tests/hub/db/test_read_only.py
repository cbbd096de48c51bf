"""A connection opened read-only (as the web's page views open theirs) is refused any write by
the engine itself, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from peakend.broker.hub.db.database import open_hub_db


def test_a_read_only_connection_reads_but_cannot_write(db_url: str) -> None:
    open_hub_db(db_url, migrate=True).close()  # the schema, as the writer makes it
    conn = open_hub_db(db_url, read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
        with pytest.raises(Exception, match="(?i)read.only|readonly"):
            conn.execute("INSERT INTO users (name, password_hash, created_at) "
                         "VALUES ($1, $2, $3)", ("mallory", "x", "2026-01-01T00:00:00.000Z"))
    finally:
        conn.close()
    writer = open_hub_db(db_url)
    try:
        assert writer.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    finally:
        writer.close()
