"""The zone report reads, of a queue zone's windows, only the last one at or before each rating:
its linking must come out exactly as with every window loaded, on both engines."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from peakend.broker.hub.reports import analytics as an
from peakend.broker.hub.reports.queries import Period, load_zone, open_db, zone_report
from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import event_topic, new_envelope

DAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LOOKBACK_S = 600.0


def _stored(db_url: str, seed: int) -> None:
    rng = random.Random(seed)
    messages = []
    seq = 0
    # Windows at irregular moments, with gaps longer than the look-back (ratings there link
    # to none), and ratings, a few exactly on a window's moment and some before any window.
    t = DAY + timedelta(seconds=rng.uniform(0, 300))
    for _ in range(120):
        seq += 1
        e = new_envelope(device_id="cam-01", store_id="s001", zone_id="checkout", seq=seq,
                         event_type="queue", ts=t,
                         data={"window_s": 60.0, "length": float(rng.randint(0, 9)),
                               "arrivals": 1, "departures": 1,
                               "wait_s": None if rng.random() < 0.2 else rng.uniform(5, 400),
                               "wait_measured_s": None})
        messages.append((event_topic("s001", "cam-01", "queue"), e.to_json(), t.timestamp()))
        t += timedelta(seconds=rng.choice([30, 60, 61, 90, 900]))
    windows = list(messages)  # only windows so far
    for i in range(150):
        if i % 10 == 0:  # on a window's very moment
            at = datetime.fromtimestamp(rng.choice(windows)[2], UTC)
        else:
            at = DAY + timedelta(seconds=rng.uniform(-1200, (t - DAY).total_seconds() + 600))
        e = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout", seq=i + 1,
                         event_type="rating", ts=at, data={"score": rng.randint(1, 4)})
        messages.append((event_topic("s001", "kiosk-01", "rating"), e.to_json(), at.timestamp()))
    ingest = Ingest(db_url)
    try:
        ingest.handle(messages)
    finally:
        ingest.close()


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_linking_over_the_picked_windows_equals_linking_over_all(db_url: str) -> None:
    _stored(db_url, seed=11)
    conn = open_db(db_url)
    try:
        since, until = DAY - timedelta(hours=1), DAY + timedelta(days=1)
        full = load_zone(conn, "s001", "checkout", since, until)
        picked = load_zone(conn, "s001", "checkout", since, until, queue_windows="linked")
        assert 0 < len(picked.queue_t) < len(full.queue_t)
        a, b = an.link_ratings(full, LOOKBACK_S), an.link_ratings(picked, LOOKBACK_S)
        assert np.isfinite(a.queue_length).sum() > 50  # most ratings have a window to link
        assert np.isnan(a.queue_length).sum() > 5  # and some have none in their look-back
        for name in ("queue_length", "queue_wait_s", "wait_s"):
            assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
        report = zone_report(conn, "s001", "checkout", Period(since, until))
        in_period = full.rating_t >= since.timestamp()
        assert np.array_equal(report.linked.queue_length, a.queue_length[in_period],
                              equal_nan=True)
    finally:
        conn.close()
