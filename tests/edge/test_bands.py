"""People in single file in one blob, told apart by the bumps along it (pure pixel sets)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from peakend.edge.detectors.bands import people_in_row

SIZE = 24.0  # one body's equivalent diameter in these masks: 2 * sqrt(16 * 9)


Point = tuple[float, float]


def row_mask(n: int, spacing: float, degrees: float) -> tuple[np.ndarray, list[Point]]:
    mask = np.zeros((400, 600), np.uint8)
    a = math.radians(degrees)
    span = spacing * (n - 1)
    centres = [
        (300 + (i * spacing - span / 2) * math.cos(a), 200 + (i * spacing - span / 2) * math.sin(a))
        for i in range(n)
    ]
    for x, y in centres:
        # shoulders across the row, as people stand in line
        cv2.ellipse(mask, (round(x), round(y)), (16, 9), degrees + 90, 0, 360, 255, -1)
    closed = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    )
    return closed, centres


@pytest.mark.parametrize("degrees", [0, 20, 45, 90, 150])
@pytest.mark.parametrize("n, spacing", [(2, 0.9), (5, 0.95), (9, 1.1), (12, 1.3)])
def test_each_person_in_a_line_is_one_part_where_they_stand(
    n: int, spacing: float, degrees: float
) -> None:
    mask, centres = row_mask(n, spacing * SIZE, degrees)
    ys, xs = np.nonzero(mask)
    parts = people_in_row(xs, ys, SIZE)
    assert parts is not None and int(parts.max()) + 1 == n
    def along(p: Point) -> float:
        return p[0] * math.cos(math.radians(degrees)) + p[1] * math.sin(math.radians(degrees))

    found = sorted(
        ((float(xs[parts == k].mean()), float(ys[parts == k].mean())) for k in range(n)),
        key=along,
    )
    for (fx, fy), (tx, ty) in zip(found, sorted(centres, key=along), strict=True):
        assert math.hypot(fx - tx, fy - ty) < 0.25 * SIZE


def test_a_clump_two_abreast_or_a_single_body_is_not_a_row() -> None:
    clump = np.zeros((300, 300), np.uint8)
    for x in (100, 124):
        for y in (100, 136):
            cv2.ellipse(clump, (x, y), (16, 9), 90, 0, 360, 255, -1)
    ys, xs = np.nonzero(clump)
    assert people_in_row(xs, ys, SIZE) is None
    one = np.zeros((100, 100), np.uint8)
    cv2.ellipse(one, (50, 50), (16, 9), 90, 0, 360, 255, -1)
    ys, xs = np.nonzero(one)
    assert people_in_row(xs, ys, SIZE) is None


def test_a_bag_at_the_side_of_someone_in_line_is_not_another_person() -> None:
    mask, _ = row_mask(3, 1.1 * SIZE, 0)
    # a small bag against the last person's flank, lower than a body
    cv2.rectangle(mask, (326, 196), (334, 204), 255, -1)
    ys, xs = np.nonzero(mask)
    parts = people_in_row(xs, ys, SIZE)
    assert parts is not None and int(parts.max()) + 1 == 3
