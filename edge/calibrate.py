"""`peakend edge calibrate`: watch for a while, say what person size the camera learned, and
(on request) write it into edge.toml and save the tech's one snapshot with it drawn.

The snapshot shows person-size rings at several rows (upright outlines in an oblique view), so
a tech sees at a glance whether the learned size fits the people in the picture, and a pixel
grid with coordinates, so zone corners can be read straight off it.
"""

from __future__ import annotations

import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from peakend.broker.device.config import ConfigError, resolve
from peakend.broker.device.files import replace_atomically
from peakend.edge.calibration import CalibrationStatus, PersonScale, SavedCalibration
from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.pipeline import Pipeline
from peakend.edge.snapshot import outlined_text
from peakend.edge.sources import open_source

RING = (0, 215, 255)


@dataclass
class Learned:
    status: CalibrationStatus
    saved: SavedCalibration | None
    frame: np.ndarray | None
    seconds: float
    frames: int


def watch(
    cfg: EdgeConfig, source: str | None, seconds: float, base_dir: Path | None = None
) -> Learned:
    """Run the pipeline on the source for ``seconds`` (of video) and learn the scale afresh.

    A ``person_px`` in the config is set aside while watching: the point is to learn.
    """
    learning = cfg.model_copy(
        update={"detector": cfg.detector.model_copy(update={"person_px": None})}
    )
    cv2.setNumThreads(1)
    frames = open_source(source or cfg.camera.source, cfg.camera, base_dir=base_dir)
    detector = make_detector(learning.detector, view=cfg.camera.view, base_dir=base_dir)
    pipeline = Pipeline(learning, detector)
    last: np.ndarray | None = None
    count = 0
    t0: float | None = None
    began = time.monotonic()
    try:
        for frame in frames.frames():
            if t0 is None:
                t0 = frame.t
            pipeline.process(frame.image, frame.t)
            last = frame.image
            count += 1
            elapsed = frame.t - t0 if not frames.live else time.monotonic() - began
            if elapsed >= seconds:
                break
    finally:
        frames.close()
    if count == 0:
        raise ConfigError("the camera gave no frame; check [camera] source or --source")
    if pipeline.calibrator is not None:
        pipeline.calibrator.refresh(pipeline.t)  # count everyone seen up to the last frame
    status = pipeline.calibration()
    assert status is not None
    return Learned(status, pipeline.saved_calibration(), last, pipeline.t - (t0 or 0.0), count)


def write_person_px(path: Path, value: float) -> None:
    """Set ``[detector] person_px`` in edge.toml, changing that one line and nothing else.

    An active ``person_px`` line gets the new value (its comment kept); else the line goes
    right after a commented-out one, or after the ``[detector]`` header, or a new
    ``[detector]`` table is added at the end. The result is parsed before it replaces the file.
    """
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    new = f"person_px = {value:.1f}"
    start, end = _table(lines, "detector")
    if start is None:
        sep = "" if text.endswith("\n") or not text else "\n"
        out = text + sep + f"\n[detector]\n{new}\n"
    else:
        active = re.compile(r"^(\s*)person_px\s*=\s*[^#\n]*(.*)$")
        commented = re.compile(r"^\s*#\s*person_px\s*=")
        done = False
        for k in range(start + 1, end):
            m = active.match(lines[k].rstrip("\n"))
            if m:
                comment = m.group(2).strip()
                lines[k] = f"{m.group(1)}{new}" + (f"  {comment}" if comment else "") + "\n"
                done = True
                break
        if not done:
            at = next((k for k in range(start + 1, end) if commented.match(lines[k])), start)
            lines.insert(at + 1, new + "\n")
        out = "".join(lines)
    try:
        EdgeConfig.model_validate(tomllib.loads(out))
    except Exception as exc:  # never leave a config the camera cannot start with
        raise ConfigError(f"{path}: writing person_px would break the file ({exc})") from None
    # the file holds the device's MQTT password: keep its mode and owner, never half written
    replace_atomically(path, out)


def _table(lines: list[str], name: str) -> tuple[int | None, int]:
    header = re.compile(r"^\s*\[\s*" + re.escape(name) + r"\s*\]\s*(#.*)?$")
    start = next((k for k, line in enumerate(lines) if header.match(line.rstrip("\n"))), None)
    if start is None:
        return None, len(lines)
    end = next(
        (k for k in range(start + 1, len(lines)) if lines[k].lstrip().startswith("[")),
        len(lines),
    )
    return start, end


def draw(image: np.ndarray, scale: PersonScale, view: str, label: str) -> np.ndarray:
    """Person-size rings at several rows (the pixel grid comes with the zones, from
    :func:`peakend.edge.snapshot.draw`)."""
    out = image.copy()
    h, w = out.shape[:2]
    for row in np.linspace(0.2 * h, 0.9 * h, 4):
        for col in (0.25 * w, 0.75 * w):
            size = scale.at(row)
            if view == "oblique":
                # An upright person standing on this row: feet on it, as wide and tall as
                # one person is expected there.
                half_w, tall = scale.width_at(row) / 2, scale.height_at(row)
                cv2.ellipse(
                    out,
                    (int(col), int(row - tall / 2)),
                    (max(1, int(half_w)), max(1, int(tall / 2))),
                    0, 0, 360, RING, 2, cv2.LINE_AA,
                )  # fmt: skip
                outlined_text(out, f"{tall:.0f} px tall", (int(col + half_w + 4), int(row)), 0.4)
            else:
                cv2.circle(out, (int(col), int(row)), max(1, int(size / 2)), RING, 2, cv2.LINE_AA)
                outlined_text(out, f"{size:.0f} px", (int(col + size / 2 + 4), int(row + 4)), 0.4)
    outlined_text(out, label, (8, h - 10), 0.5)
    return out


def state_path(cfg: EdgeConfig, base_dir: Path) -> Path:
    return resolve(base_dir, cfg.calibration.path)
