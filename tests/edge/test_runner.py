"""`peakend edge run`/`snapshot` on a real video file, and the live source's frame dropping."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from peakend.broker.wire.contract import event_topic, parse_event, parse_ts
from peakend.edge import cli, scenes
from peakend.edge.calibration import SavedCalibration
from peakend.edge.config import CameraSection
from peakend.edge.sources import LiveSource, _Reader
from peakend.edge.till_pace import SavedPace

START = "2026-01-05T09:00:00Z"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("scene")
    return scenes.render_demo_scene(folder, seconds=75)


def test_replay_writes_valid_envelopes_stamped_from_start(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    video, config = recording
    out = tmp_path / "out.jsonl"
    before = set(p.name for p in video.parent.iterdir())
    code = cli.main(
        [
            "run",
            "--config",
            str(config),
            "--no-publish",
            "--jsonl",
            str(out),
            "--start",
            START,
            "--quiet",
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    types = [doc["type"] for doc in lines]
    assert types.count("queue") == 7 and types.count("health") == 2 and types.count("dwell") >= 5
    assert [doc["seq"] for doc in lines] == list(range(1, len(lines) + 1))
    start = parse_ts(START)
    for doc in lines:
        envelope = parse_event(event_topic("s001", "cam-01", doc["type"]), json.dumps(doc).encode())
        assert start <= envelope.ts <= start + timedelta(seconds=75)
        assert envelope.clock_synced is True
    waits = [
        d["data"]["wait_s"] for d in lines if d["type"] == "dwell" and d["zone_id"] == "checkout"
    ]
    assert any(w is not None and w > 0 for w in waits)
    queue = [d["data"] for d in lines if d["type"] == "queue"]
    assert all(d["window_s"] == 10.0 for d in queue) and max(d["length"] for d in queue) >= 1
    health = next(d for d in lines if d["type"] == "health")
    assert {"fps", "cpu", "outbox", "temp_c", "dropped_frames"} <= set(health["data"])
    assert health["zone_id"] is None
    # Privacy: the run wrote its JSON lines and nothing else, no frame. The camera may have
    # kept what it learned (once calibrated within the recording): the scale and a 64 x 48
    # high-passed thumbnail of the empty floor, to notice a moved camera after a restart.
    written = set(p.name for p in video.parent.iterdir()) - before
    assert written <= {"calibration.json", "pace.json"}
    if written:
        saved = SavedCalibration.read(video.parent / "calibration.json")
        assert saved is not None and saved.floor.size <= 64 * 48


def test_a_restart_predicts_waits_with_the_till_s_pace_it_kept(tmp_path: Path) -> None:
    video, config = scenes.render_demo_scene(tmp_path, seconds=75)
    predicted = []
    for run in ("first", "again"):
        out = tmp_path / f"{run}.jsonl"
        args = ["run", "--config", str(config), "--no-publish", "--jsonl", str(out)]
        assert cli.main([*args, "--start", START, "--quiet"]) == 0
        docs = [json.loads(line) for line in out.read_text().splitlines()]
        predicted.append([d["data"]["wait_s"] for d in docs if d["type"] == "queue"])
        kept = SavedPace.read(tmp_path / "pace.json")
        assert kept is not None and len(kept.zones["checkout"].gaps) >= 2
        assert kept.zones["checkout"].walk_s is not None
        # the pace alone is kept: the person size is learned again, as the first time
        (tmp_path / "calibration.json").unlink(missing_ok=True)
    first, again = predicted
    # The first run waits for two services back to back before it knows the pace; the next
    # one knows it from the start, and predicts every window the first one did and more.
    assert len(first) == len(again) == 7
    assert all(b is not None for a, b in zip(first, again, strict=True) if a is not None)
    assert (sum(w is None for w in first), sum(w is None for w in again)) == (1, 0)
    # Once this run's own gaps are known, both predict the same (within the frames' jitter).
    assert again[-1] == pytest.approx(first[-1], rel=0.02)


def test_state_that_cannot_be_kept_is_said_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video, config = scenes.render_demo_scene(tmp_path, seconds=40)
    for name in ("calibration.json", "pace.json"):
        (tmp_path / name).mkdir()  # where the files go stands a folder: no write can succeed
    out = tmp_path / "out.jsonl"
    args = ["run", "--config", str(config), "--no-publish", "--jsonl", str(out)]
    assert cli.main([*args, "--start", START, "--quiet"]) == 0
    assert sum(1 for line in out.read_text().splitlines() if '"queue"' in line) == 3
    assert "cannot keep the till's pace in" in caplog.text
    assert not list(tmp_path.glob("*.tmp"))  # nothing half-kept is left behind, of either
    assert "the till's pace in" in caplog.text and "cannot be read" in caplog.text


def test_snapshot_draws_zones_on_one_local_frame(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    _, config = recording
    plain, drawn = tmp_path / "plain.png", tmp_path / "drawn.png"
    assert cli.main(["snapshot", "--config", str(config), "--out", str(plain)]) == 0
    assert cli.main(["snapshot", "--config", str(config), "--out", str(drawn), "--draw"]) == 0
    a, b = cv2.imread(str(plain)), cv2.imread(str(drawn))
    assert a.shape == b.shape == (480, 640, 3)
    changed = cv2.absdiff(a, b).max(axis=2) > 30
    assert changed[436, 100:400].mean() > 0.9  # the checkout polygon's bottom edge
    # a pixel grid every 50 px, so corners are read off the image, not guessed
    diff = cv2.absdiff(a, b).max(axis=2)
    assert (diff[300:320, 550] > 8).all() and (diff[300:320, 575] <= 8).mean() > 0.8
    assert (diff[250, 560:620] > 8).all()  # the line at y = 250


def test_bad_config_exits_2_naming_the_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        '[device]\nid = "cam-01"\nstore = "s001"\nrole = "edge"\n\n[[zones]]\nname = "checkout"\n'
        "polygon = [[0, 0], [100, 100], [100, 0], [0, 100]]\n"
    )
    assert cli.main(["run", "--config", str(path), "--no-publish"]) == 2
    assert "zone 'checkout': polygon crosses itself" in capsys.readouterr().err


def test_publishing_without_mqtt_section_says_what_to_add(
    recording: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = recording
    assert cli.main(["run", "--config", str(config), "--quiet"]) == 2
    assert "[mqtt]" in capsys.readouterr().err


class FastCamera(_Reader):
    """A camera delivering 100 frames a second."""

    def __init__(self) -> None:
        self.n = 0

    def read(self) -> np.ndarray:
        time.sleep(0.01)
        self.n += 1
        return np.full((48, 64, 3), self.n % 256, np.uint8)


def test_live_source_processes_at_its_rate_and_drops_stale_frames() -> None:
    camera = FastCamera()
    source = LiveSource(camera, fps=10)
    got = []
    began = time.monotonic()
    for frame in source.frames():
        got.append(frame)
        if time.monotonic() - began > 1.0:
            break
    source.close()
    assert 8 <= len(got) <= 13
    assert source.stale > 40  # most of the camera's frames were too old to be worth it
    assert [f.index for f in got] == list(range(len(got)))


def test_live_source_counts_ticks_missed_by_slow_processing() -> None:
    source = LiveSource(FastCamera(), fps=20)
    n = 0
    for _ in source.frames():
        time.sleep(0.12)  # processing slower than the 50 ms period
        n += 1
        if n == 5:
            break
    source.close()
    assert source.dropped >= 5


def test_cli_commands_all_have_help() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"run", "snapshot", "model", "check", "scene"}
    for name, command in sub.choices.items():
        assert command.description or sub._name_parser_map[name].format_help()
        for action in command._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.dest} has no help text"
    assert cli.HELP


def test_run_stops_when_asked(recording: tuple[Path, Path], tmp_path: Path) -> None:
    from peakend.edge import runner

    _, config = recording
    stop = threading.Event()
    stop.set()
    summary = runner.run(config, publish=False, stop=stop, jsonl=tmp_path / "o.jsonl")
    assert summary.frames == 1


def test_camera_section_accepts_the_sources_the_issue_lists() -> None:
    for source in ("0", "clip.avi", "rtsp://cam.local/stream", "picamera2"):
        assert CameraSection(source=source).source == source
