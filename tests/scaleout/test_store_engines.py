"""The storage interface on both engines: same schema, same outcomes, same acks; and on
PostgreSQL, several writers at once store every message once and never ack past a gap or an
uncommitted row."""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peakend.broker.hub.db.store import DbTarget, Store, open_store, parse_db
from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import event_topic, new_envelope

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NS = uuid.UUID("0b7c1d52-6a4e-4d4f-9b1e-0c2f3a4b5c6d")


def rating(device: str, seq: int, score: int = 3, msg_id: uuid.UUID | None = None):
    return new_envelope(device_id=device, store_id="s001", zone_id="checkout", seq=seq,
                        event_type="rating", data={"score": score}, ts=NOW,
                        msg_id=msg_id or uuid.uuid5(NS, f"{device}/{seq}"))


def message(device: str, seq: int) -> tuple[str, bytes, float]:
    e = rating(device, seq, 1 + seq % 4)
    return event_topic("s001", device, "rating"), e.to_json(), NOW.timestamp()


def test_db_values_choose_the_engine() -> None:
    assert parse_db("hub.sqlite") == DbTarget("sqlite", "hub.sqlite")
    assert parse_db("sqlite:///data/hub.sqlite") == DbTarget("sqlite", "data/hub.sqlite")
    assert parse_db("sqlite:////var/lib/hub.sqlite") == DbTarget("sqlite", "/var/lib/hub.sqlite")
    url = "postgresql://agg:secret@db:5432/peakend"
    assert parse_db(url) == DbTarget("postgresql", url)
    assert parse_db(url).redacted() == "postgresql://agg:***@db:5432/peakend"
    with pytest.raises(ValueError, match="unknown database scheme 'mysql'"):
        parse_db("mysql://x/y")
    with pytest.raises(ValueError, match="sqlite:///"):
        parse_db("sqlite://hub.sqlite")


def test_both_engines_have_the_same_tables_and_columns(pg_url: str, tmp_path: Path) -> None:
    lite = open_store(tmp_path / "hub.sqlite")
    pg = open_store(pg_url)
    try:
        lite_cols = {
            t: [r[1] for r in lite.db.execute(f"PRAGMA table_info([{t}])")]
            for (t,) in lite.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' "
                "ESCAPE '\\'")
        }
        assert pg.db.engine == "postgresql"
        pg_cols: dict[str, list[str]] = {}
        for t, c in pg.db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name <> 'rowid' "
            "ORDER BY table_name, ordinal_position"
        ):
            if not t.startswith("_"):
                pg_cols.setdefault(t, []).append(c)
        assert "ledger" in lite_cols and "alerts" in lite_cols
        assert pg_cols == lite_cols
    finally:
        lite.close()
        pg.close()


def test_same_outcomes_on_both_engines(db_url: str) -> None:
    store = open_store(db_url)
    try:
        first = [rating("k1", s) for s in range(1, 6)]
        with store.transaction():
            kinds = [o.kind for o in store.store_events([(e, NOW) for e in first])]
            store.touch_devices([("k1", "s001", 5)], NOW)
            assert store.advance_acks(["k1"]) == {"k1": 5}
        assert kinds == ["stored"] * 5

        replay = rating("k1", 9, msg_id=first[0].msg_id)  # an old msg_id under a new seq
        reused = rating("k1", 2, msg_id=uuid.uuid4())  # an old seq under a new msg_id
        later = [rating("k1", 7), rating("k1", 6), rating("k1", 7)]  # out of order, doubled
        with store.transaction():
            out = store.store_events(
                [(first[1], NOW), (replay, NOW), (reused, NOW), *[(e, NOW) for e in later]]
            )
            store.quarantine(topic="t", raw=b"junk", reason="bad", received_at=NOW,
                             device_id="k1", seq=8)
            store.quarantine(topic="t", raw=b"junk", reason="bad", received_at=NOW,
                             device_id="k1", seq=8)
            store.touch_devices([("k1", "s001", 7)], NOW)
            acks = store.advance_acks(["k1"])
        assert [o.kind for o in out] == [
            "duplicate", "conflict", "conflict", "stored", "stored", "duplicate"]
        assert out[1].reason == "replayed msg_id: already stored as k1 seq 1"
        assert out[2].reason == f"seq 2 of k1 was already used by msg_id {first[1].msg_id}"
        assert acks == {"k1": 8}  # 6, 7 stored and 8 quarantined: the run reaches 8

        # A full outbox dropped 9..12 and says so in its next message, seq 13.
        skip = new_envelope(device_id="k1", store_id="s001", zone_id=None, seq=13,
                            event_type="health", data={"outbox": 0, "skipped": [[9, 12]]}, ts=NOW)
        with store.transaction():
            assert [o.kind for o in store.store_events([(skip, NOW)])] == ["stored"]
            assert store.advance_acks(["k1"]) == {"k1": 13}
        assert store.count("ratings") == 7
        assert store.count("quarantine") == 1
        assert store.acked_seqs(["k1", "nobody"]) == {"k1": 13, "nobody": 0}
    finally:
        store.close()


def test_a_copy_behind_a_refused_one_is_judged_in_the_same_pass(db_url: str) -> None:
    """A msg_id the ledger refused at a taken seq, then the same msg_id at a free seq, and a
    free seq behind a refused msg_id: each is stored or judged at once, never taken for a lost
    race (which made the writer run the batch again and again, then one message at a time)."""
    store = open_store(db_url)
    try:
        with store.transaction():
            store.store_events([(rating("kiosk-01", 5), NOW)])
        m1, m2 = uuid.uuid5(NS, "m1"), uuid.uuid5(NS, "m2")
        batch = [
            (rating("kiosk-01", 5, msg_id=m1), NOW),  # seq 5 is taken: refused
            (rating("kiosk-01", 6, msg_id=m1), NOW),  # m1 at a free seq: stored
            (rating("kiosk-01", 7, msg_id=uuid.uuid5(NS, "kiosk-01/5")), NOW),  # replayed msg
            (rating("kiosk-01", 7, msg_id=m2), NOW),  # seq 7 free behind it: stored
        ]
        with store.transaction():
            outcomes = store.store_events(batch)
        assert [o.kind for o in outcomes] == ["conflict", "stored", "conflict", "stored"]
        assert "already stored as kiosk-01 seq 6" in (outcomes[0].reason or "")
    finally:
        store.close()


def test_an_uncommitted_row_of_another_worker_is_never_acked(pg_url: str) -> None:
    a, b = Ingest(pg_url), Ingest(pg_url)
    try:
        a.handle([message("k1", s) for s in range(1, 50)])
        slow = Store(pg_url)
        acks: dict[str, tuple[str, int]] = {}
        with slow.transaction():
            # a worker has inserted seq 50 but not committed it yet ...
            assert [o.kind for o in slow.store_events([(rating("k1", 50, 2), NOW)])] == ["stored"]
            # ... while another stores 51..60 and computes the ack
            worker = threading.Thread(
                target=lambda: acks.update(b.handle([message("k1", s) for s in range(51, 61)]).acks)
            )
            worker.start()
            worker.join(20)
            assert not worker.is_alive()
            assert acks == {"k1": ("s001", 49)}
        slow.close()
        assert b.handle([message("k1", 60)]).acks == {"k1": ("s001", 60)}
    finally:
        a.close()
        b.close()


def _worker(url: str, batches: list[list[tuple[str, bytes, float]]], out: mp.Queue) -> None:
    ingest = Ingest(url)
    stored = duplicates = 0
    highest: dict[str, int] = {}
    try:
        for batch in batches:
            result = ingest.handle(batch)
            stored += result.counters.stored
            duplicates += result.counters.duplicates
            for device, (_, seq) in result.acks.items():
                highest[device] = max(highest.get(device, 0), seq)
        out.put(("ok", stored, duplicates, highest))
    except Exception as exc:  # reported to the test
        out.put(("error", repr(exc), 0, {}))
    finally:
        ingest.close()


@pytest.mark.timeout(120)
def test_four_concurrent_writers_store_each_redelivered_message_exactly_once(pg_url: str) -> None:
    devices = [f"k{i}" for i in range(12)]
    # seq 77 of k3 never arrives: no worker may ever ack k3 past 76
    messages = [message(d, s) for d in devices for s in range(1, 151) if (d, s) != ("k3", 77)]
    rng = random.Random(5)
    plans = []
    for _ in range(4):  # every worker gets every message: each one is redelivered 3 times
        mine = messages[:]
        rng.shuffle(mine)
        batches, i = [], 0
        while i < len(mine):
            size = rng.randint(50, 400)
            batches.append(mine[i : i + size])
            i += size
        plans.append(batches)
    open_store(pg_url).close()  # schema first, as `peakend serve` does on start
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(pg_url, plan, out)) for plan in plans]
    for p in procs:
        p.start()
    results = [out.get(timeout=100) for _ in procs]
    for p in procs:
        p.join(10)
    assert all(r[0] == "ok" for r in results), results
    assert sum(r[1] for r in results) == len(messages)
    assert sum(r[2] for r in results) == 3 * len(messages)
    assert max(r[3].get("k3", 0) for r in results) == 76
    store = Store(pg_url)
    try:
        assert store.count("ledger") == store.count("ratings") == len(messages)
        expected = {d: 150 for d in devices} | {"k3": 76}
        assert store.acked_seqs(devices) == expected
        rows = store.db.execute("SELECT device_id, sum(messages) FROM devices GROUP BY 1")
        assert {d: n for d, n in rows} == {d: 4 * (149 if d == "k3" else 150) for d in devices}
    finally:
        store.close()
