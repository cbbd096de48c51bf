"""Stores and zones side by side: each one's figures now and in the previous period, the
change, and an order a manager chooses. Pure and numpy-free."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.summary import Summary, fmt_duration

# sort key -> (Summary field or "alerts"/"name", whether a higher value is better)
SORTS: dict[str, tuple[str, bool]] = {
    "name": ("name", True),
    "happy": ("happy_index", True),
    "unhappy": ("unhappy_share", False),
    "wait": ("wait_p90_s", False),
    "ratings": ("ratings", True),
    "alerts": ("alerts", False),
}


# the smallest step each figure is shown in (summary.fmt_index, fmt_share, fmt_duration)
SHOWN_STEP: dict[str, float] = {"happy_index": 0.1, "unhappy_share": 0.001, "wait_p90_s": 1.0}

# what a store or zone that sent nothing in a period shows
NO_DATA = Summary(ratings=0, happy_index=None, unhappy_share=None, visits=0, response_rate=None,
                  wait_p50_s=None, wait_p90_s=None, dwell_p50_s=None, dwell_p90_s=None,
                  throughput_per_h=None, waits=0)


class SortError(ValueError):
    """A sort that is not offered; the message names those that are."""


@dataclass(frozen=True)
class Compared:
    """A store (zone_id None) or a zone over the period and the previous one."""

    store_id: str
    zone_id: str | None
    name: str
    now: Summary
    before: Summary
    open_alerts: int

    def change(self, field: str) -> float | None:
        """Now minus before, as the two figures are shown; None when either has no value.

        The change of two figures is the difference of what the page prints (4:30 against
        4:27 is +0:03), not of the raw values, whose difference may round the other way
        (2.4999 s or 2.5001 s, as two databases' percentiles differ in the last bit)."""
        a, b = getattr(self.now, field), getattr(self.before, field)
        if a is None or b is None:
            return None
        step = SHOWN_STEP.get(field)
        if step is None:
            return a - b
        return (round(a / step) - round(b / step)) * step

    def better(self, field: str) -> bool | None:
        """Whether the change is for the better (None: no change or not known)."""
        d = self.change(field)
        if not d:
            return None
        higher_is_better = next(h for f, h in SORTS.values() if f == field)
        return (d > 0) == higher_is_better


def parse_sort(text: str | None, default: str = "happy") -> tuple[str, bool]:
    """``happy`` (ascending) or ``-happy`` (descending) -> (key, descending)."""
    text = text or default
    key = text.lstrip("-")
    if key not in SORTS:
        raise SortError(_("cannot sort by '%(key)s': use one of %(sorts)s (a leading - sorts "
                          "from the highest)") % {"key": key, "sorts": ", ".join(SORTS)})
    return key, text.startswith("-")


def ranked(rows: Iterable[Compared], key: str, descending: bool = False) -> list[Compared]:
    """In the order asked; rows without a value (no ratings, no measured wait) go last
    whatever the direction, so an empty zone never tops a ranking."""
    field = SORTS[key][0]

    def value(r: Compared) -> float | str | None:
        if field == "name":
            return r.name.casefold()
        if field == "alerts":
            return r.open_alerts
        return getattr(r.now, field)

    rows = list(rows)
    known = [r for r in rows if value(r) is not None]
    unknown = [r for r in rows if value(r) is None]
    known.sort(key=lambda r: (value(r), r.store_id, r.zone_id or ""), reverse=descending)
    return known + unknown


# -- changes as a manager reads them ----------------------------------------------------------


def fmt_change_index(d: float) -> str:
    return f"{d:+.1f}"


def fmt_change_share(d: float) -> str:
    """Percentage points: 12 % -> 15 % is +3.0 pts, not +25 %."""
    return f"{d * 100:+.1f} pts"


def fmt_change_duration(d: float) -> str:
    return ("+" if d >= 0 else "-") + fmt_duration(abs(d))


def fmt_count(v: int | None) -> str:
    return "-" if v is None else str(v)


def fmt_change_count(d: float) -> str:
    return f"{int(d):+d}"
