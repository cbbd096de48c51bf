"""People in single file in one blob (a checkout line seen from above), counted by their bumps.

A line of people standing close makes one long blob whose area is more than their number
of walkers' areas: the closing that heals each person's outline also fills the gaps between
neighbours. Counting them by area then finds one or two too many, and k-means spreads the
surplus evenly between them. Along the line, though, each body is a bump in the blob's
thickness (a body seen from above is convex, so it never makes two) and neighbours meet at a
narrower waist: the number of bumps is the number of people.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

# A blob is one row of people when it is at most this many person sizes across (a body's
# shoulders are about 1.2 sizes; two abreast are 2) and at least this many long.
ROW_THICK = 1.6
ROW_LONG = 1.5
# Two bumps are two people when their tops are this many sizes apart or more (neighbours in
# a line stand about one size apart) and the blob narrows between them to at most this share
# of the lower one.
MIN_APART = 0.7
WAIST = 0.8


def people_in_row(xs: np.ndarray, ys: np.ndarray, size: float) -> np.ndarray | None:
    """Who is who in a blob of people in single file: for each pixel (``xs``, ``ys``) the
    index of its person along the row, cut at the waists between them (one person ``size``
    pixels across); None when the blob is not a single row."""
    if len(xs) < 3 or size <= 0:
        return None
    points = np.column_stack([xs, ys]).astype(np.float64)
    points -= points.mean(axis=0)
    spread, axes = np.linalg.eigh(np.cov(points.T))
    # A uniform bar of length L has variance L^2 / 12 along it.
    across, along = (math.sqrt(12.0 * max(v, 0.0)) for v in spread)
    if across > ROW_THICK * size or along < ROW_LONG * size:
        return None
    position = points @ axes[:, 1]
    steps = np.floor(position - position.min()).astype(np.int64)
    # Pixels per step along the row: the blob's thickness there, lightly smoothed.
    profile = np.convolve(np.bincount(steps).astype(np.float64), np.ones(3) / 3.0, "same")
    tops = _bumps(profile, MIN_APART * size)
    waists = [a + int(np.argmin(profile[a : b + 1])) for a, b in itertools.pairwise(tops)]
    return np.searchsorted(np.asarray(waists, dtype=np.int64), steps, side="right")


def _bumps(profile: np.ndarray, apart: float) -> list[int]:
    """Where the bodies along a row are thickest, in order along it. Taken tallest first: a
    lower top is another body only if it stands ``apart`` from the bodies found and the row
    narrows to a waist between it and its nearest ones on either side (a bump on a body's
    flank does not)."""
    padded = np.concatenate([[0.0], profile, [0.0]])
    tops = [
        i - 1
        for i in range(1, len(padded) - 1)
        if padded[i] > padded[i - 1] and padded[i] >= padded[i + 1]
    ]
    kept: list[int] = []
    for top in sorted(tops, key=lambda i: -profile[i]):
        left = max((k for k in kept if k < top), default=None)
        right = min((k for k in kept if k > top), default=None)
        if all(
            abs(top - k) >= apart and _waist(profile, min(top, k), max(top, k))
            for k in (left, right)
            if k is not None
        ):
            kept.append(top)
    return sorted(kept)


def _waist(profile: np.ndarray, a: int, b: int) -> bool:
    return float(profile[a : b + 1].min()) <= WAIST * min(profile[a], profile[b])
