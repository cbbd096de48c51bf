"""The fleet page: every device of the tech's stores, problems first, offline within seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.hub.web.fleet import DeviceRow, judge

from .conftest import WebSession

PASSWORD = "tech password"


def row_state(page: str, device: str) -> str | None:
    found = re.search(rf'id="dev-{device}" data-state="([^"]+)"', page)
    return found[1] if found else None


@pytest.fixture
def tech(hub):
    conn = open_db(hub.db_path, must_exist=False)
    add_user(conn, "tech-anna", PASSWORD, ["s001"])
    add_user(conn, "north-manager", PASSWORD, ["s002"])
    conn.close()
    with serve_in_thread(create_app(hub.db_path, broker_data=hub.dir.root)) as url:
        session = WebSession(url)
        session.login("tech-anna", PASSWORD)
        yield session


def test_a_device_shows_online_then_offline_seconds_after_its_last_will(
    hub, tech, device_process
):
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    hub.provision("kiosk-02", "s001", ["checkout"], "kiosk")  # never switched on
    device = device_process(url)
    assert device.stdout.readline().strip() == "sent"

    def state() -> str | None:
        return row_state(tech.get("/fleet")[1], "kiosk-01")

    assert hub.wait_until(lambda: state() == "online", 15)
    page = tech.get("/fleet")[1]
    assert "9.9.9" in page  # the version from its birth message
    # Problems first: the never-connected device is listed above the healthy one.
    assert page.index('id="dev-kiosk-02"') < page.index('id="dev-kiosk-01"')
    assert 'http-equiv="refresh"' in page

    device.kill()  # a power cut: no goodbye, so the broker publishes the last will
    killed = time.monotonic()
    assert hub.wait_until(lambda: state() == "offline", 10)
    took = time.monotonic() - killed
    assert took < 10
    page = tech.get("/fleet")[1]
    assert "offline since" in page


def test_the_fleet_shows_only_the_users_stores_and_needs_a_login(hub, tech):
    hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    hub.provision("kiosk-09", "s002", ["checkout"], "kiosk")
    page = tech.get("/fleet")[1]
    assert "kiosk-01" in page and "kiosk-09" not in page
    other = type(tech)(tech.base)
    other.login("north-manager", PASSWORD)
    page = other.get("/fleet")[1]
    assert "kiosk-09" in page and "kiosk-01" not in page
    anonymous = type(tech)(tech.base)
    status, page = anonymous.get("/fleet")
    assert "kiosk-01" not in page and 'name="password"' in page


def test_problems_are_judged_from_status_outbox_ack_lag_and_fps():
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    fresh = (now - timedelta(seconds=20)).isoformat()
    ok = DeviceRow("cam-01", "s001", role="edge", state="online", last_seen=fresh, fps=9.5,
                   outbox=3, acked_seq=100, max_seq=100)
    judge(ok, now)
    assert ok.level == "ok" and ok.problems == []
    slow = DeviceRow("cam-02", "s001", role="edge", state="online", last_seen=fresh, fps=0.5,
                     outbox=5000, acked_seq=10, max_seq=500)
    judge(slow, now)
    assert slow.level == "warning" and len(slow.problems) == 3
    assert slow.ack_lag == 490
    gone = DeviceRow("kiosk-01", "s001", state="offline", status_at=fresh)
    judge(gone, now)
    assert gone.level == "problem"
    silent = DeviceRow("kiosk-02", "s001", state="online",
                       last_seen=(now - timedelta(hours=1)).isoformat())
    judge(silent, now)
    assert silent.level == "warning" and "silent for 60 min" in silent.problems[0]


def test_a_cameras_learned_person_size_reaches_the_fleet_page(hub, tech, tmp_path):
    """The health fields the camera adds (scale_state, person_px, scale_people) travel through
    the real broker and hub, and an unsure camera is a warning with its fix."""
    from peakend.broker.device.link import DeviceLink, LinkSettings

    links = []
    for device, vitals in [
        ("cam-01", {"scale_state": "calibrated", "person_px": 31.4, "scale_people": 48,
                    "scale_source": "learned"}),
        ("cam-02", {"scale_state": "unsure", "person_px": 22.0, "scale_people": 30,
                    "scale_source": "learned"}),
    ]:
        url = hub.provision(device, "s001", ["checkout"], "edge")
        link = DeviceLink(LinkSettings(mqtt_url=url, device_id=device, store_id="s001",
                                       zone_id=None, role="edge",
                                       outbox_path=tmp_path / f"{device}.sqlite"))
        link.start()
        link.send("health", {"fps": 9.8, "cpu": 40.0, "outbox": 0, **vitals})
        links.append(link)
    try:
        def rows() -> dict[str, str]:
            page = tech.get("/fleet")[1]
            return dict(re.findall(r'id="dev-(cam-\d+)".*?<td class="scale">([^<]*)</td>',
                                   page, flags=re.S))

        assert hub.wait_until(lambda: len(rows()) == 2 and "-" not in rows().values(), 15), rows()
        assert rows()["cam-01"] == "calibrated, 31 px (48 people)"
        page = tech.get("/fleet")[1]
        cam2 = page[page.index('id="dev-cam-02"'):]
        assert 'data-level="warning"' in cam2[:200]
        assert "run `peakend edge calibrate` on the device" in cam2.split("</tr>")[0]
    finally:
        for link in links:
            link.stop()


def test_the_scale_column_ignores_what_a_device_sends_malformed():
    from peakend.broker.hub.web.fleet import _scale

    assert _scale(None) == {} and _scale("not json") == {} and _scale("[1, 2]") == {}
    assert _scale('{"scale_state": 5}') == {}
    got = _scale('{"scale_state": "calibrating", "person_px": "big", "scale_people": 3}')
    assert got["person_px"] is None and got["scale_people"] == 3
    row = DeviceRow("cam-03", "s001", role="edge", **got)
    assert row.scale == "calibrating (3 people)"


def test_a_device_whose_messages_are_refused_is_a_problem_on_the_page_and_in_doctor(
    hub, tech, tmp_path
):
    """A camera with a mistyped zone is online, acked and drained, and every visit of that
    zone is quarantined: the page and `doctor --hub` must say so, with the reason."""
    import json
    import subprocess

    from hubtools import PEAKEND
    from peakend.broker.device.link import DeviceLink, LinkSettings

    url = hub.provision("cam-01", "s001", ["checkout"], "edge")
    link = DeviceLink(LinkSettings(mqtt_url=url, device_id="cam-01", store_id="s001",
                                   zone_id=None, role="edge",
                                   outbox_path=tmp_path / "cam.sqlite"))
    link.start()
    try:
        now = datetime.now(UTC)
        for i in range(3):
            link.send("dwell", {"track": i, "enter": now - timedelta(seconds=40), "exit": now,
                                "dwell_s": 40.0, "wait_s": 30.0}, zone_id="checkuot", ts=now)
        assert link.wait_acked(timeout=15), link.stats()
    finally:
        link.stop()
    assert hub.scalar("SELECT count(*) FROM quarantine WHERE device_id = 'cam-01'") == 3
    page = tech.get("/fleet")[1]
    row = page[page.index('id="dev-cam-01"'):]
    row = row[:row.index("</tr>")]
    assert 'data-level="problem"' in row
    assert "refused 3 of its messages" in row and "checkuot" in row
    done = subprocess.run([*PEAKEND, "doctor", "--hub", str(hub.dir.root), "--db",
                           str(hub.db_path), "--json"], capture_output=True, text=True,
                          timeout=60)
    rows = {c["name"]: c for c in json.loads(done.stdout)}
    assert done.returncode == 1 and rows["refused"]["status"] == "FAIL"
    assert "cam-01: 3" in rows["refused"]["detail"] and "checkuot" in rows["refused"]["detail"]
