"""A shopper's correction end to end through the hub's Store, on SQLite and PostgreSQL: the
report counts the face the shopper meant, never both presses, whichever order they arrive in
and whether or not the replaced press was already folded into the hourly rollups."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from peakend.broker.hub.reports.queries import Period, open_db, store_report
from peakend.broker.hub.reports.rollup import refresh_rollups
from peakend.broker.wire.contract import new_envelope

from .test_report import T0, Feed, raw_summary

KIOSK = "kiosk-s001-checkout"
PERIOD = Period(T0, T0 + timedelta(hours=2))


def rating(seq: int, score: int, *, flags=(), replaces: uuid.UUID | None = None,
           device: str = KIOSK, seconds: float = 0.0):  # type: ignore[no-untyped-def]
    data: dict = {"score": score, "flags": list(flags)}
    if replaces is not None:
        data["replaces"] = str(replaces)
    return new_envelope(device_id=device, store_id="s001", zone_id="checkout", seq=seq,
                        event_type="rating", ts=T0 + timedelta(minutes=10, seconds=seconds),
                        data=data)


def store(feed: Feed, *envelopes) -> list[str]:  # type: ignore[no-untyped-def]
    with feed.store.transaction():
        return [feed.store.store_event(e, e.ts).kind for e in envelopes]


def counted(path: str) -> tuple[int, float | None, int]:
    """(ratings, Happy Index) from the rollup report, checked against the raw rows."""
    conn = open_db(path)
    try:
        [line] = store_report(conn, PERIOD)
        raw = raw_summary(conn, "s001", "checkout", PERIOD.since, PERIOD.until)
        assert (raw.ratings, raw.happy_index) == (line.summary.ratings, line.summary.happy_index)
        kept = conn.execute("SELECT count(*) FROM ratings").fetchone()[0]
        index = line.summary.happy_index
        return line.summary.ratings, None if index is None else round(index, 1), kept
    finally:
        conn.close()


def test_a_correction_replaces_a_press_already_in_the_rollups(db_url: str) -> None:
    path = db_url
    feed = Feed(path)
    wrong = rating(1, 1)
    assert store(feed, wrong) == ["stored"]
    refresh_rollups(feed.store.db)  # the writer folds between batches
    assert counted(path) == (1, 0.0, 1)
    fixed = rating(2, 4, flags=["correction"], replaces=wrong.msg_id, seconds=3)
    assert store(feed, fixed) == ["stored"]
    assert counted(path) == (1, 100.0, 2), "the corrected face counts, not both"
    refresh_rollups(feed.store.db)
    assert counted(path) == (1, 100.0, 2)
    flags = feed.store.db.execute(
        "SELECT flags, flagged FROM ratings WHERE msg_id = $1", (str(wrong.msg_id),)
    ).fetchone()
    assert json.loads(flags[0]) == ["replaced"] and flags[1] == 1, "kept, and says why"
    # A redelivered correction changes nothing.
    assert store(feed, fixed) == ["duplicate"]
    refresh_rollups(feed.store.db)
    assert counted(path) == (1, 100.0, 2)


def test_a_correction_that_arrives_before_the_press_it_replaces(db_url: str) -> None:
    path = db_url
    feed = Feed(path)
    wrong = rating(1, 2)
    fixed = rating(2, 3, flags=["correction"], replaces=wrong.msg_id, seconds=2)
    assert store(feed, fixed) == ["stored"]
    refresh_rollups(feed.store.db)
    assert store(feed, wrong) == ["stored"]
    assert counted(path) == (1, 66.7, 2)


def test_corrections_chain_and_the_same_batch_holds_both(db_url: str) -> None:
    path = db_url
    feed = Feed(path)
    first = rating(1, 1)
    second = rating(2, 4, flags=["correction"], replaces=first.msg_id, seconds=2)
    third = rating(3, 3, flags=["correction"], replaces=second.msg_id, seconds=4)
    repeat = rating(4, 3, flags=["repeat"], seconds=5)
    with feed.store.transaction():
        outcomes = feed.store.store_events([(e, e.ts) for e in (first, second, third, repeat)])
    assert [o.kind for o in outcomes] == ["stored"] * 4
    assert counted(path) == (1, 66.7, 4)


def test_a_device_cannot_take_out_another_devices_press(db_url: str) -> None:
    path = db_url
    feed = Feed(path)
    theirs = rating(1, 1, device="kiosk-other")
    assert store(feed, theirs) == ["stored"]
    assert store(feed, rating(1, 4, flags=["correction"], replaces=theirs.msg_id)) == ["stored"]
    assert counted(path)[0] == 2
