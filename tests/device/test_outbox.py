"""The device outbox on a real SQLite file: lifetime seq, ack, bound policy, re-flash."""

from __future__ import annotations

import json
import sqlite3

from peakend.broker.device.outbox import Outbox


def box(tmp_path, **kw) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite", device_id="cam-01", store_id="s001", **kw)


def test_seq_keeps_growing_across_reopen_and_acks(tmp_path):
    b = box(tmp_path)
    for _ in range(3):
        b.append("rating", {"score": 4}, zone_id="checkout")
    assert b.acknowledge(3) == 3 and b.depth == 0
    b.close()
    b = box(tmp_path)
    env = b.append("rating", {"score": 2}, zone_id="checkout")
    assert env.seq == 4 and b.depth == 1 and b.acked_seq == 3


def test_rows_are_on_disk_in_wal_with_full_sync(tmp_path):
    b = box(tmp_path)
    env = b.append("rating", {"score": 1}, zone_id="checkout")
    other = sqlite3.connect(tmp_path / "outbox.sqlite")
    payload = other.execute("SELECT payload FROM outbox WHERE seq = 1").fetchone()[0]
    assert json.loads(payload)["msg_id"] == str(env.msg_id)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_ack_deletes_nothing_more(tmp_path):
    b = box(tmp_path)
    for _ in range(5):
        b.append("rating", {"score": 3}, zone_id="checkout")
    assert b.acknowledge(4) == 4
    assert b.acknowledge(2) == 0
    assert [p.seq for p in b.pending(0, 10)] == [5]


def test_full_outbox_drops_oldest_health_first_and_never_ratings(tmp_path):
    b = box(tmp_path, max_rows=100)
    for i in range(60):
        b.append("rating", {"score": 4}, zone_id="checkout")
        b.append("health", {"fps": float(i)}, zone_id=None)
    kinds = [json.loads(p.payload)["type"] for p in b.pending(0, 1000)]
    assert kinds.count("rating") == 60
    assert b.depth <= 101
    notices = [json.loads(p.payload) for p in b.pending(0, 1000)]
    skipped = [
        r for n in notices if n["type"] == "health" for r in (n["data"].get("skipped") or [])
    ]
    dropped = {s for first, last in skipped for s in range(first, last + 1)}
    present = {p.seq for p in b.pending(0, 1000)}
    # Every seq the device ever issued is either still here or announced as skipped.
    assert present | dropped == set(range(1, b.last_seq + 1))
    assert not present & dropped


def test_full_outbox_of_ratings_keeps_them_all(tmp_path):
    b = box(tmp_path, max_rows=100)
    for _ in range(150):
        b.append("rating", {"score": 2}, zone_id="checkout")
    assert b.depth == 150


def test_reflashed_device_continues_after_the_hubs_seq(tmp_path):
    b = box(tmp_path)
    for _ in range(3):
        b.append("rating", {"score": 4}, zone_id="checkout")
    assert b.adopt_hub_seq(500) == 3
    seqs = [json.loads(p.payload)["seq"] for p in b.pending(0, 10)]
    assert seqs == [501, 502, 503]
    assert b.append("rating", {"score": 1}, zone_id="checkout").seq == 504


def test_sending_the_same_msg_id_again_returns_the_first_envelope(tmp_path):
    import uuid

    b = box(tmp_path)
    msg_id = uuid.uuid4()
    first = b.append("rating", {"score": 2}, zone_id="checkout", msg_id=msg_id)
    b.acknowledge(first.seq)  # even after the hub has it and the row is gone
    b.close()
    b = box(tmp_path)
    again = b.append("rating", {"score": 2}, zone_id="checkout", msg_id=msg_id)
    assert again.to_json() == first.to_json() and b.last_seq == 1 and b.depth == 0
