"""Linking ratings to their look-back windows: the same numbers as sorting every window, at a
cost that stays near-linear when a flood of ratings meets a crowded look-back."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from peakend.broker.hub.reports import analytics as an


def link_ratings_by_sorting(data: an.ZoneData, lookback_s: float) -> an.LinkedRatings:
    """The linking as it was first written (one sort per rating, ratings × window size): the
    reference the faster function must agree with exactly."""
    n = len(data.rating_t)
    lo = np.searchsorted(data.visit_t, data.rating_t - lookback_s, side="right")
    hi = np.searchsorted(data.visit_t, data.rating_t, side="right")
    visits = (hi - lo).astype(np.int64)
    waits = np.zeros(n, dtype=np.int64)
    wait = np.full(n, np.nan)
    wait_max = np.full(n, np.nan)
    dwell = np.full(n, np.nan)
    all_waits = data.wait_s.tolist()
    all_dwells = data.dwell_s.tolist()
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if b <= a:
            continue
        dwell[i] = _median(sorted(all_dwells[a:b]))
        w = sorted(x for x in all_waits[a:b] if x == x)
        if w:
            waits[i] = len(w)
            wait[i] = _median(w)
            wait_max[i] = w[-1]
    q_length = np.full(n, np.nan)
    q_wait = np.full(n, np.nan)
    if len(data.queue_t):
        last = np.searchsorted(data.queue_t, data.rating_t, side="right") - 1
        ok = (last >= 0) & (data.queue_t[np.clip(last, 0, None)] > data.rating_t - lookback_s)
        q_length[ok] = data.queue_length[last[ok]]
        q_wait[ok] = data.queue_wait_s[last[ok]]
    return an.LinkedRatings(visits, waits, wait, wait_max, dwell, q_length, q_wait)


def _median(ordered: list[float]) -> float:
    m = len(ordered) // 2
    return ordered[m] if len(ordered) % 2 else (ordered[m - 1] + ordered[m]) / 2


def random_zone(rng: random.Random) -> tuple[an.ZoneData, float]:
    """A zone with ties everywhere: times and values on coarse grids, some equal to a press or
    exactly one look-back before it, waits missing, empty sides now and then."""
    lookback = rng.choice([0.0, 1.0, 5.0, 60.0, 600.0, 1e9])
    span = rng.choice([1, 10, 100, 5000])
    n_r = rng.choice([0, 1, 2, 3, rng.randrange(0, 300)])
    n_v = rng.choice([0, 1, 2, 3, rng.randrange(0, 300)])
    n_q = rng.choice([0, 1, rng.randrange(0, 50)])

    def t() -> float:
        return float(rng.randrange(span)) if rng.random() < 0.7 else rng.uniform(0, span)

    def value() -> float:
        return rng.choice([0.0, -0.0, 1.0, 2.5, 2.5, 1e300, float(rng.randrange(5)),
                           rng.uniform(-10, 1000)])

    ratings = [(t(), rng.randint(1, 4)) for _ in range(n_r)]
    times = [t() for _ in range(n_r)]
    visits = []
    for _ in range(n_v):
        # visits ending exactly at a press, or exactly one look-back before one
        at = t()
        if times and rng.random() < 0.2:
            at = rng.choice(times) - rng.choice([0.0, lookback])
        visits.append((at, value(), None if rng.random() < 0.3 else value()))
    queue = [(t(), value(), None if rng.random() < 0.3 else value()) for _ in range(n_q)]
    return an.ZoneData.build(ratings, visits, queue), lookback


@pytest.mark.parametrize("seed", range(6))
def test_linking_agrees_with_sorting_every_window_on_random_zones(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        data, lookback = random_zone(rng)
        got = an.link_ratings(data, lookback)
        want = link_ratings_by_sorting(data, lookback)
        for name in an.LinkedRatings.__dataclass_fields__:
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype, name
            # bit for bit: the same values picked, the same float arithmetic, -0.0 kept
            np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=name)


def test_linking_a_flood_of_ratings_in_a_crowded_look_back_is_not_quadratic() -> None:
    # 20,000 presses all within ten minutes of 4,000 visits: every window holds thousands of
    # visits. Sorting each window took about 5 s here; linking in one sweep takes milliseconds,
    # so a bound of 2 s leaves room for a slow machine and still fails on the quadratic way.
    rng = np.random.default_rng(3)
    ratings = np.sort(rng.uniform(0, 600, 20_000))
    visit_t = np.sort(rng.uniform(0, 600, 4_000))
    waits = rng.uniform(0, 300, visit_t.size)
    waits[rng.random(visit_t.size) < 0.2] = np.nan
    data = an.ZoneData(rating_t=ratings, score=rng.integers(1, 5, ratings.size),
                       visit_t=visit_t, dwell_s=rng.uniform(5, 400, visit_t.size), wait_s=waits)
    start = time.perf_counter()
    linked = an.link_ratings(data, 600.0)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"linking took {elapsed:.2f} s"
    assert linked.visits[-1] == np.sum(visit_t <= ratings[-1])
