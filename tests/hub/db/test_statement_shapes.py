"""Batches come in every size; the writer's statements must not.

A multi-row statement's text grows with its rows and each new text is compiled afresh, which
costs SQLite many times what running it does. The writer cuts its rows into parts of a few
fixed sizes so every shape stays compiled."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from peakend.broker.hub.db import store as store_module
from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import event_topic, new_envelope

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_parts_are_consecutive_powers_of_two_of_a_dozen_sizes() -> None:
    sizes: set[int] = set()
    for n in range(0, 3 * store_module._CHUNK + 7):
        items = list(range(n))
        parts = list(store_module._chunks(items))
        assert [i for part in parts for i in part] == items
        for part in parts:
            assert 0 < len(part) <= store_module._CHUNK
            assert len(part) & (len(part) - 1) == 0, len(part)
        sizes.update(len(p) for p in parts)
    assert len(sizes) <= store_module._CHUNK.bit_length()


def test_batches_of_many_sizes_store_everything_with_a_few_statement_shapes(tmp_path) -> None:
    ingest = Ingest(tmp_path / "hub.sqlite")
    texts: list[str] = []
    execute = ingest.store.db.execute

    def recording(sql: str, args=()):  # type: ignore[no-untyped-def]
        texts.append(sql)
        return execute(sql, args)

    ingest.store.db.execute = recording  # type: ignore[method-assign]
    rng = random.Random(7)
    seq, total = 0, 0
    try:
        for _ in range(25):
            n = rng.randint(1, 2500)
            batch = []
            for _ in range(n):
                seq += 1
                e = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout",
                                 seq=seq, event_type="rating", data={"score": 1 + seq % 4},
                                 ts=NOW, msg_id=uuid.uuid4())
                batch.append((event_topic("s001", "kiosk-01", "rating"), e.to_json(),
                              NOW.timestamp()))
            result = ingest.handle(batch)
            total += n
            assert result.counters.stored == n
            assert result.acks["kiosk-01"] == ("s001", seq)
        assert ingest.store.count("ratings") == total
    finally:
        ingest.close()
    ledger = {t for t in texts if t.startswith("INSERT INTO ledger")}
    assert len(ledger) <= store_module._CHUNK.bit_length(), len(ledger)
