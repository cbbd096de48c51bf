"""Reports from a real hub database: the rollup path gives the raw numbers, the CLI works."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from peakend.broker.cli.report import main as report_main
from peakend.broker.hub.db.store import Store
from peakend.broker.hub.reports import analytics as an
from peakend.broker.hub.reports.queries import Period, open_db, store_report, zone_report
from peakend.broker.wire.contract import new_envelope

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Feed:
    """Writes envelopes through the real Store, as the aggregator does."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.seq: dict[str, int] = {}

    def send(self, device: str, store: str, zone: str, kind: str, at: datetime, data: dict,
             synced: bool = True) -> None:
        self.seq[device] = self.seq.get(device, 0) + 1
        env = new_envelope(device_id=device, store_id=store, zone_id=zone, seq=self.seq[device],
                           event_type=kind, ts=at, data=data, clock_synced=synced)
        with self.store.transaction():
            self.store.store_event(env, at)

    def visit(self, store: str, zone: str, exit_: datetime, dwell: float, wait: float | None):
        self.send(f"cam-{store}", store, zone, "dwell", exit_, {
            "track": random.randrange(10**6), "enter": exit_ - timedelta(seconds=dwell),
            "exit": exit_, "dwell_s": dwell, "wait_s": wait})

    def rate(self, store: str, zone: str, at: datetime, score: int, flags=()):
        self.send(f"kiosk-{store}-{zone}", store, zone, "rating", at,
                  {"score": score, "flags": list(flags)})


def fill(feed: Feed, rng: random.Random, start: datetime, hours: float) -> None:
    for store, zone in [("s001", "checkout"), ("s001", "deli"), ("s002", "checkout")]:
        t = start
        while t < start + timedelta(hours=hours):
            t += timedelta(seconds=rng.uniform(20, 200))
            w = rng.uniform(5, 500)
            feed.visit(store, zone, t, w + rng.uniform(1, 60), None if rng.random() < 0.1 else w)
            if rng.random() < 0.3:
                feed.rate(store, zone, t + timedelta(seconds=5), rng.randint(1, 4),
                          ["repeat"] if rng.random() < 0.05 else [])


def raw_summary(conn, store: str, zone: str, since: datetime, until: datetime) -> an.Summary:
    from peakend.broker.hub.reports.queries import load_zone

    return an.summarize(load_zone(conn, store, zone, since, until))


def test_rollup_report_equals_the_raw_computation_at_odd_edges(tmp_path: Path) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    rng = random.Random(3)
    fill(feed, rng, T0, 6)
    conn = open_db(tmp_path / "hub.sqlite")
    since, until = T0 + timedelta(minutes=37, seconds=11), T0 + timedelta(hours=5, minutes=3)
    lines = store_report(conn, Period(since, until))
    assert [(x.store_id, x.zone_id) for x in lines] == [
        ("s001", "checkout"), ("s001", "deli"), ("s002", "checkout")]
    for line in lines:
        raw = raw_summary(conn, line.store_id, line.zone_id, since, until)
        assert line.summary.ratings == raw.ratings > 0
        assert line.summary.visits == raw.visits
        for key in ("happy_index", "unhappy_share", "wait_p50_s", "wait_p90_s", "dwell_p90_s",
                    "throughput_per_h", "response_rate"):
            assert getattr(line.summary, key) == pytest.approx(getattr(raw, key)), key


def test_late_messages_reach_the_report_and_flagged_presses_stay_out(tmp_path: Path) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    conn = open_db(tmp_path / "hub.sqlite")
    feed.rate("s001", "checkout", T0 + timedelta(minutes=5), 4)
    feed.rate("s001", "checkout", T0 + timedelta(minutes=6), 1, flags=["repeat"])
    period = Period(T0, T0 + timedelta(hours=3))
    (line,) = store_report(conn, period)
    assert line.summary.ratings == 1 and line.summary.happy_index == 100
    # a device replays from its outbox an hour later: an earlier press lands in an old hour
    feed.rate("s001", "checkout", T0 + timedelta(minutes=2), 2)
    feed.visit("s001", "checkout", T0 + timedelta(minutes=1), 100, 90)
    (line,) = store_report(conn, period)
    assert line.summary.ratings == 2 and line.summary.happy_index == pytest.approx(66.667, 1e-3)
    assert line.summary.unhappy_share == 0.5
    assert line.summary.visits == 1 and line.summary.wait_p50_s == 90
    assert line.last_message == "2026-03-02T08:06:00.000Z"


def test_zone_report_links_ratings_and_finds_the_tolerance(tmp_path: Path) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    # one visit and one press every 5 minutes; the press is happy while the wait is short
    for i in range(60):
        t = T0 + timedelta(minutes=5 * i)
        wait = 20.0 + 10 * i
        feed.visit("s001", "checkout", t, wait + 10, wait)
        feed.rate("s001", "checkout", t + timedelta(seconds=30), 4 if wait <= 300 else 1)
    conn = open_db(tmp_path / "hub.sqlite")
    rep = zone_report(conn, "s001", "checkout", Period(T0, T0 + timedelta(hours=6)))
    assert rep.summary.ratings == 60
    # a press 30 s after visit i sees visits i-1 and i (visit i-2 ended 9.5 + 0.5 min before)
    assert rep.linked.wait_s[:3].tolist() == [20.0, 25.0, 35.0]
    # last happy press links to 295 s, first unhappy to 305 s
    assert rep.tolerance.wait_s == pytest.approx(300.0)
    doc = rep.as_dict()
    assert doc["tolerance"]["wait_s"] == pytest.approx(300.0)
    assert len(doc["heatmap_happy_index"]) == 7


def test_report_cli_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = Feed(tmp_path / "hub.sqlite")
    fill(feed, random.Random(5), T0, 2)
    db = str(tmp_path / "hub.sqlite")
    args = ["--db", db, "--since", "2026-03-02", "--until", "2026-03-03"]
    assert report_main([*args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [z["zone_id"] for z in doc["zones"]] == ["checkout", "deli", "checkout"]
    assert all(z["ratings"] > 0 and 0 <= z["happy_index"] <= 100 for z in doc["zones"])
    assert report_main([*args, "--format", "csv", "--store", "s002"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("store_id,zone_id,ratings,happy_index") and len(out) == 2
    assert report_main(args) == 0
    table = capsys.readouterr().out
    assert "s001   checkout" in table and "last message" in table
    assert report_main([*args, "--store", "s001", "--zone", "deli"]) == 0
    text = capsys.readouterr().out
    assert "tolerance point: not enough data" in text or "no clear tolerance point" in text
    assert report_main([*args, "--store", "s001", "--zone", "deli", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith(
        "at_utc,at_local,weekday,score,reason,linked_visits")


def test_report_cli_explains_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_main(["--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no such database" in capsys.readouterr().err
    Store(tmp_path / "hub.sqlite").close()
    assert report_main(["--db", str(tmp_path / "hub.sqlite"), "--since", "yesterday"]) == 2
    assert "is not a date or time" in capsys.readouterr().err


def test_report_in_store_local_days(tmp_path: Path) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text('[[stores]]\nid = "s001"\ntimezone = "America/New_York"\n')
    feed = Feed(tmp_path / "hub.sqlite")
    # 2026-03-02 04:30 UTC is 23:30 on March 1 in New York: outside March 2 local
    feed.rate("s001", "checkout", datetime(2026, 3, 2, 4, 30, tzinfo=UTC), 4)
    feed.rate("s001", "checkout", datetime(2026, 3, 2, 5, 30, tzinfo=UTC), 1)
    out = subprocess.run(
        [sys.executable, "-m", "peakend.broker.cli.report", "--db", str(tmp_path / "hub.sqlite"),
         "--config", str(conf), "--store", "s001", "--since", "2026-03-02", "--until",
         "2026-03-03", "--format", "json"], capture_output=True, text=True, check=True).stdout
    (zone,) = json.loads(out)["zones"]
    assert zone["ratings"] == 1 and zone["happy_index"] == 0
    assert json.loads(out)["since"] == "2026-03-02T05:00:00.000Z"
    assert np.isfinite(zone["happy_index"])


def test_the_all_zones_report_does_not_load_numpy(tmp_path) -> None:
    """``peakend report`` over all zones answers from the rollup with plain Python; numpy (a
    third of a short report's start-up) is loaded only for a zone report or a big zone."""
    feed = Feed(tmp_path / "hub.sqlite")
    fill(feed, random.Random(3), T0, 6)
    feed.store.close()
    code = (
        "import sys\n"
        "from peakend.broker.cli.report import main\n"
        f"rc = main(['--db', {str(tmp_path / 'hub.sqlite')!r}, '--format', 'json', "
        "'--since', '2026-03-01', '--until', '2026-03-03'])\n"
        "print('numpy' in sys.modules, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    head, _, last = out.rstrip().rpartition("\n")
    assert last == "False 0"
    zones = json.loads(head)["zones"]
    assert [(z["store_id"], z["zone_id"]) for z in zones] == [
        ("s001", "checkout"), ("s001", "deli"), ("s002", "checkout")]
    assert all(z["wait_p90_s"] and z["dwell_p50_s"] and z["ratings"] for z in zones)
