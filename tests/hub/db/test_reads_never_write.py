"""Reads never write: reports, the alert monitor's readings and every manager page run on a
read-only PostgreSQL role, change nothing in a SQLite file, and give the same numbers whether
the writer has folded the rollups or not."""

from __future__ import annotations

import sqlite3
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from peakend.broker.cli import report as report_cli
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import open_store
from peakend.broker.hub.reports.alerts import AlertMonitor
from peakend.broker.hub.reports.queries import (
    Period,
    open_db,
    refresh_rollups,
    store_report,
    today_view,
    zones,
)
from peakend.broker.hub.web.app import COOKIE, create_app
from peakend.broker.hub.web.auth import add_user, start_session
from peakend.broker.wire.contract import Envelope, new_envelope

NOW = datetime.now(UTC).replace(microsecond=0)
CONFIG = HubConfig.model_validate({
    "stores": [{"id": "s001", "name": "Market Street", "timezone": "Europe/Berlin"}],
})
PAGES = ["/", "/login", "/fleet", "/time", "/s/s001", "/s/s001/z/checkout",
         "/s/s001/z/checkout/export.csv", "/s/s002/z/deli"]


def day_of_events(start: datetime, hours: int = 6) -> list[Envelope]:
    out: list[Envelope] = []
    seq = {"cam": 0, "kiosk": 0}
    for i in range(hours * 40):
        at = start + timedelta(seconds=90 * i + 7)
        store, zone = ("s001", "checkout") if i % 3 else ("s002", "deli")
        seq["cam"] += 1
        wait = 30.0 + (i * 37) % 300
        out.append(new_envelope(device_id="cam-1", store_id=store, zone_id=zone,
                                seq=seq["cam"], event_type="dwell", ts=at, data={
                                    "track": i, "enter": at - timedelta(seconds=wait + 5),
                                    "exit": at, "dwell_s": wait + 5, "wait_s": wait}))
        if i % 2:
            seq["kiosk"] += 1
            out.append(new_envelope(device_id="kiosk-1", store_id=store, zone_id=zone,
                                    seq=seq["kiosk"], event_type="rating",
                                    ts=at + timedelta(seconds=20), data={"score": 1 + i % 4}))
    return out


def seed(db: str, envelopes: list[Envelope]) -> None:
    store = open_store(db)
    try:
        with store.transaction():
            store.store_events([(e, e.ts) for e in envelopes])
    finally:
        store.close()


def run_report(db: str) -> str:
    out = StringIO()
    with redirect_stdout(out):
        assert report_cli.main(["--db", db, "--since", format_day(NOW - timedelta(days=2)),
                                "--format", "json"]) == 0
    return out.getvalue()


def format_day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def web(db: str) -> Iterator[str]:
    with serve_in_thread(create_app(db, CONFIG)) as url:
        yield url


def get_every_page(url: str, token: str) -> None:
    for page in PAGES:
        request = urllib.request.Request(url + page, headers={"Cookie": f"{COOKIE}={token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, page
            assert response.read()


def session_for(db: str) -> str:
    conn = open_db(db, migrate=True)
    try:
        user = add_user(conn, "chris", "correct horse", ["s001", "s002"])
        return start_session(conn, user)[0]
    finally:
        conn.close()


def test_a_report_is_the_same_before_and_after_the_writer_folds(db_url: str) -> None:
    start = (NOW - timedelta(hours=30)).replace(minute=0, second=0)
    events = day_of_events(start)
    half = len(events) // 2
    seed(db_url, events[:half])
    conn = open_db(db_url)
    try:
        refresh_rollups(conn)
        seed(db_url, events[half:])  # the fold is now behind by half the rows
        period = Period(start + timedelta(minutes=17), start + timedelta(hours=5, minutes=41))
        behind = [line.as_dict() for line in store_report(conn, period)]
        behind_zones = zones(conn)
        assert refresh_rollups(conn) > 0
        assert [line.as_dict() for line in store_report(conn, period)] == behind
        assert zones(conn) == behind_zones
        assert sum(line["visits"] for line in behind) > 150
    finally:
        conn.close()


def test_the_usual_day_is_the_same_before_and_after_the_writer_folds(db_url: str) -> None:
    """Today's card reads the usual days from the hourly rollup and the rows past its marks:
    nothing folded, part folded and all folded give the same hours, to the last wait."""
    day = NOW.date() - timedelta(days=7)  # the most recent of the usual days
    seed(db_url, day_of_events(datetime(day.year, day.month, day.day, 1, tzinfo=UTC)))
    conn = open_db(db_url)
    try:
        def card() -> tuple[object, ...]:
            view = today_view(conn, "s001", ["checkout"], NOW)
            return (view.usual.days, view.usual.hours, sorted(view.usual.wait_s.tolist()),
                    sorted(view.usual.rating_score.tolist()), view.sentences)

        nothing_folded = card()
        assert 0 < refresh_rollups(conn, max_rows=100) < 300  # a fold that is behind
        part_folded = card()
        refresh_rollups(conn)
        assert card() == part_folded == nothing_folded
    finally:
        conn.close()
    assert nothing_folded[0] == 1 and sum(h.waits for h in nothing_folded[1]) == 160


def test_no_page_view_and_no_report_writes_to_a_sqlite_hub(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.sqlite")
    seed(db, day_of_events(NOW - timedelta(hours=8)))
    token = session_for(db)
    # nothing is folded: a read that folded would write now
    watcher = sqlite3.connect(db)
    mtime = Path(db).stat().st_mtime_ns
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    try:
        with web(db) as url:
            get_every_page(url, token)
        assert '"zone_id": "checkout"' in run_report(db)
        monitor = AlertMonitor(db, CONFIG)
        try:
            assert [z for _, z, _ in zones(monitor.conn)] == ["checkout", "deli"]
        finally:
            monitor.close()
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
        assert Path(db).stat().st_mtime_ns == mtime
    finally:
        watcher.close()


def test_reports_alert_readings_and_pages_run_on_a_read_only_role(pg_url: str) -> None:
    seed(pg_url, day_of_events(NOW - timedelta(hours=8)))
    token = session_for(pg_url)
    role = f"reader_{uuid.uuid4().hex[:8]}"
    admin = open_db(pg_url)
    try:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pass'")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    finally:
        admin.close()
    parts = urlsplit(pg_url)
    reader = parts._replace(
        netloc=f"{role}:reader-pass@{parts.hostname}:{parts.port}"
    ).geturl()
    # the role really cannot write
    conn = open_db(reader)
    try:
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("DELETE FROM rollup_marks")
    finally:
        conn.close()

    assert '"zone_id": "checkout"' in run_report(reader)
    monitor = AlertMonitor(reader, CONFIG)
    try:
        rule, _, _ = CONFIG.alert_rule("s001", "checkout")
        assert [z for _, z, _ in zones(monitor.conn)] == ["checkout", "deli"]
        wait = monitor._wait_reading("s001", "checkout", rule, NOW)
        monitor._unhappy_reading("s001", "checkout", rule, NOW, wait)
    finally:
        monitor.close()
    with web(reader) as url:
        get_every_page(url, token)
