"""Detectors on real frames: the motion detector on rendered overhead people, the DNN decoder
on ONNX models built here (the real converted detector needs `peakend edge model`), and HOG."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from peakend.edge import scenes
from peakend.edge.detectors import (
    DnnDetector,
    DnnSettings,
    HogDetector,
    HogSettings,
    MotionDetector,
    MotionSettings,
)


def floor() -> np.ndarray:
    return scenes.build(scenes.SceneSpec("floor", seconds=1, crowd=None, queue=None)).background


def person(image: np.ndarray, x: float, y: float, colour=(40, 40, 160)) -> None:
    cv2.ellipse(image, (int(x), int(y)), (19, 11), 90, 0, 360, colour, -1, cv2.LINE_AA)
    cv2.circle(image, (int(x), int(y)), 8, (30, 30, 30), -1, cv2.LINE_AA)


def motion() -> MotionDetector:
    return MotionDetector(MotionSettings(person_px=scenes.PERSON_PX), view="overhead")


def test_motion_finds_one_person_where_they_are() -> None:
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    person(frame, 300, 200)
    found = det.detect(frame, 0.1)
    assert len(found) == 1
    assert abs(found[0].x - 300) < 4 and abs(found[0].y - 200) < 4


def test_motion_splits_a_merged_blob_of_two_people() -> None:
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    person(frame, 300, 200)
    person(frame, 300, 229)  # shoulder to shoulder: one blob
    found = sorted(det.detect(frame, 0.1), key=lambda d: d.y)
    assert len(found) == 2
    assert abs(found[0].y - 200) < 8 and abs(found[1].y - 229) < 8


def test_motion_keeps_a_person_standing_still_for_minutes() -> None:
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    person(frame, 200, 300)
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 4, frame.shape, dtype=np.uint8) for _ in range(4)]
    for i in range(1, 1200):  # 2 minutes at 10 fps, with sensor noise
        found = det.detect(cv2.add(frame, noise[i % 4]), i / 10)
    assert len(found) == 1 and abs(found[0].x - 200) < 4


@pytest.mark.parametrize("head", [5, 6])  # a fifth and a quarter of the person's blob
def test_motion_keeps_a_head_alone_where_someone_is_followed_and_nowhere_else(head: int) -> None:
    # Clothes of the floor's colour: only the head shows, a fifth to a quarter of a person
    # seen from above, too little to be someone new. Where the tracker follows someone it
    # is them, standing in line for a minute; elsewhere it is nobody, and is learnt away.
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    cv2.circle(frame, (200, 300), head, (30, 30, 30), -1, cv2.LINE_AA)
    cv2.circle(frame, (450, 120), head, (30, 30, 30), -1, cv2.LINE_AA)
    rng = np.random.default_rng(head)
    noise = [rng.integers(0, 4, frame.shape, dtype=np.uint8) for _ in range(4)]
    for i in range(1, 600):
        det.expect([(201.0, 298.0)])  # where the tracker last saw someone
        found = det.detect(cv2.add(frame, noise[i % 4]), i / 10)
        assert [(round(d.x / 10), round(d.y / 10), d.weak) for d in found] == [(20, 30, True)]
    # Nobody followed there any more: a head alone starts nobody.
    det.expect([])
    assert det.detect(frame, 60.0) == []


def test_someone_whose_head_alone_shows_is_followed_through_a_minute_in_line() -> None:
    # The whole chain, as it runs on the device: walking in, a bit of the shirt shows now
    # and then (a head and a fringe, about a third of a person); standing in line, the head
    # alone. Before, the camera lost them within seconds of stopping and learnt them away.
    from peakend.edge.calibration import PersonScale, SavedCalibration, floor_signature
    from peakend.edge.config import EdgeConfig
    from peakend.edge.detectors import make_detector
    from peakend.edge.pipeline import Pipeline

    scene = scenes.build(scenes.SceneSpec("head", seconds=1, crowd=None, queue=None))
    empty = scene.background
    saved = SavedCalibration(
        PersonScale(31.0), 30, "overhead", (640, 480), floor_signature(empty)
    )
    config = EdgeConfig.model_validate(scene.config())
    pipeline = Pipeline(config, make_detector(config.detector, view="overhead"), saved=saved)
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 4, empty.shape, dtype=np.uint8) for _ in range(4)]
    for i in range(10):
        pipeline.process(empty, i / 10)
    ids = set()
    for i in range(10, 650):
        t = i / 10
        walking = i < 40
        x = 60 + 8 * (i - 10) if walking else 300
        frame = empty.copy()
        cv2.circle(frame, (x, 240), 7 if walking and i % 3 else 6, (30, 30, 30), -1, cv2.LINE_AA)
        pipeline.process(cv2.add(frame, noise[i % 4]), t)
        ids |= {tr.id for tr in pipeline.tracker.tracks if tr.confirmed}
    assert ids == {1}
    (track,) = pipeline.tracker.tracks
    assert track.last_seen == pytest.approx(64.9)
    assert abs(track.x - 300) < 4 and abs(track.y - 240) < 4


def test_a_basket_left_where_someone_stood_keeps_them_no_longer_than_a_head_may() -> None:
    # Someone puts a basket down (as small as a head) and is gone unseen: the basket is kept
    # as them, as a head alone would be, but not for as long as it stays.
    from peakend.edge.calibration import PersonScale, SavedCalibration, floor_signature
    from peakend.edge.config import EdgeConfig
    from peakend.edge.detectors import make_detector
    from peakend.edge.pipeline import Pipeline

    scene = scenes.build(scenes.SceneSpec("basket", seconds=1, crowd=None, queue=None))
    empty = scene.background
    saved = SavedCalibration(PersonScale(31.0), 30, "overhead", (640, 480), floor_signature(empty))
    config = EdgeConfig.model_validate(scene.config())
    pipeline = Pipeline(config, make_detector(config.detector, view="overhead"), saved=saved)
    basket = empty.copy()
    cv2.circle(basket, (300, 240), 6, (40, 60, 150), -1, cv2.LINE_AA)
    person = basket.copy()
    cv2.circle(person, (300, 240), 13, (30, 30, 30), -1, cv2.LINE_AA)
    gone = 3.0 + pipeline.WEAK_HOLD_S + config.tracker.max_missed_s
    frames = [(empty, 1.0), (person, 3.0), (basket, gone + 1.0)]
    i = 0
    for frame, until in frames:
        while i / 10 < until:
            pipeline.process(frame, i / 10)
            i += 1
    assert [tr for tr in pipeline.tracker.tracks if tr.confirmed] == []


def test_motion_takes_a_speck_below_a_head_for_nobody_even_where_someone_is_followed() -> None:
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    # An eighth of a person: less than any head.
    cv2.ellipse(frame, (200, 300), (5, 3), 0, 0, 360, (30, 30, 30), -1, cv2.LINE_AA)
    det.expect([(200.0, 300.0)])
    assert det.detect(frame, 0.1) == []


def pale(image: np.ndarray, x: int, y: int, change: tuple[int, int, int], head: int = 5) -> None:
    """Someone whose shirt differs from the floor by ``change`` (under the threshold), with
    a small dark head: the head alone is too small to be anyone new."""
    shirt = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(shirt, (x, y), (19, 11), 90, 0, 360, 255, -1)
    tint(image, shirt > 0, change)
    cv2.circle(image, (x, y), head, (30, 30, 30), -1, cv2.LINE_AA)


def tint(image: np.ndarray, where: np.ndarray | tuple, change: tuple[int, int, int]) -> None:
    """Change the colour of ``image`` at ``where`` by ``change`` per channel."""
    image[where] = np.clip(image[where].astype(np.int16) + np.int16(change), 0, 255)


def sizes(found: list) -> list[tuple[float, float]]:
    return [(d.box[2] - d.box[0], d.box[3] - d.box[1]) for d in found]


@pytest.mark.parametrize("change", [(-22, 4, 20), (20, -16, 6), (-8, 25, -18)])
def test_motion_finds_someone_whose_shirt_differs_from_the_floor_in_colour_not_light(
    change: tuple[int, int, int],
) -> None:
    # A pale shirt of another hue than the floor's, under the threshold in every channel:
    # only the head shows over it, and a head alone is nobody new. The shirt is foreground
    # where it joins the head (hysteresis), so they are someone, the size of a person.
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    pale(frame, 300, 200, change)
    found = det.detect(frame, 0.1)
    assert len(found) == 1 and abs(found[0].x - 300) < 4 and abs(found[0].y - 200) < 4
    (w, h), = sizes(found)
    assert w >= 18 and h >= 30  # the shirt, 22 x 38 px, not the head's 10 x 10


@pytest.mark.parametrize("gain", [0.88, 1.12])
def test_motion_does_not_grow_a_head_into_a_change_of_light(gain: float) -> None:
    # A shirt of the floor's colour a little darker or lighter (or the floor in the pale
    # shade under someone, or in a flicker) changes every channel by the same share: that
    # is light, not someone's colour, and the head alone stays nobody.
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    shirt = np.zeros(frame.shape[:2], np.uint8)
    cv2.ellipse(shirt, (300, 200), (19, 11), 90, 0, 360, 255, -1)
    frame[shirt > 0] = np.clip(frame[shirt > 0] * gain, 0, 255).astype(np.uint8)
    cv2.circle(frame, (300, 200), 5, (30, 30, 30), -1, cv2.LINE_AA)
    assert det.detect(frame, 0.1) == []


def test_motion_grows_a_piece_by_half_a_person_at_most() -> None:
    # A head beside a long strip of a faintly different colour (a mat, a display's glow)
    # takes in about a person of it, not the 400 px of the strip.
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    tint(frame, np.s_[150:170, 100:500], (-22, 4, 20))
    cv2.circle(frame, (300, 160), 5, (30, 30, 30), -1, cv2.LINE_AA)
    found = det.detect(frame, 0.1)
    assert len(found) == 1
    (w, _h), = sizes(found)
    assert scenes.PERSON_PX <= w <= 1.5 * scenes.PERSON_PX


def test_motion_grows_no_speck_into_someone() -> None:
    # A crumb on a mat of a faintly different colour is under noise: it stays nobody,
    # however long it lies there.
    det = motion()
    empty = floor()
    det.detect(empty, 0.0)
    frame = empty.copy()
    tint(frame, np.s_[150:200, 100:500], (-22, 4, 20))
    frame[174:177, 299:302] = (30, 30, 30)
    for i in range(1, 30):
        assert det.detect(frame, i / 10) == []


def test_motion_leaves_someone_seen_whole_the_size_they_are() -> None:
    # Only pieces too small to be anyone grow: a person seen whole keeps their own size in
    # a faint halo of another colour (what they join a little under the threshold is a
    # neighbour as often as them, and their size is what the camera learns). Against the
    # same detector with nothing under the threshold taken (GROW at the threshold itself).
    empty = floor()
    halo = empty.copy()
    ring = np.zeros(halo.shape[:2], np.uint8)
    cv2.circle(ring, (300, 300), 44, 255, -1)
    tint(halo, ring > 0, (-22, 4, 20))
    person(halo, 300, 300)
    # A head alone in the same halo, beside them: joined to someone whole, it grows nowhere.
    cv2.circle(halo, (300, 336), 5, (30, 30, 30), -1, cv2.LINE_AA)
    got = []
    for grow in (MotionDetector.GROW, 1.0):
        det = motion()
        det.GROW = grow
        det.detect(empty, 0.0)
        got.append(sorted(sizes(det.detect(halo, 0.1))))
    assert len(got[0]) == 1 and got[0] == got[1]


def test_motion_absorbs_the_ghost_of_someone_in_the_first_frame() -> None:
    det = motion()
    start = floor()
    person(start, 400, 100)  # present when the background was first taken
    det.detect(start, 0.0)
    later = floor()
    # A ghost stays put: it is absorbed once it has been seen still for a moment.
    for i in range(1, 21):
        found = det.detect(later, i / 10)
    assert found == []


def test_motion_keeps_someone_standing_where_another_stood_in_the_first_frame() -> None:
    # A queue that steps up: a smaller person in other clothes takes the place of one who
    # was in the first background. The outline there follows the first person's edges,
    # as a ghost's would, but the frame shows a person, not floor.
    det = motion()
    start = floor()
    person(start, 400, 100)
    det.detect(start, 0.0)
    later = floor()
    cv2.ellipse(later, (404, 100), (15, 9), 90, 0, 360, (160, 120, 60), -1, cv2.LINE_AA)
    cv2.circle(later, (404, 100), 7, (90, 60, 40), -1, cv2.LINE_AA)
    for i in range(1, 20):
        found = det.detect(later, i / 10)
        assert len(found) == 1


def dark_floor_with_tape() -> np.ndarray:
    rng = np.random.default_rng(4)
    image = np.clip(rng.normal((58, 56, 54), 2, (480, 640, 3)), 0, 255).astype(np.uint8)
    image[236:242, 40:600] = (40, 170, 210)  # lane tape
    return image


def test_motion_keeps_the_floor_under_someone_in_floor_coloured_clothes() -> None:
    # Dark clothes on a dark floor: only the head and the tape the body hides differ from
    # the background. Hidden tape looks like a ghost (edges in the background, floor colour
    # inside), but it moves with the person; taking it into the background would leave a
    # stuck blob of "missing tape" once they have walked on.
    det = MotionDetector(MotionSettings(person_px=31.0), view="overhead")
    empty = dark_floor_with_tape()
    det.detect(empty, 0.0)
    for i in range(1, 60):  # walking down the frame across the tape, 0.9 m/s at 80 px/m
        frame = empty.copy()
        y = 120 + 7 * i
        cv2.ellipse(frame, (300, y), (19, 11), 0, 0, 360, (60, 57, 52), -1, cv2.LINE_AA)
        cv2.circle(frame, (300, y), 8, (25, 25, 30), -1, cv2.LINE_AA)
        det.detect(frame, i / 10)
    for i in range(60, 80):  # gone
        found = det.detect(empty, i / 10)
    assert found == []


def test_motion_threshold_follows_the_floor_brightness() -> None:
    # Black hair and a dark shirt on a dark floor differ from it by 15-30 levels: a person.
    det = MotionDetector(MotionSettings(person_px=31.0), view="overhead")
    empty = dark_floor_with_tape()
    det.detect(empty, 0.0)
    frame = empty.copy()
    cv2.ellipse(frame, (300, 380), (19, 11), 0, 0, 360, (72, 66, 46), -1, cv2.LINE_AA)
    cv2.circle(frame, (300, 380), 8, (25, 25, 30), -1, cv2.LINE_AA)
    for i in range(1, 4):
        found = det.detect(frame, i / 10)
    assert len(found) == 1 and abs(found[0].x - 300) < 5 and abs(found[0].y - 380) < 5
    # A shadow darkens a light floor by about 15 %, some 30 levels: not a person.
    det = motion()
    light = floor()
    det.detect(light, 0.0)
    frame = light.copy()
    shade = np.zeros(frame.shape[:2], np.uint8)
    cv2.ellipse(shade, (300, 300), (18, 16), 0, 0, 360, 255, -1)
    frame[shade > 0] = (frame[shade > 0] * 0.85).astype(np.uint8)
    for i in range(1, 4):
        assert det.detect(frame, i / 10) == []
    # Sunlight that burns a patch of floor white hides whatever is there: nothing to count.
    frame = light.copy()
    cv2.circle(frame, (450, 250), 60, (255, 255, 255), -1)
    for i in range(4, 8):
        assert det.detect(frame, i / 10) == []


def tf_style_model(path: Path) -> None:
    """An ONNX model with the TF Object Detection API interface and fixed outputs."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    boxes = np.array(
        [
            [
                [0.1, 0.2, 0.5, 0.4],
                [0.12, 0.21, 0.52, 0.41],
                [0.6, 0.6, 0.9, 0.8],
                [0.0, 0.0, 0.1, 0.1],
            ]
        ],
        np.float32,
    )
    scores = np.array([[0.9, 0.8, 0.7, 0.3]], np.float32)
    classes = np.array([[1, 1, 3, 1]], np.float32)  # the third is a car
    nodes = [helper.make_node("Shape", ["image_tensor:0"], ["shape"])]
    outputs = []
    for name, value in [
        ("detection_boxes:0", boxes),
        ("detection_scores:0", scores),
        ("detection_classes:0", classes),
        ("num_detections:0", np.array([4], np.float32)),
    ]:
        nodes.append(
            helper.make_node(
                "Constant",
                [],
                [name],
                value=helper.make_tensor(name + "v", TensorProto.FLOAT, value.shape, value.ravel()),
            )
        )
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, value.shape))
    outputs.append(helper.make_tensor_value_info("shape", TensorProto.INT64, [4]))
    graph = helper.make_graph(
        nodes,
        "tfod",
        [helper.make_tensor_value_info("image_tensor:0", TensorProto.UINT8, [1, None, None, 3])],
        outputs,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def ssd_style_model(path: Path) -> None:
    """One [1, 1, N, 7] output computed from the input, so the model really runs on the frame."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    table = np.array(
        [[0, 1, 0.95, 0.5, 0.5, 0.6, 0.9], [0, 1, 0.2, 0.1, 0.1, 0.2, 0.2]], np.float32
    ).reshape(1, 1, 2, 7)
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["table", "z"], ["detections"]),
    ]
    graph = helper.make_graph(
        nodes,
        "ssd",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 96, 128])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, [1, 1, 2, 7])],
        initializer=[
            helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.ravel()),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_dnn_decodes_tf_detection_outputs_people_only_and_merges_overlaps(tmp_path: Path) -> None:
    path = tmp_path / "tf.onnx"
    tf_style_model(path)
    det = DnnDetector(path, DnnSettings(model=str(path), score=0.5), view="oblique")
    assert det.uint8 and det.nhwc
    found = det.detect(np.zeros((480, 640, 3), np.uint8), 0.0)
    assert len(found) == 1  # the overlapping person boxes merge; the car and weak box go
    d = found[0]
    assert d.box == pytest.approx((0.2 * 640, 0.1 * 480, 0.4 * 640, 0.5 * 480))
    assert (d.x, d.y) == pytest.approx((0.3 * 640, 0.5 * 480))  # feet: bottom-centre


def test_dnn_decodes_ssd_table_with_float_nchw_input(tmp_path: Path) -> None:
    path = tmp_path / "ssd.onnx"
    ssd_style_model(path)
    det = DnnDetector(path, DnnSettings(model=str(path)), view="oblique")
    assert det.size == (128, 96) and not det.uint8 and not det.nhwc
    blob = det.preprocess(np.full((480, 640, 3), 255, np.uint8))
    assert blob.shape == (1, 3, 96, 128) and blob.max() == pytest.approx(1.0)
    found = det.detect(np.zeros((480, 640, 3), np.uint8), 0.0)
    assert len(found) == 1 and found[0].score == pytest.approx(0.95)


def test_dnn_missing_or_broken_model_is_a_config_error(tmp_path: Path) -> None:
    from peakend.broker.device.config import ConfigError

    with pytest.raises(ConfigError, match="peakend edge model"):
        DnnDetector(tmp_path / "none.onnx", DnnSettings(model="none.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a usable ONNX model"):
        DnnDetector(bad, DnnSettings(model="bad.onnx"))


def test_hog_runs_on_a_frame_and_finds_nobody_on_an_empty_floor() -> None:
    det = HogDetector(HogSettings(), view="oblique")
    assert det.detect(floor(), 0.0) == []


def test_model_check_accepts_a_detection_model(tmp_path: Path) -> None:
    from peakend.edge import model

    path = tmp_path / "tf.onnx"
    tf_style_model(path)
    model.check(path)  # loads on onnxruntime and runs one blank frame through the decoder


@pytest.mark.skipif(
    not os.environ.get("PEAKEND_PERSON_ONNX"),
    reason="set PEAKEND_PERSON_ONNX to a model made by `peakend edge model` to run",
)
def test_converted_ssdlite_model_runs_in_the_pipeline() -> None:
    path = Path(os.environ["PEAKEND_PERSON_ONNX"])
    det = DnnDetector(path, DnnSettings(model=str(path)), view="oblique")
    assert det.uint8 and det.nhwc
    assert det.detect(floor(), 0.0) == []  # an empty floor holds nobody


def upright(image: np.ndarray, x: float, foot: float, tall: float, colour) -> None:
    """A person seen from the side: body and head, feet on row ``foot``."""
    wide = 0.36 * tall
    cv2.ellipse(
        image, (int(x), int(foot - 0.42 * tall)), (int(wide / 2), int(0.42 * tall)), 0, 0, 360,
        colour, -1, cv2.LINE_AA,
    )  # fmt: skip
    cv2.circle(image, (int(x), int(foot - 0.9 * tall)), int(0.1 * tall), (30, 30, 30), -1)


def oblique_detector(
    tall: float, horizon: float | None = None
) -> tuple[MotionDetector, np.ndarray]:
    """An oblique motion detector that knows one upright person ``tall`` px high at row 400,
    having seen the empty floor, and a copy of that floor to draw on. With a ``horizon``
    row it also knows the perspective: people shrink to nothing there."""
    from peakend.edge.calibration import PersonScale

    wide = 0.36 * tall
    slope = 0.0 if horizon is None else 0.62 * tall / (400.0 - horizon)
    scale = PersonScale(0.62 * tall, slope, 400.0, wide / (0.62 * tall), tall / (0.62 * tall))
    det = MotionDetector(MotionSettings(), view="oblique", scale=scale)
    empty = floor()
    det.detect(empty, 0.0)
    return det, empty.copy()


@pytest.mark.parametrize("tall", [48.0, 90.0])
def test_oblique_people_side_by_side_split_by_the_width_expected_at_their_row(tall: float) -> None:
    from peakend.edge.calibration import PersonScale

    empty = floor()
    # What calibration would learn: the blob of one person standing at row 400.
    probe = MotionDetector(MotionSettings(), view="oblique", scale=PersonScale(0.5 * tall))
    probe.detect(empty, 0.0)
    alone = empty.copy()
    upright(alone, 200, 400, tall, (40, 40, 160))
    probe.detect(alone, 0.1)
    (blob,) = probe.blobs
    scale = PersonScale(blob.size, 0.0, 400.0, blob.width / blob.size, blob.height / blob.size)
    det = MotionDetector(MotionSettings(), view="oblique", scale=scale)
    det.detect(empty, 0.0)
    frame = empty.copy()
    wide = 0.36 * tall
    xs = [300.0, 300.0 + 0.95 * wide, 300.0 + 1.9 * wide]  # three walking abreast, touching
    for x, colour in zip(xs, [(40, 40, 160), (150, 60, 40), (40, 140, 60)], strict=True):
        upright(frame, x, 400, tall, colour)
    found = sorted(det.detect(frame, 0.1), key=lambda d: d.x)
    assert len(found) == 3
    for d, x in zip(found, xs, strict=True):
        # Each nearer its own person than the next one (0.95 of a width away), feet on the row.
        assert abs(d.x - x) < 0.45 * wide and abs(d.y - 400) < 0.15 * tall


def test_oblique_queue_in_front_of_a_crowd_is_found_by_its_feet() -> None:
    # From high on a wall a queue near the camera and the people walking behind it are one
    # blob: the crowd's legs show between the queue's heads. Each person in the queue is
    # still found, standing where their feet are.
    tall = 90.0
    wide = 0.36 * tall
    det, frame = oblique_detector(tall)
    for k in range(6):  # the crowd behind: two rows, smaller, higher up, close together
        upright(frame, 240 + 0.8 * wide * k, 290, 0.55 * tall, (60, 140, 40))
        upright(frame, 250 + 0.8 * wide * k, 330, 0.7 * tall, (150, 60, 40))
    queue = [270.0 + 1.3 * wide * k for k in range(4)]  # a queue 0.6 m apart
    for x in queue:
        upright(frame, x, 400, tall, (40, 40, 160))
    found = det.detect(frame, 0.1)
    for x in queue:
        near = [d for d in found if abs(d.x - x) < 0.45 * wide and abs(d.y - 400) < 0.15 * tall]
        assert len(near) == 1, (x, found)


def test_motion_splits_the_same_blob_the_same_way_whatever_ran_before() -> None:
    # A square of three people's area can be cut into three in many ways equally well;
    # which one k-means++ finds depends on its random start. The same frame must give the
    # same people, however far OpenCV's one global generator has moved (reproducible runs).
    empty = floor()
    frame = empty.copy()
    side = int((3 * math.pi / 4) ** 0.5 * scenes.PERSON_PX)
    cv2.rectangle(frame, (300, 200), (300 + side, 200 + side), (40, 40, 160), -1)
    seen = set()
    for seed in range(8):
        det = motion()
        det.detect(empty, 0.0)
        cv2.setRNGSeed(1000 + 7 * seed)
        found = det.detect(frame, 0.1)
        seen.add(tuple(sorted((round(d.x, 1), round(d.y, 1)) for d in found)))
    assert len(seen) == 1 and len(next(iter(seen))) == 3


@pytest.mark.parametrize("tall", [60.0, 120.0])
def test_oblique_legs_of_each_person_in_front_of_a_crowd(tall: float) -> None:
    # What the oblique calibration learns from: the legs of everyone standing in front, each
    # once, though they and the crowd behind them are one blob. Knee high the drawn body is
    # 0.97 of its width (it is an ellipse).
    wide = 0.36 * tall
    det, frame = oblique_detector(tall)
    for k in range(8):  # the crowd behind, close together
        upright(frame, 150 + 0.8 * wide * k, 400 - 0.8 * tall, 0.6 * tall, (150, 60, 40))
    queue = [170.0 + 1.7 * wide * k for k in range(4)]  # a queue 0.7 m apart
    for x in queue:
        upright(frame, x, 400, tall, (40, 40, 160))
    det.detect(frame, 0.1)
    legs = [leg for blob in det.blobs for leg in blob.legs]
    for x in queue:
        mine = [g for g in legs if abs(g[0] - x) < 0.3 * wide and abs(g[1] - 400) < 0.06 * tall]
        assert len(mine) == 1, (x, legs)
        assert abs(mine[0][2] / (0.97 * wide) - 1) < 0.25, (x, mine)


@pytest.mark.parametrize("tall", [60.0, 120.0])
def test_oblique_a_bag_at_someones_side_is_nobodys_feet(tall: float) -> None:
    # A bag hanging at the side of someone in front of a crowd reaches below the crowd's
    # feet. Once the person is taken out, the bag's bottom is the blob's lowest point, but far
    # too narrow for feet: nobody more stands in the queue's row.
    wide = 0.36 * tall
    # The crowd, half a height up the picture, is drawn three quarters as tall: a horizon
    # two heights above the queue's feet.
    det, frame = oblique_detector(tall, horizon=400 - 2 * tall)
    for k in range(3):
        upright(frame, 280 + 0.9 * wide * k, 400 - 0.5 * tall, 0.75 * tall, (150, 60, 40))
    upright(frame, 300, 400, tall, (40, 40, 160))
    bag = int(300 + 0.5 * wide)
    top, bottom = int(400 - 0.7 * tall), int(400 - 0.1 * tall)
    cv2.rectangle(frame, (bag, top), (bag + int(0.12 * wide) + 2, bottom), (40, 40, 160), -1)
    found = det.detect(frame, 0.1)
    assert len([d for d in found if d.y > 400 - 0.25 * tall]) == 1, found


@pytest.mark.parametrize("tall", [60.0, 120.0])
@pytest.mark.parametrize("shift", [0.0, 0.2, -0.25])
def test_oblique_someone_half_hidden_behind_a_nearer_person_stands_where_their_feet_are(
    tall: float, shift: float
) -> None:
    # Seen from high on a wall, someone standing a step behind another shows only their
    # head and shoulders above them (and a side, when not straight behind). What shows
    # stops on the nearer person, far above the hidden feet; the top of the head, one
    # height above the feet, says where they stand.
    wide = 0.36 * tall
    horizon = 400 - 2.5 * tall
    det, frame = oblique_detector(tall, horizon=horizon)
    behind = 400 - 0.3 * tall
    small = tall * (behind - horizon) / (400 - horizon)
    upright(frame, 300 + shift * wide, behind, small, (150, 60, 40))
    upright(frame, 300, 400, tall, (40, 40, 160))
    found = det.detect(frame, 0.1)
    front = [d for d in found if abs(d.y - 400) < 0.1 * tall]
    back = [d for d in found if abs(d.y - behind) < 0.1 * tall]
    assert len(found) == 2 and len(front) == 1 and len(back) == 1, found
    assert abs(back[0].x - (300 + shift * wide)) < 0.5 * wide, found


def test_motion_absorbs_a_parked_object_after_absorb_s_and_not_before() -> None:
    det = MotionDetector(
        MotionSettings(person_px=scenes.PERSON_PX, absorb_s=20.0), view="overhead"
    )
    det.detect(floor(), 0.0)
    parked = floor()
    cv2.rectangle(parked, (300, 200), (340, 260), (60, 160, 60), -1)  # a trolley
    found_at = {}
    for i in range(1, 300):
        t = i / 10
        found_at[t] = len(det.detect(parked, t))
    assert all(n >= 1 for t, n in found_at.items() if t < 20.0)
    assert all(n == 0 for t, n in found_at.items() if t > 22.0)


def test_motion_keeps_at_most_ten_bytes_a_working_pixel_between_frames() -> None:
    # The background in 16-bit fixed point, foreground ages in 16 bits, the threshold map
    # and the last mask in 8: a finer working image for small people costs less than the
    # float background of a coarser one did (18 bytes a pixel).
    det = motion()
    frame = floor()
    person(frame, 200, 200)
    for i in range(30):
        det.detect(frame if i else floor(), i / 10)
    parts = [det, *(v for v in vars(det).values() if hasattr(v, "__dict__"))]
    arrays = [v for part in parts for v in vars(part).values() if isinstance(v, np.ndarray)]
    assert det._background is not None
    pixels = det._background.shape[0] * det._background.shape[1]
    kept = sum(a.nbytes for a in arrays if a.shape[:2] == det._background.shape[:2])
    assert kept / pixels <= 10.0


@pytest.mark.parametrize("degrees", [0, 30, 90])
@pytest.mark.parametrize("k, n, apart", [(0.8, 4, 1.0), (1.0, 7, 1.15), (1.3, 5, 0.9)])
def test_motion_counts_a_checkout_line_person_by_person(
    k: float, n: int, apart: float, degrees: float
) -> None:
    # People standing in line merge into one band; the closing fills the gaps between them,
    # so by area alone the band held one or two people more than it did.
    size = 2 * math.sqrt(19 * 11) * k
    det = MotionDetector(MotionSettings(person_px=size), view="overhead")
    det.detect(floor(), 0.0)
    frame = floor()
    a = math.radians(degrees)
    for i in range(n):
        offset = (i - (n - 1) / 2) * apart * size
        x, y = 320 + offset * math.cos(a), 240 + offset * math.sin(a)
        cv2.ellipse(frame, (round(x), round(y)), (round(19 * k), round(11 * k)), degrees + 90,
                    0, 360, (40 + 15 * (i % 3), 40, 160), -1, cv2.LINE_AA)
        cv2.circle(frame, (round(x), round(y)), round(8 * k), (30, 30, 30), -1, cv2.LINE_AA)
    # waiting: the line is told apart once it has stood for a second (walkers are not)
    for i in range(1, 21):
        found = det.detect(frame, i / 10)
    assert len(found) == n


def overhead_person(frame: np.ndarray, x: float, y: float, k: float, heading: float,
                    colour=(40, 40, 160)) -> None:
    """Shoulders and a head seen from above, ``k`` times the usual size, facing ``heading``
    degrees (0: along the image rows)."""
    cv2.ellipse(frame, (round(x), round(y)), (round(19 * k), round(11 * k)), heading + 90,
                0, 360, colour, -1, cv2.LINE_AA)
    cv2.circle(frame, (round(x), round(y)), round(8 * k), (30, 30, 30), -1, cv2.LINE_AA)


def lone_shape(k: float) -> tuple[float, float]:
    """What the camera measures of one person walking alone, as calibration does: their size
    and their box's longer side per size, each the median over headings."""
    sizes, extents = [], []
    for heading in range(0, 180, 30):
        det = MotionDetector(MotionSettings(person_px=2 * math.sqrt(19 * 11) * k),
                             view="overhead")
        det.detect(floor(), 0.0)
        frame = floor()
        overhead_person(frame, 320, 240, k, heading)
        det.detect(frame, 0.1)
        (blob,) = det.blobs
        sizes.append(blob.size)
        extents.append(max(blob.width, blob.height) / blob.size)
    return float(np.median(sizes)), float(np.median(extents))


@pytest.mark.parametrize("k", [0.7, 1.4])
@pytest.mark.parametrize("heading", [0.0, 20.0, 90.0])
@pytest.mark.parametrize("gap", [0.4, 0.5])
def test_motion_splits_two_people_in_line_whose_blob_has_one_persons_area(
    k: float, heading: float, gap: float
) -> None:
    # One close behind the other, they overlap: by area their blob is one person (under
    # 1.6), by its length against a lone person's it is two.
    from peakend.edge.calibration import PersonScale

    size, extent = lone_shape(k)
    det = MotionDetector(MotionSettings(), view="overhead",
                         scale=PersonScale(size, extent_ratio=extent))
    det.detect(floor(), 0.0)
    frame = floor()
    a = math.radians(heading + 90)
    centres = [(320 + s * gap * 38 * k * math.cos(a), 240 + s * gap * 38 * k * math.sin(a))
               for s in (-0.5, 0.5)]
    for i, (x, y) in enumerate(centres):
        overhead_person(frame, x, y, k, heading, (40 + 30 * i, 40, 160))
    found = det.detect(frame, 0.1)
    (blob,) = det.blobs
    assert blob.area < 1.6 * math.pi / 4 * size * size
    assert len(found) == 2
    for x, y in centres:
        assert min(math.hypot(d.x - x, d.y - y) for d in found) < 0.4 * size


@pytest.mark.parametrize("k", [0.7, 1.4])
@pytest.mark.parametrize("heading", [0.0, 45.0, 90.0, 135.0])
def test_motion_keeps_one_person_alone_one_whichever_way_they_face(
    k: float, heading: float
) -> None:
    from peakend.edge.calibration import PersonScale

    size, extent = lone_shape(k)
    det = MotionDetector(MotionSettings(), view="overhead",
                         scale=PersonScale(size * 0.85, extent_ratio=extent))
    det.detect(floor(), 0.0)
    frame = floor()
    overhead_person(frame, 320, 240, k, heading)
    assert len(det.detect(frame, 0.1)) == 1


def test_motion_does_not_cut_a_whole_person_in_two_where_only_heads_were_measured() -> None:
    # Clothes of the floor's colour: the camera measured heads, round, and a whole person
    # showing for once is longer than a head without being two people.
    from peakend.edge.calibration import PersonScale

    det = MotionDetector(MotionSettings(), view="overhead",
                         scale=PersonScale(2 * 8 * 1.6, extent_ratio=1.02))
    det.detect(floor(), 0.0)
    frame = floor()
    cv2.ellipse(frame, (320, 240), (19, 7), 90, 0, 360, (30, 30, 30), -1, cv2.LINE_AA)
    assert len(det.detect(frame, 0.1)) == 1


def cast_shadow(frame: np.ndarray, x: float, y: float, k: float, degrees: float,
                gain: float, length: float = 1.0) -> None:
    """The shadow of a person at (x, y), ``k`` times the usual size: the floor darkened to
    ``gain`` of its light (its texture kept), cast ``degrees`` away by a light to one side,
    ``length`` times as long as under a light high above."""
    a = math.radians(degrees)
    reach = 20 * k * length
    centre = (round(x + reach * math.cos(a)), round(y + reach * math.sin(a)))
    shade = np.zeros(frame.shape[:2], np.uint8)
    cv2.ellipse(shade, centre, (round(18 * k * length), round(16 * k)), degrees, 0, 360, 255,
                -1, cv2.LINE_AA)
    weight = shade.astype(np.float32)[..., None] / 255.0 * (1.0 - gain)
    frame[:] = np.clip(frame.astype(np.float32) * (1.0 - weight), 0, 255).astype(np.uint8)


def lone_detector(k: float) -> MotionDetector:
    from peakend.edge.calibration import PersonScale

    det = MotionDetector(MotionSettings(), view="overhead", scale=PersonScale(lone_shape(k)[0]))
    det.detect(floor(), 0.0)
    return det


@pytest.mark.parametrize("k", [0.7, 1.4])
@pytest.mark.parametrize("degrees", [0.0, 135.0, 270.0])
@pytest.mark.parametrize(("gain", "length"), [(0.35, 1.0), (0.5, 1.0), (0.7, 1.0), (0.45, 1.7)])
def test_motion_takes_a_cast_shadow_out_of_the_person(k: float, degrees: float,
                                                      gain: float, length: float) -> None:
    # Kept, a dark shadow made one person 35-40 % larger and two or three people; and the
    # camera learnt the size of person and shadow together. A deep one (a third of the
    # light) and a long one (a light low to one side, the shadow twice the person's area)
    # are shadows too.
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    cast_shadow(frame, 320, 240, k, degrees, gain, length)
    overhead_person(frame, 320, 240, k, 0.0)
    found = det.detect(frame, 0.1)
    assert len(found) == 1
    assert math.hypot(found[0].x - 320, found[0].y - 240) < 0.15 * size
    (blob,) = det.blobs
    assert blob.size < 1.08 * size


@pytest.mark.parametrize("k", [0.7, 1.4])
@pytest.mark.parametrize("gain", [0.5, 0.7])
def test_motion_keeps_a_shirt_of_the_colour_a_shadow_would_have(k: float, gain: float) -> None:
    # The floor's own colour, darker: by colour it is a shadow. It lies all round the head,
    # not to one side, so it stays (taken out, the head left over is too small to count).
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    shirt = tuple(round(gain * float(c)) for c in frame[240, 320])
    overhead_person(frame, 320, 240, k, 0.0, colour=shirt)
    found = det.detect(frame, 0.1)
    assert len(found) == 1
    (blob,) = det.blobs
    assert blob.size > 0.9 * size


@pytest.mark.parametrize("k", [0.7, 1.4])
def test_motion_counts_a_line_whose_shadows_join_them(k: float) -> None:
    # Each shadow falls on the next person in line: one band, person by person still.
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    xs = [320 + (i - 1.5) * 1.3 * size for i in range(4)]
    for x in xs:
        cast_shadow(frame, x, 240, k, 10.0, 0.55)
    for x in xs:
        overhead_person(frame, x, 240, k, 90.0)
    for i in range(1, 21):
        found = det.detect(frame, i / 10)
    assert sorted(round(d.x) for d in found) == pytest.approx(xs, abs=0.2 * size)


@pytest.mark.parametrize("k", [0.7, 1.4])
def test_motion_takes_out_a_shadow_cast_into_the_picture_by_someone_outside_it(k: float
                                                                                ) -> None:
    # Someone about to walk in at the right: their long shadow is in the picture first, and
    # is nobody; nor is what shows of it beside the first sliver of them.
    det = lone_detector(k)
    frame = floor()
    cast_shadow(frame, 640 + 14 * k, 240, k, 180.0, 0.45, 1.7)
    assert det.detect(frame, 0.1) == []
    overhead_person(frame, 640 + 14 * k, 240, k, 90.0)
    found = det.detect(frame, 0.2)
    # (the shadow alone was found 15-31 px in from the edge before it was taken out)
    assert all(d.x > 640 - 8 * k for d in found)


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_motion_takes_out_a_shadow_across_any_corner_of_the_picture(corner: str) -> None:
    # A shadow cut by two edges at a corner, its caster beside it inside the picture: the
    # floor between them is outside the shadow whichever corner it is.
    det = lone_detector(1.0)
    shadow = np.zeros((120, 160), np.uint8)
    cv2.line(shadow, (0, 40), (40, 0), 255, 9)
    solid = np.zeros_like(shadow)
    cv2.circle(solid, (40, 40), 12, 255, -1)
    flip = {"top-left": None, "top-right": 1, "bottom-left": 0, "bottom-right": -1}[corner]
    if flip is not None:
        shadow, solid = cv2.flip(shadow, flip), cv2.flip(solid, flip)
    cast = det._cast(shadow, cv2.bitwise_or(shadow, solid))
    assert cast is not None and np.array_equal(cast > 0, shadow > 0)


def test_motion_takes_a_deep_shade_for_a_shadow_only_where_it_is_broad() -> None:
    # Below half the floor's light: a broad patch is a shadow, a thin band (a dark frame
    # blended with the light beside it, round a trolley's grey body) is not.
    det = lone_detector(1.0)
    plain = np.full((60, 80, 3), (188, 192, 196), np.uint8)
    small = plain.copy()
    small[10:40, 5:35] = (75, 77, 78)  # 0.4 of the light, 30 px across
    small[10:40, 50:52] = (75, 77, 78)  # the same, 2 px wide
    mask = np.full((60, 80), 255, np.uint8)
    shadow = det._shadows(small, plain, mask) > 0
    assert shadow[12:38, 7:33].all()
    assert not shadow[10:40, 50:52].any()


@pytest.mark.parametrize("k", [0.7, 1.4])
@pytest.mark.parametrize("gain", [0.45, 0.6])
def test_motion_keeps_a_shirt_of_a_shadows_colour_that_the_picture_edge_cuts(
        k: float, gain: float) -> None:
    # Beside the edge, the shirt is cut by it, and nothing casts it in view: it still lies
    # round its wearer's head, so it stays.
    det = lone_detector(k)
    frame = floor()
    overhead_person(frame, 640 - 4, 240, k, 0.0, colour=shadow_grey(frame, gain))
    found = det.detect(frame, 0.1)
    assert len(found) == 1 and found[0].x > 640 - 30 * k


def test_motion_does_not_learn_the_floor_in_a_standing_persons_shadow() -> None:
    # A minute in line: the floor under the shadow stays as it was, so nothing shows there
    # once they have gone.
    det = lone_detector(1.0)
    empty = floor()
    frame = empty.copy()
    cast_shadow(frame, 320, 240, 1.0, 45.0, 0.55)
    overhead_person(frame, 320, 240, 1.0, 0.0)
    for i in range(1, 601):
        det.detect(frame, i / 10)
    assert det.detect(empty, 60.1) == [] and det.detect(empty, 60.2) == []


def shadow_grey(frame: np.ndarray, gain: float = 0.6) -> tuple[int, ...]:
    """The floor's own colour at ``gain`` of its light: what a shadow on it looks like."""
    return tuple(round(gain * float(c)) for c in frame[240, 320])


@pytest.mark.parametrize("k", [0.7, 1.4])
def test_motion_keeps_someone_in_a_shadow_coloured_shirt_who_casts_a_shadow(k: float) -> None:
    # Shirt and shadow are one shadow-coloured piece around the head: it stays, as it was
    # before shadows were taken out (the person is there, perhaps with their shadow).
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    cast_shadow(frame, 320, 240, k, 45.0, 0.55)
    overhead_person(frame, 320, 240, k, 0.0, colour=shadow_grey(frame))
    found = det.detect(frame, 0.1)
    assert any(math.hypot(d.x - 320, d.y - 240) < 0.3 * size for d in found)


@pytest.mark.parametrize("k", [0.7, 1.0, 1.4])
@pytest.mark.parametrize("apart", [38, 42])
def test_motion_keeps_a_shadow_coloured_shirt_beside_someone_else(k: float, apart: int) -> None:
    # Shoulder to shoulder: the shirt lies to one side of the pair's blob, but around its own
    # wearer's head. Taken out, the head joined the other person and one was lost. (Drawn
    # overlapping, 34 apart, the other covers part of the ring at the smallest size, and the
    # two are found as one.)
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    overhead_person(frame, 320, 240, k, 90.0, colour=shadow_grey(frame))
    overhead_person(frame, 320 + apart * k, 240, k, 90.0)
    found = sorted(det.detect(frame, 0.1), key=lambda d: d.x)
    assert len(found) == 2
    assert abs(found[0].x - 320) < 0.3 * size and abs(found[1].x - 320 - apart * k) < 0.3 * size


@pytest.mark.parametrize("k", [0.7, 1.4])
def test_motion_keeps_someone_all_in_shadow_colours_with_a_bag_at_their_side(k: float) -> None:
    # Hair and shirt of a shadow's colour, and a small red bag: the bag casts no shadow that
    # big, so the person stays.
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    grey = shadow_grey(frame)
    cv2.ellipse(frame, (320, 240), (round(19 * k), round(11 * k)), 90, 0, 360, grey, -1,
                cv2.LINE_AA)
    cv2.circle(frame, (320, 240), round(8 * k), grey, -1, cv2.LINE_AA)
    cv2.circle(frame, (320 + round(14 * k), 240), round(5 * k), (40, 40, 160), -1, cv2.LINE_AA)
    found = det.detect(frame, 0.1)
    assert len(found) == 1
    assert math.hypot(found[0].x - 320, found[0].y - 240) < 0.3 * size


@pytest.mark.parametrize("k", [0.7, 1.4])
@pytest.mark.parametrize(("heading", "degrees", "apart"), [(0.0, 165.0, 1.7), (90.0, 110.0, 1.7)])
def test_motion_counts_people_in_line_whose_long_shadows_run_into_one(
        k: float, heading: float, degrees: float, apart: float) -> None:
    # A light low to one side: the shadows of three people in line run into one piece
    # longer than one person's shadow can be. Kept, it joined them into one blob, cut into
    # eight or nine people.
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    a = math.radians(heading)
    spots = [(320 + i * apart * size * math.cos(a), 240 + i * apart * size * math.sin(a))
             for i in (-1, 0, 1)]
    for x, y in spots:
        cast_shadow(frame, x, y, k, degrees, 0.5, 2.0)
    for x, y in spots:
        overhead_person(frame, x, y, k, heading + 90.0)
    for i in range(1, 11):
        found = det.detect(frame, i / 10)
    assert len(found) == 3
    for x, y in spots:
        assert min(math.hypot(d.x - x, d.y - y) for d in found) < 0.3 * size


def test_motion_takes_out_shadows_that_close_round_a_person_between_them() -> None:
    # The shadows of the people on either side and the middle one's own close round the
    # middle one: what they enclose is a person, not a head in a shirt, so they are cast.
    det = lone_detector(1.0)
    person = det.person.area_at(0.0) * det.scale**2
    r = round(math.sqrt(0.9 * person / math.pi))
    shadow = np.zeros((120, 200), np.uint8)
    cv2.circle(shadow, (100, 60), r + 3, 255, 6)  # from the middle one's edge ...
    solid = np.zeros_like(shadow)
    for x in (100 - 2 * r - 6, 100, 100 + 2 * r + 6):  # ... to the others'
        cv2.circle(solid, (x, 60), r, 255, -1)
    assert np.count_nonzero(shadow) > person
    cast = det._cast(shadow, cv2.bitwise_or(shadow, solid))
    assert cast is not None and np.array_equal(cast > 0, shadow > 0)


def test_motion_takes_out_the_long_shadow_of_two_people_who_touch() -> None:
    # Shoulder to shoulder they are one piece of person, of two people's area, and their
    # long shadows one piece of five: as long as two people's shadows may be, though more
    # than twice their own area and more than one person's may cast.
    det = lone_detector(1.0)
    person = det.person.area_at(0.0) * det.scale**2
    r = round(math.sqrt(person / math.pi))
    solid = np.zeros((120, 240), np.uint8)
    for x in (120 - r, 120 + r):
        cv2.circle(solid, (x, 40), r, 255, -1)
    shadow = np.zeros_like(solid)
    cv2.ellipse(shadow, (120, 40 + r + 10), (round(5 * person / (math.pi * 12)), 12), 0, 0,
                360, 255, -1)
    shadow = cv2.subtract(shadow, solid)
    assert 4.5 * person < np.count_nonzero(shadow) < 6 * person
    assert 3 * person < 2 * np.count_nonzero(solid) < np.count_nonzero(shadow)
    cast = det._cast(shadow, cv2.bitwise_or(shadow, solid))
    assert cast is not None and np.array_equal(cast > 0, shadow > 0)


@pytest.mark.parametrize("k", [0.7, 1.4])
def test_motion_keeps_two_shadow_coloured_shirts_side_by_side_beside_someone(k: float
                                                                            ) -> None:
    # Two shirts of a shadow's colour touching make one piece of about a person's area,
    # next to a third person who could cast it: the heads it encloses keep it.
    size = lone_shape(k)[0]
    det = lone_detector(k)
    frame = floor()
    xs = [320 + i * 36 * k for i in (-1, 0, 1)]
    for i, x in enumerate(xs):
        colour = shadow_grey(frame) if i < 2 else (40, 40, 160)
        overhead_person(frame, x, 240, k, 90.0, colour=colour)
    found = sorted(det.detect(frame, 0.1), key=lambda d: d.x)
    assert len(found) == 3
    assert all(abs(d.x - x) < 0.3 * size for d, x in zip(found, xs, strict=True))


@pytest.mark.parametrize("n", [4, 6])
def test_motion_counts_people_abreast_whose_shadows_join_them(n: int) -> None:
    # Walking side by side, their shadows one band along them: a band as long as all of them,
    # whose people lie along one side of it. Kept, each person was two.
    size = lone_shape(1.0)[0]
    det = lone_detector(1.0)
    frame = floor()
    xs = [320 + (i - (n - 1) / 2) * size for i in range(n)]
    for x in xs:
        cast_shadow(frame, x, 240, 1.0, 90.0, 0.55)
    for x in xs:
        overhead_person(frame, x, 240, 1.0, 0.0)
    found = det.detect(frame, 0.1)
    assert sorted(round(d.x) for d in found) == pytest.approx(xs, abs=0.25 * size)


def test_motion_absorbs_a_parked_objects_shadow_with_it() -> None:
    # The shadow is taken out of the blob but ages with the object that casts it: once the
    # object is absorbed, its shadow is too, not left standing as someone for another
    # absorb_s.
    from peakend.edge.calibration import PersonScale

    size = lone_shape(1.0)[0]
    det = MotionDetector(MotionSettings(absorb_s=1.0), view="overhead",
                         scale=PersonScale(size))
    det.detect(floor(), 0.0)
    frame = floor()
    cast_shadow(frame, 320, 240, 1.4, 0.0, 0.55)
    cv2.rectangle(frame, (300, 215), (335, 265), (40, 40, 160), -1)
    seen = [det.detect(frame, i / 10) for i in range(1, 41)]
    assert seen[0] != []  # the object, before it is absorbed
    gone = next(i for i, found in enumerate(seen) if found == [])
    assert gone <= 15 and all(found == [] for found in seen[gone:])


def test_motion_shadow_step_takes_more_specks_than_16_bit_labels_hold() -> None:
    # A large working image full of one-pixel shadow-coloured specks (122,500 of them): the
    # labels must not overflow (OpenCV raises past 65,535 in 16 bits).
    det = MotionDetector(MotionSettings(person_px=20), view="overhead")
    specks = np.zeros((700, 700), np.uint8)
    specks[::2, ::2] = 255
    mask = specks.copy()
    mask[100:140, 100:140] = 255
    det._cast(specks, mask)  # raises on overflow
