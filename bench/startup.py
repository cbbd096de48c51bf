"""``peakend report`` as a new process: what a person typing it waits for.

    python bench/startup.py [--days 30] [--runs 9]

Builds a hub of ``--days`` days (three zones, a busy checkout), written through the real Store
and folded into the rollup as the hub's writer does (not timed). Then runs ``peakend report``
for all zones and for one zone as new processes, each ``--runs`` times, and prints the medians
against two baselines measured in the same run: a bare ``python -c pass`` and
``python -c "import numpy, pydantic"`` (the two heaviest libraries the hub uses).
Target: under 300 ms for the all-zones report.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peakend.broker.hub.db.store import Store
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.reports.rollup import refresh_rollups
from peakend.broker.wire.contract import new_envelope

TARGET_MS = 300.0


def build(path: Path, days: int, rng: random.Random) -> int:
    """A hub with ``days`` of visits and ratings up to now; returns the number of events."""
    store = Store(path)
    seq: dict[str, int] = {}
    batch = []
    now = datetime.now(UTC)
    # zone, visits per open hour, share of visitors who rate, measured waits
    zones = [("checkout", 60, 0.25, True), ("deli", 20, 0.15, True), ("promo", 30, 0.0, False)]
    count = 0
    for day in range(days, 0, -1):
        opens = (now - timedelta(days=day)).replace(hour=8, minute=0, second=0, microsecond=0)
        for zone, per_hour, rate_share, waits in zones:
            for _ in range(int(per_hour * 12 * rng.uniform(0.7, 1.3))):
                exit_ = opens + timedelta(seconds=rng.uniform(0, 12 * 3600))
                wait = rng.expovariate(1 / 120) if waits else None
                dwell = (wait or 0.0) + rng.uniform(20, 300)
                events = [("dwell", f"cam-{zone}", exit_, {
                    "track": rng.randrange(10**6), "enter": exit_ - timedelta(seconds=dwell),
                    "exit": exit_, "dwell_s": dwell, "wait_s": wait})]
                if rng.random() < rate_share:
                    at = exit_ + timedelta(seconds=rng.uniform(2, 30))
                    events.append(("rating", f"kiosk-{zone}", at,
                                   {"score": rng.choice((1, 2, 3, 3, 4, 4, 4)), "flags": []}))
                for kind, device, at, data in events:
                    seq[device] = seq.get(device, 0) + 1
                    batch.append((new_envelope(device_id=device, store_id="s001", zone_id=zone,
                                               seq=seq[device], event_type=kind, ts=at,
                                               data=data), at))
                if len(batch) >= 2000:
                    count += _flush(store, batch)
    count += _flush(store, batch)
    store.close()
    # as the hub's writer does between batches, so the report reads the rollup
    conn = open_db(path, migrate=False)
    try:
        refresh_rollups(conn)
    finally:
        conn.close()
    return count


def _flush(store: Store, batch: list) -> int:
    with store.transaction():
        store.store_events(batch)
    n = len(batch)
    batch.clear()
    return n


def median_ms(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="peakend-startup-"))
    try:
        db = base / "hub.sqlite"
        start = time.perf_counter()
        n = build(db, args.days, random.Random(11))
        took = time.perf_counter() - start
        print(f"hub of {args.days} days: {n:,} events, built in {took:.1f} s")
        py = sys.executable
        report = [py, "-m", "peakend.broker.cli", "report", "--db", str(db)]
        subprocess.run(report, check=True, capture_output=True)  # warm the file cache
        bare = median_ms([py, "-c", "pass"], args.runs)
        libs = median_ms([py, "-c", "import numpy, pydantic"], args.runs)
        every = median_ms(report, args.runs)
        zone = median_ms([*report, "--store", "s001", "--zone", "checkout"], args.runs)
        print(f"python -c pass:                         {bare:6.0f} ms")
        print(f"python -c 'import numpy, pydantic':     {libs:6.0f} ms")
        print(f"peakend report, all zones:              {every:6.0f} ms  "
              f"(x{every / libs:.2f} of importing numpy and pydantic; target < {TARGET_MS:.0f} ms: "
              f"{'met' if every < TARGET_MS else 'NOT met'})")
        print(f"peakend report --store --zone checkout: {zone:6.0f} ms  "
              f"(x{zone / libs:.2f} of importing numpy and pydantic)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
