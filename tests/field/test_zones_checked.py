"""Zones checked end to end: a mistyped zone is refused at provisioning, a camera's config is
written with the zones it was provisioned for, and `edge check` catches a zone renamed later
or drawn outside the frame, instead of the hub quarantining a day of visits."""

from __future__ import annotations

import tomllib
from pathlib import Path

import cv2
import numpy as np

from .conftest import run_peakend


def provision(hub, *args: str):
    return run_peakend("provision", "--data", str(hub.dir.root), "--host", "localhost", *args)


def test_a_zone_the_store_does_not_have_is_refused_unless_new(bare_hub) -> None:
    first = provision(bare_hub, "--id", "kiosk-01", "--store", "s001", "--zone", "checkout",
                      "--role", "kiosk")
    assert first.returncode == 0, first.stderr  # the store's first zone: nothing to check
    typo = provision(bare_hub, "--id", "cam-01", "--store", "s001", "--zone", "chekout",
                     "--role", "edge")
    assert typo.returncode == 2
    assert "no zone 'chekout'" in typo.stderr and "checkout" in typo.stderr
    assert not (bare_hub.dir.devices / "cam-01.toml").exists()
    new = provision(bare_hub, "--id", "cam-01", "--store", "s001", "--zone", "checkout,promo",
                    "--role", "edge", "--new-zone")
    assert new.returncode == 0, new.stderr
    # another store has its own zones
    other = provision(bare_hub, "--id", "kiosk-09", "--store", "s002", "--zone", "deli",
                      "--role", "kiosk")
    assert other.returncode == 0, other.stderr


def test_a_camera_config_names_the_zones_it_was_provisioned_for(bare_hub) -> None:
    done = provision(bare_hub, "--id", "cam-02", "--store", "s001", "--zone", "entrance",
                     "--zone", "checkout", "--zone", "bakery", "--role", "edge")
    assert done.returncode == 0, done.stderr
    config = bare_hub.dir.devices / "cam-02.toml"
    doc = tomllib.loads(config.read_text())
    assert doc["device"]["zones"] == ["entrance", "checkout", "bakery"]
    assert [z["name"] for z in doc["zones"]] == ["entrance", "checkout", "bakery"]
    assert "exit_line" in doc["zones"][0]  # the first is drawn as a queue, to be redrawn
    check = run_peakend("edge", "check", "--config", str(config))
    assert check.returncode == 0, check.stderr
    assert "zone entrance" in check.stdout and "zone bakery" in check.stdout


def test_edge_check_refuses_a_zone_renamed_after_provisioning(bare_hub) -> None:
    done = provision(bare_hub, "--id", "cam-03", "--store", "s001", "--zone", "checkout",
                     "--role", "edge")
    assert done.returncode == 0, done.stderr
    config = bare_hub.dir.devices / "cam-03.toml"
    config.write_text(config.read_text().replace('name = "checkout"', 'name = "checkuot"'))
    check = run_peakend("edge", "check", "--config", str(config))
    assert check.returncode != 0
    assert "'checkuot' is not a zone the hub accepts from cam-03 (checkout)" in check.stderr
    assert "--zone checkuot" in check.stderr
    assert "CHANGE-ME" not in check.stderr and "mqtt://" not in check.stderr


def test_edge_check_refuses_a_zone_outside_the_frame(tmp_path: Path) -> None:
    video = tmp_path / "floor.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(3):
        writer.write(np.full((480, 640, 3), 128, np.uint8))
    writer.release()
    example = (Path(__file__).resolve().parents[2] / "deploy/examples/edge.toml").read_text()
    config = tmp_path / "edge.toml"
    config.write_text(example.replace('source = "0"', 'source = "floor.avi"'))
    ok = run_peakend("edge", "check", "--config", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "within the 640x480 frame" in ok.stdout
    config.write_text(config.read_text().replace("[288, 40], [288, 264]", "[988, 40], [988, 264]"))
    far = run_peakend("edge", "check", "--config", str(config))
    assert far.returncode != 0
    assert "point (988, 40) is outside the 640x480 frame" in far.stderr
