"""A zone's headline numbers over a period, and how they are printed.

Kept apart from :mod:`peakend.broker.hub.reports.analytics` and free of numpy at import: the
all-zones report (``peakend report``, the store page) needs only these, and importing numpy
was a third of a short report's start-up. Definitions are those of ``analytics``.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Sorting in Python costs about 0.1 us per value here, importing numpy about 70 ms: numpy is
# loaded for a report once it holds this many values in all ...
WORTH_LOADING_NUMPY = 500_000
# ... and, once loaded, used for series from this size, where its partition beats a sort.
_NUMPY_FASTER_FROM = 3000


def load_numpy_for(values: int) -> None:
    """Load numpy when a report about to summarise ``values`` values in all gains by it."""
    if values >= WORTH_LOADING_NUMPY:
        import numpy  # noqa: F401


def happy_index(count: int, score_sum: float) -> float | None:
    """Happy Index of ``count`` presses summing to ``score_sum``; None without presses."""
    if count <= 0:
        return None
    return (score_sum / count - 1.0) * 100.0 / 3.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of the values that are not nan; None when there are none.

    Linear interpolation between order statistics, exactly as numpy's default ("type 7"),
    whichever of the two computes it."""
    return percentiles(values, (q,))[0]


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float | None]:
    """Several percentiles of the same values, sorting them once."""
    a = _finite_array(values)
    if a is not None:
        np = sys.modules["numpy"]
        return [float(v) for v in np.percentile(a, qs)] if a.size else [None] * len(qs)
    finite = sorted(v for v in values if v == v)  # v != v only for nan
    if not finite:
        return [None] * len(qs)
    out: list[float | None] = []
    for q in qs:
        rank = q / 100 * (len(finite) - 1)
        lo = math.floor(rank)
        hi = min(lo + 1, len(finite) - 1)
        out.append(_lerp(finite[lo], finite[hi], rank - lo))
    return out


def _finite_array(values: Sequence[float]) -> Any:
    """The values that are not nan as a numpy array, when numpy is loaded already and faster
    for them; else None (the caller stays in plain Python, so `peakend report` need not import
    numpy)."""
    np = sys.modules.get("numpy")
    if np is None or not (isinstance(values, np.ndarray) or len(values) >= _NUMPY_FASTER_FROM):
        return None
    a = np.frombuffer(values, dtype=np.float64) if isinstance(values, array) else (
        np.asarray(values, dtype=float))
    return a[~np.isnan(a)]


def _lerp(a: float, b: float, t: float) -> float:
    # numpy's own form: from the nearer end, so the result equals numpy's to the last bit.
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


@dataclass(frozen=True)
class Summary:
    """The headline numbers of one zone over one period."""

    ratings: int
    happy_index: float | None
    unhappy_share: float | None
    visits: int
    response_rate: float | None
    wait_p50_s: float | None
    wait_p90_s: float | None
    dwell_p50_s: float | None
    dwell_p90_s: float | None
    throughput_per_h: float | None
    waits: int

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def summary_from_parts(
    *,
    ratings: int,
    score_sum: float,
    unhappy: int,
    visits: int,
    hours: int,
    waits: Sequence[float],
    dwells: Sequence[float],
) -> Summary:
    """The summary from counts and the raw wait/dwell values (so rollups give the same); a
    nan wait is a visit without a measured wait."""
    finite = _finite_array(waits)
    # a month of a store's zones is millions of waits: not one by one in Python
    waits = finite if finite is not None else array("d", (w for w in waits if w == w))
    wait_p50, wait_p90 = percentiles(waits, (50, 90))
    dwell_p50, dwell_p90 = percentiles(dwells, (50, 90))
    return Summary(
        ratings=ratings,
        happy_index=happy_index(ratings, score_sum),
        unhappy_share=unhappy / ratings if ratings else None,
        visits=visits,
        response_rate=ratings / visits if visits else None,
        wait_p50_s=wait_p50,
        wait_p90_s=wait_p90,
        dwell_p50_s=dwell_p50,
        dwell_p90_s=dwell_p90,
        throughput_per_h=visits / hours if hours else None,
        waits=len(waits),
    )


# -- formatting -----------------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """``95`` -> ``1:35``; minutes:seconds reads faster on a shop floor than 95 s."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def fmt_index(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
