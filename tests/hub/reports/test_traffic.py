"""Footfall and dwell of camera-only zones, against hand-counted visits."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from peakend.broker.hub.reports.analytics import ZoneData
from peakend.broker.hub.reports.traffic import dwell_trend, heatmap_visits

BERLIN = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN).timestamp()


def test_visits_per_hour_is_a_mean_over_the_weekday_s_days() -> None:
    # Monday 2 and Monday 9 March; Tuesday 3 March
    visits = [(at(2, 9, 5), 60.0, None), (at(2, 9, 40), 30.0, None), (at(9, 9, 10), 90.0, None),
              (at(9, 14), 10.0, None), (at(3, 9), 20.0, None)]
    hm = heatmap_visits(ZoneData.build(visits=visits), BERLIN)
    # Monday 09:00: 3 visits over 2 Mondays; 14:00: 1 over 2; Tuesday 09:00: 1 over 1
    assert hm.cells[0][9] == 1.5 and hm.counts[0][9] == 3
    assert hm.cells[0][14] == 0.5
    assert hm.cells[1][9] == 1.0
    assert hm.cells[0][10] is None and hm.cells[6][9] is None


def test_dwell_trend_per_local_day_and_week() -> None:
    visits = [(at(2, 9), 60.0, None), (at(2, 10), 120.0, None), (at(2, 23, 30), 300.0, 10.0),
              (at(4, 9), 30.0, None)]
    days = dwell_trend(ZoneData.build(visits=visits), BERLIN)
    # 23:30 in Berlin is still 2 March locally (22:30 UTC)
    assert [(p.start, p.visits) for p in days] == [(date(2026, 3, 2), 3), (date(2026, 3, 4), 1)]
    assert days[0].dwell_p50_s == 120.0
    assert days[0].dwell_p90_s == pytest.approx(120 + 0.8 * 180)
    (week,) = dwell_trend(ZoneData.build(visits=visits), BERLIN, by="week")
    assert week.start == date(2026, 3, 2) and week.visits == 4
    assert dwell_trend(ZoneData(), BERLIN) == []
