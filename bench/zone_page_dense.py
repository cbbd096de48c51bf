"""A flooded zone: 48,000 ratings and 9,500 visits inside one look-back window.

    python bench/zone_page_dense.py [--ratings N] [--visits N] [--repeat N]

The case a device flooding its zone makes: every rating's look-back holds thousands of visits.
Times the zone page over HTTP (the real app under uvicorn, logged in), ``peakend report
--zone`` and the CSV export, each with the rating-to-visit linking of today and, in the same
run, with the linking as first written (one sort per rating: ratings × visits per window),
which is the baseline. Target: the page under 300 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shutil
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import numpy as np

from peakend.broker.cli.report import main as report_main
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import open_store
from peakend.broker.hub.reports import analytics
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.wire.contract import new_envelope

STORE, ZONE = "s001", "checkout"
BURST = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # the flood: ten minutes from here
CONFIG = HubConfig.model_validate({"stores": [{"id": STORE, "timezone": "Europe/Berlin"}]})
REFERENCE = Path(__file__).parents[1] / "tests" / "hub" / "reports" / "test_linkage.py"


def seed(db: Path, ratings: int, visits: int) -> None:
    """Through the hub's own write path, as the aggregator stores them."""
    rng = np.random.default_rng(5)
    span = CONFIG.analytics.lookback_min * 60.0
    envelopes = []
    for seq, t in enumerate(np.sort(rng.uniform(0, span, visits)), 1):
        at = BURST + timedelta(seconds=float(t))
        wait = float(rng.uniform(5, 400))
        envelopes.append(new_envelope(
            device_id="cam-01", store_id=STORE, zone_id=ZONE, seq=seq, event_type="dwell",
            ts=at, data={"track": seq, "enter": at - timedelta(seconds=wait + 20), "exit": at,
                         "dwell_s": wait + 20,
                         "wait_s": wait if rng.random() > 0.1 else None}))
    for seq, t in enumerate(np.sort(rng.uniform(0, span, ratings)), 1):
        envelopes.append(new_envelope(
            device_id="kiosk-01", store_id=STORE, zone_id=ZONE, seq=seq, event_type="rating",
            ts=BURST + timedelta(seconds=float(t)), data={"score": int(rng.integers(1, 5))}))
    store = open_store(db)
    try:
        with store.transaction():
            for i in range(0, len(envelopes), 2000):
                store.store_events([(e, e.ts) for e in envelopes[i : i + 2000]])
    finally:
        store.close()
    conn = open_db(db)
    add_user(conn, "bench", "bench-password", [STORE])
    conn.close()


def sorting_reference() -> Callable[[analytics.ZoneData, float], analytics.LinkedRatings]:
    """The linking as first written, kept as the reference of the equivalence test."""
    spec = importlib.util.spec_from_file_location("linkage_reference", REFERENCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.link_ratings_by_sorting


@contextlib.contextmanager
def linking(kind: str) -> Iterator[None]:
    """Swap the linking the report code calls (``analytics.link_ratings``) for the run."""
    current = analytics.link_ratings
    if kind == "before":
        analytics.link_ratings = sorting_reference()
    try:
        yield
    finally:
        analytics.link_ratings = current


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings", type=int, default=48_000)
    ap.add_argument("--visits", type=int, default=9_500)
    ap.add_argument("--repeat", type=int, default=5, help="runs of today's code (median)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="peakend-dense-"))
    try:
        db = base / "hub.sqlite"
        start = time.perf_counter()
        seed(db, args.ratings, args.visits)
        print(f"seeded {args.ratings:,} ratings and {args.visits:,} visits within "
              f"{CONFIG.analytics.lookback_min:g} min in {time.perf_counter() - start:.1f} s")
        day = "since=2026-03-02&until=2026-03-03"
        with serve_in_thread(create_app(str(db), CONFIG)) as url:
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
            form = opener.open(f"{url}/login").read().decode()
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            opener.open(f"{url}/login", urllib.parse.urlencode(
                {"csrf": csrf, "name": "bench", "password": "bench-password"}).encode())

            def page() -> None:
                body = opener.open(f"{url}/s/{STORE}/z/{ZONE}?{day}").read()
                assert b"<svg" in body

            def export() -> None:
                body = opener.open(f"{url}/s/{STORE}/z/{ZONE}/export.csv?{day}").read()
                assert body.count(b"\n") > args.ratings

            def report() -> None:
                with contextlib.redirect_stdout(io.StringIO()):
                    code = report_main(["--db", str(db), "--store", STORE, "--zone", ZONE,
                                        "--since", "2026-03-02T00:00Z",
                                        "--until", "2026-03-03T00:00Z"])
                assert code == 0

            page()  # warm the page cache and the imports
            results = {}
            for kind, repeat in (("now", args.repeat), ("before", 1)):
                with linking(kind):
                    results[kind] = [timed(page, repeat), timed(report, repeat),
                                     timed(export, repeat)]
        print(f"\n{'':34}{'today':>10}{'before':>12}{'ratio':>9}")
        for i, what in enumerate(("zone page over HTTP", "peakend report --zone (in-process)",
                                  "CSV export over HTTP")):
            now, before = results["now"][i], results["before"][i]
            print(f"{what:34}{now:8.0f} ms{before:9.0f} ms{now / before:9.4f}")
        verdict = "met" if results["now"][0] < 300 else "NOT met"
        print(f"\ntarget: the page under 300 ms: {verdict}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
