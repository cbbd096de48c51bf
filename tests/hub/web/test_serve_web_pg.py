"""`peakend serve --db postgresql://... --http`: one process stores what devices send through a
real mosquitto into PostgreSQL, raises the alert, and serves the web that shows both."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect

from hubtools import PEAKEND, stop_process, wait_until
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.field.mosquitto import free_port
from peakend.broker.hub.reports.queries import open_db

from .conftest import PASSWORD


def _login_page(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/login", timeout=2) as resp:
            return resp.read().decode() if resp.status == 200 else ""
    except OSError:
        return ""


def _count(db: str, sql: str) -> int:
    conn = open_db(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_serve_on_postgresql_with_the_web(bare_hub, pg_url: str, browser, tmp_path: Path) -> None:
    hub = bare_hub
    hub.start_broker()
    kiosk_url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    web = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "serve.log"
    serve = subprocess.Popen(
        [*PEAKEND, "serve", "--mqtt", hub.aggregator_url, "--db", pg_url,
         "--http", web.removeprefix("http://"), "--broker-data", str(hub.dir.root)],
        stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    kiosk = None
    try:
        assert wait_until(
            lambda: serve.poll() is not None or "aggregator connected" in log.read_text(), 30)
        assert serve.poll() is None, log.read_text()
        assert wait_until(lambda: _login_page(web), 20), log.read_text()
        form = _login_page(web)
        assert 'name="password"' in form and 'name="csrf"' in form

        kiosk = DeviceLink(LinkSettings(mqtt_url=kiosk_url, device_id="kiosk-01",
                                        store_id="s001", zone_id="checkout", role="kiosk",
                                        outbox_path=tmp_path / "kiosk.sqlite"))
        kiosk.start()
        now = datetime.now(UTC).replace(microsecond=0)
        for i in range(3):
            kiosk.send("rating", {"score": 1}, ts=now - timedelta(minutes=2 - i))
        assert wait_until(lambda: _count(pg_url, "SELECT count(*) FROM ratings") == 3, 20)
        added = subprocess.run(
            [*PEAKEND, "user", "add", "--db", pg_url, "--store", "s001", "anna",
             "--password-stdin"], input=PASSWORD + "\n", text=True, capture_output=True,
            timeout=60)
        assert added.returncode == 0, added.stderr

        page = browser.new_page()
        page.goto(f"{web}/s/s001")
        assert page.url.endswith("/login")
        page.fill("input[name=name]", "anna")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{web}/s/s001")
        row = page.locator("table.zones tbody tr")
        expect(row).to_have_count(1)
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        # zone, Happy Index, faces (% of 1 / 2 / 3 / 4), ratings, unhappy
        assert cells[:5] == ["checkout", "0.0", "100 / 0 / 0 / 0", "3", "100.0%"]
        # the alert monitor of the same process opens the alert within its period
        deadline = time.monotonic() + 45
        while not page.locator(".alert-item.open", has_text="3 unhappy in 10 min").count():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(2)
            page.reload()
        page.close()
        assert serve.poll() is None, log.read_text()
    finally:
        if kiosk is not None:
            kiosk.stop()
        stop_process(serve)
    assert serve.returncode == 0, log.read_text()
