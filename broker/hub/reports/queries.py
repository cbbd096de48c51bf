"""Reports from the hub database: the SQL around the pure functions of ``analytics``.

Two paths, one set of numbers:

- ``store_report`` summarises every zone over a period. It reads the hourly rollup
  ``zone_hours`` for the whole UTC hours inside the period, the raw rows the writer has not
  folded yet (past the rollup marks, see :mod:`peakend.broker.hub.reports.rollup`) and the raw
  rows for the partial hours at its edges, all in one snapshot. So a month of fifty zones costs a
  few thousand rows while the counts and percentiles stay exactly those of the raw data, however
  far behind the fold is.
- ``zone_report`` reads one zone's raw rows for the period and computes everything, including
  the linkage, the tolerance point, heat maps, trend and the peak-end view.

Reads never write: the same SQL runs on SQLite and PostgreSQL (a chain's central database),
through :class:`peakend.broker.hub.db.database.HubDb`, and on a read-only role.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from peakend.broker.hub.config import DEFAULT, HubConfig
from peakend.broker.hub.db.database import DatabaseError, HubDb, open_hub_db
from peakend.broker.hub.i18n import current as current_language
from peakend.broker.hub.i18n import gettext
from peakend.broker.hub.reports.rollup import marks, refresh_rollups
from peakend.broker.hub.reports.shares import (
    FaceShare,
    ReasonSide,
    WaitReasonBand,
    face_counts,
    face_shares,
    reason_sides,
    wait_reason_by_band,
)
from peakend.broker.hub.reports.summary import Summary, load_numpy_for, summary_from_parts
from peakend.broker.wire.forms import format_ts

# The zone report's arrays need numpy and analytics; the all-zones report needs neither, so
# they are imported where a zone report is made and ``peakend report`` starts without them.
if TYPE_CHECKING:
    from peakend.broker.hub.reports import analytics as an
    from peakend.broker.hub.reports.traffic import DwellPoint

__all__ = ["ReportError", "open_db", "rated_zones", "refresh_rollups", "store_report",
           "today_view", "zone_report", "zones"]


class ReportError(ValueError):
    """A report that cannot be made; the message is meant for a person."""


def open_db(
    path: str | Path, *, must_exist: bool = True, migrate: bool | None = None,
    read_only: bool = False,
) -> HubDb:
    """A connection of our own (the aggregator writes from elsewhere) to a SQLite file (or
    ``sqlite:///path``) or a ``postgresql://`` URL.

    ``migrate`` (by default: when the database need not exist yet, as for ``peakend user add``)
    brings the schema up to date; otherwise the schema must be current and nothing is written,
    which is how reports, alerts and pages open it."""
    try:
        return open_hub_db(
            path, must_exist=must_exist, migrate=(not must_exist) if migrate is None else migrate,
            read_only=read_only,
        )
    except DatabaseError as exc:
        raise ReportError(str(exc)) from None


# -- the summary report ---------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneLine:
    """One zone's line of the report."""

    store_id: str
    zone_id: str
    summary: Summary
    last_message: str | None  # UTC wire timestamp of the zone's last rating, visit or window
    faces: tuple[int, int, int, int] = (0, 0, 0, 0)  # presses per score, 1..4

    @property
    def face_shares(self) -> list[FaceShare]:
        return face_shares(self.faces)

    def as_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "zone_id": self.zone_id,
            **self.summary.as_dict(),
            "last_message": self.last_message,
            **{f"score_{i}": n for i, n in enumerate(self.faces, 1)},
        }


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime

    @property
    def label(self) -> str:
        return f"{format_ts(self.since)} .. {format_ts(self.until)}"


def zones(
    conn: HubDb,
    store: str | None = None,
    zone: str | None = None,
    folded: dict[str, int] | None = None,
) -> list[tuple[str, str, str]]:
    """(store, zone, last message) for every zone that ever sent something: the rollup's
    ``zone_last`` and the raw rows past its marks (``folded``, read when not given)."""
    m = marks(conn) if folded is None else folded
    where, args = _where(store, zone, " AND ", first=4)
    past, _ = _where(store, zone, " AND ", first=4, unindexed=conn.dialect.unindexed)
    unfolded = [
        f"SELECT store_id, zone_id, max({column}) AS last_at "
        f"FROM {_past_mark(table, f'store_id, zone_id, {column}', n)} "
        f"WHERE true{past} GROUP BY store_id, zone_id"
        for n, (table, column) in enumerate(
            (("ratings", "at"), ("dwells", "exit"), ("queue_windows", "at")), 1
        )
    ]
    sql = (
        "SELECT store_id, zone_id, max(last_at) FROM (SELECT store_id, zone_id, last_at "
        f"FROM zone_last WHERE true{where} UNION ALL {' UNION ALL '.join(unfolded)}) AS z "
        "GROUP BY store_id, zone_id ORDER BY 1, 2"
    )
    return [
        tuple(r)
        for r in conn.execute(sql, (m["ratings"], m["dwells"], m["queue_windows"], *args))
    ]


def rated_zones(conn: HubDb, store: str, zone_ids: list[str]) -> set[str]:
    """Those of the store's zones that ever stored a rating, i.e. that have a kiosk; the others
    are camera-only (a promotion aisle, an entrance). One indexed look-up per zone."""
    if not zone_ids:
        return set()
    # one statement (a page waits on the database once, not once per zone)
    listed = " UNION ALL ".join(f"SELECT ${2 + i} AS zone_id" for i in range(len(zone_ids)))
    return {z for (z,) in conn.execute(
        f"SELECT z.zone_id FROM ({listed}) AS z WHERE EXISTS (SELECT 1 FROM ratings r "
        "WHERE r.store_id = $1 AND r.zone_id = z.zone_id)", (store, *zone_ids))}


def has_sent(conn: HubDb, store: str | None, zone: str | None = None) -> bool:
    """Whether the store (or its zone; without either, any store) ever sent anything: a few
    indexed look-ups, where :func:`zones` lists every zone with its last message."""
    where, args = _where(store, zone)
    return any(conn.execute(f"SELECT 1 FROM {table}{where} LIMIT 1", args).fetchone()
               for table in ("zone_last", "ratings", "dwells", "queue_windows"))


def _past_mark(table: str, columns: str, n: int) -> str:
    """The table's rows past the fold mark (parameter ``n``), as a subquery: a range of rowids,
    which its ``ORDER BY`` keeps SQLite from trading for a scan of a whole grouping index. A
    filter on store or zone around it must be written ``unindexed`` (see :func:`_where`):
    SQLite pushes it into the subquery and then takes the store's index over the rowid range,
    sorting a whole store's rows by rowid to find the few past the mark."""
    return f"(SELECT {columns} FROM {table} WHERE rowid > ${n} ORDER BY rowid) AS {table}"


def _where(
    store: str | None, zone: str | None, prefix: str = " WHERE ", first: int = 1,
    unindexed: Callable[[str], str] = str,
) -> tuple[str, list[str]]:
    """The filter on store and zone; its parameters are numbered from ``first``. Its columns
    are passed through ``unindexed`` (the dialect's) where the index must not be taken."""
    parts, args = [], []
    if store:
        args.append(store)
        parts.append(f"{unindexed('store_id')} = ${first + len(args) - 1}")
    if zone:
        args.append(zone)
        parts.append(f"{unindexed('zone_id')} = ${first + len(args) - 1}")
    return (prefix + " AND ".join(parts)) if parts else "", args


def store_report(
    conn: HubDb,
    period: Period,
    *,
    store: str | None = None,
    zone: str | None = None,
    config: HubConfig | None = None,
) -> list[ZoneLine]:
    """Every zone (optionally of one store or one zone) over the period, one line each."""
    config = config or DEFAULT
    with conn.snapshot():
        return _store_report(conn, period, store, zone, config)


def _store_report(
    conn: HubDb, period: Period, store: str | None, zone: str | None, config: HubConfig
) -> list[ZoneLine]:
    known, parts = _zone_parts(conn, period, store, zone)
    load_numpy_for(sum(len(p["waits"]) + len(p["dwells"]) for p in parts.values()))
    return [_line(s, z, last, parts.get((s, z)) or _part(), config) for s, z, last in known]


def store_overview(
    conn: HubDb, period: Period, stores: list[str], config: HubConfig | None = None
) -> tuple[dict[str, Summary], list[ZoneLine]]:
    """Each store's figures over all its zones (counts summed, waits and dwells pooled, so a
    store's wait p90 is that of all its shoppers) and every zone's line, for comparing stores
    and ranking zones across them. Store by store, as the store page reads one."""
    config = config or DEFAULT
    totals: dict[str, Summary] = {}
    lines: list[ZoneLine] = []
    with conn.snapshot():
        for st in stores:
            known, parts = _zone_parts(conn, period, st, None)
            load_numpy_for(sum(len(p["waits"]) + len(p["dwells"]) for p in parts.values()))
            pooled = _part()
            for s, z, last in known:
                p = parts.get((s, z)) or _part()
                lines.append(_line(s, z, last, p, config))
                pooled["n"] = [a + b for a, b in zip(pooled["n"], p["n"], strict=True)]
                pooled["visits"] += p["visits"]
                # the hours the store had any visit, in any zone
                pooled["hours"] |= p["hours"]
                pooled["waits"].extend(p["waits"])
                pooled["dwells"].extend(p["dwells"])
            totals[st] = _line(st, "", None, pooled, config).summary
    return totals, lines


def _line(s: str, z: str, last: str | None, p: dict[str, Any], config: HubConfig) -> ZoneLine:
    n = p["n"]
    summary = summary_from_parts(
        ratings=sum(n),
        score_sum=float(sum(k * score for score, k in enumerate(n, 1))),
        unhappy=sum(n[: config.analytics.unhappy_max_score]),
        visits=p["visits"],
        hours=len(p["hours"]),
        waits=p["waits"],
        dwells=p["dwells"],
    )
    return ZoneLine(s, z, summary, last, (n[0], n[1], n[2], n[3]))


def _zone_parts(
    conn: HubDb, period: Period, store: str | None, zone: str | None
) -> tuple[list[tuple[str, str, str]], dict[tuple[str, str], dict[str, Any]]]:
    """The zones that ever sent something and, for each, its sums over the period: the rollup
    for whole hours, the unfolded rows past its marks and the raw rows at the edges."""
    folded = marks(conn)
    known = zones(conn, store, zone, folded)
    epoch = conn.dialect.epoch
    since, until = period.since.timestamp(), period.until.timestamp()
    h0, h1 = math.ceil(since / 3600), math.floor(until / 3600)
    parts: dict[tuple[str, str], dict[str, Any]] = defaultdict(_part)
    if h1 > h0:
        where, args = _where(store, zone, " AND ", first=3)
        if store and not zone and known:
            # the key is (store, zone, hour): naming the zones makes it one range of hours
            # per zone instead of every hour the store ever had (a year is 8,760 per zone)
            where += f" AND zone_id IN ({', '.join(f'${4 + i}' for i in range(len(known)))})"
            args += [z for _, z, _ in known]
        for s, z, hour, n1, n2, n3, n4, visits, waits, dwells in conn.execute(
            "SELECT store_id, zone_id, hour, n1, n2, n3, n4, visits, waits, dwells "
            f"FROM zone_hours WHERE hour >= $1 AND hour < $2{where}",
            (h0, h1, *args),
        ):
            p = parts[(s, z)]
            for i, k in enumerate((n1, n2, n3, n4)):
                p["n"][i] += k
            p["visits"] += visits
            if visits:
                p["hours"].add(hour)
            p["waits"].frombytes(bytes(waits))
            p["dwells"].frombytes(bytes(dwells))
        # the whole hours' rows the writer has not folded yet
        lo, hi = format_ts(_dt(h0 * 3600.0)), format_ts(_dt(h1 * 3600.0))
        where, args = _where(store, zone, " AND ", first=4, unindexed=conn.dialect.unindexed)
        for s, z, score, n in conn.execute(
            "SELECT store_id, zone_id, score, count(*) "
            f"FROM {_past_mark('ratings', 'store_id, zone_id, score, at, flagged', 1)} "
            f"WHERE at >= $2 AND at < $3 AND flagged = 0{where} "
            "GROUP BY store_id, zone_id, score",
            (folded["ratings"], lo, hi, *args),
        ):
            parts[(s, z)]["n"][score - 1] += n
        for s, z, t, dwell, wait in conn.execute(
            f"SELECT store_id, zone_id, {epoch('exit')}, dwell_s, wait_s "
            f"FROM {_past_mark('dwells', 'store_id, zone_id, exit, dwell_s, wait_s', 1)} "
            f"WHERE exit >= $2 AND exit < $3{where}",
            (folded["dwells"], lo, hi, *args),
        ):
            _add_visit(parts[(s, z)], t, dwell, wait)
        edges = [(since, h0 * 3600.0), (h1 * 3600.0, until)]
    else:
        edges = [(since, until)]
    for a, b in edges:
        if b <= a:
            continue
        lo, hi = format_ts(_dt(a)), format_ts(_dt(b))
        # zone by zone, so each query rides the (store_id, zone_id, time) indexes
        for s, z, _ in known:
            p = parts[(s, z)]
            for score, n in conn.execute(
                "SELECT score, count(*) FROM ratings WHERE store_id = $1 AND zone_id = $2 "
                "AND at >= $3 AND at < $4 AND flagged = 0 GROUP BY score",
                (s, z, lo, hi),
            ):
                p["n"][score - 1] += n
            for t, dwell, wait in conn.execute(
                f"SELECT {epoch('exit')}, dwell_s, wait_s FROM dwells "
                "WHERE store_id = $1 AND zone_id = $2 AND exit >= $3 AND exit < $4",
                (s, z, lo, hi),
            ):
                _add_visit(p, t, dwell, wait)
    return known, parts


def _part() -> dict[str, Any]:
    """One zone's sums: rating counts by score, visits, the UTC hours with a visit, and the
    waits and dwells (float64, as the rollup keeps them)."""
    return {"n": [0, 0, 0, 0], "visits": 0, "hours": set(), "waits": array("d"),
            "dwells": array("d")}


def _add_visit(p: dict[str, Any], t: float, dwell: float, wait: float | None) -> None:
    p["visits"] += 1
    p["dwells"].append(dwell)
    if wait is not None:
        p["waits"].append(wait)
    p["hours"].add(int(t // 3600))


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


# -- one zone in full -----------------------------------------------------------------------


def load_zone(
    conn: HubDb, store: str, zone: str, since: datetime, until: datetime,
    *, queue_windows: Literal["all", "linked"] = "all",
) -> an.ZoneData:
    """The zone's raw, unflagged events in [since, until) as arrays (times: epoch seconds).

    ``queue_windows``: "all" of them, or "linked": for each rating only the last window at or
    before it, which is all the linking reads (a queue zone writes a window a minute, so a
    month is some 40,000 rows for a few thousand ratings; picking them in SQL rides the
    zone's time index once per rating)."""
    import numpy as np

    from peakend.broker.hub.reports import analytics as an

    lo, hi = format_ts(since), format_ts(until)
    epoch = conn.dialect.epoch
    r = conn.execute(
        f"SELECT {epoch('at')}, score, reason FROM ratings WHERE store_id = $1 "
        "AND zone_id = $2 AND at >= $3 AND at < $4 AND flagged = 0 ORDER BY at",
        (store, zone, lo, hi),
    ).fetchall()
    v = conn.execute(
        f"SELECT {epoch('exit')}, dwell_s, wait_s FROM dwells WHERE store_id = $1 "
        "AND zone_id = $2 AND exit >= $3 AND exit < $4 ORDER BY exit",
        (store, zone, lo, hi),
    ).fetchall()
    if queue_windows == "linked":
        q = conn.execute(
            f"SELECT {epoch('at')}, length, wait_s FROM queue_windows WHERE rowid IN ("
            "SELECT (SELECT w.rowid FROM queue_windows w WHERE w.store_id = $1 "
            "AND w.zone_id = $2 AND w.at >= $3 AND w.at <= r.at "
            "ORDER BY w.at DESC, w.rowid DESC LIMIT 1) "
            "FROM ratings r WHERE r.store_id = $1 AND r.zone_id = $2 AND r.at >= $3 "
            "AND r.at < $4 AND r.flagged = 0) ORDER BY at",
            (store, zone, lo, hi),
        ).fetchall()
    else:
        q = conn.execute(
            f"SELECT {epoch('at')}, length, wait_s FROM queue_windows WHERE store_id = $1 "
            "AND zone_id = $2 AND at >= $3 AND at < $4 ORDER BY at",
            (store, zone, lo, hi),
        ).fetchall()
    ra = np.array([x[:2] for x in r], dtype=float).reshape(-1, 2)
    va = np.array(v, dtype=float).reshape(-1, 3)  # None -> nan
    qa = np.array(q, dtype=float).reshape(-1, 3)
    return an.ZoneData(
        rating_t=ra[:, 0],
        score=ra[:, 1].astype(np.int64),
        visit_t=va[:, 0],
        dwell_s=va[:, 1],
        wait_s=va[:, 2],
        queue_t=qa[:, 0],
        queue_length=qa[:, 1],
        queue_wait_s=qa[:, 2],
        reason=np.array([x[2] for x in r], dtype=object),
    )


@dataclass(frozen=True)
class ZoneReport:
    store_id: str
    zone_id: str
    timezone: str
    period: Period
    summary: Summary
    linked: an.LinkedRatings
    data: an.ZoneData
    bands: list[an.Band]
    tolerance: an.Tolerance
    heat_happy: an.HeatMap
    heat_wait: an.HeatMap
    trend: list[an.TrendPoint]
    peak_end: list[an.PeakEndDay]
    faces: list[FaceShare]
    went_wrong: ReasonSide
    went_well: ReasonSide
    wait_reason: str
    wait_reason_label: str
    wait_reason_bands: list[WaitReasonBand]
    trend_by: str = "day"

    # Footfall views, for camera-only zones and the JSON report: computed when first asked,
    # so a kiosk zone's page does not pay for them.
    @cached_property
    def heat_visits(self) -> an.HeatMap:
        from peakend.broker.hub.reports.traffic import heatmap_visits

        return heatmap_visits(self.data, ZoneInfo(self.timezone))

    @cached_property
    def dwell_trend(self) -> list[DwellPoint]:
        from peakend.broker.hub.reports.traffic import dwell_trend

        return dwell_trend(self.data, ZoneInfo(self.timezone), self.trend_by)

    def as_dict(self) -> dict[str, Any]:
        tol = self.tolerance
        return {
            "store_id": self.store_id,
            "zone_id": self.zone_id,
            "timezone": self.timezone,
            "since": format_ts(self.period.since),
            "until": format_ts(self.period.until),
            "summary": self.summary.as_dict(),
            "faces": [{"score": f.score, "face": f.label, "count": f.count, "share": f.share}
                      for f in self.faces],
            "reasons": {"went_wrong": self.went_wrong.as_dict(),
                        "went_well": self.went_well.as_dict()},
            "wait_reason_by_wait_band": {
                "reason": self.wait_reason, "label": self.wait_reason_label,
                "bands": [b.as_dict() for b in self.wait_reason_bands]},
            "happy_by_wait_band": [
                {"band": b.label, "low_s": b.low_s, "high_s": b.high_s, "ratings": b.ratings,
                 "happy_index": b.happy_index, "unhappy_share": b.unhappy_share}
                for b in self.bands
            ],
            "tolerance": {"wait_s": tol.wait_s, "low_s": tol.low_s, "high_s": tol.high_s,
                          "ratings": tol.ratings, "unhappy_below": tol.unhappy_below,
                          "unhappy_above": tol.unhappy_above, "note": tol.note},
            "trend": [
                {"day": p.start.isoformat(), "ratings": p.ratings, "happy_index": p.happy_index,
                 "visits": p.visits, "wait_p90_s": p.wait_p90_s}
                for p in self.trend
            ],
            "peak_end": [
                {"day": d.day.isoformat(), "peak_wait_s": d.peak_wait_s,
                 "peak_at": None if d.peak_at is None else format_ts(_dt(d.peak_at)),
                 "end_ratings": d.end_ratings, "end_happy_index": d.end_happy_index,
                 "day_ratings": d.day_ratings, "day_happy_index": d.day_happy_index}
                for d in self.peak_end
            ],
            "heatmap_happy_index": self.heat_happy.cells,
            "heatmap_wait_p90_s": self.heat_wait.cells,
            "heatmap_visits_per_hour": self.heat_visits.cells,
            "dwell_trend": [
                {"day": p.start.isoformat(), "visits": p.visits, "dwell_p50_s": p.dwell_p50_s,
                 "dwell_p90_s": p.dwell_p90_s}
                for p in self.dwell_trend
            ],
        }


def zone_report(
    conn: HubDb,
    store: str,
    zone: str,
    period: Period,
    config: HubConfig | None = None,
    *,
    trend_by: str | None = None,
) -> ZoneReport:
    from peakend.broker.hub.reports import analytics as an
    config = config or DEFAULT
    a = config.analytics
    tz = config.timezone(store)
    lookback = timedelta(minutes=a.lookback_min)
    # Visits just before the period still count for the linkage of its first ratings.
    full = load_zone(conn, store, zone, period.since - lookback, period.until,
                     queue_windows="linked")
    since = period.since.timestamp()
    in_r = full.rating_t >= since
    in_v = full.visit_t >= since
    in_q = full.queue_t >= since
    data = an.ZoneData(
        rating_t=full.rating_t[in_r], score=full.score[in_r],
        visit_t=full.visit_t[in_v], dwell_s=full.dwell_s[in_v], wait_s=full.wait_s[in_v],
        queue_t=full.queue_t[in_q], queue_length=full.queue_length[in_q],
        queue_wait_s=full.queue_wait_s[in_q], reason=full.reason[in_r],
    )
    linked = an.link_ratings(
        an.ZoneData(
            rating_t=data.rating_t, score=data.score, visit_t=full.visit_t,
            dwell_s=full.dwell_s, wait_s=full.wait_s, queue_t=full.queue_t,
            queue_length=full.queue_length, queue_wait_s=full.queue_wait_s,
        ),
        lookback.total_seconds(),
    )
    # labels in the reader's language (English outside a request, as `peakend report`)
    wrong_labels = config.reasons.labels("unhappy", current_language())
    wrong, well = reason_sides(data.score, data.reason, wrong_labels,
                               config.reasons.labels("happy", current_language()))
    if trend_by is None:
        trend_by = "week" if period.until - period.since > timedelta(days=92) else "day"
    return ZoneReport(
        store_id=store,
        zone_id=zone,
        timezone=str(tz),
        period=period,
        summary=an.summarize(data, a.unhappy_max_score),
        linked=linked,
        data=data,
        bands=an.happy_by_wait_band(data.score, linked.wait_s, a.wait_bands_s,
                                    a.unhappy_max_score),
        tolerance=an.tolerance_point(linked.wait_s, data.score,
                                     min_ratings=a.min_ratings_tolerance,
                                     unhappy_max_score=a.unhappy_max_score),
        heat_happy=an.heatmap_happy(data, tz),
        heat_wait=an.heatmap_wait(data, tz),
        trend=an.trend(data, tz, trend_by),
        peak_end=an.peak_end(data, tz, a.end_window_min),
        faces=face_shares(face_counts(data.score)),
        went_wrong=wrong,
        went_well=well,
        wait_reason=config.reasons.wait,
        wait_reason_label=wrong_labels.get(config.reasons.wait, config.reasons.wait),
        wait_reason_bands=wait_reason_by_band(data.score, data.reason, linked.wait_s,
                                              a.wait_bands_s, config.reasons.wait),
        trend_by=trend_by,
    )


@dataclass(frozen=True)
class TodayView:
    """Today hour by hour against the usual day (the same weekday of the last four weeks)."""

    day: date  # today, local
    now_hour: int  # the current local hour
    today: Any  # today.DayLine (typed loosely: that module needs numpy, imported on use)
    usual: Any
    sentences: list[str]

    @property
    def weekday(self) -> str:
        """The day's name in the language of the request."""
        from peakend.broker.hub.reports.today import FULL_WEEKDAYS

        return gettext(FULL_WEEKDAYS[self.day.weekday()])


def today_view(
    conn: HubDb,
    store: str,
    zone_ids: list[str],
    now: datetime,
    config: HubConfig | None = None,
    usual: Any = None,
) -> TodayView:
    """The zones' ratings and measured waits of today and of the usual days, pooled. A caller
    may pass the usual day it read earlier (``usual``, a today.DayLine); then only today is
    read.

    Today comes from the raw rows. The usual days come from the writer's hourly rollup where a
    UTC hour lies inside one local hour (every store whose clock is a whole number of hours
    from UTC), plus the raw rows past its marks, so they are exact and cost a few hundred
    small rows instead of four days of raw rows; a store on a half-hour clock reads them
    raw."""
    import numpy as np

    from peakend.broker.hub.reports import today as td

    config = config or DEFAULT
    tz = config.timezone(store)
    local_now = now.astimezone(tz)
    day = local_now.date()
    usual_days = td.usual_days(day)
    # only the five days compared (today and the four same weekdays), not the four weeks
    # between them: a fifth of the rows
    def span(d: date) -> tuple[datetime, datetime]:
        n = d + timedelta(days=1)
        return (datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC),
                min(now, datetime(n.year, n.month, n.day, tzinfo=tz).astimezone(UTC)))

    rolled = [] if usual is not None else [
        d for d in usual_days if _whole_hours(*span(d), tz)]
    raw = [d for d in (day, *(usual_days if usual is None else ())) if d not in rolled]
    ratings: list[tuple[float, float]] = []
    waits: list[tuple[float, float]] = []
    if zone_ids:
        folded = marks(conn) if rolled else None
        with conn.snapshot():
            _day_rows(conn, store, zone_ids, [span(d) for d in raw], ratings, waits)
            if folded is not None:
                _day_rows(conn, store, zone_ids, [span(d) for d in rolled], ratings, waits,
                          folded)
                _rolled_day_rows(conn, store, zone_ids, [span(d) for d in rolled], ratings,
                                 waits)
    ra = np.array(ratings, dtype=float).reshape(-1, 2)
    wa = np.array(waits, dtype=float).reshape(-1, 2)
    lines = td.day_lines(ra[:, 0], ra[:, 1].astype(np.int64), wa[:, 0], wa[:, 1], tz,
                         [[day]] if usual is not None else [[day], usual_days])
    today_line, usual_line = lines[0], usual if usual is not None else lines[1]
    return TodayView(day, local_now.hour, today_line, usual_line,
                     td.compare(today_line, usual_line, day.weekday(), local_now.hour))


def _whole_hours(since: datetime, until: datetime, tz: ZoneInfo) -> bool:
    """Whether each UTC hour of [since, until) lies inside one local hour: the span starts and
    ends on a UTC hour and the clock is a whole number of hours from UTC at both ends (a
    change of clocks in between moves it by a whole hour too, except on Lord Howe Island,
    whose half-hour change the offset at the end catches)."""
    def whole(moment: datetime) -> bool:
        offset = moment.astimezone(tz).utcoffset()
        return offset is not None and offset.total_seconds() % 3600 == 0

    return (since.timestamp() % 3600 == 0 and until.timestamp() % 3600 == 0
            and whole(since) and whole(until - timedelta(seconds=1)))


def _day_rows(
    conn: HubDb, store: str, zone_ids: list[str], spans: list[tuple[datetime, datetime]],
    ratings: list[tuple[float, float]], waits: list[tuple[float, float]],
    folded: dict[str, int] | None = None,
) -> None:
    """Appends the zones' raw ratings (time, score) and measured waits (time, seconds) in the
    spans; with ``folded``, only the rows past those rollup marks."""
    if not spans:
        return
    epoch = conn.dialect.epoch
    bounds = [format_ts(x) for sp in spans for x in sp]
    first = 2 + len(zone_ids)
    zones_in = ", ".join(f"${2 + i}" for i in range(len(zone_ids)))
    marks_at = first + len(bounds)
    if folded is None:
        tables = {"ratings": "ratings", "dwells": "dwells"}
        column = str
        args: list[Any] = [store, *zone_ids, *bounds]
    else:
        tables = {"ratings": _past_mark("ratings", "store_id, zone_id, at, score, flagged",
                                        marks_at),
                  "dwells": _past_mark("dwells", "store_id, zone_id, exit, wait_s",
                                       marks_at + 1)}
        column = conn.dialect.unindexed
        args = [store, *zone_ids, *bounds, folded["ratings"], folded["dwells"]]

    def ranges(col: str) -> list[str]:
        each = [f"{col} >= ${first + 2 * i} AND {col} < ${first + 1 + 2 * i}"
                for i in range(len(spans))]
        # past the marks there is no index to ride: one pass over those rows for all spans,
        # not one per span
        return each if folded is None else [" OR ".join(f"({r})" for r in each)]

    where = f"{column('store_id')} = $1 AND {column('zone_id')} IN ({zones_in})"
    # one statement for both tables: for each zone (IN) an index range per day, joined by
    # UNION ALL (a page waits on the database once, not once per zone and day); kind 0: a
    # rating, kind 1: a measured wait
    sql = " UNION ALL ".join([
        *(f"SELECT 0 AS kind, {epoch('at')} AS t, CAST(score AS REAL) AS v FROM "
          f"{tables['ratings']} WHERE {where} AND ({r}) AND flagged = 0"
          for r in ranges("at")),
        *(f"SELECT 1, {epoch('exit')}, wait_s FROM {tables['dwells']} WHERE {where} AND ({r}) "
          "AND wait_s IS NOT NULL" for r in ranges("exit"))])
    for kind, t, v in conn.execute(sql, args).fetchall():
        (waits if kind else ratings).append((t, v))


def _rolled_day_rows(
    conn: HubDb, store: str, zone_ids: list[str], spans: list[tuple[datetime, datetime]],
    ratings: list[tuple[float, float]], waits: list[tuple[float, float]],
) -> None:
    """Appends the zones' folded ratings and waits in the spans (whole UTC hours, each inside
    one local hour), each dated the middle of its UTC hour: that hour's local hour is all a
    day line asks of a time."""
    zones_in = ", ".join(f"${2 + i}" for i in range(len(zone_ids)))
    first = 2 + len(zone_ids)
    hours = [int(x.timestamp()) // 3600 for sp in spans for x in sp]
    ranges = " OR ".join(f"(hour >= ${first + 2 * i} AND hour < ${first + 1 + 2 * i})"
                         for i in range(len(spans)))
    for hour, n1, n2, n3, n4, blob in conn.execute(
            "SELECT hour, n1, n2, n3, n4, waits FROM zone_hours WHERE store_id = $1 AND "
            f"zone_id IN ({zones_in}) AND ({ranges})", (store, *zone_ids, *hours)):
        t = hour * 3600.0 + 1800.0
        for score, n in enumerate((n1, n2, n3, n4), 1):
            ratings.extend([(t, float(score))] * n)
        found = array("d")
        found.frombytes(bytes(blob))
        waits.extend((t, w) for w in found)


def linked_rows(report: ZoneReport) -> list[dict[str, Any]]:
    """Each rating with what it is linked to, for CSV export; local time of the store."""
    from peakend.broker.hub.reports.analytics import WEEKDAYS

    tz = ZoneInfo(report.timezone)
    out = []
    lk = report.linked
    for i, t in enumerate(report.data.rating_t):
        local = datetime.fromtimestamp(float(t), tz)
        out.append({
            "at_utc": format_ts(_dt(float(t))),
            "at_local": local.strftime("%Y-%m-%d %H:%M:%S"),
            "weekday": WEEKDAYS[local.weekday()],
            "score": int(report.data.score[i]),
            "reason": report.data.reason[i],
            "linked_visits": int(lk.visits[i]),
            "linked_waits": int(lk.waits[i]),
            "linked_wait_p50_s": _r(lk.wait_s[i]),
            "linked_wait_max_s": _r(lk.wait_max_s[i]),
            "linked_dwell_p50_s": _r(lk.dwell_s[i]),
            "queue_length": _r(lk.queue_length[i]),
            "queue_wait_s": _r(lk.queue_wait_s[i]),
        })
    return out


def _r(x: float) -> float | None:
    return None if x != x else round(float(x), 1)  # x != x only for nan


# -- periods in the store's local time ------------------------------------------------------


def parse_moment(text: str, tz: ZoneInfo) -> datetime:
    """An ISO date or time; a date or a time without offset is the store's local time."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            moment = datetime(d.year, d.month, d.day, tzinfo=tz)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(
            gettext("'%(text)s' is not a date or time: write 2026-11-01 or 2026-11-01T09:00 "
                    "(local time of the store) or 2026-11-01T08:00:00Z (UTC)") % {"text": text}
        ) from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        # Far dates overflow the arithmetic of a report (a look-back before year 1); no hub
        # holds data from then anyway.
        raise ReportError(gettext("'%(text)s' is outside the years %(first)d to %(last)d")
                          % {"text": text, "first": FIRST_YEAR, "last": LAST_YEAR})
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


FIRST_YEAR, LAST_YEAR = 2000, 2199
MAX_DAYS = 3660  # "NNNd" periods up to ten years


def local_period(kind: str, tz: ZoneInfo, now: datetime) -> Period:
    """The current hour, day, week (from Monday) or month in the store's local time, up to now,
    or the last 7 / 30 days ("7d", "30d")."""
    local = now.astimezone(tz)
    if kind == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif kind == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=tz)
    elif kind == "week":
        d = local.date() - timedelta(days=local.weekday())
        start = datetime(d.year, d.month, d.day, tzinfo=tz)
    elif kind == "month":
        start = datetime(local.year, local.month, 1, tzinfo=tz)
    elif kind.endswith("d") and kind[:-1].isdigit() and 0 < int(kind[:-1]) <= MAX_DAYS:
        d = local.date() - timedelta(days=int(kind[:-1]) - 1)
        start = datetime(d.year, d.month, d.day, tzinfo=tz)
    else:
        raise ReportError(gettext("unknown period '%(kind)s': use hour, day, week, month, 7d or "
                                  "30d (any number of days from 1 to %(max)d)")
                          % {"kind": kind, "max": MAX_DAYS})
    return Period(start.astimezone(UTC), now.astimezone(UTC))


def previous_period(period: Period, kind: str, tz: ZoneInfo) -> Period:
    """The period to compare with: today so far against yesterday to the same time, this
    week or month so far against the last one to the same point, the last 7 or 30 days
    against the 7 or 30 before, and any other period against the as long one just before it.
    Shifts are in local calendar days, so a daylight-saving change moves no hour."""
    since, until = period.since.astimezone(tz), period.until.astimezone(tz)
    if kind == "month":
        start = (since.replace(day=1) - timedelta(days=1)).replace(day=1)
        # the same point of the previous month (its last day when it is shorter)
        end_day = min(until.day, (since.replace(day=1) - timedelta(days=1)).day)
        end = until.replace(year=start.year, month=start.month, day=end_day)
        return Period(_local_midnight(start, tz).astimezone(UTC), _at_local(end, tz))
    days = {"hour": None, "day": 1, "week": 7}.get(kind)
    if days is None and kind.endswith("d") and kind[:-1].isdigit():
        days = int(kind[:-1])
    if days:
        return Period(_shift(since, -days, tz), _shift(until, -days, tz))
    length = period.until - period.since
    return Period(period.since - length, period.since)


def _shift(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    d = moment.date() + timedelta(days=days)
    return _at_local(moment.replace(year=d.year, month=d.month, day=d.day), tz)


def _at_local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The same wall-clock time, re-read in the zone (its offset may differ on that day)."""
    return moment.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC)


def _local_midnight(moment: datetime, tz: ZoneInfo) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=tz)
