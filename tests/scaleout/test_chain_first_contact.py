"""A re-flashed device behind a store broker bridged to the centre: when the bridge comes back,
the centre's retained acks reach the device as if new. The device must wait for the hub's answer
to its own birth, not take an old ack for it (that would give its new ratings seqs the hub
already holds, and the hub's next ack would delete them unstored)."""

from __future__ import annotations

import time

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.hub.db.store import Store


def kiosk(url: str, path) -> DeviceLink:
    return DeviceLink(LinkSettings(mqtt_url=url, device_id="kiosk-01", store_id="s001",
                                   zone_id="checkout", role="kiosk", outbox_path=path,
                                   retransmit_s=1.0))


def test_a_reflashed_device_behind_a_bridge_ignores_the_centres_old_ack(chain_factory, tmp_path):
    chain = chain_factory(["s001"])
    dev = chain.provision("kiosk-01", "s001", "checkout", "kiosk")
    chain.publish_registry()
    chain.centre.start()
    chain.store.start()
    chain.start_worker("w1")
    chain.wait_worker("w1")
    old = kiosk(dev["url"], tmp_path / "old.sqlite")
    old.start()
    for _ in range(10):
        old.send("rating", {"score": 4})
    assert old.wait_acked(timeout=30), old.stats()
    old.stop()
    chain.stop_workers()
    # the centre keeps an older ack (restored from its last autosave after a crash, say)
    chain.publish_retained(chain.centre_port, "peakend/v1/s001/kiosk-01/ack", '{"seq": 5}')
    chain.centre.stop()  # the centre is away; the store broker runs on
    new = kiosk(dev["url"], tmp_path / "new.sqlite")
    for score in (1, 2, 3, 4, 1, 2, 3, 4):
        new.send("rating", {"score": score, "reason": "new-life"})
    new.start()
    try:
        chain.centre.start()  # the bridge reconnects and hands the old ack on
        time.sleep(5)
        assert new.stats().acked_seq == 0 and new.stats().outbox_depth == 8
        chain.start_worker("w1")
        chain.wait_worker("w1")
        assert new.wait_acked(timeout=30), new.stats()
        assert new.stats().acked_seq == 18  # following the hub's 10, not the old 5
    finally:
        new.stop()
    db = Store(chain.db)
    try:
        assert db.db.execute(
            "SELECT count(*) FROM ratings WHERE reason = 'new-life'").fetchone()[0] == 8
        assert db.count("quarantine") == 0
    finally:
        db.close()
