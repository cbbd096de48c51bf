"""`peakend edge snapshot`: the one frame that may be saved, locally, to check calibration."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from peakend.edge import geometry
from peakend.edge.config import EdgeConfig
from peakend.edge.sources import open_source

ZONE = (60, 200, 60)
LINE = (40, 40, 230)
GRID = (255, 255, 255)


def grab(
    cfg: EdgeConfig, source: str | None = None, base_dir: Path | None = None, skip: int = 5
) -> np.ndarray:
    """One frame from the source (a few in, so auto-exposure has settled)."""
    frames = open_source(source or cfg.camera.source, cfg.camera, base_dir=base_dir)
    try:
        image = None
        for frame in frames.frames():
            image = frame.image
            if frame.index >= skip:
                break
        if image is None:
            raise RuntimeError("the source gave no frame")
        return image
    finally:
        frames.close()


def pixel_grid(image: np.ndarray, step: int = 50) -> np.ndarray:
    """Lines every ``step`` pixels, numbered every other one: a tech reads a zone's corners
    straight off the snapshot instead of guessing coordinates."""
    out = image.copy()
    h, w = out.shape[:2]
    grid = out.copy()
    for x in range(0, w, step):
        cv2.line(grid, (x, 0), (x, h), GRID, 1)
    for y in range(0, h, step):
        cv2.line(grid, (0, y), (w, y), GRID, 1)
    out = cv2.addWeighted(grid, 0.35, out, 0.65, 0)
    for x in range(0, w, 2 * step):
        outlined_text(out, str(x), (x + 2, 12))
    for y in range(2 * step, h, 2 * step):
        outlined_text(out, str(y), (2, y - 3))
    return out


def outlined_text(image: np.ndarray, text: str, at: tuple[int, int], size: float = 0.4) -> None:
    """White text with a dark edge: readable on a light floor and a dark one."""
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)


def draw(image: np.ndarray, cfg: EdgeConfig) -> np.ndarray:
    """A labelled pixel grid, zones (green, named), exit lines (red, with an arrow pointing
    the way out)."""
    out = pixel_grid(image)
    for zone in cfg.zones:
        pts = np.array(zone.polygon, dtype=np.int32)
        overlay = out.copy()
        cv2.fillPoly(overlay, [pts], ZONE)
        out = cv2.addWeighted(overlay, 0.18, out, 0.82, 0)
        cv2.polylines(out, [pts], True, ZONE, 2, cv2.LINE_AA)
        cx, cy = geometry.polygon_centroid([(float(x), float(y)) for x, y in zone.polygon])
        cv2.putText(
            out,
            zone.name,
            (int(cx) - 30, int(cy)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            3,
            cv2.LINE_AA,
        )
        cv2.putText(
            out,
            zone.name,
            (int(cx) - 30, int(cy)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (20, 90, 20),
            1,
            cv2.LINE_AA,
        )
        if zone.exit_line:
            (x1, y1), (x2, y2) = zone.exit_line
            cv2.line(out, (int(x1), int(y1)), (int(x2), int(y2)), LINE, 3, cv2.LINE_AA)
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            nx, ny = -(y2 - y1), x2 - x1
            norm = max(np.hypot(nx, ny), 1e-6)
            # Point the arrow away from the zone: that is the direction that counts.
            if (
                geometry.side((cx, cy), (x1, y1), (x2, y2))
                * geometry.side((mx + nx, my + ny), (x1, y1), (x2, y2))
                > 0
            ):
                nx, ny = -nx, -ny
            tip = (int(mx + 30 * nx / norm), int(my + 30 * ny / norm))
            cv2.arrowedLine(out, (int(mx), int(my)), tip, LINE, 2, cv2.LINE_AA, tipLength=0.35)
    return out


def save(image: np.ndarray, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image):
        raise RuntimeError(f"cannot write {out}: use a .png or .jpg name in a writable folder")
    return out
