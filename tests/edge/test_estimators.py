"""Queue windows: time-weighted length, counts, measured and predicted waits."""

from __future__ import annotations

import pytest

from peakend.edge.estimators import QueueEstimator


def test_window_length_is_time_weighted_mean_and_counts_reset() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    closed = []
    for i in range(200):
        t = i / 10
        closed += q.sample(t, 2 if t < 5 else 4)  # 2 people for 5 s, then 4
        if i == 30:
            q.arrival(t)
    assert [w.end for w in closed] == [10.0]
    assert closed[0].length == pytest.approx(3.0, abs=0.05)
    assert closed[0].arrivals == 1
    closed = q.sample(20.0, 4)
    assert closed[0].length == pytest.approx(4.0) and closed[0].arrivals == 0


def steady_queue(intact: bool) -> QueueEstimator:
    """4 people waiting; the till serves one every 15 s; each waited 60 s."""
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    for i in range(0, 3001):
        t = i / 10
        q.sample(t, 4)
        if i % 150 == 0 and t > 0:
            q.departure(t, 60.0, intact)
    return q


def test_prediction_with_intact_tracks_is_little_law_and_tracks_the_queue_now() -> None:
    q = steady_queue(intact=True)
    measured, predicted = q.predict(300.0, 4.0)
    assert measured == 60.0
    assert predicted == pytest.approx(60.0, rel=0.02)
    # The queue just doubled: someone joining now waits longer than those who just left.
    _, longer = q.predict(300.0, 8.0)
    assert longer > 90.0


def test_prediction_falls_back_on_littles_law_when_tracks_break() -> None:
    q = steady_queue(intact=False)
    measured, predicted = q.predict(300.0, 4.0)
    assert measured is None
    assert predicted == pytest.approx(60.0, rel=0.02)  # L / lambda = 4 / (1/15 s)


def test_empty_queue_predicts_no_wait_and_unknown_before_any_service() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    windows = q.sample(0.0, 0) + q.sample(10.0, 0)
    assert windows[0].wait_s == 0.0
    q2 = QueueEstimator("checkout", window_s=10, horizon_s=300)
    windows = q2.sample(0.0, 3) + q2.sample(10.0, 3)
    assert windows[0].wait_s is None and windows[0].wait_measured_s is None


def test_first_crossings_lean_on_the_measured_wait() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    for i in range(0, 601):
        q.sample(i / 10, 3)
    q.departure(55.0, 50.0, True)  # one person served after 50 s
    measured, predicted = q.predict(60.0, 3.0)
    assert measured == 50.0
    little = 3.0 / (1 / 60.0)  # one crossing in 60 busy seconds: a shaky rate
    assert predicted == pytest.approx(little / 3 + 50.0 * 2 / 3, rel=0.05)
