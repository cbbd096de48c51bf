"""What the store manager pays for, as plain functions: ratings linked to the waits they lived.

Everything here is pure: it takes numbers (times as UTC epoch seconds in numpy arrays) and
returns numbers, so it is checked against hand-computed fixtures and used alike by the terminal
report, the web and the benchmarks. SQL lives in :mod:`peakend.broker.hub.reports.queries`.

Definitions (DESIGN section 5):

- Happy Index: the mean score mapped so 1 -> 0, 2 -> 33.3, 3 -> 66.7, 4 -> 100.
- Unhappy share: presses with a score up to ``unhappy_max_score`` (default 2) over all presses.
- Response rate: ratings over visits (people counted leaving the zone).
- Percentiles: linear interpolation between order statistics (numpy's default, "type 7").
- Throughput: visits per hour, over the hours in which the zone had any visit.
- Linkage: a rating at time t is linked to the visits of its zone whose exit lies in
  ``(t - lookback, t]`` (a visit ending exactly at the press counts, one ending exactly one
  look-back earlier does not) and to the last queue window in that same interval. Its linked
  wait is the median measured wait of those visits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.summary import (  # noqa: F401 (one place for callers of both)
    Summary,
    fmt_duration,
    fmt_index,
    fmt_share,
    happy_index,
    percentile,
    summary_from_parts,
)

# (t, score) or (t, score, reason)
RatingRow = tuple[float, int] | tuple[float, int, str | None]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class ZoneData:
    """One zone's events over a period; every array is sorted by its time."""

    rating_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    score: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    visit_t: np.ndarray = field(default_factory=lambda: np.empty(0))  # exit times
    dwell_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    wait_s: np.ndarray = field(default_factory=lambda: np.empty(0))  # nan: no measured wait
    queue_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    queue_length: np.ndarray = field(default_factory=lambda: np.empty(0))
    queue_wait_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    # per rating, the follow-up answer's key or None (an object array, like rating_t)
    reason: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    @classmethod
    def build(
        cls,
        ratings: list[RatingRow] = (),  # type: ignore[assignment]
        visits: list[tuple[float, float, float | None]] = (),  # type: ignore[assignment]
        queue: list[tuple[float, float, float | None]] = (),  # type: ignore[assignment]
    ) -> ZoneData:
        """From plain tuples: ratings (t, score) or (t, score, reason|None), visits (exit_t,
        dwell_s, wait_s|None), queue windows (t, length, predicted wait_s|None); sorts them."""
        r = sorted(ratings, key=lambda x: (x[0], x[1]))
        v = sorted(visits, key=lambda x: x[0])
        q = sorted(queue, key=lambda x: x[0])
        return cls(
            rating_t=np.array([x[0] for x in r], dtype=float),
            score=np.array([x[1] for x in r], dtype=np.int64),
            visit_t=np.array([x[0] for x in v], dtype=float),
            dwell_s=np.array([x[1] for x in v], dtype=float),
            wait_s=np.array([np.nan if x[2] is None else x[2] for x in v], dtype=float),
            queue_t=np.array([x[0] for x in q], dtype=float),
            queue_length=np.array([x[1] for x in q], dtype=float),
            queue_wait_s=np.array([np.nan if x[2] is None else x[2] for x in q], dtype=float),
            reason=np.array([x[2] if len(x) > 2 else None for x in r], dtype=object),
        )


# -- scalar measures ------------------------------------------------------------------------


def happy_index_of(scores: np.ndarray) -> float | None:
    return happy_index(len(scores), float(np.sum(scores)))


def active_hours(t: np.ndarray) -> int:
    """How many distinct clock hours (UTC hour starts) the times fall in."""
    if len(t) == 0:
        return 0
    return int(np.unique(np.floor(np.asarray(t) / 3600.0)).size)


def summarize(data: ZoneData, unhappy_max_score: int = 2) -> Summary:
    return summary_from_parts(
        ratings=len(data.score),
        score_sum=float(np.sum(data.score)),
        unhappy=int(np.sum(data.score <= unhappy_max_score)),
        visits=len(data.visit_t),
        hours=active_hours(data.visit_t),
        waits=data.wait_s,
        dwells=data.dwell_s,
    )


# -- linking ratings to what the zone lived through -----------------------------------------


@dataclass(frozen=True)
class LinkedRatings:
    """Per rating (same order as ZoneData.rating_t): what its look-back window held."""

    visits: np.ndarray  # visits that ended in the window
    waits: np.ndarray  # of which with a measured wait
    wait_s: np.ndarray  # median measured wait, nan if none
    wait_max_s: np.ndarray  # longest measured wait, nan if none
    dwell_s: np.ndarray  # median dwell, nan if no visit
    queue_length: np.ndarray  # last queue window in the window, nan if none
    queue_wait_s: np.ndarray  # its predicted wait, nan if none


def link_ratings(data: ZoneData, lookback_s: float) -> LinkedRatings:
    """What each rating's look-back window ``(t - lookback_s, t]`` held (see the module's
    definitions).

    Cost O((r + v) log v) for r ratings and v visits, however many visits a window holds: the
    window bounds come from binary searches over the exit times (sorted once), the medians and
    maxima from rank queries answered for every rating at once (:class:`_RankIndex`). Sorting
    each window's values instead costs r × (visits per window): 33 s for one zone page when a
    flood of 48,000 ratings met 9,500 visits in the look-back.
    """
    n = len(data.rating_t)
    lo = np.searchsorted(data.visit_t, data.rating_t - lookback_s, side="right")
    hi = np.searchsorted(data.visit_t, data.rating_t, side="right")
    visits = (hi - lo).astype(np.int64)
    dwell = _RankIndex(np.asarray(data.dwell_s, dtype=float)).medians(lo, hi)
    # The window bounds among the visits that have a measured wait: how many precede each bound.
    measured = ~np.isnan(np.asarray(data.wait_s, dtype=float))
    before = np.concatenate(([0], np.cumsum(measured)))
    wlo, whi = before[lo], before[hi]
    waits = (whi - wlo).astype(np.int64)
    wait_index = _RankIndex(np.asarray(data.wait_s, dtype=float)[measured])
    wait = wait_index.medians(wlo, whi)
    wait_max = np.full(n, np.nan)
    some = waits > 0
    wait_max[some] = wait_index.kth(wlo[some], whi[some], waits[some] - 1)
    q_length = np.full(n, np.nan)
    q_wait = np.full(n, np.nan)
    if len(data.queue_t):
        last = np.searchsorted(data.queue_t, data.rating_t, side="right") - 1
        ok = (last >= 0) & (data.queue_t[np.clip(last, 0, None)] > data.rating_t - lookback_s)
        q_length[ok] = data.queue_length[last[ok]]
        q_wait[ok] = data.queue_wait_s[last[ok]]
    return LinkedRatings(visits, waits, wait, wait_max, dwell, q_length, q_wait)


class _RankIndex:
    """The k-th smallest value of any index range of one array, for many ranges at once.

    A wavelet matrix over the values' ranks: one level per bit of a rank, each level the ranks
    stably split by that bit (zeros first) with a running count of its zeros. A query walks
    down one level per bit, narrowing its range to the side that holds its k-th value, so a
    batch of q ranges costs O(q log n) in a few numpy operations per level, with no Python
    loop per range. Ties keep their order (a stable sort), so the values picked are exactly
    those of sorting each range.
    """

    def __init__(self, values: np.ndarray) -> None:
        order = np.argsort(values, kind="stable")
        self.ordered = values[order]
        size = values.size
        rank = np.empty(size, dtype=np.int64)
        rank[order] = np.arange(size, dtype=np.int64)
        self.levels = max(1, int(size - 1).bit_length())
        self.zeros_before: list[np.ndarray] = []  # per level: zeros among the first i ranks
        self.zeros: list[int] = []
        for level in range(self.levels - 1, -1, -1):
            is_zero = ((rank >> level) & 1) == 0
            self.zeros_before.append(np.concatenate(([0], np.cumsum(is_zero))))
            self.zeros.append(int(self.zeros_before[-1][-1]))
            rank = np.concatenate((rank[is_zero], rank[~is_zero]))

    def kth(self, a: np.ndarray, b: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The k-th smallest (from 0) of ``values[a:b]``, per element; needs 0 <= k < b - a."""
        a, b, k = (np.asarray(x, dtype=np.int64) for x in (a, b, k))
        rank = np.zeros(a.shape, dtype=np.int64)
        for i, level in enumerate(range(self.levels - 1, -1, -1)):
            za, zb = self.zeros_before[i][a], self.zeros_before[i][b]
            zeros = zb - za
            right = k >= zeros
            k = np.where(right, k - zeros, k)
            a = np.where(right, self.zeros[i] + a - za, za)
            b = np.where(right, self.zeros[i] + b - zb, zb)
            rank |= right.astype(np.int64) << level
        return self.ordered[rank]

    def medians(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The median of ``values[a:b]`` per element (the mean of the middle two when the
        count is even, as :func:`_median`); nan for an empty range."""
        count = np.asarray(b) - np.asarray(a)
        out = np.full(count.shape, np.nan)
        some = count > 0
        a, b, count = np.asarray(a)[some], np.asarray(b)[some], count[some]
        middle = self.kth(a, b, count // 2)
        even = count % 2 == 0
        middle[even] = (self.kth(a[even], b[even], count[even] // 2 - 1) + middle[even]) / 2
        out[some] = middle
        return out


def _median(ordered: list[float]) -> float:
    m = len(ordered) // 2
    return ordered[m] if len(ordered) % 2 else (ordered[m - 1] + ordered[m]) / 2


@dataclass(frozen=True)
class Band:
    """Happy Index of the ratings whose linked wait fell in [low_s, high_s)."""

    low_s: float
    high_s: float | None
    ratings: int
    happy_index: float | None
    unhappy_share: float | None

    @property
    def label(self) -> str:
        if self.high_s is None:
            return f">= {fmt_duration(self.low_s)}"
        return f"{fmt_duration(self.low_s)}-{fmt_duration(self.high_s)}"


def happy_by_wait_band(
    scores: np.ndarray, linked_wait_s: np.ndarray, bands_s: list[float], unhappy_max_score: int = 2
) -> list[Band]:
    """Ratings grouped by linked wait; ratings without a measured wait are left out."""
    edges = [0.0, *bands_s]
    out = []
    ok = ~np.isnan(linked_wait_s)
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        sel = ok & (linked_wait_s >= low)
        if high is not None:
            sel &= linked_wait_s < high
        s = scores[sel]
        out.append(
            Band(
                low_s=low,
                high_s=high,
                ratings=int(s.size),
                happy_index=happy_index_of(s),
                unhappy_share=float(np.mean(s <= unhappy_max_score)) if s.size else None,
            )
        )
    return out


@dataclass(frozen=True)
class Tolerance:
    """The wait beyond which unhappiness climbs, or why it cannot be said."""

    wait_s: float | None
    low_s: float | None  # 80 % bootstrap range
    high_s: float | None
    ratings: int
    unhappy_below: float | None = None
    unhappy_above: float | None = None
    note: str = ""

    def text(self) -> str:
        if self.wait_s is None:
            return self.note
        return (
            f"{fmt_duration(self.wait_s)} (80% range {fmt_duration(self.low_s)}-"
            f"{fmt_duration(self.high_s)}, n={self.ratings})"
        )


# Two-sided z for p = 0.01: the split is chosen from many candidates, so a stricter bar than
# the usual 1.96 keeps a random bump from being reported as a tolerance point.
_Z_REQUIRED = 2.58
_MIN_SIDE = 10


def tolerance_point(
    linked_wait_s: np.ndarray,
    scores: np.ndarray,
    *,
    min_ratings: int = 30,
    unhappy_max_score: int = 2,
    bootstrap: int = 100,
    seed: int = 7,
) -> Tolerance:
    """The split of linked waits that best separates a low from a higher unhappy share.

    A step model: unhappy share p1 for waits up to T, p2 > p1 beyond; T is the midpoint between
    the two neighbouring distinct waits that maximises the likelihood. It is reported only when
    there are enough ratings on both sides and the step is clear (two-proportion z >= 2.58);
    the range is the 10th-90th percentile of T over bootstrap resamples.
    """
    ok = ~np.isnan(linked_wait_s)
    w = np.asarray(linked_wait_s, dtype=float)[ok]
    u = (np.asarray(scores)[ok] <= unhappy_max_score).astype(float)
    n = int(w.size)
    if n < min_ratings:
        # the note is a sentence a page shows: written in the language of the request
        return Tolerance(None, None, None, n, note=_(
            "not enough data (%(num)d of %(min)d ratings with a measured wait)")
            % {"num": n, "min": min_ratings})
    # Sorted once: a resample's waits in order are the sorted arrays at its sorted ranks, and
    # sorting integers is several times cheaper than sorting each resample's waits (the
    # bootstrap was a third of a month's zone page).
    order = np.argsort(w, kind="stable")
    w, u = w[order], u[order]
    best = _best_split(w, u)
    if best is None:
        return Tolerance(None, None, None, n,
                         note=_("not enough data on both sides of any wait"))
    t, p1, p2, z = best
    if p2 <= p1 or z < _Z_REQUIRED:
        return Tolerance(None, None, None, n, unhappy_below=p1, unhappy_above=p2,
                         note=_("no clear tolerance point: unhappiness does not climb "
                                "clearly with wait in this data"))
    rng = np.random.default_rng(seed)
    rank = np.empty(n, dtype=np.intp)
    rank[order] = np.arange(n)
    picks = []
    for _resample in range(bootstrap):
        # the same draws as resampling the unsorted waits (w_unsorted[idx]); equal waits may
        # come in another order, which no split sees: splits fall only between distinct waits
        at = np.sort(rank[rng.integers(0, n, n)])
        b = _best_split(w[at], u[at])
        if b is not None:
            picks.append(b[0])
    low, high = (float(np.percentile(picks, 10)), float(np.percentile(picks, 90))) if picks else (
        t, t)
    return Tolerance(t, min(low, t), max(high, t), n, unhappy_below=p1, unhappy_above=p2)


def _best_split(w: np.ndarray, u: np.ndarray) -> tuple[float, float, float, float] | None:
    """The best split of waits ``w`` (sorted) with their unhappy marks ``u``."""
    n = w.size
    cum = np.cumsum(u)
    total = cum[-1]
    # candidate k: the first k ratings (waits <= w[k-1]) below, the rest above; only between
    # distinct waits so equal waits never land on both sides.
    k = np.arange(_MIN_SIDE, n - _MIN_SIDE + 1)
    if k.size == 0:
        return None
    k = k[w[k - 1] < w[np.minimum(k, n - 1)]]
    if k.size == 0:
        return None
    a = cum[k - 1]
    p1 = a / k
    p2 = (total - a) / (n - k)
    ll = _loglik(a, k) + _loglik(total - a, n - k)
    ll = np.where(p2 > p1, ll, -np.inf)
    if np.all(np.isinf(ll)):
        i = int(np.argmax(_loglik(a, k) + _loglik(total - a, n - k)))
    else:
        i = int(np.argmax(ll))
    kk = int(k[i])
    pooled = total / n
    se = math.sqrt(max(pooled * (1 - pooled) * (1 / kk + 1 / (n - kk)), 1e-12))
    z = (float(p2[i]) - float(p1[i])) / se
    return float((w[kk - 1] + w[kk]) / 2), float(p1[i]), float(p2[i]), z


def _loglik(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    p = successes / trials
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(successes > 0, successes * np.log(np.where(p > 0, p, 1)), 0.0)
        failures = trials - successes
        b = np.where(failures > 0, failures * np.log(np.where(p < 1, 1 - p, 1)), 0.0)
    return a + b


# -- local time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTimes:
    """Store-local calendar parts of UTC epoch seconds."""

    day: np.ndarray  # proleptic ordinal of the local date
    hour: np.ndarray  # 0..23
    weekday: np.ndarray  # 0 = Monday


def local_times(t: np.ndarray, tz: ZoneInfo) -> LocalTimes:
    """Local date, hour and weekday for each time, daylight saving included.

    The UTC offset is looked up once per distinct quarter hour (every zone's offset changes on
    a quarter hour), so a month of events costs a few thousand look-ups, not one per event.
    """
    t = np.asarray(t, dtype=float)
    if t.size == 0:
        e = np.empty(0, dtype=np.int64)
        return LocalTimes(e, e, e)
    local = t + _offsets(t, tz)
    days = np.floor(local / 86400.0).astype(np.int64)
    hour = np.floor((local - days * 86400.0) / 3600.0).astype(np.int64)
    epoch_ordinal = date(1970, 1, 1).toordinal()
    day = days + epoch_ordinal
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    return LocalTimes(day, hour, weekday)


def _offsets(t: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    def offset(q: int) -> float:
        return datetime.fromtimestamp(q * 900, tz).utcoffset().total_seconds()

    # A UTC day whose start and end share an offset has no change inside it (zones change at
    # most once a day), so one look-up serves the whole day; other days go quarter by quarter.
    day = np.floor(t / 86400.0).astype(np.int64)
    uniq_days, day_inv = np.unique(day, return_inverse=True)
    out = np.empty(t.size)
    per_day = np.array([offset(int(d) * 96) for d in uniq_days])
    next_day = np.array([offset(int(d + 1) * 96) for d in uniq_days])
    out[:] = per_day[day_inv]
    changing = np.nonzero(per_day != next_day)[0]
    for k in changing:
        sel = day_inv == k
        quarter = np.floor(t[sel] / 900.0).astype(np.int64)
        uq, inv = np.unique(quarter, return_inverse=True)
        out[sel] = np.array([offset(int(q)) for q in uq])[inv]
    return out


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """UTC epoch seconds of the local day's start and the next day's start (23/25 h on DST)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start.timestamp(), end.timestamp()


# -- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeatMap:
    """7 weekdays x 24 local hours; cells are None where there is no data."""

    title: str
    cells: list[list[float | None]]
    counts: list[list[int]]


def heatmap_happy(data: ZoneData, tz: ZoneInfo) -> HeatMap:
    lt = local_times(data.rating_t, tz)
    cells: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    counts = [[0] * 24 for _ in range(7)]
    if len(data.score):
        key = lt.weekday * 24 + lt.hour
        n = np.bincount(key, minlength=168)
        s = np.bincount(key, weights=data.score.astype(float), minlength=168)
        for k in np.nonzero(n)[0]:
            cells[k // 24][k % 24] = happy_index(int(n[k]), float(s[k]))
            counts[k // 24][k % 24] = int(n[k])
    return HeatMap("Happy Index", cells, counts)


def heatmap_wait(data: ZoneData, tz: ZoneInfo, q: float = 90) -> HeatMap:
    ok = ~np.isnan(data.wait_s)
    lt = local_times(data.visit_t[ok], tz)
    w = data.wait_s[ok]
    cells: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    counts = [[0] * 24 for _ in range(7)]
    if w.size:
        key = lt.weekday * 24 + lt.hour
        order = np.argsort(key, kind="stable")
        key, w = key[order], w[order]
        uniq, starts = np.unique(key, return_index=True)
        ends = [*starts[1:], key.size]
        for k, a, b in zip(uniq, starts, ends, strict=True):
            cells[k // 24][k % 24] = float(np.percentile(w[a:b], q))
            counts[k // 24][k % 24] = int(b - a)
    return HeatMap(f"Wait p{q:g}", cells, counts)


@dataclass(frozen=True)
class TrendPoint:
    start: date  # local day (or week's Monday)
    ratings: int
    happy_index: float | None
    visits: int
    wait_p90_s: float | None


def trend(data: ZoneData, tz: ZoneInfo, by: str = "day") -> list[TrendPoint]:
    """Per local day or week (weeks start on Monday), in time order."""
    rl = local_times(data.rating_t, tz)
    vl = local_times(data.visit_t, tz)

    def bucket(lt: LocalTimes) -> np.ndarray:
        return lt.day - lt.weekday if by == "week" else lt.day

    rb, vb = bucket(rl), bucket(vl)
    keys = sorted(set(rb.tolist()) | set(vb.tolist()))
    out = []
    for k in keys:
        s = data.score[rb == k]
        sel = vb == k
        out.append(
            TrendPoint(
                start=date.fromordinal(int(k)),
                ratings=int(s.size),
                happy_index=happy_index_of(s),
                visits=int(sel.sum()),
                wait_p90_s=percentile(data.wait_s[sel], 90),
            )
        )
    return out


@dataclass(frozen=True)
class PeakEndDay:
    """One local day: its peak wait and the Happy Index of its end and of the whole day."""

    day: date
    peak_wait_s: float | None
    peak_at: float | None  # UTC epoch seconds of the peak quarter hour's start
    end_ratings: int
    end_happy_index: float | None
    day_ratings: int
    day_happy_index: float | None


def peak_end(data: ZoneData, tz: ZoneInfo, end_window_min: float = 60.0) -> list[PeakEndDay]:
    """Per local day: the peak is the highest median measured wait of any quarter hour (a median
    so that one outlier does not make the day's peak); the end is the ratings in the last
    ``end_window_min`` minutes before the day's last event."""
    rl = local_times(data.rating_t, tz)
    vl = local_times(data.visit_t, tz)
    ok = ~np.isnan(data.wait_s)
    all_days = sorted(set(rl.day.tolist()) | set(vl.day.tolist()))
    out = []
    for d in all_days:
        rsel = rl.day == d
        rt, rs = data.rating_t[rsel], data.score[rsel]
        vsel = vl.day == d
        vt = data.visit_t[vsel]
        peak = peak_at = None
        wsel = vsel & ok
        if wsel.any():
            by_quarter: dict[float, list[float]] = {}
            for q, w in zip(np.floor(data.visit_t[wsel] / 900.0).tolist(),
                            data.wait_s[wsel].tolist(), strict=True):
                by_quarter.setdefault(q, []).append(w)
            for q, ws in sorted(by_quarter.items()):
                m = _median(sorted(ws))
                if peak is None or m > peak:
                    peak, peak_at = m, q * 900.0
        last = max([*rt.tolist(), *vt.tolist()])
        end = rs[rt > last - end_window_min * 60.0]
        out.append(
            PeakEndDay(
                day=date.fromordinal(int(d)),
                peak_wait_s=peak,
                peak_at=peak_at,
                end_ratings=int(end.size),
                end_happy_index=happy_index_of(end),
                day_ratings=int(rs.size),
                day_happy_index=happy_index_of(rs),
            )
        )
    return out


# -- time ----------------------------------------------------------------------------------


def epoch(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()
