"""Reasons and faces from a real hub database of either engine, through the zone report and
``peakend report`` (table, JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta

from peakend.broker.cli import report as report_cli
from peakend.broker.hub.db.store import open_store
from peakend.broker.hub.reports.queries import Period, open_db, zone_report
from peakend.broker.wire.contract import new_envelope

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# (minute, score, reason, measured wait of the visit 30 s before); 15 minutes apart, so each
# press's 10-minute look-back holds only its own visit
PRESSES = [
    (15, 4, "fast", 40.0), (30, 1, "wait", 420.0), (45, 2, "wait", 380.0),
    (60, 2, "staff", 90.0), (75, 3, None, 50.0), (90, 1, None, 500.0), (105, 4, "staff", 30.0),
    (120, 2, "wait", 200.0), (135, 4, "fast", 20.0), (150, 1, "price", 100.0),
]


def seed(db: str) -> None:
    store = open_store(db)
    items = []
    for i, (minute, score, reason, wait) in enumerate(PRESSES, 1):
        at = T0 + timedelta(minutes=minute)
        items.append(new_envelope(device_id="cam-1", store_id="s001", zone_id="checkout", seq=i,
                                  event_type="dwell", ts=at - timedelta(seconds=30), data={
                                      "track": i, "enter": at - timedelta(seconds=wait + 40),
                                      "exit": at - timedelta(seconds=30), "dwell_s": wait + 10,
                                      "wait_s": wait}))
        items.append(new_envelope(device_id="kiosk-1", store_id="s001", zone_id="checkout",
                                  seq=i, event_type="rating", ts=at,
                                  data={"score": score, "reason": reason}))
    # a flagged repeat press with a reason stays out of every share
    items.append(new_envelope(device_id="kiosk-1", store_id="s001", zone_id="checkout", seq=99,
                              event_type="rating", ts=T0 + timedelta(minutes=151),
                              data={"score": 1, "reason": "wait", "flags": ["repeat"]}))
    try:
        with store.transaction():
            store.store_events([(e, e.ts) for e in items])
    finally:
        store.close()


def run(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert report_cli.main(list(args)) == 0
    return out.getvalue()


def test_zone_report_counts_reasons_faces_and_the_wait_reason_by_band(db_url: str) -> None:
    seed(db_url)
    conn = open_db(db_url)
    try:
        rep = zone_report(conn, "s001", "checkout", Period(T0, T0 + timedelta(hours=3)))
    finally:
        conn.close()
    # 1 or 2: six presses, five answered (wait 3, price 1, staff 1); 3 or 4: four, three answered
    assert (rep.went_wrong.presses, rep.went_wrong.answered) == (6, 5)
    assert [(r.label, r.count) for r in rep.went_wrong.reasons] == [
        ("Long wait", 3), ("Prices", 1), ("Staff", 1)]
    assert (rep.went_well.presses, rep.went_well.answered) == (4, 3)
    assert [(r.label, r.count) for r in rep.went_well.reasons] == [
        ("Quick checkout", 2), ("Friendly staff", 1)]
    assert [f.count for f in rep.faces] == [3, 3, 1, 3]
    # bands 0-1, 1-2, 2-3, 3-5, 5-10 min, >= 10: 420 and 380 s named the wait, 500 s gave no
    # reason; 200 s named it; 90 and 100 s complained of staff and prices
    assert [(b.ratings, b.named, b.complaints) for b in rep.wait_reason_bands] == [
        (4, 0, 0), (2, 0, 2), (0, 0, 0), (1, 1, 1), (3, 2, 2), (0, 0, 0)]
    doc = rep.as_dict()
    assert doc["reasons"]["went_wrong"]["reasons"][0] == {
        "key": "wait", "label": "Long wait", "count": 3, "share": 0.6}
    assert doc["faces"][0] == {"score": 1, "face": "very unhappy", "count": 3, "share": 0.3}
    assert doc["wait_reason_by_wait_band"]["label"] == "Long wait"


def test_report_cli_shows_reasons_in_table_json_and_csv(db_url: str) -> None:
    seed(db_url)
    args = ["--db", db_url, "--store", "s001", "--zone", "checkout",
            "--since", "2026-03-02", "--until", "2026-03-03"]
    table = run(*args)
    assert "What went wrong (after a 1 or 2): 5 of 6 presses gave a reason" in table
    assert "Long wait  3      60.0%" in table
    assert "What went well (after a 3 or 4): 3 of 4 presses gave a reason" in table
    assert "1 very unhappy  3        30.0%" in table
    assert "'Long wait' by linked wait" in table
    doc = json.loads(run(*args, "--format", "json"))
    assert doc["reasons"]["went_well"]["answered"] == 3
    rows = list(csv.DictReader(io.StringIO(run(*args, "--format", "csv"))))
    assert [(int(r["score"]), r["reason"] or None) for r in rows] == [
        (s, r) for _, s, r, _ in PRESSES]


def test_all_zones_report_counts_each_face(db_url: str) -> None:
    seed(db_url)
    doc = json.loads(run("--db", db_url, "--since", "2026-03-02", "--until", "2026-03-03",
                         "--format", "json"))
    (zone,) = doc["zones"]
    # the rollup path (whole hours) and the raw edges together: the flagged press stays out
    assert [zone[f"score_{i}"] for i in range(1, 5)] == [3, 3, 1, 3]
    assert zone["ratings"] == 10
