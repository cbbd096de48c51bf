"""Stores and zones compared: changes, their direction, orders, and the previous period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from peakend.broker.hub.reports.compare import (
    NO_DATA,
    Compared,
    SortError,
    fmt_change_duration,
    fmt_change_share,
    parse_sort,
    ranked,
)
from peakend.broker.hub.reports.queries import Period, local_period, previous_period
from peakend.broker.hub.reports.summary import fmt_duration

BERLIN = ZoneInfo("Europe/Berlin")


def row(name: str, happy: float | None, wait: float | None, before_happy: float | None = None,
        alerts: int = 0) -> Compared:
    now = NO_DATA.__class__(**{**NO_DATA.as_dict(), "happy_index": happy, "wait_p90_s": wait,
                               "ratings": 0 if happy is None else 10})
    before = NO_DATA.__class__(**{**NO_DATA.as_dict(), "happy_index": before_happy})
    return Compared("s001", name, name, now, before, alerts)


def test_changes_and_whether_they_are_for_the_better() -> None:
    r = row("a", 70.0, 300.0, before_happy=75.0)
    assert r.change("happy_index") == -5.0 and r.better("happy_index") is False
    assert r.change("wait_p90_s") is None and r.better("wait_p90_s") is None
    assert row("b", 80.0, None, 75.0).better("happy_index") is True
    assert fmt_change_share(0.031) == "+3.1 pts"
    assert fmt_change_duration(-65) == "-1:05"


def test_a_change_is_the_difference_of_the_figures_shown() -> None:
    # Two databases' percentiles may differ in the last bit: 2.4999 s apart or 2.5001 s
    # apart, the raw difference rounds either way; the figures shown do not.
    for now_s, before_s in ((270.2, 267.5), (270.0000001, 267.4999999), (269.9999999, 267.5)):
        now = NO_DATA.__class__(**{**NO_DATA.as_dict(), "wait_p90_s": now_s})
        before = NO_DATA.__class__(**{**NO_DATA.as_dict(), "wait_p90_s": before_s})
        r = Compared("s001", None, "a", now, before, 0)
        shown = (fmt_duration(now_s), fmt_duration(before_s))
        assert shown in (("4:30", "4:28"), ("4:30", "4:27"))
        assert fmt_change_duration(r.change("wait_p90_s")) == ("+0:02" if shown[1] == "4:28"
                                                               else "+0:03")
    same = row("c", 70.04, None, before_happy=69.96)  # both shown as 70.0
    assert same.change("happy_index") == 0 and same.better("happy_index") is None


def test_rankings_put_rows_without_a_value_last_in_either_direction() -> None:
    rows = [row("a", 70.0, 300.0), row("b", None, None), row("c", 90.0, 60.0, alerts=2),
            row("d", 50.0, 120.0)]
    assert [r.name for r in ranked(rows, "happy")] == ["d", "a", "c", "b"]
    assert [r.name for r in ranked(rows, "happy", True)] == ["c", "a", "d", "b"]
    assert [r.name for r in ranked(rows, "wait", True)] == ["a", "d", "c", "b"]
    assert [r.name for r in ranked(rows, "alerts", True)][0] == "c"
    assert parse_sort("-wait") == ("wait", True) and parse_sort(None) == ("happy", False)
    with pytest.raises(SortError, match="cannot sort by 'colour'"):
        parse_sort("colour")


def test_previous_period_is_the_same_stretch_one_unit_earlier() -> None:
    now = datetime(2026, 3, 31, 14, 30, tzinfo=UTC)  # Tuesday, 16:30 in Berlin (summer time)
    today = local_period("day", BERLIN, now)
    prev = previous_period(today, "day", BERLIN)
    # yesterday 00:00 to 16:30 Berlin; the clocks went forward on 29 March, not in between
    assert prev == Period(datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
                          datetime(2026, 3, 30, 14, 30, tzinfo=UTC))
    week = previous_period(local_period("7d", BERLIN, now), "7d", BERLIN)
    # 7 days back crosses the change: 16:30 Berlin was 15:30 UTC in winter time
    assert week.until == datetime(2026, 3, 24, 15, 30, tzinfo=UTC)
    month = previous_period(local_period("month", BERLIN, now), "month", BERLIN)
    # 1-31 March so far against 1-28 February (its last day), 16:30 local
    assert month == Period(datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
                           datetime(2026, 2, 28, 15, 30, tzinfo=UTC))
    custom = Period(datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 13, tzinfo=UTC))
    assert previous_period(custom, "custom", BERLIN) == Period(
        datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))


def test_a_store_s_figures_pool_its_zones_on_either_engine(db_url: str) -> None:
    import random

    import numpy as np

    from peakend.broker.hub.db.store import open_store
    from peakend.broker.hub.reports import analytics as an
    from peakend.broker.hub.reports.queries import load_zone, open_db, store_overview
    from peakend.broker.wire.contract import new_envelope

    rng = random.Random(4)
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    items, seq = [], 0
    for zone, base in (("checkout", 200.0), ("deli", 50.0)):
        for i in range(200):
            seq += 1
            at = t0 + timedelta(seconds=i * 97 + seq)
            wait = rng.uniform(0, 2 * base)
            items.append(new_envelope(device_id=f"cam-{zone}", store_id="s001", zone_id=zone,
                                      seq=seq, event_type="dwell", ts=at, data={
                                          "track": seq, "enter": at, "exit": at,
                                          "dwell_s": wait + 5, "wait_s": wait}))
            items.append(new_envelope(device_id=f"kiosk-{zone}", store_id="s001", zone_id=zone,
                                      seq=seq, event_type="rating", ts=at,
                                      data={"score": rng.randint(1, 4)}))
    store = open_store(db_url)
    with store.transaction():
        store.store_events([(e, e.ts) for e in items])
    store.close()
    # an odd period: partial hours at both edges, whole hours from the rollup in between
    period = Period(datetime(2026, 3, 2, 8, 7, 13, tzinfo=UTC),
                    datetime(2026, 3, 2, 13, 41, tzinfo=UTC))
    conn = open_db(db_url)
    try:
        totals, lines = store_overview(conn, period, ["s001"])
        raw = [load_zone(conn, "s001", z, period.since, period.until) for z in ("checkout",
                                                                                  "deli")]
    finally:
        conn.close()
    assert [line.zone_id for line in lines] == ["checkout", "deli"]
    pooled = an.summarize(an.ZoneData(
        rating_t=np.concatenate([d.rating_t for d in raw]),
        score=np.concatenate([d.score for d in raw]),
        visit_t=np.concatenate([d.visit_t for d in raw]),
        dwell_s=np.concatenate([d.dwell_s for d in raw]),
        wait_s=np.concatenate([d.wait_s for d in raw])))
    s = totals["s001"]
    assert s.ratings == pooled.ratings == sum(line.summary.ratings for line in lines) > 100
    for key in ("happy_index", "unhappy_share", "wait_p90_s", "dwell_p50_s", "visits"):
        assert getattr(s, key) == pytest.approx(getattr(pooled, key)), key
