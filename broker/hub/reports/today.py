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

from peakend.broker.hub.i18n import N_
from peakend.broker.hub.i18n import gettext as _
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

FULL_WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
                 N_("Saturday"), N_("Sunday"))


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


def compare(today: DayLine, usual: DayLine, weekday: int, now_hour: int,
            *, past: bool = False) -> list[str]:
    """A few sentences: how today went so far against the usual day to the same hour, and
    the hours that stood out. ``now_hour`` is the current local hour (it counts as begun);
    ``past``: ``today`` is a whole day gone by (a digest's), said as "the day", not "today".
    The sentences are in the language of the request (English outside one)."""
    name = _(FULL_WEEKDAYS[weekday])
    upto = now_hour + 1
    span = _("to %(hour)s") % {"hour": f"{min(upto, 24):02d}:00"}
    if usual.days == 0:
        return [_("No usual %(day)s to compare with yet: nothing was recorded on the last "
                  "%(weeks)d %(day)ss.") % {"day": name, "weeks": USUAL_WEEKS}]
    out = []
    n, hi, nw, wp = today.upto(upto)
    un, uhi, unw, uwp = usual.upto(upto)
    per = _("a usual %(day)s (%(days)d of the last %(weeks)d)") % {
        "day": name, "days": usual.days, "weeks": USUAL_WEEKS}
    if n >= MIN_RATINGS and un >= MIN_RATINGS and hi is not None and uhi is not None:
        said = (_("Happy Index on the day: %(today).1f against %(usual).1f on %(per)s, "
                  "%(change)s (%(n)d and %(un)d ratings).") if past else
                _("Happy Index today %(span)s: %(today).1f against %(usual).1f on %(per)s, "
                  "%(change)s (%(n)d and %(un)d ratings)."))
        out.append(said % {
            "span": span, "today": hi, "usual": uhi, "per": per,
            "change": _index_word(hi - uhi), "n": n, "un": un})
    elif n < MIN_RATINGS:
        said = (_("Too few ratings on the day to compare (%(n)d; %(needed)d needed).") if past
                else _("Too few ratings today %(span)s to compare (%(n)d; %(needed)d needed)."))
        out.append(said % {"span": span, "n": n, "needed": MIN_RATINGS})
    if nw >= MIN_WAITS and unw >= MIN_WAITS and wp is not None and uwp is not None:
        said = (_("Wait p90 on the day: %(today)s against %(usual)s on %(per)s, %(change)s.")
                if past else _("Wait p90 today %(span)s: %(today)s against %(usual)s on "
                               "%(per)s, %(change)s."))
        out.append(said % {"span": span, "today": fmt_duration(wp), "usual": fmt_duration(uwp),
                           "per": per, "change": _wait_word(wp, uwp)})
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
        _gap, t, u = worst
        out.append(_("Worst against usual: %(hours)s, Happy Index %(today).1f against "
                     "%(usual).1f.") % {"hours": _hours(t.hour), "today": t.happy_index,
                                        "usual": u.happy_index})
    if best:
        _gap, t, u = best
        out.append(_("Best against usual: %(hours)s, Happy Index %(today).1f against "
                     "%(usual).1f.") % {"hours": _hours(t.hour), "today": t.happy_index,
                                        "usual": u.happy_index})
    if longest:
        _gap, t, u = longest
        out.append(_("Waits furthest above usual: %(hours)s, p90 %(today)s against "
                     "%(usual)s.") % {"hours": _hours(t.hour),
                                      "today": fmt_duration(t.wait_p90_s),
                                      "usual": fmt_duration(u.wait_p90_s)})
    return out


def weekday_name(day: date) -> str:
    return WEEKDAYS[day.weekday()]


def _index_word(d: float) -> str:
    if abs(d) < SAME_INDEX:
        return _("about as usual")
    word = _("better by %(points).1f") if d > 0 else _("worse by %(points).1f")
    return word % {"points": abs(d)}


def _wait_word(today: float, usual: float) -> str:
    if abs(today - usual) <= usual * SAME_WAIT_SHARE:
        return _("about as usual")
    word = _("longer by %(wait)s") if today > usual else _("shorter by %(wait)s")
    return word % {"wait": fmt_duration(abs(today - usual))}


def _hours(h: int) -> str:
    return f"{h:02d}:00-{(h + 1) % 24:02d}:00"
