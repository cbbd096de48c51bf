"""The device link against a real mosquitto and the real aggregator."""

from __future__ import annotations

from peakend.broker.link import DeviceLink, LinkSettings


def make_link(
    hub, tmp_path, device_id="kiosk-01", store="s001", zone="checkout", **kw
) -> DeviceLink:
    url = hub.provision(device_id, store, [zone], "kiosk")
    settings = LinkSettings(
        mqtt_url=url,
        device_id=device_id,
        store_id=store,
        zone_id=zone,
        role="kiosk",
        outbox_path=tmp_path / f"{device_id}.sqlite",
        **kw,
    )
    return DeviceLink(settings)


def test_rating_is_stored_acked_and_leaves_the_outbox(hub, tmp_path):
    link = make_link(hub, tmp_path)
    link.start()
    try:
        sent = [link.send("rating", {"score": s}) for s in (1, 2, 3, 4)]
        assert link.wait_acked(timeout=15), link.stats()
        assert link.stats().outbox_depth == 0
    finally:
        link.stop()
    rows = hub.rows("SELECT msg_id, score, seq FROM ratings ORDER BY seq")
    assert [r["msg_id"] for r in rows] == [str(e.msg_id) for e in sent]
    assert [r["score"] for r in rows] == [1, 2, 3, 4]
    assert hub.scalar("SELECT acked_seq FROM devices WHERE device_id='kiosk-01'") == 4
    assert hub.wait_until(
        lambda: hub.scalar("SELECT state FROM devices WHERE device_id='kiosk-01'") == "offline"
    )
