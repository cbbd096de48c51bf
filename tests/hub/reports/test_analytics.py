"""The pure analytics against fixtures computed by hand (see the comment on each)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from peakend.broker.hub.reports import analytics as an

BERLIN = ZoneInfo("Europe/Berlin")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_happy_index_maps_scores_one_to_four_onto_zero_to_hundred() -> None:
    assert an.happy_index_of(np.array([1])) == 0
    assert an.happy_index_of(np.array([4])) == 100
    assert an.happy_index_of(np.array([1, 2, 3, 4])) == pytest.approx(50.0)
    # mean 11/3 -> (11/3 - 1) * 100 / 3 = 88.89
    assert an.happy_index_of(np.array([4, 4, 3])) == pytest.approx(88.888, abs=1e-3)
    assert an.happy_index_of(np.array([], dtype=int)) is None


def test_percentile_interpolates_between_order_statistics_and_skips_missing() -> None:
    values = np.array([50, 10, np.nan, 40, 20, 30], dtype=float)
    assert an.percentile(values, 50) == 30
    assert an.percentile(values, 90) == pytest.approx(46.0)  # rank 3.6: 40 + 0.6 * 10
    assert an.percentile(np.array([np.nan]), 50) is None


def test_summary_of_a_small_zone() -> None:
    data = an.ZoneData.build(
        ratings=[(ts("2026-03-02T09:10:00"), 1), (ts("2026-03-02T09:20:00"), 4),
                 (ts("2026-03-02T10:05:00"), 4)],
        visits=[(ts("2026-03-02T09:05:00"), 70, 60), (ts("2026-03-02T09:15:00"), 130, 120),
                (ts("2026-03-02T09:30:00"), 30, None), (ts("2026-03-02T10:01:00"), 250, 240)],
    )
    s = an.summarize(data)
    assert s.ratings == 3 and s.visits == 4 and s.waits == 3
    assert s.happy_index == pytest.approx(66.667, abs=1e-3)  # mean 3
    assert s.unhappy_share == pytest.approx(1 / 3)
    assert s.response_rate == pytest.approx(0.75)
    assert s.wait_p50_s == 120
    assert s.wait_p90_s == pytest.approx(216.0)  # rank 1.8 of [60,120,240]: 120 + 0.8*120
    assert s.dwell_p50_s == pytest.approx(100.0)  # (70 + 130) / 2
    assert s.throughput_per_h == pytest.approx(2.0)  # 4 visits in the 09 and 10 hours


def test_linkage_window_is_open_at_the_start_and_closed_at_the_press() -> None:
    lookback = 600.0
    press = 10_000.0
    data = an.ZoneData.build(
        ratings=[(press, 2)],
        visits=[
            (press - lookback, 5, 10),  # ended exactly one look-back earlier: out
            (press - lookback + 0.001, 6, 20),  # just inside
            (press, 7, 30),  # ended at the press: in
            (press + 0.001, 8, 40),  # after the press: out
        ],
        queue=[(press - lookback, 9, 900), (press - 100, 3, 120), (press + 1, 5, 300)],
    )
    linked = an.link_ratings(data, lookback)
    assert linked.visits.tolist() == [2]
    assert linked.waits.tolist() == [2]
    assert linked.wait_s[0] == pytest.approx(25.0)
    assert linked.wait_max_s[0] == pytest.approx(30.0)
    assert linked.dwell_s[0] == pytest.approx(6.5)
    assert linked.queue_length[0] == 3 and linked.queue_wait_s[0] == 120


def test_rating_without_visits_in_its_window_links_to_nothing() -> None:
    data = an.ZoneData.build(ratings=[(5000.0, 4)], visits=[(100.0, 5, 50)],
                             queue=[(100.0, 2, 30)])
    linked = an.link_ratings(data, 600)
    assert linked.visits[0] == 0
    assert np.isnan(linked.wait_s[0]) and np.isnan(linked.queue_length[0])


def test_happy_index_by_wait_band() -> None:
    scores = np.array([4, 3, 1, 1, 4])
    waits = np.array([30, 90, 90, 200, np.nan])  # the last has no measured wait: left out
    bands = an.happy_by_wait_band(scores, waits, [60, 120])
    assert [b.ratings for b in bands] == [1, 2, 1]
    assert bands[0].happy_index == 100
    assert bands[1].happy_index == pytest.approx(33.333, abs=1e-3)  # mean 2
    assert bands[1].unhappy_share == 0.5
    assert bands[2].happy_index == 0 and bands[2].high_s is None
    assert bands[1].label == "1:00-2:00" and bands[2].label == ">= 2:00"


def test_tolerance_point_between_the_last_happy_and_first_unhappy_wait() -> None:
    waits = np.arange(10, 410, 10, dtype=float)  # 40 ratings, 10 s .. 400 s
    scores = np.where(waits <= 200, 4, 1)
    tol = an.tolerance_point(waits, scores)
    assert tol.wait_s == pytest.approx(205.0)
    assert tol.low_s <= 205.0 <= tol.high_s
    assert tol.unhappy_below == 0 and tol.unhappy_above == 1
    assert "n=40" in tol.text()


def test_tolerance_point_says_not_enough_data_rather_than_invent_one() -> None:
    waits = np.arange(10, 300, 10, dtype=float)  # 29 ratings
    tol = an.tolerance_point(waits, np.where(waits <= 150, 4, 1), min_ratings=30)
    assert tol.wait_s is None and tol.note.startswith("not enough data (29 of 30")


def test_tolerance_point_refuses_when_unhappiness_does_not_climb_with_wait() -> None:
    waits = np.arange(10, 810, 10, dtype=float)
    scores = np.tile([1, 4], 40)  # unhappy every other rating, whatever the wait
    tol = an.tolerance_point(waits, scores)
    assert tol.wait_s is None and "no clear tolerance point" in tol.note


def test_local_times_follow_daylight_saving() -> None:
    t = np.array([ts("2026-03-29T00:30:00"), ts("2026-03-29T01:30:00"),  # spring forward
                  ts("2026-10-25T00:30:00"), ts("2026-10-25T01:30:00")])  # fall back
    lt = an.local_times(t, BERLIN)
    assert lt.hour.tolist() == [1, 3, 2, 2]
    assert lt.weekday.tolist() == [6, 6, 6, 6]  # both are Sundays
    assert [date.fromordinal(int(d)) for d in lt.day] == [date(2026, 3, 29)] * 2 + [
        date(2026, 10, 25)] * 2
    a, b = an.local_day_bounds(date(2026, 3, 29), BERLIN)
    assert b - a == 23 * 3600
    a, b = an.local_day_bounds(date(2026, 10, 25), BERLIN)
    assert b - a == 25 * 3600


def test_heat_maps_use_local_weekday_and_hour() -> None:
    # Monday 2026-01-05 08:15 UTC is 09:15 in Berlin (winter, +1)
    data = an.ZoneData.build(
        ratings=[(ts("2026-01-05T08:15:00"), 4), (ts("2026-01-05T08:40:00"), 2)],
        visits=[(ts("2026-01-05T08:20:00"), 100, 60), (ts("2026-01-05T08:30:00"), 200, 160)],
    )
    happy = an.heatmap_happy(data, BERLIN)
    assert happy.cells[0][9] == pytest.approx(66.667, abs=1e-3) and happy.counts[0][9] == 2
    assert sum(c is not None for row in happy.cells for c in row) == 1
    wait = an.heatmap_wait(data, BERLIN)
    assert wait.cells[0][9] == pytest.approx(150.0)  # p90 of [60, 160]: 60 + 0.9 * 100


def test_trend_splits_days_at_local_midnight() -> None:
    data = an.ZoneData.build(ratings=[(ts("2026-01-05T22:30:00"), 4),  # 23:30 Jan 5 in Berlin
                                      (ts("2026-01-05T23:30:00"), 1)])  # 00:30 Jan 6
    days = an.trend(data, BERLIN)
    assert [(p.start, p.ratings, p.happy_index) for p in days] == [
        (date(2026, 1, 5), 1, 100.0), (date(2026, 1, 6), 1, 0.0)]
    weeks = an.trend(data, BERLIN, by="week")
    assert [(p.start, p.ratings) for p in weeks] == [(date(2026, 1, 5), 2)]


def test_peak_end_of_a_day() -> None:
    data = an.ZoneData.build(
        ratings=[(ts("2026-03-02T09:10:00"), 1), (ts("2026-03-02T11:30:00"), 4),
                 (ts("2026-03-02T11:50:00"), 3)],
        visits=[(ts("2026-03-02T09:01:00"), 110, 100), (ts("2026-03-02T09:05:00"), 310, 300),
                (ts("2026-03-02T09:14:00"), 210, 200),  # quarter median 200
                (ts("2026-03-02T10:02:00"), 510, 500)],  # quarter median 500: the peak
    )
    (day,) = an.peak_end(data, ZoneInfo("UTC"), end_window_min=60)
    assert day.day == date(2026, 3, 2)
    assert day.peak_wait_s == 500 and day.peak_at == ts("2026-03-02T10:00:00")
    # the end: ratings after 10:50 (last event 11:50 minus 60 min) -> scores 4 and 3
    assert day.end_ratings == 2 and day.end_happy_index == pytest.approx(83.333, abs=1e-3)
    assert day.day_ratings == 3 and day.day_happy_index == pytest.approx(55.556, abs=1e-3)


def test_durations_read_as_minutes_and_seconds() -> None:
    assert an.fmt_duration(95) == "1:35"
    assert an.fmt_duration(3725) == "1:02:05"
    assert an.fmt_duration(None) == "-"
