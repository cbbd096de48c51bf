"""Touches on the real app reach the aggregator's SQLite through a real mosquitto, and a broker
outage in the middle loses nothing."""

from __future__ import annotations

import json

import pytest
from kiosk_drive import assert_drawn, screenshot, tap, until

pytestmark = pytest.mark.slow


def test_touches_reach_the_hub_and_survive_a_broker_outage(
    hub, window, write_config, artifacts
) -> None:
    from peakend.kiosk.app import KioskApp
    from peakend.kiosk.station import Station

    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    station = Station.open(write_config(url=url, thanks_s="0.5", repeat_interval_s="0.0"))
    app = KioskApp(station)
    app._run_prepare()
    link = station.link
    try:
        assert until(lambda: link.stats().connected, 15)

        def visit(score: int, reason: str | None) -> None:
            tap(app.question.smileys[score])
            if app.current == "reason":
                until(lambda: False, 0.45)  # past the same-finger guard
                tap(app.reason.buttons[reason] if reason else app.reason.skip)
            assert app.current == "thanks"
            assert until(lambda: app.current == "question", 3)

        visit(1, "wait")
        visit(4, "fast")
        assert until(lambda: len(hub.rows("SELECT 1 FROM ratings")) == 2, 15)

        hub.stop_broker()
        assert until(lambda: not link.stats().connected, 15)
        visit(2, "staff")
        visit(3, None)
        visit(4, "staff")
        assert_drawn(screenshot(artifacts / "question-broker-away.png"))
        assert len(hub.rows("SELECT 1 FROM ratings")) == 2
        assert link.stats().outbox_depth >= 3
        hub.start_broker()

        assert until(lambda: len(hub.rows("SELECT 1 FROM ratings")) == 5, 30), link.stats()
        assert until(lambda: link.stats().outbox_depth == 0, 15)
    finally:
        app.dispatch("on_stop")
        for child in window.children[:]:
            window.remove_widget(child)
    rows = hub.rows("SELECT score, reason, flags, zone_id, device_id FROM ratings ORDER BY seq")
    assert [(r["score"], r["reason"]) for r in rows] == [
        (1, "wait"), (4, "fast"), (2, "staff"), (3, None), (4, "staff"),
    ]
    assert all(json.loads(r["flags"]) == [] for r in rows)
    assert {(r["zone_id"], r["device_id"]) for r in rows} == {("checkout", "kiosk-01")}


def test_a_correction_counts_once_at_the_hub_and_an_outage_tells_the_tech_what_to_check(
    hub, window, write_config, artifacts
) -> None:
    from datetime import datetime

    from peakend.kiosk.app import KioskApp
    from peakend.kiosk.station import Station

    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    station = Station.open(write_config(url=url, thanks_s="0.5"))
    app = KioskApp(station)
    app._run_prepare()
    link = station.link
    try:
        assert until(lambda: link.stats().connected, 15)
        tap(app.question.smileys[4])  # the wrong face
        until(lambda: False, 0.45)
        tap(app.reason.skip)
        assert until(lambda: app.current == "question", 3)
        tap(app.question.smileys[2])  # the face the shopper meant, within the interval
        until(lambda: False, 0.45)
        tap(app.reason.buttons["wait"])
        assert until(lambda: len(hub.rows("SELECT 1 FROM ratings")) == 2, 15)
        rows = hub.rows("SELECT msg_id, score, reason, flags, flagged, replaces FROM ratings "
                        "ORDER BY seq")
        assert [(r["score"], json.loads(r["flags"]), r["flagged"]) for r in rows] == [
            (4, ["replaced"], 1), (2, ["correction"], 0)]
        assert rows[1]["replaces"] == rows[0]["msg_id"] and rows[1]["reason"] == "wait"
        counted = hub.rows("SELECT score FROM ratings WHERE flagged = 0")
        assert [r["score"] for r in counted] == [2], "the report counts the corrected face"

        before = datetime.now().strftime("%H:%M")
        hub.stop_broker()
        assert until(lambda: not link.stats().connected, 15)
        assert until(lambda: app.current == "question", 3)
        app.open_pin()
        for key in "4071":
            tap(app.pin.keys[key])
        tap(app.pin.keys["ok"])
        assert app.current == "tech"
        error = app.tech.values["tech_last_error"]
        assert until(lambda: error.text.startswith("cannot reach the hub at"), 5), error.text
        host_port = url.rpartition("@")[2]
        # The outage began between these two readings of the clock (a minute may turn over).
        expected = {f"cannot reach the hub at {host_port} since {at}; check the network cable "
                    "or Wi-Fi, and that the hub is on"
                    for at in (before, datetime.now().strftime("%H:%M"))}
        assert error.text in expected, error.text
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        shown = " ".join(v.text for v in app.tech.values.values())
        assert password not in shown and "Unspecified" not in shown
        assert_drawn(screenshot(artifacts / "technician-broker-away.png"))
    finally:
        app.dispatch("on_stop")
        for child in window.children[:]:
            window.remove_widget(child)
