"""Failure modes found in review of the delivery path, each pinned by a test."""

from __future__ import annotations

import json
import time

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.outbox import Outbox
from peakend.broker.hub.writer import Ingest, Registry
from peakend.broker.wire.contract import event_topic, new_envelope


def rating(seq: int, **over) -> tuple[str, bytes, float]:
    env = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout", seq=seq,
                       event_type="rating", data={"score": 3})
    doc = {**json.loads(env.to_json()), **over}
    return event_topic("s001", "kiosk-01", "rating"), json.dumps(doc).encode(), time.time()


def store_fails_at_seq(monkeypatch, seq: int) -> None:
    """The store fails on the row of one message, as an error no check foresaw would."""
    from peakend.broker.hub.db import store

    real = store.typed_row

    def failing(e, *args):
        if e.seq == seq:
            raise OverflowError("date value out of range")
        return real(e, *args)

    monkeypatch.setattr(store, "typed_row", failing)


def test_a_message_that_breaks_the_store_is_quarantined_and_the_rest_stored(
    tmp_path, monkeypatch
):
    # Valid by the contract, but the store fails on it: it used to roll back every batch it
    # was in, for ever.
    store_fails_at_seq(monkeypatch, 2)
    batch = [rating(1), rating(2), rating(3)]
    ingest = Ingest(tmp_path / "hub.sqlite")
    result = ingest.handle(batch)
    assert result.counters.stored == 2 and result.counters.quarantined == 1
    reason = ingest.store.db.execute("SELECT reason FROM quarantine").fetchone()[0]
    assert reason.startswith("could not be stored")
    assert ingest.store.count("ratings") == 2


def test_an_outbox_full_of_health_and_queue_windows_never_loses_a_skip_notice(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", device_id="cam-01", store_id="s001", max_rows=300)
    for i in range(3000):
        if i % 3:
            box.append("queue", {"window_s": 10.0, "length": 1.0, "arrivals": 1,
                                 "departures": 1}, zone_id="checkout")
        else:
            box.append("health", {"fps": 10.0}, zone_id=None)
    rows = box.pending(0, 10_000)
    present = {p.seq for p in rows}
    announced = set()
    for p in rows:
        data = json.loads(p.payload)["data"]
        for first, last in data.get("skipped") or []:
            announced |= set(range(first, last + 1))
    # Every seq ever issued is either still queued or announced by a notice still queued.
    assert present | announced == set(range(1, box.last_seq + 1))


def test_a_reflashed_device_with_more_queued_than_the_hubs_ack_keeps_everything(hub, tmp_path):
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")

    def settings(outbox: str) -> LinkSettings:
        return LinkSettings(mqtt_url=url, device_id="kiosk-01", store_id="s001",
                            zone_id="checkout", role="kiosk", outbox_path=tmp_path / outbox)

    first_life = DeviceLink(settings("old.sqlite"))
    first_life.start()
    for _ in range(20):
        first_life.send("rating", {"score": 4})
    assert first_life.wait_acked(timeout=15)
    first_life.stop()

    # A new SD card: a fresh outbox that queued more than the hub's ack (20) while offline.
    second_life = DeviceLink(settings("new.sqlite"))
    for _ in range(30):
        second_life.send("rating", {"score": 1})
    second_life.start()
    try:
        assert second_life.wait_acked(timeout=20), second_life.stats()
    finally:
        second_life.stop()
    scores = [r["score"] for r in hub.rows("SELECT score FROM ratings ORDER BY seq")]
    assert scores == [4] * 20 + [1] * 30
    assert hub.rows("SELECT reason FROM quarantine") == []


def test_a_missing_registry_file_trusts_the_acl_and_a_broken_one_keeps_the_last(tmp_path):
    env = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout", seq=1,
                       event_type="rating", data={"score": 3})
    path = tmp_path / "registry.json"
    registry = Registry(path)
    assert registry.check(env) is None
    path.write_text(json.dumps({"devices": {"kiosk-01": {"store": "s002", "zones": []}}}))
    assert "does not match store 's002'" in registry.check(env)
    time.sleep(0.01)
    path.write_text("{ half written")
    import os

    os.utime(path, (time.time() + 5, time.time() + 5))
    assert "does not match store 's002'" in registry.check(env)


def test_a_msg_id_replayed_under_a_new_seq_leaves_its_seq_handled_and_the_ack_moves_on(
    tmp_path,
):
    """A re-flashed outbox renumbers rows but keeps their msg_ids: the copy under the new seq
    is quarantined as a replay, and its seq must still count, or the ack stops there."""
    first = rating(1)
    replay = json.loads(first[1])
    replay["seq"] = 2
    batch = [first, (first[0], json.dumps(replay).encode(), time.time()),
             *(rating(s) for s in range(3, 8))]
    ingest = Ingest(tmp_path / "hub.sqlite")
    result = ingest.handle(batch)
    assert result.counters.quarantined == 1 and result.counters.stored == 6
    assert result.acks["kiosk-01"][1] == 7
    reason = ingest.store.db.execute("SELECT reason FROM quarantine").fetchone()[0]
    assert "replayed msg_id" in reason


def test_a_message_the_store_cannot_take_still_counts_at_its_seq(tmp_path, monkeypatch):
    """No single message can freeze a device's ack: one that fails at storage is quarantined
    at the seq it carries."""
    store_fails_at_seq(monkeypatch, 2)
    ingest = Ingest(tmp_path / "hub.sqlite")
    ingest.handle([rating(1), rating(2)])
    result = ingest.handle([rating(3)])
    assert result.acks["kiosk-01"][1] == 3
