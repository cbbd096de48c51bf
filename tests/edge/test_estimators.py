"""Queue windows: time-weighted length, counts, measured and predicted waits."""

from __future__ import annotations

import pytest

from peakend.edge.estimators import QueueEstimator
from peakend.edge.till_pace import TillPace


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


def steady_queue(intact: bool, people: int = 4) -> QueueEstimator:
    """``people`` waiting throughout; the till calls one every 15 s; each waited 60 s."""
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    for i in range(0, 3001):
        t = i / 10
        if i % 150 == 0 and t > 0:
            q.departure(t, 60.0, intact)
        q.sample(t, people)
    return q


def test_someone_joining_waits_for_everyone_ahead_and_the_one_at_the_till() -> None:
    q = steady_queue(intact=True)
    measured, predicted = q.predict(300.0, 4.0)
    assert measured == 60.0
    # Called just now, the one at the till needs another 15 s; then the four ahead, 15 s each.
    assert predicted == pytest.approx(15.0 + 4 * 15.0)
    # Halfway through a service, half of it is left.
    assert q.predict(307.5, 4.0)[1] == pytest.approx(7.5 + 4 * 15.0)
    # The queue just doubled: someone joining now waits for eight, not for the 60 s just seen.
    assert q.predict(300.0, 8.0)[1] == pytest.approx(15.0 + 8 * 15.0)


def test_prediction_needs_no_intact_track() -> None:
    # Tracks broken mid-queue give no measured wait, but every crossing still paces the till.
    q = steady_queue(intact=False)
    measured, predicted = q.predict(300.0, 4.0)
    assert measured is None
    assert predicted == pytest.approx(75.0)


def test_idle_gaps_are_not_service_and_the_pace_is_unknown_until_one_is_seen() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    windows = []
    for i in range(0, 1201):
        t = i / 10
        if i % 200 == 150:
            q.departure(t, 2.0, True)  # every 20 s one walks through the empty lane in 2 s
        windows += q.sample(t, 1 if 130 <= i % 200 < 150 else 0)
    # Every gap between crossings held an idle till: no pace.
    assert q.predict(120.0, 2.0)[1] is None
    # An empty lane still takes its walk: the quickest wait seen.
    assert q.predict(120.0, 0.0)[1] == pytest.approx(2.0)
    assert all(w.wait_s is None or w.wait_s == pytest.approx(2.0) for w in windows)


def test_a_service_counts_when_someone_came_after_the_lane_emptied_and_waited() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    for i in range(0, 401):
        t = i / 10
        if i == 100:
            q.departure(t, 2.0, True)  # walked through the empty lane; the till serves them
        if i == 300:
            q.departure(t, 15.0, True)  # came at 15 s, stood 15 s until the till was done
        q.sample(t, 1 if 80 <= i < 100 or 150 <= i < 300 else 0)
    # The till took 20 s from one call to the next: a gap of service, though the lane emptied.
    assert q.predict(40.0, 1.0)[1] == pytest.approx(10.0 + 20.0)


def test_nothing_is_predicted_before_anyone_went_through() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    windows = q.sample(0.0, 0) + q.sample(10.0, 0) + q.sample(20.0, 3) + q.sample(30.0, 3)
    assert [w.wait_s for w in windows] == [None, None, None]
    assert all(w.wait_measured_s is None for w in windows)


def test_an_idle_till_adds_no_residual_and_the_pace_outlives_a_quiet_spell() -> None:
    q = steady_queue(intact=True)
    for i in range(3001, 12001):  # nobody for fifteen minutes: beyond the 300 s horizon
        q.sample(i / 10, 0)
    measured, predicted = q.predict(1200.0, 2.0)
    assert measured is None  # the measured waits are the horizon's
    assert predicted == pytest.approx(2 * 15.0)  # two ahead at the known pace, till idle


def test_a_double_crossing_or_a_missed_one_does_not_move_the_pace() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    calls = [15.0 * k for k in range(1, 12)]
    calls.insert(4, calls[3] + 0.4)  # one person counted twice (a track split on the line)
    calls.remove(150.0)  # one crossing missed
    for i in range(0, 1801):
        t = i / 10
        for c in calls:
            if c <= t < c + 0.1:
                q.departure(c, 40.0, True)
        q.sample(t, 3)
    assert q.predict(172.5, 3.0)[1] == pytest.approx(7.5 + 3 * 15.0)


def test_a_crossing_after_the_window_closed_does_not_count_for_it() -> None:
    # The zones report a crossing before the frame's sample closes the windows that ended
    # earlier: after a quiet spell, those windows must not see a call from their future.
    q = steady_queue(intact=True)
    for i in range(3001, 9191):
        q.sample(i / 10, 0)
    q.departure(921.0, 2.0, True)  # walked through the empty lane
    windows = q.sample(925.0, 0)
    assert [w.end for w in windows] == [920.0]
    assert windows[0].wait_s == pytest.approx(0.0)  # an idle till, an empty lane
    assert q.predict(921.0, 0.0)[1] == pytest.approx(15.0)  # called just now: a service left


def test_crossings_out_of_order_make_no_negative_gap() -> None:
    q = steady_queue(intact=True)
    q.departure(300.5, 60.0, True)
    q.departure(300.4, 60.0, True)  # two in one frame, handed over out of order
    assert all(g > 0 for _, g in q._gaps)


def test_a_restart_predicts_from_its_first_call_with_the_pace_kept() -> None:
    before = steady_queue(intact=True)  # 15 s a service, 60 s measured waits
    kept = before.pace()
    assert kept is not None and kept.gaps == (15.0,) * 12 and kept.walk_s == 60.0
    fresh = QueueEstimator("checkout", window_s=10, horizon_s=300)
    resumed = QueueEstimator("checkout", window_s=10, horizon_s=300)
    resumed.resume(kept)
    for q in (fresh, resumed):
        for i in range(0, 101):
            t = i / 10
            if i == 50:
                q.departure(t, 20.0, True)  # the first call after the start
            q.sample(t, 3)
    # Until the second service a fresh start has no pace; the kept one predicts at once.
    assert fresh.predict(10.0, 3.0)[1] is None
    assert resumed.predict(10.0, 3.0)[1] == pytest.approx((15.0 - 5.0) + 3 * 15.0)
    # Before anyone went through: an empty lane is the walk kept (here this run's quickest
    # wait, 20 s, has replaced it), a busy till has no residual yet.
    empty = QueueEstimator("checkout", window_s=10, horizon_s=300)
    empty.resume(kept)
    assert empty.predict(1.0, 0.0)[1] == 60.0 and empty.predict(1.0, 2.0)[1] is None
    assert resumed.pace() is not None and resumed.pace().walk_s == 20.0
    # The first fresh gap replaces the kept ones: the till got slower after the restart.
    resumed.departure(40.0, 20.0, True)  # 35 s after the last call, someone waiting all along
    assert resumed.predict(40.0, 3.0)[1] == pytest.approx(35.0 + 3 * 35.0)
    assert resumed.pace().gaps[-1] == 35.0


def test_the_kept_pace_gives_way_to_fresh_gaps_even_after_a_quiet_spell() -> None:
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    q.resume(TillPace((15.0,) * 11, 60.0))
    q.sample(0.0, 2)
    q.departure(5.0, 20.0, True)
    q.departure(40.0, 20.0, True)  # one fresh service of 35 s, nobody left the lane between
    for i in range(401, 10001):  # then nobody for over fifteen minutes, past the horizon
        q.sample(i / 10, 0)
    # the fresh gap alone, not a median of eleven kept ones and it (15 s)
    assert q.predict(1000.0, 2.0)[1] == pytest.approx(2 * 35.0)
    kept = q.pace()
    assert kept is not None and kept.gaps == (35.0,)
    # the walk measured before the quiet spell (20 s, which replaced the kept 60 s) is kept
    # for the next start, though no crossing is left within the horizon
    assert kept.walk_s == 20.0


def test_a_first_start_predicts_nothing_more_than_it_did_without_a_kept_pace() -> None:
    # Two crossings of one frame handed over out of order, a window closing between them:
    # before anyone went through (by that window's time) an empty lane has no walk yet.
    q = QueueEstimator("checkout", window_s=10, horizon_s=300)
    q.departure(300.5, 2.0, True)
    q.departure(300.4, 2.5, True)
    assert q.predict(300.45, 0.0) == (2.5, None)
    assert q.pace() == TillPace((), 2.0)
