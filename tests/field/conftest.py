"""Fixtures for the field techs' tools: a hub whose broker speaks TLS, a device process, and a
logged-in browser-like session on the hub's web."""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubtools import Hub, make_tls_hub, temp_hub

PEAKEND = [sys.executable, "-m", "peakend.broker.cli"]


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def run_peakend(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run([*PEAKEND, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.fixture
def tls_hub() -> Iterator[Hub]:
    """A hub whose broker takes devices on an mqtts port; the aggregator stays on loopback."""
    with temp_hub(make_tls_hub) as h:
        yield h


DEVICE_SCRIPT = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from peakend.broker.device.link import DeviceLink, LinkSettings
    url, outbox, ca = sys.argv[1], sys.argv[2], (sys.argv[3] or None)
    link = DeviceLink(LinkSettings(mqtt_url=url, device_id="kiosk-01", store_id="s001",
                                   zone_id="checkout", role="kiosk", outbox_path=Path(outbox),
                                   version="9.9.9", ca_file=ca, keepalive_s=5))
    link.start()
    link.send("rating", {"score": 3})
    print("sent", flush=True)
    time.sleep(600)
''')


@pytest.fixture
def device_process(tmp_path: Path):
    """Start a kiosk-01 link in its own process (so a test can SIGKILL it like a power cut)."""
    procs: list[subprocess.Popen[str]] = []

    def start(url: str, ca: str = "") -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", DEVICE_SCRIPT, url, str(tmp_path / "outbox.sqlite"), ca],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class WebSession:
    """A cookie-keeping client for the hub's web (no JavaScript needed: the pages have none)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def login(self, name: str, password: str) -> None:
        _, page = self.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"name": name, "password": password, "csrf": csrf})
        with self.opener.open(self.base + "/login", data=data.encode(), timeout=10) as resp:
            assert resp.status == 200, resp.status
