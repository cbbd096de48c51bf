"""Charts for mail: small PNGs drawn with numpy and written with zlib, for a digest's inline
images.

Mail clients run no scripts and most drop SVG, so the web's Chart.js charts cannot go in a
mail; a PNG beside the HTML, named by its Content-ID, shows everywhere. The server's packages
hold no chart or imaging library (numpy is one of them), and a chart in a mail needs little:
bars, a line, grid lines and the numbers on its axes. Titles, legends and axis names are the
mail's HTML around the image, so they are in the mail's language and need no font here; the
axis numbers are drawn from a 3x5 digit font. Pure: numbers in, PNG bytes out.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np

WIDTH, HEIGHT = 640, 220
# the plot's margins: room for the y numbers on the left and the hours below
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 24
TODAY = (59, 110, 165)  # bars: the day itself
USUAL = (222, 125, 30)  # line: the usual day
GRID = (228, 228, 228)
AXIS = (150, 150, 150)
INK = (70, 70, 70)
PAPER = (255, 255, 255)

# 3x5 pixels per digit, drawn at SCALE: numbers that read at a glance, in any language
_FONT = {
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
}
SCALE = 2


def hourly_chart(today: Sequence[float | None], usual: Sequence[float | None],
                 top: float | None = None) -> bytes:
    """A PNG of 24 hourly values: today's as bars, the usual day's as a line with dots (an
    hour without a value leaves a gap), on a y axis from 0 to ``top`` (default: a round
    number above the largest value). Only the hours from the first to the last with a value
    are shown, so a shop's opening hours fill the width."""
    values = [v for v in (*today, *usual) if v is not None]
    hours = [h for h in range(24) if today[h] is not None or usual[h] is not None]
    first, last = (hours[0], hours[-1]) if hours else (0, 23)
    step = nice_step(top if top is not None else max(values, default=1.0))
    top = top if top is not None else step * max(1, math.ceil(max(values, default=1.0) / step))
    canvas = np.full((HEIGHT, WIDTH, 3), PAPER, dtype=np.uint8)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / (last - first + 1)

    def y_of(v: float) -> int:
        return TOP + plot_h - round(min(v, top) / top * plot_h)

    tick = 0.0
    while tick <= top + 1e-9:
        y = y_of(tick)
        canvas[y, LEFT:WIDTH - RIGHT] = GRID if tick else AXIS
        _number(canvas, _label(tick), right=LEFT - 6, middle=y)
        tick += step
    every = 1 if last - first < 12 else 2 if last - first < 18 else 3
    for h in range(first, last + 1):
        x0 = LEFT + round((h - first) * slot)
        x1 = LEFT + round((h - first + 1) * slot)
        if today[h] is not None:
            pad = max(1, round(slot * 0.2))
            # a value of 0 still shows as a sliver: measured, unlike an hour without a bar
            canvas[min(y_of(today[h]), TOP + plot_h - 2):TOP + plot_h, x0 + pad:x1 - pad] = TODAY
        if (h - first) % every == 0:
            _number(canvas, str(h), centre=(x0 + x1) // 2, top=TOP + plot_h + 6)
    points = [(LEFT + (h - first + 0.5) * slot, y_of(usual[h]) if usual[h] is not None else None)
              for h in range(first, last + 1)]
    for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
        if ya is not None and yb is not None:
            _segment(canvas, xa, ya, xb, yb, USUAL)
    for x, y in points:
        if y is not None:
            _disc(canvas, x, y, 3, USUAL)
    return encode_png(canvas)


def nice_step(top: float) -> float:
    """A grid step of 1, 2 or 5 times a power of ten giving four to eight lines up to
    ``top``."""
    raw = max(top, 1e-9) / 5
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def encode_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image as PNG: one IDAT of zlib'd rows, each with filter type 0."""
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8),
                           rgb.astype(np.uint8).reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


def _label(v: float) -> str:
    return str(round(v)) if abs(v - round(v)) < 1e-9 else f"{v:.1f}".replace(".", "")


def _number(canvas: np.ndarray, text: str, *, right: int | None = None,
            centre: int | None = None, middle: int | None = None, top: int | None = None
            ) -> None:
    digits = [d for d in text if d in _FONT]
    w = len(digits) * 4 * SCALE - SCALE
    x = right - w if right is not None else (centre or 0) - w // 2
    y = top if top is not None else (middle or 0) - 5 * SCALE // 2
    for d in digits:
        for row, bits in enumerate(_FONT[d]):
            for col, bit in enumerate(bits):
                if bit == "1":
                    ys, xs = y + row * SCALE, x + col * SCALE
                    canvas[max(ys, 0):ys + SCALE, max(xs, 0):xs + SCALE] = INK
        x += 4 * SCALE


def _segment(canvas: np.ndarray, xa: float, ya: float, xb: float, yb: float,
             colour: tuple[int, int, int]) -> None:
    n = int(max(abs(xb - xa), abs(yb - ya)) * 2) + 1
    for t in np.linspace(0.0, 1.0, n):
        _disc(canvas, xa + (xb - xa) * t, ya + (yb - ya) * t, 1, colour)


def _disc(canvas: np.ndarray, x: float, y: float, r: int, colour: tuple[int, int, int]) -> None:
    cx, cy = round(x), round(y)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy <= r * r + r and 0 <= cy + dy < HEIGHT and 0 <= cx + dx < WIDTH:
                canvas[cy + dy, cx + dx] = colour
