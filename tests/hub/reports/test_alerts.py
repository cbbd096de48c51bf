"""Alerts open once per cause, carry their cause, and close only with hysteresis."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.reports.alerts import AlertMonitor, acknowledge, store_alerts

from .test_report import T0, Feed


def config(**zone: object) -> HubConfig:
    return HubConfig.model_validate({
        "alerts": {"default": {"wait_p90_s": 300, "wait_window_min": 10, "unhappy_count": 3,
                               "unhappy_window_min": 10, "min_open_min": 5, "cooldown_min": 10},
                   "zones": [zone] if zone else []}})


def test_unhappy_presses_open_one_alert_with_its_cause_then_close(tmp_path: Path) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    mon = AlertMonitor(tmp_path / "hub.sqlite", config())
    for i in range(4):
        feed.visit("s001", "checkout", T0 + timedelta(minutes=i), 430, 420)
    for m in (1, 2, 3):
        feed.rate("s001", "checkout", T0 + timedelta(minutes=m), 1)
    events = mon.check(T0 + timedelta(minutes=3, seconds=30))
    kinds = sorted((s, e["kind"], e["state"]) for s, e in events)
    assert kinds == [("s001", "unhappy", "open"), ("s001", "wait", "open")]
    unhappy = next(e for _, e in events if e["kind"] == "unhappy")
    assert unhappy["cause"] == "3 unhappy in 10 min; checkout p90 wait 7:00"
    # a fourth unhappy press and later checks: still one open alert per cause, nothing new
    feed.rate("s001", "checkout", T0 + timedelta(minutes=4), 2)
    assert mon.check(T0 + timedelta(minutes=4, seconds=30)) == []
    assert mon.check(T0 + timedelta(minutes=5)) == []
    # 12 min: three presses have left the window (one is left, below 0.8 * 3) -> closes
    closed = mon.check(T0 + timedelta(minutes=13, seconds=30))
    assert sorted(e["kind"] for _, e in closed) == ["unhappy", "wait"]
    assert all(e["state"] == "closed" for _, e in closed)
    # cool-down: the same cause does not reopen within 10 minutes
    for m in (15, 16, 17):
        feed.rate("s001", "checkout", T0 + timedelta(minutes=m), 1)
    assert mon.check(T0 + timedelta(minutes=17, seconds=10)) == []
    reopened = mon.check(T0 + timedelta(minutes=24))
    assert [e["kind"] for _, e in reopened] == ["unhappy"]


def test_alert_stays_open_for_its_minimum_and_while_above_the_clear_ratio(tmp_path: Path) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    mon = AlertMonitor(tmp_path / "hub.sqlite", config(store="s001", zone="checkout",
                                                       disable_unhappy=True))
    for i in range(3):
        feed.visit("s001", "checkout", T0 + timedelta(minutes=i), 400, 400)
    (opened,) = mon.check(T0 + timedelta(minutes=3))
    assert opened[1]["kind"] == "wait" and opened[1]["value"] > 300
    # waits of 250 s: below the threshold but above 0.8 * 300 = 240 -> stays open
    for i in range(12):
        feed.visit("s001", "checkout", T0 + timedelta(minutes=11, seconds=10 * i), 260, 250)
    assert mon.check(T0 + timedelta(minutes=13)) == []
    # once the 250 s waits leave the window, waits of 100 s put the p90 below 240 -> closes
    for i in range(30):
        feed.visit("s001", "checkout", T0 + timedelta(minutes=14, seconds=10 * i), 110, 100)
    (closed,) = mon.check(T0 + timedelta(minutes=23))
    assert closed[1]["state"] == "closed"


def test_acknowledge_and_comment(tmp_path: Path) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    mon = AlertMonitor(tmp_path / "hub.sqlite", config())
    for m in (1, 2, 3):
        feed.rate("s002", "deli", T0 + timedelta(minutes=m), 1)
    ((store, event),) = mon.check(T0 + timedelta(minutes=4))
    acknowledge(mon.conn, event["alert_id"], "ana", "opened a second till")
    (alert,) = store_alerts(mon.conn, "s002")
    assert alert["acked_by"] == "ana" and alert["comments"][0]["text"] == "opened a second till"
    assert store_alerts(mon.conn, "s001") == []
