"""`peakend serve --https --http`: the web over TLS with the broker folder's web certificate,
install commands that pin its key for a Pi without the CA, and plain HTTP only redirecting."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from hubtools import PEAKEND, Hub, broker_root, make_tls_hub, stop_process, wait_until
from peakend.broker.field.mosquitto import free_port
from peakend.broker.field.tls import make_ca, public_key_pin, web_files
from peakend.kiosk.settings import load_kiosk_config

from .conftest import CHROMIUM, PASSWORD


@dataclass
class HttpsHub:
    hub: Hub
    https_port: int
    http_port: int
    log: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ca(self) -> Path:
        return self.hub.dir.ca_file


def ca_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _answers(url: str, ca: Path) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ca_context(ca)) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def https_hub() -> Iterator[HttpsHub]:
    """A TLS broker made as `peakend broker --tls` makes it, and a real `peakend serve` process
    with the web on HTTPS and plain HTTP beside it."""
    root = broker_root()
    hub = make_tls_hub(root)
    log = root / "serve.log"
    https_port, http_port = free_port(), free_port()
    serve = None
    try:
        hub.start_broker()
        added = subprocess.run(
            [*PEAKEND, "user", "add", "--db", str(hub.db_path), "--store", "s001", "anna",
             "--password-stdin"], input=PASSWORD + "\n", text=True, capture_output=True,
            timeout=60)
        assert added.returncode == 0, added.stderr
        with open(log, "ab") as err:
            serve = subprocess.Popen(
                [*PEAKEND, "serve", "--broker-data", str(hub.dir.root), "--db", str(hub.db_path),
                 "--https", f"127.0.0.1:{https_port}", "--http", f"127.0.0.1:{http_port}"],
                stdout=subprocess.DEVNULL, stderr=err)
        served = HttpsHub(hub, https_port, http_port, log)
        assert wait_until(lambda: serve.poll() is not None
                          or _answers(served.https + "/healthz", served.ca), 30), log.read_text()
        assert serve.poll() is None, log.read_text()
        yield served
        assert serve.poll() is None, log.read_text()
    finally:
        if serve is not None:
            stop_process(serve)
        hub.close()
        shutil.rmtree(root, ignore_errors=True)


def provision_command(served: HttpsHub, device: str = "kiosk-01") -> tuple[str, str]:
    """(the install command `peakend provision` prints, the device's MQTT URL)."""
    done = subprocess.run(
        [*PEAKEND, "provision", "--data", str(served.hub.dir.root), "--id", device,
         "--store", "s001", "--zone", "checkout", "--role", "kiosk", "--host", "localhost"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert not any("plain HTTP" in ln for ln in lines), done.stdout
    return next(ln.strip() for ln in lines if ln.strip().startswith("curl ")), lines[-1]


def openssl_pin(cert: Path) -> str:
    """The pin as curl's documentation derives it, with the openssl command alone."""
    out = subprocess.run(
        ["bash", "-c", f"openssl x509 -in '{cert}' -pubkey -noout | openssl pkey -pubin "
                       "-outform der | openssl dgst -sha256 -binary | base64"],
        capture_output=True, text=True, check=True)
    return "sha256//" + out.stdout.strip()


def fetch_part(command: str) -> str:
    """The printed command up to the sha256sum check: the rest runs the script as root."""
    fetch, run = command.split(" && sudo bash ")
    assert run == "peakend-install.sh"
    return fetch


def run_bash(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def test_the_printed_command_fetches_the_script_over_https_pinned_to_the_web_key(
    https_hub, tmp_path
):
    command, mqtt_url = provision_command(https_hub)
    pin = public_key_pin(web_files(https_hub.hub.dir).cert)
    assert pin == openssl_pin(web_files(https_hub.hub.dir).cert)
    # provision found the running web's https port by itself
    prefix = f"curl -fsS --pinnedpubkey '{pin}' -k https://localhost:{https_hub.https_port}/install/"
    assert command.startswith(prefix), command

    # Another key (the broker's own: same CA, same names) is refused before anything is sent,
    # so the script stays there for the right one.
    other = public_key_pin(https_hub.hub.dir.tls_dir / "server.pem")
    assert other != pin
    wrong = run_bash(fetch_part(command).replace(pin, other), tmp_path)
    assert wrong.returncode != 0
    assert "pinned public key" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "peakend-install.sh").exists()

    right = run_bash(fetch_part(command), tmp_path)
    assert right.returncode == 0, right.stderr
    script = tmp_path / "peakend-install.sh"
    root = tmp_path / "pi"
    env = {**os.environ, "PEAKEND_ROOT": str(root), "PEAKEND": str(tmp_path / "missing")}
    ran = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                         timeout=30)
    assert ran.returncode == 0, ran.stderr
    config = load_kiosk_config(root / "etc/peakend/kiosk.toml")
    assert config.mqtt.url == mqtt_url and mqtt_url.startswith("mqtts://")
    assert (root / "etc/peakend/ca.pem").read_bytes() == https_hub.ca.read_bytes()

    again = run_bash(fetch_part(command), tmp_path)
    assert again.returncode != 0 and "404" in again.stderr, again.stderr


def test_the_web_proves_itself_with_the_hub_ca_and_the_pinned_key(https_hub, tmp_path):
    with urllib.request.urlopen(https_hub.https + "/login", timeout=10,
                                context=ca_context(https_hub.ca)) as resp:
        assert resp.status == 200 and 'name="password"' in resp.read().decode()
    # another CA's certificate with the same names would not pass
    make_ca(tmp_path / "other.pem", tmp_path / "other.key")
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(https_hub.https + "/login", timeout=10,
                               context=ca_context(tmp_path / "other.pem"))
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)
    # the key served is the key the install commands pin
    served = tmp_path / "served.pem"
    served.write_text(ssl.get_server_certificate(("127.0.0.1", https_hub.https_port)))
    assert public_key_pin(served) == public_key_pin(web_files(https_hub.hub.dir).cert)


def _request(base: str, method: str, path: str, body: str | None = None):
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def test_plain_http_only_redirects_but_answers_the_clock(https_hub):
    status, headers, _ = _request(https_hub.http, "GET", "/s/s001?period=day")
    assert status == 307
    assert headers["location"] == f"{https_hub.https}/s/s001?period=day"
    status, headers, _ = _request(https_hub.http, "POST", "/login", "name=anna&password=x")
    assert status == 307 and headers["location"] == f"{https_hub.https}/login"
    status, _, body = _request(https_hub.http, "GET", "/time")
    assert status == 200 and abs(json.loads(body)["unix"] - time.time()) < 5


def test_an_install_link_asked_for_over_http_is_voided(https_hub, tmp_path):
    command, _ = provision_command(https_hub, "kiosk-02")
    path = command.split(f"localhost:{https_hub.https_port}", 1)[1].split()[0]
    status, _, body = _request(https_hub.http, "GET", path)
    assert status == 404 and "plain HTTP" in body
    late = run_bash(fetch_part(command), tmp_path)
    assert late.returncode != 0 and "404" in late.stderr, late.stderr


def test_a_manager_logs_in_with_chromium_over_https_and_gets_a_secure_cookie(
    https_hub, browser, artifacts
):
    # Chromium trusts exactly the pinned key, as the Pi's curl does; the same browser without
    # the pin refuses the hub's certificate (its CA is in no system store).
    spki = public_key_pin(web_files(https_hub.hub.dir).cert).removeprefix("sha256//")
    page = browser.new_page()
    with pytest.raises(PlaywrightError, match="ERR_CERT"):
        page.goto(https_hub.https + "/login")
    page.close()

    pinned = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run",
              f"--ignore-certificate-errors-spki-list={spki}"])
    try:
        context = pinned.new_context()
        page = context.new_page()
        page.goto(https_hub.http + "/s/s001")  # typed without https: sent on to it
        assert page.url == https_hub.https + "/login"
        page.fill("input[name=name]", "anna")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(https_hub.https + "/s/s001")
        page.screenshot(path=str(artifacts / "https-store.png"))
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["peakend_session"]
        assert session["secure"] and session["httpOnly"]
        assert session["sameSite"] == "Lax"
        context.close()
    finally:
        pinned.close()


def test_the_hub_doctor_checks_the_web_through_the_redirect_with_the_hub_ca(https_hub):
    for web in (https_hub.http, https_hub.https):
        done = subprocess.run(
            [*PEAKEND, "doctor", "--hub", str(https_hub.hub.dir.root), "--hub-web",
             web.replace("127.0.0.1", "localhost"), "--json"],
            capture_output=True, text=True, timeout=60)
        rows = {c["name"]: c for c in json.loads(done.stdout)}
        assert rows["web"]["status"] == "PASS", rows["web"]
        assert rows["web tls"]["status"] == "PASS", rows["web tls"]
        assert "against the hub" in rows["clock"]["detail"], rows["clock"]


def test_https_answers_carry_hsts_and_private_ones_are_not_stored(https_hub):
    """Over HTTPS browsers are told to come back only over HTTPS; over the plain side they
    are only sent on (no HSTS there: a header over plain HTTP means nothing)."""
    with urllib.request.urlopen(https_hub.https + "/login", timeout=10,
                                context=ca_context(https_hub.ca)) as resp:
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert resp.headers["Cache-Control"] == "no-store"
    status, headers, _ = _request(https_hub.http, "GET", "/login")
    assert status == 307 and "strict-transport-security" not in {k.lower() for k in headers}
