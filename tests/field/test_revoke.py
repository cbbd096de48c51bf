"""`peakend provision --revoke`: a revoked device is cut off at once and stays out."""

from __future__ import annotations

import json
import time

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.hub.registry import load_registry

from .conftest import password_of, run_peakend


def test_a_revoked_device_loses_its_live_connection_and_cannot_reconnect(hub, tmp_path, caplog):
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    link = DeviceLink(LinkSettings(mqtt_url=url, device_id="kiosk-01", store_id="s001",
                                   zone_id="checkout", role="kiosk",
                                   outbox_path=tmp_path / "outbox.sqlite"))
    link.start()
    try:
        link.send("rating", {"score": 4})
        assert link.wait_acked(timeout=15), "the device never got its first ack"
        assert link.stats().connected

        done = run_peakend("provision", "--data", str(hub.dir.root), "--revoke", "kiosk-01")
        assert done.returncode == 0, done.stderr
        assert "connection was dropped" in done.stdout

        assert hub.wait_until(lambda: not link.stats().connected, 5), "still connected"
        # paho retries every 1..30 s; give it a few tries, none may get back in.
        time.sleep(3.5)
        assert not link.stats().connected
        # It did try again, and the broker said no (the link logs the refusal).
        refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
        assert refusals and "Not authorized" in refusals[0].getMessage()
        assert not hub.can_connect("kiosk-01", password_of(url))

        # What it sends now stays on the device: the hub never acks it.
        link.send("rating", {"score": 1})
        assert not link.wait_acked(timeout=2)
    finally:
        link.stop()
    assert load_registry(hub.dir.registry).devices["kiosk-01"].revoked is True
    # The hub marked its retained status offline, so the fleet page shows it gone.
    assert hub.wait_until(
        lambda: hub.scalar("SELECT state FROM devices WHERE device_id='kiosk-01'") == "offline")
    assert hub.scalar("SELECT count(*) FROM ratings") == 1


def test_revoking_leaves_other_devices_connected(hub):
    hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    url2 = hub.provision("kiosk-02", "s001", ["checkout"], "kiosk")
    done = run_peakend("provision", "--data", str(hub.dir.root), "--revoke", "kiosk-01")
    assert done.returncode == 0, done.stderr
    assert hub.can_connect("kiosk-02", password_of(url2))
    registry = load_registry(hub.dir.registry).devices
    assert registry["kiosk-01"].revoked and not registry["kiosk-02"].revoked


def test_revoking_an_unknown_device_says_so(hub):
    done = run_peakend("provision", "--data", str(hub.dir.root), "--revoke", "kiosk-77")
    assert done.returncode == 2
    assert "not a provisioned device" in done.stderr


def test_provisioning_again_after_a_revoke_lets_the_device_back_with_a_new_password(hub):
    old = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    assert run_peakend("provision", "--data", str(hub.dir.root),
                       "--revoke", "kiosk-01").returncode == 0
    new = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    assert password_of(new) != password_of(old)
    assert not hub.can_connect("kiosk-01", password_of(old))
    assert json.loads(hub.dir.registry.read_text())["devices"]["kiosk-01"]["revoked"] is False
