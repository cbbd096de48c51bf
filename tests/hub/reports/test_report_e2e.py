"""End to end on a real broker and aggregator: devices send, the report, alerts and web see it."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from peakend.broker.cli.report import main as report_main
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.reports.alerts import AlertMonitor
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user


def link(hub, tmp_path: Path, device: str, role: str) -> DeviceLink:
    url = hub.provision(device, "s001", ["checkout"], role)
    d = DeviceLink(LinkSettings(mqtt_url=url, device_id=device, store_id="s001",
                                zone_id="checkout", role=role,
                                outbox_path=tmp_path / f"{device}.sqlite"))
    d.start()
    return d


def test_messages_from_devices_reach_report_alerts_and_web(
    hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cam, kiosk = link(hub, tmp_path, "cam-01", "edge"), link(hub, tmp_path, "kiosk-01", "kiosk")
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        for i in range(4):
            exit_ = now - timedelta(minutes=5 - i)
            cam.send("dwell", {"track": i, "enter": exit_ - timedelta(seconds=500),
                               "exit": exit_, "dwell_s": 500, "wait_s": 480}, ts=exit_)
        for i in range(3):
            kiosk.send("rating", {"score": 1, "reason": "waiting"},
                       ts=now - timedelta(minutes=2 - i))
        assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM ratings") == 3, 15)
        assert hub.wait_until(lambda: hub.scalar("SELECT count(*) FROM dwells") == 4, 15)
    finally:
        cam.stop()
        kiosk.stop()

    assert report_main(["--db", str(hub.db_path), "--format", "json"]) == 0
    (zone,) = json.loads(capsys.readouterr().out)["zones"]
    assert (zone["store_id"], zone["zone_id"], zone["ratings"]) == ("s001", "checkout", 3)
    assert zone["happy_index"] == 0 and zone["unhappy_share"] == 1 and zone["wait_p90_s"] == 480
    # the device's time, or the hub's receive time when the device clock is not synchronised
    assert zone["last_message"] >= (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")

    monitor = AlertMonitor(hub.db_path)
    opened = monitor.check(now + timedelta(seconds=5))
    monitor.close()
    causes = sorted(e["cause"] for _, e in opened)
    assert causes[0] == "3 unhappy in 10 min; checkout p90 wait 8:00"

    conn = open_db(hub.db_path)
    add_user(conn, "anna", "password-1", ["s001"])
    conn.close()
    with serve_in_thread(create_app(str(hub.db_path), None)) as url:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        form = opener.open(f"{url}/login").read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        opener.open(f"{url}/login", urllib.parse.urlencode(
            {"csrf": csrf, "name": "anna", "password": "password-1"}).encode())
        page = opener.open(f"{url}/s/s001/z/checkout?period=day").read().decode()
    assert "3 unhappy in 10 min" in page and 'id="kpi-happy">0.0<' in page
