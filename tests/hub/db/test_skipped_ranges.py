"""Seqs a device declares skipped are stored as ranges on both engines: a notice costs
O(ranges), never O(seqs); ranges that touch are merged; a device's open ranges are bounded; and
the ack, computed over ledger rows and ranges, is the contiguous run of handled seqs."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from peakend.broker.hub.db import skipped
from peakend.broker.hub.db.store import TABLES, Store, open_store
from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import MAX_INT, event_topic, new_envelope

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NS = uuid.UUID("5d1e0f7a-2b6c-4c1d-8e9f-0a1b2c3d4e5f")


def notice(seq: int, ranges: list[list[int]], device: str = "cam-01"):
    return new_envelope(device_id=device, store_id="s001", zone_id=None, seq=seq,
                        event_type="health", data={"skipped": ranges}, ts=NOW,
                        msg_id=uuid.uuid5(NS, f"{device}/{seq}"))


def rating(seq: int, device: str = "cam-01"):
    return new_envelope(device_id=device, store_id="s001", zone_id="checkout", seq=seq,
                        event_type="rating", data={"score": 2}, ts=NOW,
                        msg_id=uuid.uuid5(NS, f"{device}/{seq}"))


def sent(*envelopes) -> list[tuple[str, bytes, float]]:
    return [(event_topic("s001", e.device_id, e.type), e.to_json(), NOW.timestamp())
            for e in envelopes]


def rows(store: Store) -> int:
    return sum(store.count(t) for t in TABLES)


def ranges(store: Store, device: str = "cam-01") -> list[tuple[int, int]]:
    return [tuple(r) for r in store.db.execute(
        "SELECT first_seq, last_seq FROM skipped_ranges WHERE device_id = $1 "
        "ORDER BY first_seq", (device,))]


@pytest.fixture
def ingest(db_url: str):
    ingest = Ingest(db_url)
    yield ingest
    ingest.close()


def test_a_notice_skipping_a_million_seqs_adds_a_few_rows_and_the_ack_passes_it(ingest):
    before = rows(ingest.store)
    started = time.perf_counter()
    result = ingest.handle(sent(notice(1_000_001, [[1, 1_000_000]])))
    took = time.perf_counter() - started
    # its ledger row, its health row, its range and the device's row
    assert rows(ingest.store) - before == 4
    assert ranges(ingest.store) == [(1, 1_000_000)]
    assert result.acks["cam-01"] == ("s001", 1_000_001)
    assert took < 1.0, took
    assert ingest.handle(sent(rating(1_000_002))).acks["cam-01"] == ("s001", 1_000_002)


def test_ranges_that_touch_are_merged_so_notices_cannot_multiply_rows(ingest):
    odd = [[s, s] for s in range(1, 400, 2)]
    even = [[s, s] for s in range(2, 401, 2)]
    assert ingest.handle(sent(notice(1000, odd))).acks["cam-01"] == ("s001", 1)
    assert len(ranges(ingest.store)) == 200
    # the gaps declared by another notice: one range is left, however the notices split it
    assert ingest.handle(sent(notice(1001, even))).acks["cam-01"] == ("s001", 400)
    assert ranges(ingest.store) == [(1, 400)]
    # what is at or below the ack is handled already and is not stored again
    ingest.handle(sent(notice(1002, [[1, 399]])))
    assert ranges(ingest.store) == [(1, 400)]
    assert ingest.handle(sent(*(rating(s) for s in range(401, 1000)))).acks["cam-01"] == (
        "s001", 1002)


def test_a_notice_past_its_devices_bound_is_refused_with_a_reason_and_its_seq_counts(
    ingest, monkeypatch
):
    monkeypatch.setattr(skipped, "OPEN_RANGES_PER_DEVICE", 3)
    assert ingest.handle(sent(notice(100, [[10, 10], [20, 20]]))).counters.stored == 1
    refused = notice(101, [[30, 30], [40, 40]])
    result = ingest.handle(sent(refused))
    assert (result.counters.stored, result.counters.quarantined) == (0, 1)
    reason = ingest.store.db.execute("SELECT seq, reason FROM quarantine").fetchall()
    assert reason == [(101, "data.skipped: cam-01 already holds 2 skipped range(s) above its "
                            "ack 0; 2 more would pass the bound of 3 per device")]
    assert ranges(ingest.store) == [(10, 10), (20, 20)]
    assert ingest.store.count("health") == 1
    # a redelivery is the same message: a duplicate, not a second refusal
    assert ingest.handle(sent(refused)).counters.duplicates == 1
    # its seq counts: once 1-99 are in (but 10 and 20, which were declared), the ack passes it
    others = [rating(s) for s in range(1, 100) if s not in (10, 20, 30, 40)]
    assert ingest.handle(sent(*others)).acks["cam-01"] == ("s001", 29)
    assert ingest.handle(sent(notice(102, [[30, 30], [40, 40]]))).acks["cam-01"] == (
        "s001", 102)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_ack_is_the_run_of_seqs_the_ledger_and_the_ranges_hold(db_url: str, seed: int):
    """Random ledger rows and notices against the plain definition: the ack is the largest N
    such that every seq from 1 to N is stored, quarantined or declared skipped."""
    rng = random.Random(seed)
    store = open_store(db_url)
    handled: set[int] = set()
    seqs = list(range(1, 400))
    rng.shuffle(seqs)
    try:
        while seqs:
            size = rng.randint(1, 30)
            batch, seqs = seqs[:size], seqs[size:]
            envelopes = []
            for seq in batch:
                if rng.random() < 0.2:
                    declared = []
                    for _ in range(rng.randint(1, 5)):
                        first = rng.randint(1, seq)
                        declared.append([first, min(seq - 1, first + rng.randint(0, 12))])
                    declared = [r for r in declared if r[0] <= r[1]]
                    envelopes.append(notice(seq, declared))
                    handled |= {s for a, b in declared for s in range(a, b + 1)}
                else:
                    envelopes.append(rating(seq))
                handled.add(seq)
            if rng.random() < 0.1:
                envelopes.append(rating(MAX_INT))  # the largest seq never breaks the sums
            with store.transaction():
                store.store_events([(e, NOW) for e in envelopes])
                store.touch_devices([("cam-01", "s001", len(envelopes))], NOW)
                acks = store.advance_acks(["cam-01"])
            want = 0
            while want + 1 in handled:
                want += 1
            assert acks == {"cam-01": want}
            kept = ranges(store)
            assert all(a[1] + 1 < b[0] for a, b in zip(kept, kept[1:], strict=False)), "apart"
    finally:
        store.close()


def test_postgresql_workers_take_turns_on_one_devices_ranges(pg_url: str) -> None:
    """Two workers merging touching ranges of one device at once: the second waits for the
    first to commit, then merges with what it committed, so the ranges stay disjoint."""
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        with first.transaction():
            first.store_events([(notice(50, [[1, 10]]), NOW)])
            done = threading.Event()

            def other_worker() -> None:
                with second.transaction():
                    second.store_events([(notice(51, [[11, 20]]), NOW)])
                done.set()

            worker = threading.Thread(target=other_worker)
            worker.start()
            assert not done.wait(1.0), "the second worker merged while the first held its rows"
        worker.join(10)
        assert done.is_set()
        assert ranges(first) == [(1, 20)]
    finally:
        first.close()
        second.close()
