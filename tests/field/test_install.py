"""The one-line install command: a one-time, expiring script the hub's web hands out."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.field import install
from peakend.broker.hub.web.app import create_app
from peakend.kiosk.settings import load_kiosk_config

from .conftest import run_peakend


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def web(tls_hub):
    with serve_in_thread(create_app(tls_hub.db_path, broker_data=tls_hub.dir.root)) as url:
        yield url


def test_the_install_command_fetches_a_pinned_script_once_that_installs_config_and_ca(
    tls_hub, web, tmp_path
):
    done = run_peakend("provision", "--data", str(tls_hub.dir.root), "--id", "kiosk-01",
                       "--store", "s001", "--zone", "checkout", "--role", "kiosk",
                       "--host", "localhost", "--web-url", web)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    url = lines[-1]  # the MQTT URL stays the last line
    command = next(ln.strip() for ln in lines if ln.strip().startswith("curl "))
    script_url = re.search(r"curl -fsS (\S+)", command)[1]
    pinned = re.search(r'echo "([0-9a-f]{64})  peakend-install.sh"', command)[1]
    assert script_url.startswith(web + "/install/")

    status, body = fetch(script_url)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == pinned
    again, text = fetch(script_url)
    assert again == 404 and b"used or expired" in text

    # Run it for real, below a scratch root, on a "Pi" where peakend is not installed yet.
    script = tmp_path / "peakend-install.sh"
    script.write_bytes(body)
    root = tmp_path / "pi"
    env = {**os.environ, "PEAKEND_ROOT": str(root), "PEAKEND": str(tmp_path / "missing")}
    ran = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                         timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert "peakend is not installed on this Pi yet" in ran.stdout
    assert not script.exists(), "the script holds a password and must remove itself"
    config_file = root / "etc/peakend/kiosk.toml"
    assert oct(config_file.stat().st_mode & 0o777) == "0o640"
    config = load_kiosk_config(config_file)
    assert config.mqtt.url == url and config.device.id == "kiosk-01"
    assert config.mqtt.ca_file == "/etc/peakend/ca.pem"
    assert config.outbox.path == "/var/lib/peakend/outbox.sqlite"
    assert (root / "etc/peakend/ca.pem").read_bytes() == tls_hub.dir.ca_file.read_bytes()


def test_an_expired_install_script_is_refused_and_removed(tls_hub):
    script = install.create(tls_hub.dir, device_id="kiosk-01", role="kiosk",
                            config_text="[device]\n", ca_pem=None, ttl_s=60, now=1000.0)
    assert install.claim(tls_hub.dir.root, script.token, now=1061.0) is None
    assert list(tls_hub.dir.install.iterdir()) == []


def test_a_new_provision_or_a_revoke_voids_the_earlier_install_command(tls_hub):
    first = install.create(tls_hub.dir, device_id="kiosk-01", role="kiosk",
                           config_text="[device]\n", ca_pem=None)
    second = install.create(tls_hub.dir, device_id="kiosk-01", role="kiosk",
                            config_text="[device]\n", ca_pem=None)
    assert install.claim(tls_hub.dir.root, first.token) is None
    install.drop_device(tls_hub.dir, "kiosk-01")
    assert install.claim(tls_hub.dir.root, second.token) is None


def test_the_script_is_valid_bash_and_quotes_nothing_from_the_config():
    text = install.script_text(device_id="cam-01", role="edge",
                               config_text='[mqtt]\nurl = "mqtt://cam-01:$(reboot)@h:1"\n',
                               ca_pem=None)
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    # The config goes through a quoted here-document: $(...) in it is never run.
    assert "<<'PEAKEND_CONFIG_END'" in text


def test_expired_scripts_are_swept_by_the_running_web_without_anyone_asking(tls_hub):
    """An expired script still holds a live MQTT password: it must not wait on disk for
    someone to ask for its link."""
    import time

    from peakend.broker.field.mosquitto import BrokerDir

    d = BrokerDir(tls_hub.dir.root)
    live = install.create(d, device_id="kiosk-08", role="kiosk", config_text="y", ca_pem=None)
    # made an hour ago with half an hour to live: expired, and nobody asks for it
    old = install.create(d, device_id="kiosk-07", role="kiosk", config_text="x", ca_pem=None,
                         now=time.time() - 3600)
    orphan = d.install / "orphan.sh"
    orphan.write_text("no expiry known")
    assert old.path.exists()
    with serve_in_thread(create_app(tls_hub.db_path, broker_data=tls_hub.dir.root)):
        deadline = time.time() + 10
        while (old.path.exists() or orphan.exists()) and time.time() < deadline:
            time.sleep(0.05)
    assert not old.path.exists() and not old.path.with_suffix(".json").exists()
    assert not orphan.exists()
    assert live.path.exists(), "a script still in its time stays"
    assert install.sweep(d.root) == 0
    assert install.sweep(d.root, now=live.expires_at + 1) == 1 and not live.path.exists()
