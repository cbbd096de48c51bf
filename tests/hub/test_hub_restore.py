"""When a device and its hub disagree on history. A hub database restored from a backup: devices
have deleted what the hub has lost since, so they declare that hole skipped and their acks move
on instead of stalling for good. A re-flashed device: it follows the hub's own answer, never an
older retained ack a broker kept."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.outbox import RANGES_PER_NOTICE, _notices
from peakend.broker.wire.contract import MAX_SKIPPED


def test_notices_respect_the_contracts_bounds() -> None:
    assert list(_notices([(1, 5)])) == [[(1, 5)]]
    big = list(_notices([(1, MAX_SKIPPED * 2 + 3)]))
    assert big == [[(1, MAX_SKIPPED)], [(MAX_SKIPPED + 1, 2 * MAX_SKIPPED)],
                   [(2 * MAX_SKIPPED + 1, 2 * MAX_SKIPPED + 3)]]
    many = list(_notices([(i * 10, i * 10 + 1) for i in range(RANGES_PER_NOTICE + 1)]))
    assert [len(n) for n in many] == [RANGES_PER_NOTICE, 1]
    mixed = list(_notices([(1, 2), (10, MAX_SKIPPED + 10)]))
    assert mixed == [[(1, 2), (10, MAX_SKIPPED + 7)], [(MAX_SKIPPED + 8, MAX_SKIPPED + 10)]]
    for notice in big + many + mixed:
        assert sum(b - a + 1 for a, b in notice) <= MAX_SKIPPED


def backup(db: Path, to: Path) -> None:
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    src.backup(dst)
    src.close()
    dst.close()


def kiosk(hub, tmp_path: Path, *, retransmit_s: float) -> DeviceLink:
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    return DeviceLink(LinkSettings(
        mqtt_url=url, device_id="kiosk-01", store_id="s001", zone_id="checkout", role="kiosk",
        outbox_path=tmp_path / "kiosk.sqlite", retransmit_s=retransmit_s))


def test_a_restored_hub_database_does_not_stall_its_devices(hub, tmp_path) -> None:
    link = kiosk(hub, tmp_path, retransmit_s=1.0)
    link.start()
    try:
        for score in (1, 2):
            link.send("rating", {"score": score})
        assert link.wait_acked(timeout=15)
        hub.stop_aggregator()
        backup(hub.db_path, tmp_path / "backup.sqlite")  # last night's backup
        hub.start_aggregator()
        for score in (3, 4, 1):
            link.send("rating", {"score": score})
        assert link.wait_acked(timeout=15)
        assert link.stats().acked_seq == 5
        # the hub's disk dies; its database comes back from the backup, seqs 3-5 are gone
        hub.stop_aggregator()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{hub.db_path}{suffix}").unlink(missing_ok=True)
        backup(tmp_path / "backup.sqlite", hub.db_path)
        hub.start_aggregator()
        for score in (4, 4):
            link.send("rating", {"score": score})  # seqs 6 and 7
        # the hub can never have 3-5 again: the device declares them skipped (notice, seq 8)
        assert link.wait_acked(timeout=20), link.stats()
        assert link.stats().acked_seq == 8 and link.stats().outbox_depth == 0
    finally:
        link.stop()
    assert hub.scalar("SELECT acked_seq FROM devices WHERE device_id='kiosk-01'") == 8
    assert [r["seq"] for r in hub.rows("SELECT seq FROM ratings ORDER BY seq")] == [1, 2, 6, 7]
    skipped = hub.rows("SELECT first_seq, last_seq FROM skipped_ranges")
    assert skipped == [{"first_seq": 3, "last_seq": 5}]  # what the hub lost, as one range


def test_one_stale_ack_while_the_hub_is_away_declares_nothing(hub, tmp_path) -> None:
    link = kiosk(hub, tmp_path, retransmit_s=0.5)
    link.start()
    try:
        for score in (1, 2, 3):
            link.send("rating", {"score": score})
        assert link.wait_acked(timeout=15)
        hub.stop_aggregator()
        # an old copy of the ack reaches the device (a broker restored an older retained one)
        hub.publish_retained("peakend/v1/s001/kiosk-01/ack", '{"seq": 1}')
        link.send("rating", {"score": 4})
        time.sleep(3)  # several stalls while the hub is away
        assert link.stats().last_seq == 4  # no notice queued
        hub.start_aggregator()
        assert link.wait_acked(timeout=15)
        assert link.stats().acked_seq == 4
    finally:
        link.stop()
    assert hub.scalar("SELECT count(*) FROM skipped_ranges") == 0


def reflash_after_stale_ack(hub, tmp_path: Path, *, hub_down: bool) -> DeviceLink:
    """Ten ratings acked; then a broker keeps an older retained ack (5), and the kiosk gets a
    new SD card and takes eight ratings before its network is up."""
    old = kiosk(hub, tmp_path, retransmit_s=1.0)
    old.start()
    for _ in range(10):
        old.send("rating", {"score": 4})
    assert old.wait_acked(timeout=15)
    old.stop()
    hub.publish_retained("peakend/v1/s001/kiosk-01/ack", '{"seq": 5}')
    if hub_down:
        hub.stop_aggregator()
    new = DeviceLink(old.settings.model_copy(update={"outbox_path": tmp_path / "new.sqlite"}))
    for score in (1, 2, 3, 4, 1, 2, 3, 4):
        new.send("rating", {"score": score, "reason": "new-life"})
    return new


def test_a_reflashed_device_follows_the_hub_not_a_stale_retained_ack(hub, tmp_path) -> None:
    new = reflash_after_stale_ack(hub, tmp_path, hub_down=False)
    new.start()
    try:
        assert new.wait_acked(timeout=15), new.stats()
        assert new.stats().acked_seq == 18  # renumbered to follow the hub's 10, not the 5
    finally:
        new.stop()
    assert hub.scalar("SELECT count(*) FROM ratings WHERE reason = 'new-life'") == 8
    assert hub.scalar("SELECT count(*) FROM quarantine") == 0


def test_a_reflashed_device_waits_for_a_hub_that_is_away(hub, tmp_path) -> None:
    new = reflash_after_stale_ack(hub, tmp_path, hub_down=True)
    new.start()
    try:
        time.sleep(3)  # only the stale retained ack can be heard: nothing is sent on it
        assert new.stats().acked_seq == 0 and new.stats().outbox_depth == 8
        assert "waiting for the hub" in (new.stats().last_error or "")
        hub.start_aggregator()  # the hub answers the birth it finds retained
        assert new.wait_acked(timeout=15), new.stats()
        assert new.stats().acked_seq == 18 and new.stats().last_error is None
    finally:
        new.stop()
    assert hub.scalar("SELECT count(*) FROM ratings WHERE reason = 'new-life'") == 8
    assert hub.scalar("SELECT count(*) FROM quarantine") == 0


def test_a_fresh_device_says_its_birth_again_until_the_hub_answers(hub, tmp_path) -> None:
    """The hub cannot answer a device it does not know yet (its registry entry comes later, as
    a chain's centre gets its copy); the device asks again instead of waiting for ever."""
    from peakend.broker.hub.registry import RegistryFile, load_registry, save_registry

    link = kiosk(hub, tmp_path, retransmit_s=1.0)
    full = load_registry(hub.dir.registry)
    save_registry(hub.dir.registry, RegistryFile(
        devices={k: v for k, v in full.devices.items() if k != "kiosk-01"}))
    for _ in range(3):
        link.send("rating", {"score": 4})
    link.start()
    try:
        time.sleep(3)
        assert link.stats().acked_seq == 0
        assert "waiting for the hub" in (link.stats().last_error or "")
        time.sleep(1.1)  # the registry is re-read when its modification time changes
        save_registry(hub.dir.registry, full)
        assert link.wait_acked(timeout=20), link.stats()
        assert link.stats().acked_seq == 3 and link.stats().last_error is None
    finally:
        link.stop()
    assert hub.scalar("SELECT count(*) FROM ratings") == 3
