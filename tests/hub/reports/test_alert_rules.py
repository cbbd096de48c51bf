"""The alert rules alone, without a database: when an alert opens, stays, updates and closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peakend.broker.hub.config import AlertRule
from peakend.broker.hub.reports.alert_rules import (
    Action,
    Reading,
    decide,
    unhappy_reading,
    wait_reading,
)

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
RULE = AlertRule(wait_p90_s=300, wait_window_min=10, wait_min_people=3, unhappy_count=3,
                 unhappy_window_min=10, min_open_min=5, cooldown_min=10, clear_ratio=0.8)


def test_a_wait_needs_enough_people_before_it_has_a_value():
    assert wait_reading("checkout", [900.0, 900.0], RULE).value is None
    r = wait_reading("checkout", [100.0, 200.0, 300.0, 400.0, 500.0], RULE)
    assert r.value == 460.0  # numpy's linear p90
    assert r.cause == "checkout p90 wait 7:40 over the last 10 min (5 people; threshold 5:00)"
    assert r.over


def test_the_unhappy_cause_names_the_wait_staff_can_act_on():
    wait = Reading("wait", 420.0, 300.0, "")
    r = unhappy_reading("checkout", 3, RULE, wait)
    assert r.cause == "3 unhappy in 10 min; checkout p90 wait 7:00"
    assert r.over  # an unhappy alert opens at the count itself
    assert not unhappy_reading("checkout", 2, RULE, wait).over
    assert unhappy_reading("checkout", 3, RULE, Reading("wait", None, 300.0, "")).cause == (
        "3 unhappy in 10 min")


def test_a_wait_exactly_at_its_threshold_is_not_over():
    assert not Reading("wait", 300.0, 300.0, "").over
    assert Reading("wait", 300.5, 300.0, "").over


def test_opens_when_over_unless_the_same_cause_closed_within_the_cool_down():
    over = Reading("wait", 400.0, 300.0, "x")
    assert decide(over, RULE, NOW, opened_at=None, closed_recently=False) is Action.OPEN
    assert decide(over, RULE, NOW, opened_at=None, closed_recently=True) is Action.NOTHING
    under = Reading("wait", 200.0, 300.0, "x")
    assert decide(under, RULE, NOW, opened_at=None, closed_recently=False) is Action.NOTHING


def test_closes_only_below_the_clear_ratio_and_after_the_minimum_time_open():
    opened = NOW - timedelta(minutes=6)
    # 250 s is under the threshold but above 0.8 x 300 = 240 s: hysteresis keeps it open
    hovering = Reading("wait", 250.0, 300.0, "x")
    assert decide(hovering, RULE, NOW, opened_at=opened, closed_recently=False) is Action.NOTHING
    cleared = Reading("wait", 230.0, 300.0, "x")
    assert decide(cleared, RULE, NOW, opened_at=opened, closed_recently=False) is Action.CLOSE
    just_opened = NOW - timedelta(minutes=4)
    assert decide(cleared, RULE, NOW, opened_at=just_opened,
                  closed_recently=False) is Action.NOTHING
    gone = Reading("wait", None, 300.0, "")  # nobody left the queue: nothing holds it open
    assert decide(gone, RULE, NOW, opened_at=opened, closed_recently=False) is Action.CLOSE


def test_an_open_alert_still_over_keeps_its_cause_current():
    worse = Reading("unhappy", 5.0, 3.0, "5 unhappy in 10 min")
    assert decide(worse, RULE, NOW, opened_at=NOW - timedelta(minutes=1),
                  closed_recently=True) is Action.UPDATE
