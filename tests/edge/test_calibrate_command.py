"""`peakend edge calibrate` on a recording, and the one-line edit of edge.toml it makes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import cv2
import pytest

from peakend.broker.device.config import ConfigError
from peakend.edge import calibrate, cli, scenes
from peakend.edge.calibration import SavedCalibration

CONFIG = """# camera at the till
[device]
id = "cam-01"  # from provisioning
store = "s001"
role = "edge"

[camera]
source = "clip.avi"
fps = 10.0

[detector]
# motion: the person size is learned; set it only to force one
# person_px = 40.0
threshold = 30  # keep

[[zones]]
name = "checkout"
polygon = [[10, 10], [200, 10], [200, 200], [10, 200]]
"""


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def test_write_person_px_keeps_every_comment(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG)
    calibrate.write_person_px(path, 23.44)
    text = path.read_text()
    assert tomllib.loads(text)["detector"]["person_px"] == 23.4
    assert comments(CONFIG) == comments(text)
    # Again: the active line is updated in place, not added twice.
    calibrate.write_person_px(path, 31.0)
    text = path.read_text()
    assert text.count("\nperson_px =") == 1 and tomllib.loads(text)["detector"]["person_px"] == 31
    assert comments(CONFIG) == comments(text)


def test_write_person_px_keeps_the_file_private(tmp_path: Path) -> None:
    """edge.toml holds the device's MQTT password: provision writes it 0600, and writing the
    scale into it must not make it readable to every user of the Pi."""
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    calibrate.write_person_px(path, 23.44)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("*.tmp"))


def test_write_person_px_keeps_a_trailing_comment_and_adds_a_missing_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG.replace("# person_px = 40.0", "person_px = 40.0  # by hand"))
    calibrate.write_person_px(path, 18.0)
    text = path.read_text()
    assert "person_px = 18.0  # by hand" in text
    bare = CONFIG.replace("[detector]\n", "").replace("threshold = 30  # keep\n", "")
    bare = bare.replace("# motion: the person size is learned; set it only to force one\n", "")
    bare = bare.replace("# person_px = 40.0\n", "")
    path.write_text(bare)
    calibrate.write_person_px(path, 52.0)
    assert tomllib.loads(path.read_text())["detector"]["person_px"] == 52.0


def test_write_person_px_refuses_to_break_the_file(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError):
        calibrate.write_person_px(path, 2.0)  # below what the config accepts
    assert path.read_text() == CONFIG


def test_calibrate_learns_writes_and_draws_on_a_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    px_per_m = 57.0
    spec = scenes.SceneSpec("install", seconds=40, px_per_m=px_per_m, crowd="corridor_bi", seed=21)
    scene = scenes.build(spec)
    scenes.write_video(scene, tmp_path / "clip.avi")
    path = tmp_path / "edge.toml"
    path.write_text(CONFIG)
    snap = tmp_path / "calibration.png"
    code = cli.main(
        ["calibrate", "--config", str(path), "--seconds", "40", "--write", "--out", str(snap)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "calibrated" in out and "people walking alone" in out
    learned = tomllib.loads(path.read_text())["detector"]["person_px"]
    # People are drawn about 0.39 m across (shoulders, head and the edge of their shadow).
    assert abs(learned / (0.39 * px_per_m) - 1) < 0.2
    assert comments(CONFIG) == comments(path.read_text())
    image = cv2.imread(str(snap))
    assert image is not None and image.shape == (480, 640, 3)
    state = SavedCalibration.read(tmp_path / "calibration.json")
    assert state is not None and state.scale.size_px == pytest.approx(learned, abs=0.06)
