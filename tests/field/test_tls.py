"""`peakend broker --tls`: devices verify the broker with the hub's CA; mqtts end to end."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tomllib
from pathlib import Path

import pytest

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.mqtt import connect_properties, make_client
from peakend.broker.field.mosquitto import BrokerDir, BrokerError
from peakend.broker.field.tls import cert_names, ensure_tls, make_ca, make_server_cert

from .conftest import run_peakend


def provision_cli(hub, device="kiosk-01", *extra: str):
    done = run_peakend("provision", "--data", str(hub.dir.root), "--id", device,
                       "--store", "s001", "--zone", "checkout", "--role", "kiosk",
                       "--host", "localhost", *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_a_device_provisioned_on_a_tls_hub_delivers_over_mqtts(tls_hub, tmp_path):
    lines = provision_cli(tls_hub)
    url = lines[-1]
    assert url.startswith("mqtts://kiosk-01:") and url.endswith(f"@localhost:{tls_hub.tls_port}")
    config = tomllib.loads((tls_hub.dir.devices / "kiosk-01.toml").read_text())
    assert config["mqtt"]["url"] == url
    ca = Path(config["mqtt"]["ca_file"])
    assert ca.read_bytes() == tls_hub.dir.ca_file.read_bytes()

    link = DeviceLink(LinkSettings(mqtt_url=url, device_id="kiosk-01", store_id="s001",
                                   zone_id="checkout", role="kiosk", ca_file=str(ca),
                                   outbox_path=tmp_path / "outbox.sqlite"))
    link.start()
    try:
        link.send("rating", {"score": 2})
        assert link.wait_acked(timeout=20), link.stats()
    finally:
        link.stop()
    assert tls_hub.scalar("SELECT score FROM ratings") == 2


def test_without_the_ca_the_device_refuses_the_broker(tls_hub):
    url = provision_cli(tls_hub)[-1]
    client, target = make_client(url, "kiosk-01-test", ca_file=None)
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(target.host, target.port, properties=connect_properties(persistent=False))
    # ... and with the CA the same URL connects (so the failure above is the CA's doing).
    client, target = make_client(url, "kiosk-01-test", ca_file=str(tls_hub.dir.ca_file))
    assert client.connect(target.host, target.port,
                          properties=connect_properties(persistent=False)) == 0
    client.disconnect()


def test_a_certificate_from_another_ca_is_refused(tls_hub, tmp_path):
    url = provision_cli(tls_hub)[-1]
    make_ca(tmp_path / "other.pem", tmp_path / "other.key")
    client, target = make_client(url, "kiosk-01-test", ca_file=str(tmp_path / "other.pem"))
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(target.host, target.port, properties=connect_properties(persistent=False))


def test_with_tls_the_plain_listener_is_on_loopback_only(tls_hub):
    conf = tls_hub.dir.conf.read_text()
    assert f"listener {tls_hub.port} 127.0.0.1" in conf
    assert f"listener {tls_hub.tls_port} 127.0.0.1" in conf
    assert tls_hub.dir.aggregator_url.read_text().startswith("mqtt://")


def test_server_certificate_names_and_reissue_for_a_new_host(tmp_path):
    d = BrokerDir(tmp_path)
    files = ensure_tls(d, ["hub.store.lan"])
    names = cert_names(files.cert)
    assert {"localhost", "127.0.0.1", "hub.store.lan"} <= set(names)
    ca_before = files.ca.read_bytes()
    ensure_tls(d, ["10.0.0.5"])
    assert "10.0.0.5" in cert_names(files.cert)
    assert files.ca.read_bytes() == ca_before, "the CA must survive: devices hold it"
    check = subprocess.run(["openssl", "verify", "-CAfile", str(files.ca), str(files.cert)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_given_certificates_are_copied_in_and_must_match(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_ca(src / "ca.pem", src / "ca.key")
    make_server_cert(src / "ca.pem", src / "ca.key", src / "s.pem", src / "s.key", ["hub"])
    d = BrokerDir(tmp_path / "broker")
    d.root.mkdir()
    files = ensure_tls(d, ca=src / "ca.pem", cert=src / "s.pem", key=src / "s.key")
    assert files.cert.read_bytes() == (src / "s.pem").read_bytes()
    make_ca(src / "ca2.pem", src / "ca2.key")
    with pytest.raises(BrokerError, match="not signed by"):
        ensure_tls(d, ca=src / "ca2.pem", cert=src / "s.pem", key=src / "s.key")
    with pytest.raises(BrokerError, match="not the private key"):
        ensure_tls(d, ca=src / "ca.pem", cert=src / "s.pem", key=src / "ca.key")


@pytest.fixture
def open_root():
    """A folder the mosquitto user may enter (pytest's tmp_path is private to root)."""
    from hubtools import broker_root

    root = broker_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_broker_cli_with_tls_writes_both_listeners_and_prints_the_ca(open_root):
    from peakend.broker.field.mosquitto import free_port

    tmp_path = open_root
    port, tls_port = free_port(), free_port()
    done = run_peakend("broker", "--data", str(tmp_path / "b"), "--port", str(port),
                       "--tls", "--tls-port", str(tls_port), "--tls-host", "hub.lan",
                       "--prepare-only")
    assert done.returncode == 0, done.stderr
    assert "CA fingerprint (SHA-256):" in done.stdout and "hub.lan" in done.stdout
    conf = (tmp_path / "b" / "mosquitto.conf").read_text()
    assert f"listener {port} 127.0.0.1" in conf and f"listener {tls_port} 0.0.0.0" in conf
    assert "certfile" in conf and (tmp_path / "b" / "tls_port").read_text().strip() == str(
        tls_port)
    # Without --tls again, devices are no longer told to use mqtts.
    done = run_peakend("broker", "--data", str(tmp_path / "b"), "--port", str(port),
                       "--prepare-only")
    assert done.returncode == 0 and not (tmp_path / "b" / "tls_port").exists()
