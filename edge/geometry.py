"""Plane geometry for zones: polygon checks, feet-point membership, exit-line crossings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]


def polygon_problem(polygon: Sequence[Sequence[float]]) -> str | None:
    """What is wrong with a zone polygon, in words, or None when it is usable."""
    if len(polygon) < 3:
        return f"has {len(polygon)} point(s); a zone needs at least 3 corners"
    pts = [(float(p[0]), float(p[1])) for p in polygon]
    if len(set(pts)) != len(pts):
        return "repeats a corner; list each corner once"
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        for j in range(i + 1, n):
            if j == i or (j + 1) % n == i or j == (i + 1) % n:
                continue  # neighbouring edges share a corner
            c, d = pts[j], pts[(j + 1) % n]
            if segments_intersect(a, b, c, d):
                return (
                    f"crosses itself (edge {i + 1} {a}-{b} meets edge {j + 1} {c}-{d}); "
                    "list the corners in order around the zone"
                )
    if abs(polygon_area(pts)) < 1.0:
        return "has no area (its corners lie on one line)"
    return None


def exit_line_problem(
    line: Sequence[Sequence[float]], polygon: Sequence[Sequence[float]]
) -> str | None:
    """An exit line must be a real segment lying on or across the polygon's edge."""
    a, b = (float(line[0][0]), float(line[0][1])), (float(line[1][0]), float(line[1][1]))
    if np.hypot(b[0] - a[0], b[1] - a[1]) < 2.0:
        return "has both ends at the same spot; give two distinct points"
    pts = [(float(p[0]), float(p[1])) for p in polygon]
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    tolerance = 3.0
    if distance_to_polygon_edge(mid, pts) > tolerance and not any(
        segments_intersect(a, b, pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))
    ):
        return "neither lies on nor crosses the polygon's edge; draw it where people leave the zone"
    return None


def polygon_area(pts: Sequence[Point]) -> float:
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polygon_centroid(pts: Sequence[Point]) -> Point:
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    cx = ((x + np.roll(x, -1)) * cross).sum() / (6 * area)
    cy = ((y + np.roll(y, -1)) * cross).sum() / (6 * area)
    return float(cx), float(cy)


def inside(points: np.ndarray, polygon: Sequence[Point]) -> np.ndarray:
    """Even-odd rule for many (N, 2) points at once; points on an edge may fall either way."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    px, py = pts[:, 0:1], pts[:, 1:2]
    poly = np.asarray(polygon, dtype=float)
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > py) != (y2 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    hits = straddles & (px < x_cross)
    return (hits.sum(axis=1) % 2) == 1


def side(point: Point, a: Point, b: Point) -> float:
    """Positive on one side of the line a->b, negative on the other (2D cross product)."""
    return (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])


def segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    d1, d2 = side(c, a, b), side(d, a, b)
    d3, d4 = side(a, c, d), side(b, c, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def crossing_fraction(p: Point, q: Point, a: Point, b: Point) -> float | None:
    """Where along the step p->q it crosses segment a-b (0..1), or None if it does not."""
    s1, s2 = side(p, a, b), side(q, a, b)
    # A point exactly on the line counts as the non-positive side, so a step that ends on
    # the line and the next one that leaves it are one crossing, not two.
    if (s1 > 0) == (s2 > 0):
        return None
    t = s1 / (s1 - s2)
    x = p[0] + t * (q[0] - p[0])
    y = p[1] + t * (q[1] - p[1])
    # The crossing point must lie within the segment, not on its infinite extension.
    ab = (b[0] - a[0], b[1] - a[1])
    length2 = ab[0] ** 2 + ab[1] ** 2
    u = ((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / length2
    if u < 0 or u > 1:
        return None
    return float(t)


def distance_to_polygon_edge(point: Point, pts: Sequence[Point]) -> float:
    best = float("inf")
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        ab = np.subtract(b, a)
        ap = np.subtract(point, a)
        t = float(np.clip(np.dot(ap, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
        best = min(best, float(np.hypot(*(ap - t * ab))))
    return best
