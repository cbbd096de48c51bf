"""Paging a million ratings through the read-only API, against a bare SQL scan of the same
rows in the same run.

    python bench/api_paging.py [--ratings 1000000] [--page 5000] [--db FILE]

A SQLite hub with ``--ratings`` ratings at one store's checkout (and a tenth as many at another
store, which the token must not see), a visit for every two ratings so each rating's linked
wait is computed, and the web app served by uvicorn on loopback. The API is paged with a
personal access token at ``--page`` rows per request (JSON, then CSV) until the cursor ends;
the baseline reads the same columns of the same rows with the same keyset, straight from
SQLite, without linking or encoding. Prints rows/s of each and checks every row came once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.api import RATING_COLUMNS
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.hub.web.tokens import create_token
from peakend.broker.wire.contract import format_ts

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
RATING = ("msg_id", "device_id", "seq", "store_id", "zone_id", "ts", "received_at",
          "clock_synced", "at", "score", "reason", "flags", "flagged")
DWELL = ("msg_id", "device_id", "seq", "store_id", "zone_id", "ts", "received_at",
         "clock_synced", "at", "track", "enter", "exit", "dwell_s", "wait_s")


def seed(path: Path, ratings: int) -> None:
    conn = open_db(path, must_exist=False)
    try:
        for store, n in (("s001", ratings), ("s002", ratings // 10)):
            batch: list[tuple] = []
            visits: list[tuple] = []
            for i in range(n):
                at = format_ts(T0 + timedelta(seconds=i * 2.5))
                batch.append((uuid.uuid4().hex, f"kiosk-{store}", i + 1, store, "checkout", at,
                              at, 1, at, 1 + i % 4, None, "[]", 0))
                if i % 2 == 0:
                    enter = format_ts(T0 + timedelta(seconds=i * 2.5 - 200))
                    visits.append((uuid.uuid4().hex, f"cam-{store}", i + 1, store, "checkout",
                                   at, at, 1, at, str(i), enter, at, 200.0, 60.0 + i % 240))
                if len(batch) == 50_000:
                    with conn.transaction():
                        conn.load("ratings", RATING, batch)
                        conn.load("dwells", DWELL, visits)
                    batch, visits = [], []
            with conn.transaction():
                conn.load("ratings", RATING, batch)
                conn.load("dwells", DWELL, visits)
        add_user(conn, "bi", "bi password", ["s001"])
    finally:
        conn.close()


def baseline(path: Path, page: int) -> tuple[int, float]:
    """The same rows, columns and keyset, straight from SQLite: no linking, no encoding."""
    conn = open_db(path)
    try:
        start, n, after = time.perf_counter(), 0, -1
        cols = ", ".join(RATING_COLUMNS)
        while True:
            rows = conn.execute(f"SELECT rowid, {cols} FROM ratings WHERE rowid > $1 AND "
                                "+store_id IN ($2) ORDER BY rowid LIMIT $3",
                                (after, "s001", page)).fetchall()
            n += len(rows)
            if len(rows) < page:
                return n, time.perf_counter() - start
            after = rows[-1][0]
    finally:
        conn.close()


def through_api(base: str, token: str, page: int, fmt: str) -> tuple[int, int, float, set[str]]:
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    conn = http.client.HTTPConnection(host, port, timeout=120)  # kept alive, as a BI tool does
    seen: set[str] = set()
    start, n, pages, cursor = time.perf_counter(), 0, 0, None
    while True:
        q = f"limit={page}&format={fmt}" + (f"&cursor={cursor}" if cursor else "")
        conn.request("GET", f"/api/v1/ratings?{q}", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"API answered {resp.status}: {body[:200]!r}")
        pages += 1
        if fmt == "json":
            rows = json.loads(body)["data"]
            n += len(rows)
            seen.update(r["msg_id"] for r in rows)
        else:
            lines = body.decode().splitlines()[1:]
            n += len(lines)
            seen.update(line.split(",", 1)[0] for line in lines)
        cursor = resp.getheader("X-Next-Cursor")
        if not cursor:
            conn.close()
            return n, pages, time.perf_counter() - start, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ratings", type=int, default=1_000_000)
    ap.add_argument("--page", type=int, default=5000)
    ap.add_argument("--db", help="keep the seeded hub in this file (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "hub.sqlite"
        if not path.exists():
            t = time.perf_counter()
            seed(path, args.ratings)
            print(f"seeded {args.ratings:,} ratings (+{args.ratings // 10:,} at another store) "
                  f"in {time.perf_counter() - t:.1f} s")
        conn = open_db(path)
        _, token = create_token(conn, "bi", "bench")
        conn.close()
        config = HubConfig.model_validate({"api": {"rate_per_s": 1000, "burst": 10_000,
                                                   "max_page": max(10_000, args.page)}})
        n0, s0 = baseline(path, args.page)
        print(f"baseline  bare SQL keyset scan: {n0:,} rows in {s0:.2f} s = {n0 / s0:,.0f} rows/s")
        with serve_in_thread(create_app(str(path), config)) as base:
            for fmt in ("json", "csv"):
                n, pages, s, seen = through_api(base, token, args.page, fmt)
                ok = "every row once" if n == n0 == len(seen) else "ROWS MISSING OR DOUBLED"
                print(f"API {fmt:4}  {pages} pages of {args.page:,}: {n:,} rows in {s:.2f} s = "
                      f"{n / s:,.0f} rows/s ({n / s / (n0 / s0):.1%} of the bare scan; linked "
                      f"waits included); {ok}")


if __name__ == "__main__":
    main()
