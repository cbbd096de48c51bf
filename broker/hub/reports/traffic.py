"""Footfall and dwell of a zone, for zones a camera watches without a kiosk (a promotion
aisle, an entrance): what the rating views are for kiosk zones. Pure, like ``analytics``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np

from peakend.broker.hub.i18n import N_
from peakend.broker.hub.reports.analytics import HeatMap, ZoneData, local_times
from peakend.broker.hub.reports.summary import percentiles


def heatmap_visits(data: ZoneData, tz: ZoneInfo) -> HeatMap:
    """Visits per weekday and local hour, as a mean per day that weekday had any visit, so a
    period holding three Mondays and two Sundays compares them fairly."""
    lt = local_times(data.visit_t, tz)
    cells: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    counts = [[0] * 24 for _ in range(7)]
    if lt.day.size:
        key = lt.weekday * 24 + lt.hour
        n = np.bincount(key, minlength=168)
        days_per_weekday = [len(set(lt.day[lt.weekday == wd].tolist())) for wd in range(7)]
        for k in np.nonzero(n)[0]:
            wd, h = int(k // 24), int(k % 24)
            counts[wd][h] = int(n[k])
            cells[wd][h] = int(n[k]) / days_per_weekday[wd]
    return HeatMap(N_("Visits per hour"), cells, counts)


@dataclass(frozen=True)
class DwellPoint:
    start: date  # local day (or week's Monday)
    visits: int
    dwell_p50_s: float | None
    dwell_p90_s: float | None


def dwell_trend(data: ZoneData, tz: ZoneInfo, by: str = "day") -> list[DwellPoint]:
    """Visits and dwell p50 / p90 per local day or week (weeks start on Monday)."""
    lt = local_times(data.visit_t, tz)
    bucket = lt.day - lt.weekday if by == "week" else lt.day
    out = []
    for k in sorted(set(bucket.tolist())):
        d = data.dwell_s[bucket == k]
        p50, p90 = percentiles(d, (50, 90))
        out.append(DwellPoint(date.fromordinal(int(k)), int(d.size), p50, p90))
    return out
