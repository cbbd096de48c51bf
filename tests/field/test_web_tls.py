"""The web's certificate in the broker folder, and the install command provision prints for it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubtools import broker_root
from peakend.broker.field import install
from peakend.broker.field.mosquitto import BrokerDir, prepare
from peakend.broker.field.provision import provision
from peakend.broker.field.tls import (
    cert_names,
    ensure_tls,
    ensure_web_cert,
    make_ca,
    make_server_cert,
    public_key_pin,
    web_files,
)
from peakend.broker.hub.server import ServeError, web_certificate

from .conftest import run_peakend


@pytest.fixture
def folder() -> Iterator[BrokerDir]:
    """A broker folder of a hub without --tls (nothing running)."""
    root = broker_root()
    try:
        yield prepare(root / "broker", port=1883)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def verifies(ca: Path, cert: Path) -> bool:
    done = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)],
                          capture_output=True, text=True)
    return done.returncode == 0


def test_the_broker_tls_set_up_gives_the_web_its_own_key_under_the_same_ca(tmp_path):
    d = BrokerDir(tmp_path)
    files = ensure_tls(d, ["hub.store.lan"])
    web = web_files(d)
    assert verifies(files.ca, web.cert)
    assert cert_names(web.cert) == cert_names(files.cert)
    assert "hub.store.lan" in cert_names(web.cert)
    assert public_key_pin(web.cert) != public_key_pin(files.cert)
    assert oct(web.key.stat().st_mode & 0o777) == "0o600"

    # A new host name re-issues the certificate but keeps the key: pins already printed hold.
    pin = public_key_pin(web.cert)
    ensure_tls(d, ["hub.store.lan", "192.168.1.10"])
    assert "192.168.1.10" in cert_names(web.cert)
    assert public_key_pin(web.cert) == pin


def test_a_company_certificate_serves_the_web_too_and_a_later_own_ca_replaces_it(tmp_path):
    make_ca(tmp_path / "co.pem", tmp_path / "co.key")
    make_server_cert(tmp_path / "co.pem", tmp_path / "co.key", tmp_path / "hub.pem",
                     tmp_path / "hub.key", ["hub.corp.example"])
    d = BrokerDir(tmp_path / "broker")
    d.root.mkdir()
    ensure_tls(d, ca=tmp_path / "co.pem", cert=tmp_path / "hub.pem", key=tmp_path / "hub.key")
    web = web_files(d)
    assert web.cert.read_bytes() == (tmp_path / "hub.pem").read_bytes()
    assert web.key.read_bytes() == (tmp_path / "hub.key").read_bytes()
    assert oct(web.key.stat().st_mode & 0o777) == "0o600"

    ensure_tls(d, [])  # back to the folder's own CA
    assert verifies(d.ca_file, web.cert)
    assert not verifies(tmp_path / "co.pem", web.cert)


def test_serve_makes_the_web_certificate_when_the_folder_has_none(folder):
    d = folder
    cert, key = web_certificate(d.root, "0.0.0.0")
    assert cert == web_files(d).cert and verifies(d.ca_file, cert)
    pin = public_key_pin(cert)
    assert web_certificate(d.root, "0.0.0.0") == (cert, key)
    assert public_key_pin(cert) == pin

    key.write_text("not a key\n")
    with pytest.raises(ServeError, match="cannot use"):
        web_certificate(d.root, "0.0.0.0")


def test_serve_refuses_https_without_the_broker_folder(tmp_path):
    done = run_peakend("serve", "--db", str(tmp_path / "hub.sqlite"), "--mqtt",
                       "mqtt://u:p@127.0.0.1:1", "--https", "0.0.0.0:8443")
    assert done.returncode == 2 and "--broker-data" in done.stderr


def _command(d: BrokerDir, **kwargs) -> str:
    return provision(d.root, device_id="kiosk-01", store="s001", zones=["checkout"],
                     role="kiosk", host="hub.local", out=d.root / "kiosk.toml",
                     **kwargs).install_command


def test_the_install_command_follows_the_web_that_runs(folder):
    d = folder
    # no web certificate, no web noted yet: plain HTTP, and provision says what that means
    assert _command(d).startswith("curl -fsS http://hub.local:8080/install/")
    done = run_peakend("provision", "--data", str(d.root), "--id", "kiosk-01", "--store", "s001",
                       "--zone", "checkout", "--role", "kiosk", "--host", "hub.local")
    assert done.returncode == 0, done.stderr
    assert "plain HTTP: anyone on the store network can read" in done.stdout

    install.record_web(d, https_port=None, http_port=8081)
    assert _command(d).startswith("curl -fsS http://hub.local:8081/install/")

    pin = public_key_pin(ensure_web_cert(d).cert)
    install.record_web(d, https_port=9443, http_port=8081)
    assert _command(d).startswith(
        f"curl -fsS --pinnedpubkey '{pin}' -k https://hub.local:9443/install/")

    # a web behind a proxy with a certificate the Pi trusts: no pin (even though the hub has
    # a web certificate of its own), curl checks as usual
    assert web_files(d).cert.exists()
    assert _command(d, web_url="https://peakend.example.com").startswith(
        "curl -fsS https://peakend.example.com/install/")


def test_before_serve_ran_a_folder_with_the_web_certificate_means_https_8443(folder):
    d = folder
    ensure_web_cert(d)
    assert _command(d).startswith(
        f"curl -fsS --pinnedpubkey '{public_key_pin(web_files(d).cert)}' -k "
        "https://hub.local:8443/install/")
