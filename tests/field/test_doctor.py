"""`peakend doctor` against a real broker and the hub's real web: what a tech sees."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hubtools import wait_until
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.field.provision import provision
from peakend.broker.hub.web.app import create_app
from peakend.kiosk.doctor import check_display_and_touch, touch_devices

from .conftest import run_peakend


def device_config(hub, tmp_path: Path, device: str = "kiosk-01") -> Path:
    out = tmp_path / "kiosk.toml"
    provision(hub.dir.root, device_id=device, store="s001", zones=["checkout"], role="kiosk",
              host="127.0.0.1", out=out)
    return out


def doctor(*args: str, offset: float | None = None) -> tuple[int, dict[str, dict]]:
    env = dict(os.environ)
    if offset is not None:
        env["PEAKEND_DOCTOR_CLOCK_OFFSET_S"] = str(offset)
    done = run_peakend("doctor", *args, "--json", env=env)
    rows = {c["name"]: c for c in json.loads(done.stdout)}
    return done.returncode, rows


@pytest.fixture
def hub_web(hub):
    with serve_in_thread(create_app(hub.db_path, broker_data=hub.dir.root)) as url:
        yield url


def test_a_healthy_device_passes_broker_login_acl_and_sees_its_ack(hub, hub_web, tmp_path):
    config = device_config(hub, tmp_path)
    url = next(ln for ln in config.read_text().splitlines() if ln.startswith("url = "))[7:-1]
    link = DeviceLink(LinkSettings(mqtt_url=url, device_id="kiosk-01", store_id="s001",
                                   zone_id="checkout", role="kiosk",
                                   outbox_path=tmp_path / "outbox.sqlite"))
    link.start()
    link.send("rating", {"score": 4})
    assert link.wait_acked(timeout=15)
    try:
        code, rows = doctor("--config", str(config), "--hub-web", hub_web)
        # The broker allows one connection per account: doctor's login takes the device's
        # over for a moment, and the device's own link comes back by itself.
        assert wait_until(lambda: link.stats().connected, 15)
    finally:
        link.stop()
    for name in ("config", "broker", "credentials", "acl", "disk", "outbox"):
        assert rows[name]["status"] == "PASS", rows[name]
    assert "reads its ack (seq 1)" in rows["acl"]["detail"]
    assert "hub's ack 1" in rows["outbox"]["detail"]
    skew = float(re.search(r"([+-]\d+\.\d+) s against the hub", rows["clock"]["detail"])[1])
    assert abs(skew) < 1.0
    assert "beyond" not in rows["clock"]["detail"]


def test_a_stopped_broker_is_reported_with_how_to_start_it(hub, tmp_path):
    config = device_config(hub, tmp_path)
    hub.stop_broker()
    code, rows = doctor("--config", str(config))
    assert code == 1
    assert rows["config"]["status"] == "PASS"
    assert rows["broker"]["status"] == "FAIL"
    assert "nothing answers" in rows["broker"]["detail"]
    assert "systemctl start peakend-broker" in rows["broker"]["fix"]
    assert rows["credentials"]["status"] == "SKIP"


def test_a_wrong_password_is_reported_as_refused_credentials(hub, tmp_path):
    config = device_config(hub, tmp_path)
    text = re.sub(r"(mqtt://kiosk-01:)[^@]+@", r"\1not-the-password@", config.read_text())
    config.write_text(text)
    code, rows = doctor("--config", str(config))
    assert code == 1
    assert rows["broker"]["status"] == "PASS"
    assert rows["credentials"]["status"] == "FAIL"
    assert "Not authorized" in rows["credentials"]["detail"]
    assert "peakend provision" in rows["credentials"]["fix"]


def test_a_skewed_clock_is_measured_against_the_hub_and_warned_about(hub, hub_web, tmp_path):
    config = device_config(hub, tmp_path)
    code, rows = doctor("--config", str(config), "--hub-web", hub_web, offset=7.5)
    clock = rows["clock"]
    assert clock["status"] == "WARN"
    skew = float(re.search(r"([+-]\d+\.\d+) s against the hub", clock["detail"])[1])
    assert 6.5 < skew < 8.5
    assert "beyond 2 s" in clock["detail"] and "timedatectl" in clock["fix"]
    # 1.2 s off is within the tolerance: no "beyond".
    _, rows = doctor("--config", str(config), "--hub-web", hub_web, offset=-1.2)
    assert "beyond" not in rows["clock"]["detail"]


def test_a_broken_config_names_field_and_fix_and_stops_there(tmp_path):
    bad = tmp_path / "kiosk.toml"
    bad.write_text('[device]\nid = "Kiosk 01"\nstore = "s001"\nrole = "kiosk"\n'
                   '[mqtt]\nurl = "mqtt://a:b@127.0.0.1:1"\n')
    code, rows = doctor("--config", str(bad))
    assert code == 1 and list(rows) == ["config"]
    assert "device.id" in rows["config"]["detail"]


def test_hub_mode_checks_folder_broker_login_and_database(hub, hub_web):
    code, rows = doctor("--hub", str(hub.dir.root), "--db", str(hub.db_path),
                        "--hub-web", hub_web)
    assert code == 0, rows
    for name in ("broker folder", "broker", "aggregator login", "database", "web"):
        assert rows[name]["status"] == "PASS", rows[name]
    hub.stop_broker()
    code, rows = doctor("--hub", str(hub.dir.root))
    assert code == 1 and rows["broker"]["status"] == "FAIL"


PROC_DEVICES = """I: Bus=0018 Vendor=0000 Product=0000 Version=0000
N: Name="raspberrypi-ts"
H: Handlers=mouse0 event0
B: EV=b
B: KEY=400 0 0 0 0 0
B: ABS=260800000000003

I: Bus=0003 Vendor=046d Product=c077 Version=0111
N: Name="Logitech USB Optical Mouse"
H: Handlers=mouse1 event1
B: KEY=ff0000 0 0 0 0
"""


def test_touch_screens_are_found_by_their_touch_key(tmp_path):
    proc = tmp_path / "devices"
    proc.write_text(PROC_DEVICES)
    assert touch_devices(proc, word_bits=64) == ["raspberrypi-ts"]
    # 32-bit Raspberry Pi OS prints the same bitmap in 32-bit words.
    proc.write_text(PROC_DEVICES.replace("KEY=400 0 0 0 0 0", "KEY=400 0 0 0 0 0 0 0 0 0 0"))
    assert touch_devices(proc, word_bits=32) == ["raspberrypi-ts"]
    assert touch_devices(proc, word_bits=64) == []
    proc.write_text(PROC_DEVICES.split("\n\n")[1])
    display, touch = check_display_and_touch(tmp_path / "no-dri", proc)
    assert touch.status == "FAIL" and "touch" in touch.fix


def test_a_camera_config_gets_the_camera_checks_from_the_edge_package(tmp_path):
    """The command picks the role's checks by the file: an edge.toml opens its camera (here
    a recording) and counts frames; --no-camera skips it."""
    from peakend.edge.scenes import render_demo_scene

    video, config = render_demo_scene(tmp_path / "scene", seconds=3)
    with config.open("a") as f:
        f.write('\n[mqtt]\nurl = "mqtt://cam-01:pw@127.0.0.1:1"\n')
    code, rows = doctor("--config", str(config))
    assert code == 1 and rows["broker"]["status"] == "FAIL"
    assert rows["config"]["status"] == "PASS" and "edge cam-01" in rows["config"]["detail"]
    assert rows["camera"]["status"] == "PASS", rows["camera"]
    assert re.search(r"\d+ frames \(\d+x\d+\)", rows["camera"]["detail"])
    assert "display" not in rows and "touch" not in rows
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["camera"]["status"] == "SKIP"


def test_a_damaged_registry_fails_the_hub_folder_check_with_the_fix(bare_hub):
    bare_hub.dir.registry.write_text('{"devices": {"kiosk-01": ')
    code, rows = doctor("--hub", str(bare_hub.dir.root))
    assert code == 1 and rows["broker folder"]["status"] == "FAIL"
    assert "registry.json is damaged" in rows["broker folder"]["detail"]
    assert "restore it from a backup" in rows["broker folder"]["fix"]


def camera_config(tmp_path):
    """A camera's edge.toml (the demo scene's, with a broker that is not there)."""
    from peakend.edge.scenes import render_demo_scene

    _, config = render_demo_scene(tmp_path / "scene", seconds=2)
    with config.open("a") as f:
        f.write('\n[mqtt]\nurl = "mqtt://cam-01:pw@127.0.0.1:1"\n')
    return config


def test_doctor_shows_the_till_s_pace_the_camera_kept(tmp_path):
    """None kept yet passes and says when it will be; a kept pace shows per queue; a file the
    camera cannot read is a warning with the fix."""
    from peakend.edge.till_pace import SavedPace, TillPace

    config = camera_config(tmp_path)
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["till pace"]["status"] == "PASS"
    assert "none kept yet" in rows["till pace"]["detail"]

    state = config.parent / "pace.json"
    SavedPace({"checkout": TillPace((9.0, 12.5, 10.0, 11.0), 1.5)}).write(state)
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["till pace"]["status"] == "PASS", rows["till pace"]
    assert rows["till pace"]["detail"] == "checkout: median 10.5 s over 4 services, walk 1.5 s"

    state.write_text('{"zones": {"checkout": {"gaps": [1e999]}}}')
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["till pace"]["status"] == "WARN"
    assert "damaged" in rows["till pace"]["detail"] and "delete it" in rows["till pace"]["fix"]


def test_doctor_shows_what_the_camera_learned_of_a_persons_size(tmp_path):
    """Nothing learned yet is a warning with the fix; the state file's scale and how many
    people it rests on pass; a person_px set by hand that the camera contradicts is a warning."""
    from peakend.edge.calibration import PersonScale, SavedCalibration

    config = camera_config(tmp_path)
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["person size"]["status"] == "WARN"
    assert "nothing learned yet" in rows["person size"]["detail"]
    assert "peakend edge calibrate" in rows["person size"]["fix"]

    SavedCalibration(PersonScale(31.4), people=48, view="overhead",
                     frame=(640, 480)).write(config.parent / "calibration.json")
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["person size"]["status"] == "PASS", rows["person size"]
    assert "31 px, learned from 48 people" in rows["person size"]["detail"]

    text = config.read_text().replace("[detector]\n", "[detector]\nperson_px = 60\n", 1)
    if "[detector]" not in text:
        text += "\n[detector]\nperson_px = 60\n"
    config.write_text(text)
    _, rows = doctor("--config", str(config), "--no-camera")
    assert rows["person size"]["status"] == "WARN"
    assert "person_px = 60 in the config disagrees" in rows["person size"]["detail"]
