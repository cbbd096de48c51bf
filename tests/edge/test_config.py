"""edge.toml validation: the example loads; calibration mistakes name the zone and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakend.broker.device.config import ConfigError
from peakend.edge import config as edge_config
from peakend.edge.scenes import to_toml

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "edge.toml"


def write(tmp_path: Path, zones: list[dict], **sections: dict) -> Path:
    doc = {"device": {"id": "cam-01", "store": "s001", "role": "edge"}, **sections, "zones": zones}
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(doc))
    return path


SQUARE = [[10, 10], [100, 10], [100, 100], [10, 100]]


def test_documented_example_loads_with_its_zones() -> None:
    cfg, base = edge_config.load(EXAMPLE)
    assert [z.name for z in cfg.zones] == ["checkout", "promo"]
    assert cfg.zones[0].is_queue and not cfg.zones[1].is_queue
    assert cfg.mqtt is not None and cfg.device.role == "edge"
    assert base == EXAMPLE.parent


def test_example_keeps_provisioned_keys_one_per_line() -> None:
    # `peakend provision` rewrites these values in place.
    text = EXAMPLE.read_text()
    for key in ("id", "store", "role"):
        assert sum(1 for line in text.splitlines() if line.startswith(f'{key} = "')) == 1
    assert sum(1 for line in text.splitlines() if line.startswith('url = "mqtt://')) == 1


def test_self_crossing_polygon_names_zone_and_problem(tmp_path: Path) -> None:
    bowtie = [[10, 10], [100, 100], [100, 10], [10, 100]]
    with pytest.raises(ConfigError) as err:
        edge_config.load(write(tmp_path, [{"name": "checkout", "polygon": bowtie}]))
    assert "zone 'checkout'" in str(err.value) and "crosses itself" in str(err.value)


@pytest.mark.parametrize(
    ("polygon", "words"),
    [
        ([[0, 0], [10, 10]], "at least 3 corners"),
        ([[0, 0], [5, 5], [10, 10]], "no area"),
        ([[0, 0], [9, 0], [0, 0], [0, 9]], "repeats a corner"),
    ],
)
def test_degenerate_polygons_are_refused(tmp_path: Path, polygon: list, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        edge_config.load(write(tmp_path, [{"name": "promo", "polygon": polygon}]))


def test_exit_line_away_from_polygon_is_refused(tmp_path: Path) -> None:
    zone = {"name": "till-2", "polygon": SQUARE, "exit_line": [[300, 300], [400, 300]]}
    with pytest.raises(ConfigError) as err:
        edge_config.load(write(tmp_path, [zone]))
    assert "zone 'till-2': exit_line neither lies on nor crosses" in str(err.value)


def test_exit_line_with_one_point_twice_is_refused(tmp_path: Path) -> None:
    zone = {"name": "checkout", "polygon": SQUARE, "exit_line": [[100, 50], [100, 50]]}
    with pytest.raises(ConfigError, match="same spot"):
        edge_config.load(write(tmp_path, [zone]))


def test_duplicate_zone_and_wrong_role_and_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        edge_config.load(
            write(tmp_path, [{"name": "a", "polygon": SQUARE}, {"name": "a", "polygon": SQUARE}])
        )
    path = tmp_path / "k.toml"
    path.write_text(
        to_toml(
            {
                "device": {"id": "k-1", "store": "s001", "role": "kiosk"},
                "zones": [{"name": "a", "polygon": SQUARE}],
            }
        )
    )
    with pytest.raises(ConfigError, match='role = "edge"'):
        edge_config.load(path)
    with pytest.raises(ConfigError, match="remove it or check its spelling"):
        edge_config.load(write(tmp_path, [{"name": "a", "polygon": SQUARE}], camera={"sorce": "0"}))


def test_dnn_without_model_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="peakend edge model"):
        edge_config.load(
            write(tmp_path, [{"name": "a", "polygon": SQUARE}], detector={"kind": "dnn"})
        )


def test_zone_outside_the_frame_is_refused_at_first_frame(tmp_path: Path) -> None:
    cfg, _ = edge_config.load(
        write(tmp_path, [{"name": "promo", "polygon": [[10, 10], [700, 10], [700, 90]]}])
    )
    edge_config.check_frame(cfg, 800, 600)
    with pytest.raises(
        ConfigError, match="zone 'promo': point \\(700, 10\\) is outside the 640x480 frame"
    ):
        edge_config.check_frame(cfg, 640, 480)


def test_each_detector_kind_takes_only_its_own_keys(tmp_path: Path) -> None:
    zones = [{"name": "a", "polygon": SQUARE}]
    cfg, _ = edge_config.load(write(tmp_path, zones, detector={"threshold": 25}))
    assert cfg.detector.kind == "motion" and cfg.detector.threshold == 25
    cfg, _ = edge_config.load(write(tmp_path, zones, detector={"kind": "hog", "score": 0.6}))
    assert cfg.detector.kind == "hog" and cfg.detector.score == 0.6
    # A dnn setting under the motion detector is a mistake, not something to ignore.
    with pytest.raises(ConfigError, match="score"):
        edge_config.load(write(tmp_path, zones, detector={"kind": "motion", "score": 0.6}))


def test_absorb_longer_than_an_hour_is_refused_by_name(tmp_path: Path) -> None:
    # Foreground ages are kept for an hour at most (16 bits of tenths of a second).
    with pytest.raises(ConfigError, match="absorb_s") as err:
        edge_config.load(
            write(tmp_path, [{"name": "a", "polygon": SQUARE}], detector={"absorb_s": 7200.0})
        )
    assert "3600" in str(err.value)
    edge_config.load(
        write(tmp_path, [{"name": "a", "polygon": SQUARE}], detector={"absorb_s": 3600.0})
    )
