"""The managers' web on PostgreSQL, in real Chromium: the same messages stored in PostgreSQL and
in SQLite, one web on each, and every number a manager sees is the same on both."""

from __future__ import annotations

import csv
import io
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect

from hubtools import PEAKEND
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.db.store import open_store
from peakend.broker.hub.reports import analytics as an
from peakend.broker.hub.reports.alerts import AlertMonitor
from peakend.broker.hub.reports.queries import (
    Period,
    linked_rows,
    open_db,
    parse_moment,
    store_report,
    zone_report,
)
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.wire.contract import Envelope, format_ts

from .conftest import CONFIG, PASSWORD, messages, seed

LAPTOP = {"width": 1366, "height": 900}


@dataclass
class Twin:
    """The same hub twice: ``pg`` and ``lite`` are --db values, ``*_web`` their webs."""

    pg: str
    lite: str
    pg_web: str
    lite_web: str
    now: datetime
    alerts: list


def record_devices(db: str, envelopes: list[Envelope], now: datetime) -> None:
    """Each device's status as its last will or heartbeat leaves it; one kiosk went offline."""
    store = open_store(db)
    try:
        seen = {(e.device_id, e.store_id, e.zone_id) for e in envelopes}
        with store.transaction():
            for device, st, zone in sorted(seen):
                state = "offline" if device == "kiosk-s001-deli" else "online"
                role = "edge" if device.startswith("cam-") else "kiosk"
                store.record_status(device, st, {"state": state, "role": role, "zone_id": zone,
                                                 "version": "1.4.2"}, now)
            store.advance_acks(sorted({d for d, _, _ in seen if d != "cam-s002"}))
    finally:
        store.close()


def user_cli(*args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEAKEND, "user", *args], input=password + "\n", text=True,
                          capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def twin(pg_cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    now = datetime.now(UTC)
    envelopes = messages(now, days=8, rng_seed=23)
    pg = pg_cluster.create_database("webtwin")
    lite = str(tmp_path_factory.mktemp("webtwin") / "hub.sqlite")
    opened = {}
    for db in (pg, lite):
        seed(db, envelopes)
        record_devices(db, envelopes, now)
        monitor = AlertMonitor(db, CONFIG)
        opened[db] = monitor.check(now)
        monitor.close()
    assert opened[pg] == opened[lite]
    assert any(s == "s001" and e["kind"] == "unhappy" for s, e in opened[pg])
    # accounts: `peakend user` on PostgreSQL, the library on SQLite
    for name, stores in [("anna", ["s001"]), ("chris", ["s001", "s002"])]:
        store_args = [a for s in stores for a in ("--store", s)]
        done = user_cli("add", "--db", pg, *store_args, name, "--password-stdin")
        assert done.returncode == 0, done.stderr
        conn = open_db(lite)
        add_user(conn, name, PASSWORD, stores)
        conn.close()
    with serve_in_thread(create_app(pg, CONFIG)) as pg_web, \
            serve_in_thread(create_app(lite, CONFIG)) as lite_web:
        yield Twin(pg, lite, pg_web, lite_web, now, opened[pg])


def login(browser, url: str, name: str) -> object:
    page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: not u.endswith("/login"))
    return page


def shown(page) -> dict[str, object]:
    """What a zone page shows as numbers: the KPIs, every chart, the alert causes."""
    return {
        "kpis": page.locator("section.kpis").inner_text(),
        "charts": page.locator("svg.chart").evaluate_all("els => els.map(e => e.outerHTML)")
        + page.locator("figure.chartjs").evaluate_all(
            "els => els.map(e => e.querySelector('script').textContent)"),
        "causes": page.locator(".alert-item .cause").all_inner_texts(),
        "why": page.locator("#faces, #reasons-wrong, #reasons-well, #wait-reason")
        .all_inner_texts(),
    }


def test_store_zone_and_csv_show_the_same_numbers_as_on_sqlite(
    browser, twin: Twin, artifacts: Path
) -> None:
    tz = CONFIG.timezone("s001")
    query = {"since": format_ts(twin.now - timedelta(days=6, hours=5)),
             "until": format_ts(twin.now.replace(microsecond=0) + timedelta(minutes=1))}
    period = Period(parse_moment(query["since"], tz).astimezone(UTC),
                    parse_moment(query["until"], tz).astimezone(UTC))
    lite = open_db(twin.lite)
    try:
        lines = store_report(lite, period, store="s001", config=CONFIG)
        rep = zone_report(lite, "s001", "checkout", period, CONFIG)
    finally:
        lite.close()
    assert [line.zone_id for line in lines] == ["checkout", "deli"]
    assert min(line.summary.ratings for line in lines) > 100

    pages = {url: login(browser, url, "anna") for url in (twin.pg_web, twin.lite_web)}
    seen = {}
    for url, page in pages.items():
        assert page.goto(f"{url}/s/s001?{urlencode(query)}").status == 200
        rows = [[td.strip() for td in r.locator("td").all_inner_texts()]
                for r in page.locator("table.zones tbody tr").all()]
        if url == twin.pg_web:
            page.screenshot(path=str(artifacts / "store-postgresql.png"), full_page=True)
        page.click("table.zones a:text('checkout')")
        page.wait_for_url("**/s/s001/z/checkout**")
        zone = shown(page)
        if url == twin.pg_web:
            page.screenshot(path=str(artifacts / "zone-postgresql.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#export")
        seen[url] = (rows, zone, Path(info.value.path()).read_text())
        page.close()

    pg_rows, pg_zone, pg_csv = seen[twin.pg_web]
    # the store page on PostgreSQL: the SQLite report's numbers, as the page formats them
    # (the faces column, third, is checked in test_pages.py)
    assert [r[:2] + r[3:8] for r in pg_rows] == [
        [line.zone_id, an.fmt_index(line.summary.happy_index), str(line.summary.ratings),
         an.fmt_share(line.summary.unhappy_share), an.fmt_share(line.summary.response_rate),
         an.fmt_duration(line.summary.wait_p50_s), an.fmt_duration(line.summary.wait_p90_s)]
        for line in lines]
    s = rep.summary
    assert f"{an.fmt_index(s.happy_index)}\n{s.ratings} ratings" in pg_zone["kpis"]
    assert f"{s.waits} measured" in pg_zone["kpis"] and f"{s.visits} visits" in pg_zone["kpis"]
    # two heat maps (wide and tall) and three Chart.js charts
    assert len(pg_zone["charts"]) == 7
    # ... and everything else a manager reads is what the same web shows on SQLite
    assert seen[twin.pg_web] == seen[twin.lite_web]
    assert any(c.startswith("3 unhappy in 10 min") for c in pg_zone["causes"])
    # faces and reasons as the SQLite report counts them
    faces, wrong, well, _ = pg_zone["why"]
    assert f"{rep.summary.ratings} presses" in faces
    assert f"{rep.went_wrong.answered} of {rep.went_wrong.presses} presses" in wrong
    assert rep.went_wrong.reasons[0].label in wrong
    assert f"{rep.went_well.answered} of {rep.went_well.presses} presses" in well
    # CSV: every rating of the period with its linked wait, as computed on SQLite
    exported = list(csv.DictReader(io.StringIO(pg_csv)))
    expected = linked_rows(rep)
    assert len(exported) == len(expected) == s.ratings
    assert exported == [{k: "" if v is None else str(v) for k, v in row.items()}
                        for row in expected]


def test_manager_acknowledges_and_comments_an_alert_on_postgresql(browser, twin: Twin) -> None:
    page = login(browser, twin.pg_web, "anna")
    assert page.goto(f"{twin.pg_web}/s/s001/z/checkout?period=day").status == 200
    alert = page.locator(".alert-item.open", has_text="unhappy in 10 min").first
    alert_id = int(alert.get_attribute("data-alert"))
    (opened,) = [e for s, e in twin.alerts if s == "s001" and e["kind"] == "unhappy"]
    assert alert_id == opened["alert_id"]
    assert alert.locator(".cause").inner_text() == opened["cause"]
    alert.locator("input[name=comment]").fill("second till opened")
    alert.locator("button:text('Acknowledge')").click()
    alert = page.locator(f".alert-item[data-alert='{alert_id}']")
    expect(alert).to_contain_text("acknowledged by anna")
    assert page.url.endswith("/s/s001/z/checkout?period=day#alerts")
    # acknowledged: the form now only comments
    alert.locator("input[name=comment]").fill("queue gone by 12:40")
    alert.locator("button:text('Comment')").click()
    expect(alert.locator(".comment")).to_have_count(2)
    first, second = alert.locator(".comment").all_inner_texts()
    assert first.startswith("anna second till opened")
    assert second.startswith("anna queue gone by 12:40")
    page.close()

    conn = open_db(twin.pg)
    try:
        acked_by, acked_at = conn.execute(
            "SELECT acked_by, acked_at FROM alerts WHERE id = $1", (alert_id,)).fetchone()
        comments = [r[0] for r in conn.execute(
            "SELECT text FROM alert_comments WHERE alert_id = $1 ORDER BY id", (alert_id,))]
    finally:
        conn.close()
    assert acked_by == "anna" and acked_at >= format_ts(twin.now)
    assert comments == ["second till opened", "queue gone by 12:40"]


def test_two_stores_devices_isolation_and_logout_on_postgresql(browser, twin: Twin) -> None:
    views = {}
    for url in (twin.pg_web, twin.lite_web):
        page = login(browser, url, "chris")
        assert page.url == f"{url}/"
        tiles = [[c.strip() for c in r.locator("th, td").all_inner_texts()]
                 for r in page.locator("table.stores tbody tr").all()]
        assert page.goto(f"{url}/fleet").status == 200
        fleet = [r.get_attribute("id") + " " + r.get_attribute("data-level")
                 for r in page.locator("table.fleet tbody tr").all()]
        fleet_text = page.locator("table.fleet").inner_text()
        views[url] = (tiles, fleet, fleet_text)
        page.close()
    tiles, fleet, _ = views[twin.pg_web]
    assert [t[0].split()[:2] for t in tiles] == [["Market", "Street"], ["Harbour", "Mall"]]
    # open alerts (the acknowledgement above leaves them open) counted per store
    open_s001 = sum(1 for s, e in twin.alerts if s == "s001" and e["state"] == "open")
    assert tiles[0][-1] == str(open_s001)
    # problems first: the offline kiosk; a warning for the camera the hub has not acked
    assert fleet[0] == "dev-kiosk-s001-deli problem"
    assert "dev-cam-s002 warning" in fleet and len(fleet) == 5
    assert views[twin.pg_web] == views[twin.lite_web]

    page = login(browser, twin.pg_web, "anna")
    assert page.request.get(f"{twin.pg_web}/s/s002").status == 404
    page.click("button:text('Log out')")
    page.wait_for_url(f"{twin.pg_web}/login")
    page.goto(f"{twin.pg_web}/s/s001")
    assert page.url == f"{twin.pg_web}/login"  # the session ended in the database
    page.close()


def test_user_command_on_postgresql(twin: Twin) -> None:
    listed = user_cli("list", "--db", twin.pg)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["anna\ts001", "chris\ts001,s002"]
    again = user_cli("add", "--db", twin.pg, "--store", "s002", "anna", "--password-stdin")
    assert again.returncode == 2 and "exists already" in again.stderr
    short = user_cli("add", "--db", twin.pg, "--store", "s002", "dora", "--password-stdin",
                     password="short")
    assert short.returncode == 2 and "at least 8" in short.stderr


def test_a_database_that_went_away_gets_a_page_not_a_crash(pg_cluster) -> None:
    url = pg_cluster.create_database("webgone")
    with serve_in_thread(create_app(url, CONFIG)) as web:
        assert urllib.request.urlopen(f"{web}/login").status == 200
        with psycopg.connect(pg_cluster.dsn(), autocommit=True) as admin:
            admin.execute("DROP DATABASE webgone")
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{web}/")
    assert failed.value.code == 503
    assert "cannot be reached just now" in failed.value.read().decode()
