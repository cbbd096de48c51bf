"""The till's pace kept across a restart: written whole, and nothing untrusted read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakend.edge import scenes
from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.estimators import QueueWindow
from peakend.edge.pipeline import Pipeline
from peakend.edge.till_pace import SavedPace, TillPace


def test_the_kept_pace_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pace.json"
    kept = SavedPace({"checkout": TillPace((12.5, 9.25, 14.0), 3.5),
                      "returns": TillPace((), 0.0)})
    kept.write(path)
    assert SavedPace.read(path) == kept
    assert [p.name for p in path.parent.iterdir()] == ["pace.json"]  # no temporary left


def test_a_gap_no_till_makes_is_not_kept(tmp_path: Path) -> None:
    # A lane that never emptied while the till was shut makes a "gap" of hours; a shopper
    # counted twice one of a few milliseconds. Neither is written, so the rest reads back.
    path = tmp_path / "pace.json"
    SavedPace({"checkout": TillPace((15.0, 3665.0, 0.0004, 14.0), 2.0)}).write(path)
    assert SavedPace.read(path) == SavedPace({"checkout": TillPace((15.0, 14.0), 2.0)})


def zone(entry: str) -> str:
    return '{"zones": {"checkout": ' + entry + "}}"


@pytest.mark.parametrize("text", [
    "", "{", "[]", "null", '{"zones": []}', "[" * 200_000,
    zone('{"gaps": [12.0, -1.0]}'), zone('{"gaps": [NaN]}'), zone('{"gaps": [1e999]}'),
    zone('{"gaps": [' + "9" * 400 + "]}"), zone('{"gaps": "123"}'), zone('{"gaps": [true]}'),
    zone('{"gaps": [1e300]}'), zone('{"gaps": [3.0], "walk_s": true}'), zone('{"walk_s": 2}'),
    zone("[3.0]"), zone('{"gaps": [0.0, 0.0]}'), zone('{"gaps": [36000]}'),
])
def test_a_damaged_or_impossible_pace_is_learned_again(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pace.json"
    path.write_text(text)
    assert SavedPace.read(path) is None
    assert SavedPace.read(tmp_path / "missing.json") is None


def test_one_damaged_zone_leaves_the_others_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pace.json"
    path.write_text('{"zones": {"checkout": {"gaps": [9.5, 0.5], "walk_s": 0.0},'
                    ' "returns": {"gaps": [-4]}}}')
    assert SavedPace.read(path) == SavedPace({"checkout": TillPace((9.5, 0.5), 0.0)})
    assert "zone 'returns'" in caplog.text and "learned again" in caplog.text


def test_a_pace_kept_for_a_zone_no_longer_there_changes_nothing() -> None:
    other = SavedPace({"returns": TillPace((9.0, 11.0), 1.0)})
    spec = scenes.SceneSpec("p", seconds=60, px_per_m=70, crowd=None,
                            queue=scenes.QueueSettings(arrival_s=6.0), seed=3)
    scene = scenes.build(spec)
    config = EdgeConfig.model_validate(scene.config())
    runs = []
    for pace in (None, other):
        pipeline = Pipeline(config, make_detector(config.detector, view="overhead"), pace=pace)
        out = []
        for i, frame in enumerate(scene.frames()):
            out += pipeline.process(frame, i / scene.fps)
        runs.append([r.payload() for r in out + pipeline.finish() if isinstance(r, QueueWindow)])
    assert runs[0] == runs[1] and len(runs[0]) == 5
    assert any(w["wait_s"] is not None for w in runs[0])
