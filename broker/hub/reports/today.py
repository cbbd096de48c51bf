"""Today against a usual day: hour by hour, and in words.

A usual day is the same weekday over the last four weeks (a Saturday is compared with
Saturdays, whose crowds differ from a Tuesday's), pooled hour by hour. Today is compared with
the usual day up to the current hour only, so a morning is not judged against a whole day.
Pure: times are UTC epoch seconds, days and hours are the store's local ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from peakend.broker.hub.reports.analytics import WEEKDAYS, local_times
from peakend.broker.hub.reports.summary import fmt_duration, happy_index, percentile

USUAL_WEEKS = 4
# Below these counts an hour (or a day so far) is too thin to call better or worse.
MIN_RATINGS = 8
MIN_WAITS = 8
# Differences smaller than these read as "about as usual": a few index points or a few
# seconds are within what a day's sample moves by itself.
SAME_INDEX = 5.0
SAME_WAIT_SHARE = 0.15

_FULL_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class HourOfDay:
    hour: int  # local hour, 0..23
    ratings: int
    happy_index: float | None
    waits: int
    wait_p90_s: float | None


@dataclass(frozen=True)
class DayLine:
    """Ratings and measured waits of some local days, pooled by local hour."""

    days: int  # how many days are pooled (the usual day: those of the 4 weeks with data)
    hours: list[HourOfDay]  # 24, hour 0 first
    # each pooled rating's local hour and score, each measured wait's local hour and value
    rating_hour: np.ndarray = field(repr=False, compare=False)
    rating_score: np.ndarray = field(repr=False, compare=False)
    wait_hour: np.ndarray = field(repr=False, compare=False)
    wait_s: np.ndarray = field(repr=False, compare=False)

    def upto(self, hour: int) -> tuple[int, float | None, int, float | None]:
        """Ratings, Happy Index, waits and wait p90 of the hours before ``hour``."""
        s = self.rating_hour < hour
        ws = self.wait_s[self.wait_hour < hour]
        n = int(s.sum())
        return n, happy_index(n, float(self.rating_score[s].sum())), int(ws.size), percentile(
            ws, 90)


def usual_days(today: date, weeks: int = USUAL_WEEKS) -> list[date]:
    """The same weekday in each of the last ``weeks`` weeks, most recent first."""
    return [today - timedelta(days=7 * k) for k in range(1, weeks + 1)]


def day_line(
    rating_t: np.ndarray,
    score: np.ndarray,
    visit_t: np.ndarray,
    wait_s: np.ndarray,
    tz: ZoneInfo,
    days: Sequence[date],
) -> DayLine:
    """The events of the given local days, hour by hour; ``wait_s`` nan: no measured wait."""
    return day_lines(rating_t, score, visit_t, wait_s, tz, [days])[0]


def day_lines(
    rating_t: np.ndarray,
    score: np.ndarray,
    visit_t: np.ndarray,
    wait_s: np.ndarray,
    tz: ZoneInfo,
    groups: Sequence[Sequence[date]],
) -> list[DayLine]:
    """One :class:`DayLine` per group of local days, the local times worked out once."""
    rl = local_times(rating_t, tz)
    ok = ~np.isnan(np.asarray(wait_s, dtype=float))
    vl = local_times(np.asarray(visit_t)[ok], tz)
    w_all = np.asarray(wait_s, dtype=float)[ok]
    out = []
    for days in groups:
        wanted = np.array([d.toordinal() for d in days], dtype=np.int64)
        rsel = np.isin(rl.day, wanted)
        vsel = np.isin(vl.day, wanted)
        r_hour, r_score = rl.hour[rsel], np.asarray(score)[rsel]
        w_hour, w = vl.hour[vsel], w_all[vsel]
        seen = set(rl.day[rsel].tolist()) | set(vl.day[vsel].tolist())
        # a day's hours hold a few dozen events each: plain lists beat numpy's per-call
        # overhead
        n, total = [0] * 24, [0] * 24
        for h, sc in zip(r_hour.tolist(), r_score.tolist(), strict=True):
            n[h] += 1
            total[h] += sc
        by_hour: list[list[float]] = [[] for _ in range(24)]
        for h, x in zip(w_hour.tolist(), w.tolist(), strict=True):
            by_hour[h].append(x)
        hours = [HourOfDay(h, n[h], happy_index(n[h], float(total[h])), len(by_hour[h]),
                           percentile(by_hour[h], 90)) for h in range(24)]
        out.append(DayLine(len(seen), hours, r_hour, r_score, w_hour, w))
    return out


def compare(today: DayLine, usual: DayLine, weekday: int, now_hour: int) -> list[str]:
    """A few sentences: how today went so far against the usual day to the same hour, and
    the hours that stood out. ``now_hour`` is the current local hour (it counts as begun)."""
    name = _FULL_WEEKDAYS[weekday]
    upto = now_hour + 1
    span = f"to {min(upto, 24):02d}:00"
    if usual.days == 0:
        return [f"No usual {name} to compare with yet: nothing was recorded on the last "
                f"{USUAL_WEEKS} {name}s."]
    out = []
    n, hi, nw, wp = today.upto(upto)
    un, uhi, unw, uwp = usual.upto(upto)
    per = f"a usual {name} ({usual.days} of the last {USUAL_WEEKS})"
    if n >= MIN_RATINGS and un >= MIN_RATINGS and hi is not None and uhi is not None:
        out.append(f"Happy Index today {span}: {hi:.1f} against {uhi:.1f} on {per}, "
                   f"{_index_word(hi - uhi)} ({n} and {un} ratings).")
    elif n < MIN_RATINGS:
        out.append(f"Too few ratings today {span} to compare ({n}; {MIN_RATINGS} needed).")
    if nw >= MIN_WAITS and unw >= MIN_WAITS and wp is not None and uwp is not None:
        out.append(f"Wait p90 today {span}: {fmt_duration(wp)} against {fmt_duration(uwp)} "
                   f"on {per}, {_wait_word(wp, uwp)}.")
    worst = best = longest = None
    for t, u in zip(today.hours[:upto], usual.hours[:upto], strict=True):
        if (t.ratings >= MIN_RATINGS and u.ratings >= MIN_RATINGS
                and t.happy_index is not None and u.happy_index is not None):
            d = t.happy_index - u.happy_index
            if d <= -SAME_INDEX and (worst is None or d < worst[0]):
                worst = (d, t, u)
            if d >= SAME_INDEX and (best is None or d > best[0]):
                best = (d, t, u)
        if (t.waits >= MIN_WAITS and u.waits >= MIN_WAITS and t.wait_p90_s is not None
                and u.wait_p90_s is not None and t.wait_p90_s > u.wait_p90_s * (
                    1 + SAME_WAIT_SHARE)):
            d = t.wait_p90_s - u.wait_p90_s
            if longest is None or d > longest[0]:
                longest = (d, t, u)
    if worst:
        _, t, u = worst
        out.append(f"Worst against usual: {_hours(t.hour)}, Happy Index {t.happy_index:.1f} "
                   f"against {u.happy_index:.1f}.")
    if best:
        _, t, u = best
        out.append(f"Best against usual: {_hours(t.hour)}, Happy Index {t.happy_index:.1f} "
                   f"against {u.happy_index:.1f}.")
    if longest:
        _, t, u = longest
        out.append(f"Waits furthest above usual: {_hours(t.hour)}, p90 "
                   f"{fmt_duration(t.wait_p90_s)} against {fmt_duration(u.wait_p90_s)}.")
    return out


def weekday_name(day: date) -> str:
    return WEEKDAYS[day.weekday()]


def _index_word(d: float) -> str:
    if abs(d) < SAME_INDEX:
        return "about as usual"
    return f"{'better' if d > 0 else 'worse'} by {abs(d):.1f}"


def _wait_word(today: float, usual: float) -> str:
    if abs(today - usual) <= usual * SAME_WAIT_SHARE:
        return "about as usual"
    return f"{'longer' if today > usual else 'shorter'} by {fmt_duration(abs(today - usual))}"


def _hours(h: int) -> str:
    return f"{h:02d}:00-{(h + 1) % 24:02d}:00"
