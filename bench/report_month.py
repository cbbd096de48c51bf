"""A year of 50 zones (10+ million rows): a month's report and zone page against bare SQL.

    python bench/report_month.py [--dir DIR] [--keep]

Generates the database with numpy and plain executemany (not timed), folds it into the report
rollup once (timed, printed: a hub pays this once, then a few rows per refresh), then times
``peakend report`` for one month over all zones and for one zone, and the zone and store web
pages over HTTP (a month, and today against the usual day), each against the bare SQL of the
same rows measured in the same run and the pages against the 150 ms target, also as the hub
measured it (its Server-Timing header); then the first paint of the month's zone and store
pages in Chromium against the 1 s target.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import numpy as np

from peakend.broker.cli.report import main as report_main
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import COLUMNS, Store
from peakend.broker.hub.reports.queries import (
    Period,
    open_db,
    refresh_rollups,
    store_report,
    zone_report,
)
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.wire.forms import format_ts

STORES = [("s001", "Europe/Berlin"), ("s002", "America/New_York"), ("s003", "Asia/Kolkata"),
          ("s004", "Australia/Sydney"), ("s005", "UTC")]
ZONES = [f"zone-{i:02d}" for i in range(10)]
QUEUE_ZONES = {"zone-00", "zone-01"}
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 365
VISITS_PER_DAY = 400
RATING_SHARE = 0.2


def generate(path: Path) -> int:
    Store(path).close()  # schema
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    rng = np.random.default_rng(1)
    total = 0
    start = YEAR_START.timestamp()
    for day in range(DAYS):
        d0 = start + day * 86400 + 7 * 3600  # 12 open hours from 07:00 UTC
        ratings, dwells, queue = [], [], []
        for store, _ in STORES:
            for zone in ZONES:
                key = f"{store}-{zone}-{day}"
                n = VISITS_PER_DAY
                t = np.sort(d0 + rng.uniform(0, 12 * 3600, n))
                hour = (t - d0) / 3600
                rush = np.exp(-((hour - 5.5) ** 2) / 2) + np.exp(-((hour - 10.5) ** 2) / 2)
                wait = np.maximum(3, rng.normal(90 + 180 * rush, 40))
                dwell = wait + rng.uniform(10, 90, n)
                has_wait = rng.random(n) > 0.05
                exit_s = _ts(t)
                enter_s = _ts(t - dwell)
                for i in range(n):
                    dwells.append((f"{key}-d{i}", "cam", i, store, zone, exit_s[i], exit_s[i], 1,
                                   exit_s[i], str(i), enter_s[i], exit_s[i], float(dwell[i]),
                                   float(wait[i]) if has_wait[i] else None))
                rated = rng.random(n) < RATING_SHARE
                p_bad = np.where(wait > 240, 0.6, 0.12)
                bad = rng.random(n) < p_bad
                score = np.where(bad, rng.integers(1, 3, n), rng.integers(3, 5, n))
                rt = _ts(t + 20)
                for i in np.nonzero(rated)[0]:
                    ratings.append((f"{key}-r{i}", "kiosk", int(i), store, zone, rt[i], rt[i], 1,
                                    rt[i], int(score[i]), None, "[]", 0, None))
                if zone in QUEUE_ZONES:
                    qt = d0 + np.arange(0, 12 * 3600, 60.0)
                    qs = _ts(qt)
                    for i in range(qt.size):
                        queue.append((f"{key}-q{i}", "cam", i, store, zone, qs[i], qs[i], 1,
                                      qs[i], 60.0, float(rng.uniform(0, 8)), 3, 3, 120.0, 110.0))
        with conn:
            for table, rows in (("ratings", ratings), ("dwells", dwells),
                                ("queue_windows", queue)):
                _insert(conn, table, rows)
        total += len(ratings) + len(dwells) + len(queue)
    conn.close()
    return total


def _insert(conn: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows in the store's column order (``COLUMNS``), the first so many columns of it: a
    nullable column added later needs no change here."""
    if not rows:
        return
    columns = COLUMNS[table][: len(rows[0])]
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _ts(t: np.ndarray) -> list[str]:
    ms = np.round(np.asarray(t) * 1000).astype("datetime64[ms]")
    return [s + "Z" for s in np.datetime_as_string(ms, unit="ms").tolist()]


def timed(fn, repeat: int = 7) -> float:
    fn()  # warm the page cache and the rollup refresh
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1000


# The target for every page, measured on the server's side of the connection.
PAGE_TARGET_MS = 150.0


def _target(ms: float) -> str:
    return f"  [target < {PAGE_TARGET_MS:.0f} ms: {'met' if ms < PAGE_TARGET_MS else 'NOT met'}]"


# The target for the first paint of a page in Chromium.
PAINT_TARGET_MS = 1000.0
CHROMIUM = "/usr/bin/chromium"


def _paint(ms: float) -> str:
    return f"  [target < {PAINT_TARGET_MS:.0f} ms: {'met' if ms < PAINT_TARGET_MS else 'NOT met'}]"


def first_paints(url: str, pages: list[str], repeat: int = 5) -> list[float]:
    """Each page's first contentful paint in Chromium (the median of ``repeat`` loads after a
    warm-up), from the start of the navigation, logged in as the bench user."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{url}/login")
            page.fill("input[name=name]", "bench")
            page.fill("input[name=password]", "bench-password")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            paints = []
            for path in pages:
                runs = []
                for i in range(repeat + 1):
                    page.goto(path, wait_until="load")
                    fcp = page.evaluate(
                        "() => new Promise(done => new PerformanceObserver((list, obs) => {"
                        "  const e = list.getEntriesByName('first-contentful-paint')[0];"
                        "  if (e) { obs.disconnect(); done(e.startTime); }"
                        "}).observe({type: 'paint', buffered: true}))")
                    if i:
                        runs.append(fcp)
                paints.append(statistics.median(runs))
            return paints
        finally:
            browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="where to keep the database (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="peakend-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    db = base / "year.sqlite"
    try:
        if not db.exists():
            t = time.perf_counter()
            rows = generate(db)
            print(f"generated {rows:,} rows ({len(STORES) * len(ZONES)} zones, {DAYS} days) "
                  f"in {time.perf_counter() - t:.0f} s")
        conn = open_db(db)
        rows = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("ratings", "dwells", "queue_windows"))
        print(f"database: {rows:,} rows, {db.stat().st_size / 2**30:.2f} GiB")
        t = time.perf_counter()
        folded = refresh_rollups(conn)
        print(f"rollup catch-up (once per hub): {folded:,} rows folded in "
              f"{time.perf_counter() - t:.1f} s")

        config = HubConfig.model_validate({"stores": [{"id": s, "timezone": tz}
                                                      for s, tz in STORES]})
        since, until = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
        lo, hi = "2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"
        period = Period(since, until)

        def bare_all() -> None:
            conn.execute("SELECT store_id, zone_id, count(*), avg(score) FROM ratings "
                         "WHERE at >= $1 AND at < $2 AND flagged = 0 GROUP BY 1, 2",
                         (lo, hi)).fetchall()
            conn.execute("SELECT store_id, zone_id, count(*), avg(wait_s), avg(dwell_s) "
                         "FROM dwells WHERE exit >= $1 AND exit < $2 GROUP BY 1, 2",
                         (lo, hi)).fetchall()

        def bare_zone() -> None:
            conn.execute("SELECT count(*), avg(score) FROM ratings WHERE store_id = 's001' AND "
                         "zone_id = 'zone-00' AND at >= $1 AND at < $2", (lo, hi)).fetchall()
            conn.execute("SELECT count(*), avg(wait_s), avg(dwell_s) FROM dwells WHERE "
                         "store_id = 's001' AND zone_id = 'zone-00' AND exit >= $1 AND exit < $2",
                         (lo, hi)).fetchall()

        def bare_store() -> None:
            conn.execute("SELECT zone_id, count(*), avg(score) FROM ratings WHERE store_id = "
                         "'s001' AND at >= $1 AND at < $2 AND flagged = 0 GROUP BY 1",
                         (lo, hi)).fetchall()
            conn.execute("SELECT zone_id, count(*), avg(wait_s), avg(dwell_s) FROM dwells "
                         "WHERE store_id = 's001' AND exit >= $1 AND exit < $2 GROUP BY 1",
                         (lo, hi)).fetchall()

        # today's card: today so far and the same weekday of the last four weeks, local days
        tz = config.timezone("s001")
        now = datetime.now(UTC)
        today = now.astimezone(tz).date()
        card_days = []
        for d in [today - timedelta(days=7 * k) for k in range(5)]:
            start = datetime(d.year, d.month, d.day, tzinfo=tz)
            card_days.append((format_ts(start), format_ts(min(now, start + timedelta(days=1)))))

        # the zones named, so each day is one index range per zone
        zones_in = ", ".join(f"'{z}'" for z in ZONES)

        def bare_today() -> None:
            for a, b in card_days:
                conn.execute("SELECT count(*), avg(score) FROM ratings WHERE store_id = 's001' "
                             f"AND zone_id IN ({zones_in}) AND at >= $1 AND at < $2 "
                             "AND flagged = 0", (a, b)).fetchall()
                conn.execute("SELECT count(*), avg(wait_s) FROM dwells WHERE store_id = 's001' "
                             f"AND zone_id IN ({zones_in}) AND exit >= $1 AND exit < $2",
                             (a, b)).fetchall()

        def cli_all() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                report_main(["--db", str(db), "--since", "2026-03-01T00:00Z",
                             "--until", "2026-04-01T00:00Z"])

        def cli_zone() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                report_main(["--db", str(db), "--store", "s001", "--zone", "zone-00",
                             "--since", "2026-03-01T00:00Z", "--until", "2026-04-01T00:00Z"])

        b_all, b_zone = timed(bare_all), timed(bare_zone)
        b_store, b_today = timed(bare_store), timed(bare_today)
        r_all = timed(lambda: store_report(conn, period, config=config))
        c_all = timed(cli_all)
        z = timed(lambda: zone_report(conn, "s001", "zone-00", period, config))
        c_zone = timed(cli_zone)
        print(f"\nbare SQL aggregate, month, all 50 zones: {b_all:7.1f} ms")
        print(f"store_report, month, all 50 zones:       {r_all:7.1f} ms  "
              f"(x{r_all / b_all:.2f} of bare SQL)")
        print(f"peakend report (in-process), all zones:  {c_all:7.1f} ms  "
              f"(x{c_all / b_all:.2f} of bare SQL)")
        print(f"bare SQL aggregate, month, one zone:     {b_zone:7.1f} ms")
        print(f"zone_report, month, one zone:            {z:7.1f} ms  "
              f"(x{z / b_zone:.2f} of bare SQL)")
        print(f"peakend report --zone (in-process):      {c_zone:7.1f} ms  "
              f"(x{c_zone / b_zone:.2f} of bare SQL)")

        conn.execute("DELETE FROM users WHERE name = 'bench'")
        add_user(conn, "bench", "bench-password", ["s001"])
        with serve_in_thread(create_app(str(db), config)) as url:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
            form = opener.open(f"{url}/login").read().decode()
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            opener.open(f"{url}/login", urllib.parse.urlencode(
                {"csrf": csrf, "name": "bench", "password": "bench-password"}).encode())
            # the form's "until" day is included: 1 to 31 March is the month
            page = f"{url}/s/s001/z/zone-00?since=2026-03-01&until=2026-03-31"

            def get(path: str = page) -> float:
                with opener.open(path) as answer:
                    body = answer.read()
                    spent = answer.headers["Server-Timing"]
                assert b"svg" in body or b"zones" in body
                return float(spent.split("dur=")[1])

            def server_side(path: str = page, repeat: int = 7) -> float:
                get(path)
                return statistics.median(get(path) for _ in range(repeat))

            w = timed(get)
            w_server = server_side()
            store_server = server_side(f"{url}/s/s001?since=2026-03-01&until=2026-03-31")
            # the store page: one store's zones with their figures
            store_month = timed(lambda: get(f"{url}/s/s001?since=2026-03-01&until=2026-03-31"))
            # pages open on today, with today against the usual day (4 weeks of one store);
            # nothing is kept between views, so each is read afresh
            today_zone = timed(lambda: get(f"{url}/s/s001/z/zone-00"))
            today_store = timed(lambda: get(f"{url}/s/s001"))
            paint_zone, paint_store = first_paints(
                url, [page, f"{url}/s/s001?since=2026-03-01&until=2026-03-31"])
        print(f"zone web page over HTTP, month:          {w:7.1f} ms  "
              f"(x{w / b_zone:.2f} of bare SQL for the zone){_target(w)}")
        print(f"zone web page, month, server side:       {w_server:7.1f} ms{_target(w_server)}")
        print(f"zone web page over HTTP, today:          {today_zone:7.1f} ms{_target(today_zone)}")
        print(f"bare SQL aggregate, month, one store:    {b_store:7.1f} ms  (10 zones)")
        print(f"store page over HTTP, month:             {store_month:7.1f} ms  "
              f"(x{store_month / b_store:.2f} of bare SQL for the store){_target(store_month)}")
        print(f"store page, month, server side:          {store_server:7.1f} ms"
              f"{_target(store_server)}")
        print(f"first paint in Chromium, zone page month:  {paint_zone:5.0f} ms"
              f"{_paint(paint_zone)}")
        print(f"first paint in Chromium, store page month: {paint_store:5.0f} ms"
              f"{_paint(paint_store)}")
        print(f"bare SQL, the store's card days (today and 4 usual): {b_today:7.1f} ms")
        print(f"store page over HTTP, today vs usual day: {today_store:6.1f} ms  "
              f"(x{today_store / b_today:.2f} of bare SQL for its days){_target(today_store)}")
        conn.close()
        start = time.perf_counter()
        import subprocess

        subprocess.run([sys.executable, "-m", "peakend.broker.cli.report", "--db", str(db),
                        "--since", "2026-03-01T00:00Z", "--until", "2026-04-01T00:00Z"],
                       check=True, capture_output=True)
        print(f"peakend report as a new process (incl. Python start and imports): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
