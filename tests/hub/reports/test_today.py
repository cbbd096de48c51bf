"""Today against a usual day: pooled hour by hour, compared up to the current hour, in words."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from peakend.broker.hub.reports import today as td

BERLIN = ZoneInfo("Europe/Berlin")
SATURDAY = date(2026, 3, 21)


def at(day: date, hour: int, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).timestamp()


def build(events: list[tuple[date, int, int, float]]) -> tuple[np.ndarray, ...]:
    """(day, hour, score, wait) -> a rating and a measured wait at hh:10 and hh:20."""
    rt = np.array([at(d, h, 10) for d, h, _, _ in events])
    sc = np.array([s for _, _, s, _ in events], dtype=np.int64)
    vt = np.array([at(d, h, 20) for d, h, _, _ in events])
    ws = np.array([w for _, _, _, w in events])
    return rt, sc, vt, ws


def test_usual_days_are_the_same_weekday_of_the_last_four_weeks() -> None:
    assert td.usual_days(SATURDAY) == [date(2026, 3, 14), date(2026, 3, 7), date(2026, 2, 28),
                                       date(2026, 2, 21)]


def test_day_line_pools_the_days_by_local_hour() -> None:
    usual = td.usual_days(SATURDAY)
    events = [(usual[0], 10, 4, 60.0), (usual[1], 10, 3, 120.0), (usual[1], 11, 1, 300.0),
              (SATURDAY, 10, 1, 400.0), (date(2026, 3, 20), 10, 1, 999.0)]  # a Friday: out
    line = td.day_line(*build(events), BERLIN, usual)
    assert line.days == 2
    ten = line.hours[10]
    assert (ten.ratings, ten.waits) == (2, 2)
    assert ten.happy_index == pytest.approx((100 + 200 / 3) / 2)
    assert ten.wait_p90_s == 60 + 0.9 * 60
    assert line.hours[11].ratings == 1 and line.hours[9].ratings == 0
    assert line.hours[9].happy_index is None
    n, happy, waits, _ = line.upto(11)
    assert (n, waits) == (2, 2) and happy == pytest.approx(ten.happy_index)


def test_compare_names_what_was_worse_and_when() -> None:
    usual = td.usual_days(SATURDAY)
    events = []
    # usual Saturdays: 09-12 all 4s with 60 s waits, 10 presses an hour on each of 2 days
    for d in usual[:2]:
        for h in (9, 10, 11, 12):
            events += [(d, h, 4, 60.0)] * 10
    # today: 09 as usual; 10 half unhappy with 5-minute waits; 11 as usual; now is 11:xx
    events += [(SATURDAY, 9, 4, 60.0)] * 10
    events += [(SATURDAY, 10, 1, 300.0)] * 5 + [(SATURDAY, 10, 4, 300.0)] * 5
    events += [(SATURDAY, 11, 4, 60.0)] * 10
    args = build(events)
    today = td.day_line(*args, BERLIN, [SATURDAY])
    usual_line = td.day_line(*args, BERLIN, usual)
    words = td.compare(today, usual_line, SATURDAY.weekday(), now_hour=11)
    # to 12:00: today 25 of 30 presses are 4s -> (25*100)/30; usual 60 4s -> 100
    assert words == [
        "Happy Index today to 12:00: 83.3 against 100.0 on a usual Saturday (2 of the last 4), "
        "worse by 16.7 (30 and 60 ratings).",
        "Wait p90 today to 12:00: 5:00 against 1:00 on a usual Saturday (2 of the last 4), "
        "longer by 4:00.",
        "Worst against usual: 10:00-11:00, Happy Index 50.0 against 100.0.",
        "Waits furthest above usual: 10:00-11:00, p90 5:00 against 1:00.",
    ]


def test_compare_says_when_there_is_nothing_to_compare() -> None:
    events = [(SATURDAY, 9, 4, 60.0)] * 3
    args = build(events)
    today = td.day_line(*args, BERLIN, [SATURDAY])
    usual = td.day_line(*args, BERLIN, td.usual_days(SATURDAY))
    assert td.compare(today, usual, 5, 9) == [
        "No usual Saturday to compare with yet: nothing was recorded on the last 4 Saturdays."]
    args = build(events + [(date(2026, 3, 14), 9, 4, 60.0)] * 10)
    usual = td.day_line(*args, BERLIN, td.usual_days(SATURDAY))
    assert td.compare(today, usual, 5, 9) == [
        "Too few ratings today to 10:00 to compare (3; 8 needed)."]
