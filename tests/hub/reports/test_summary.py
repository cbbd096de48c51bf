"""The headline numbers without numpy: the same percentiles, and a report that starts light."""

from __future__ import annotations

import random
from array import array

import numpy as np
import pytest

from peakend.broker.hub.reports import summary


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 99, 100, 4999, 5000, 5001])
def test_percentile_is_numpys_to_the_last_bit(n: int) -> None:
    rng = random.Random(n)
    values = [rng.choice([rng.uniform(0, 900), float(rng.randint(0, 60)), float("nan")])
              for _ in range(n)]
    finite = np.asarray([v for v in values if v == v], dtype=float)
    for q in (0, 1, 10, 25, 33.3, 50, 66.7, 90, 95, 99, 100):
        want = float(np.percentile(finite, q)) if finite.size else None
        assert summary.percentile(values, q) == want
        assert summary.percentile(array("d", values), q) == want
        assert summary.percentile(np.asarray(values, dtype=float), q) == want


def test_percentile_without_values_is_none() -> None:
    assert summary.percentile([], 50) is None
    assert summary.percentile([float("nan")] * 3, 90) is None
    assert summary.percentile(array("d", [float("nan")] * 6000), 90) is None


def test_summary_counts_only_measured_waits() -> None:
    s = summary.summary_from_parts(ratings=4, score_sum=10.0, unhappy=1, visits=8, hours=2,
                                   waits=array("d", [60.0, float("nan"), 120.0]),
                                   dwells=array("d", [30.0, 90.0, 60.0]))
    assert s.waits == 2
    assert s.wait_p50_s == 90.0
    assert s.dwell_p50_s == 60.0
    assert s.happy_index == pytest.approx(50.0)
    assert s.response_rate == 0.5
    assert s.throughput_per_h == 4.0
