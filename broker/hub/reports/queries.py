"""Reports from the hub database: the SQL around the pure functions of ``analytics``.

Two paths, one set of numbers:

- ``store_report`` summarises every zone over a period. It reads the hourly rollup
  ``zone_hours`` for the whole UTC hours inside the period and the raw rows for the partial
  hours at its edges, so a month of fifty zones costs a few thousand rows while the counts and
  percentiles stay exactly those of the raw data. The rollup is brought up to date on every read
  from the rows inserted since the last one (rowid watermarks), which also takes in late
  messages a device replays from its outbox.
- ``zone_report`` reads one zone's raw rows for the period and computes everything, including
  the linkage, the tolerance point, heat maps, trend and the peak-end view.

The same SQL runs on SQLite and, through :mod:`peakend.broker.hub.db.pg_compat`, on PostgreSQL (a
chain's central database): ``open_db`` takes either a path or a ``postgresql://`` URL.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlite_utils

from peakend.broker.hub.config import DEFAULT, HubConfig
from peakend.broker.hub.reports import analytics as an
from peakend.broker.wire.contract import format_ts

_EPOCH = "round((julianday({}) - 2440587.5) * 86400.0, 3)"
_CHUNK = 200_000


class ReportError(ValueError):
    """A report that cannot be made; the message is meant for a person."""


def open_db(
    path: str | Path, *, must_exist: bool = True, migrate: bool = True
) -> sqlite3.Connection:
    """A connection of our own (the aggregator writes from elsewhere): WAL, patient on locks.

    ``path`` is a SQLite file (or ``sqlite:///path``) or a ``postgresql://`` URL; for the latter
    the connection is a :class:`peakend.broker.hub.db.pg_compat.SqliteLikeConnection`. ``migrate``:
    bring a SQLite schema up to date first (once per process is enough, e.g. the web's start)."""
    from peakend.broker.hub.db.store import migrations, parse_db

    try:
        target = parse_db(path)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    if target.engine == "postgresql":
        from peakend.broker.hub.db.pg_compat import connect

        try:
            return connect(target.location)  # type: ignore[return-value]
        except ConnectionError as exc:
            raise ReportError(str(exc)) from None
    path = Path(target.location)
    if must_exist and not path.exists():
        raise ReportError(f"{path}: no such database. Give the hub's --db path.")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    if migrate:
        migrations.apply(sqlite_utils.Database(conn))
    return conn


# -- the rollup -----------------------------------------------------------------------------


def refresh_rollups(conn: sqlite3.Connection, max_rows: int | None = None) -> int:
    """Fold rows inserted since the last refresh into ``zone_hours``; returns rows folded.

    ``max_rows`` bounds the work of one call (per table), for callers on a deadline such as the
    alert monitor inside the aggregator; the rest is folded by later calls.
    """
    folded = 0
    chunk = min(_CHUNK, max_rows) if max_rows else _CHUNK
    horizons = _horizons(conn)
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = _fold_chunk(conn, chunk, horizons)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        folded += n
        if n < chunk or (max_rows and folded >= max_rows):
            return folded


_FOLDED = ("ratings", "dwells", "queue_windows")


def _horizons(conn: sqlite3.Connection) -> dict[str, int]:
    """Rowids up to which every row is committed. With SQLite's one writer that is all of them;
    with several PostgreSQL writers, see SqliteLikeConnection.horizons."""
    if getattr(conn, "engine", "sqlite") == "postgresql":
        return conn.horizons(_FOLDED)  # type: ignore[attr-defined]
    return {t: 2**63 - 1 for t in _FOLDED}


def _mark(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT last_rowid FROM rollup_marks WHERE name = ?", (name,)).fetchone()
    return row[0] if row else 0


def _set_mark(conn: sqlite3.Connection, name: str, rowid: int) -> None:
    conn.execute(
        "INSERT INTO rollup_marks (name, last_rowid) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET last_rowid = excluded.last_rowid",
        (name, rowid),
    )


def _fold_chunk(conn: sqlite3.Connection, chunk: int, horizons: dict[str, int]) -> int:
    acc: dict[tuple[str, str, int], dict[str, Any]] = {}
    last: dict[tuple[str, str, str], str] = {}

    def slot(store: str, zone: str, hour: int) -> dict[str, Any]:
        key = (store, zone, hour)
        if key not in acc:
            acc[key] = {"n": [0, 0, 0, 0], "flagged": 0, "visits": 0, "waits": [], "dwells": []}
        return acc[key]

    mark = _mark(conn, "ratings")
    rows = conn.execute(
        f"SELECT rowid, store_id, zone_id, {_EPOCH.format('at')}, score, flagged, at "
        "FROM ratings WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
        (mark, horizons["ratings"], chunk),
    ).fetchall()
    for _, store, zone, t, score, flagged, at in rows:
        s = slot(store, zone, int(t // 3600))
        if flagged:
            s["flagged"] += 1
        else:
            s["n"][score - 1] += 1
        k = (store, zone, "rating")
        if at > last.get(k, ""):
            last[k] = at
    n_r = len(rows)
    if rows:
        _set_mark(conn, "ratings", rows[-1][0])

    mark = _mark(conn, "dwells")
    rows = conn.execute(
        f"SELECT rowid, store_id, zone_id, {_EPOCH.format('exit')}, dwell_s, wait_s, exit "
        "FROM dwells WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
        (mark, horizons["dwells"], chunk),
    ).fetchall()
    for _, store, zone, t, dwell, wait, exit_ in rows:
        s = slot(store, zone, int(t // 3600))
        s["visits"] += 1
        s["dwells"].append(dwell)
        if wait is not None:
            s["waits"].append(wait)
        k = (store, zone, "visit")
        if exit_ > last.get(k, ""):
            last[k] = exit_
    n_d = len(rows)
    if rows:
        _set_mark(conn, "dwells", rows[-1][0])

    mark = _mark(conn, "queue_windows")
    top = conn.execute(
        "SELECT max(rowid) FROM (SELECT rowid FROM queue_windows WHERE rowid > ? "
        "AND rowid <= ? ORDER BY rowid LIMIT ?) AS q",
        (mark, horizons["queue_windows"], chunk),
    ).fetchone()[0]
    n_q = 0
    if top is not None:
        for store, zone, at, n in conn.execute(
            "SELECT store_id, zone_id, max(at), count(*) FROM queue_windows "
            "WHERE rowid > ? AND rowid <= ? GROUP BY store_id, zone_id",
            (mark, top),
        ):
            last[(store, zone, "queue")] = at
            n_q += n
        _set_mark(conn, "queue_windows", top)

    for (store, zone, hour), s in acc.items():
        old = conn.execute(
            "SELECT n1, n2, n3, n4, flagged, visits, waits, dwells FROM zone_hours "
            "WHERE store_id = ? AND zone_id = ? AND hour = ?",
            (store, zone, hour),
        ).fetchone()
        n = s["n"]
        waits = np.asarray(s["waits"], dtype=np.float64).tobytes()
        dwells = np.asarray(s["dwells"], dtype=np.float64).tobytes()
        if old:
            n = [a + b for a, b in zip(n, old[:4], strict=True)]
            s["flagged"] += old[4]
            s["visits"] += old[5]
            waits, dwells = bytes(old[6]) + waits, bytes(old[7]) + dwells
        conn.execute(
            "INSERT INTO zone_hours (store_id, zone_id, hour, n1, n2, n3, n4, "
            "flagged, visits, waits, dwells) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (store_id, zone_id, hour) DO UPDATE SET n1 = excluded.n1, "
            "n2 = excluded.n2, n3 = excluded.n3, n4 = excluded.n4, flagged = excluded.flagged, "
            "visits = excluded.visits, waits = excluded.waits, dwells = excluded.dwells",
            (store, zone, hour, *n, s["flagged"], s["visits"], waits, dwells),
        )
    for (store, zone, kind), at in last.items():
        conn.execute(
            "INSERT INTO zone_last (store_id, zone_id, kind, last_at) VALUES (?,?,?,?) "
            "ON CONFLICT (store_id, zone_id, kind) "
            "DO UPDATE SET last_at = max(zone_last.last_at, excluded.last_at)",
            (store, zone, kind, at),
        )
    return max(n_r, n_d, n_q)


# -- the summary report ---------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneLine:
    """One zone's line of the report."""

    store_id: str
    zone_id: str
    summary: an.Summary
    last_message: str | None  # UTC wire timestamp of the zone's last rating, visit or window

    def as_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "zone_id": self.zone_id,
            **self.summary.as_dict(),
            "last_message": self.last_message,
        }


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime

    @property
    def label(self) -> str:
        return f"{format_ts(self.since)} .. {format_ts(self.until)}"


def zones(
    conn: sqlite3.Connection,
    store: str | None = None,
    zone: str | None = None,
    max_rows: int | None = None,
) -> list[tuple[str, str, str]]:
    """(store, zone, last message) for every zone that ever sent something, refreshed."""
    refresh_rollups(conn, max_rows)
    sql = "SELECT store_id, zone_id, max(last_at) FROM zone_last"
    where, args = _where(store, zone)
    return [
        tuple(r)
        for r in conn.execute(f"{sql}{where} GROUP BY store_id, zone_id ORDER BY 1, 2", args)
    ]


def _where(store: str | None, zone: str | None, prefix: str = " WHERE ") -> tuple[str, list[str]]:
    parts, args = [], []
    if store:
        parts.append("store_id = ?")
        args.append(store)
    if zone:
        parts.append("zone_id = ?")
        args.append(zone)
    return (prefix + " AND ".join(parts)) if parts else "", args


def store_report(
    conn: sqlite3.Connection,
    period: Period,
    *,
    store: str | None = None,
    zone: str | None = None,
    config: HubConfig | None = None,
) -> list[ZoneLine]:
    """Every zone (optionally of one store or one zone) over the period, one line each."""
    config = config or DEFAULT
    known = zones(conn, store, zone)
    since, until = period.since.timestamp(), period.until.timestamp()
    h0, h1 = int(np.ceil(since / 3600)), int(np.floor(until / 3600))
    parts: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"n": np.zeros(4, dtype=np.int64), "visits": 0, "hours": 0, "waits": [],
                 "dwells": []}
    )
    where, args = _where(store, zone, " AND ")
    if h1 > h0:
        for s, z, n1, n2, n3, n4, visits, waits, dwells in conn.execute(
            "SELECT store_id, zone_id, n1, n2, n3, n4, visits, waits, dwells FROM zone_hours "
            f"WHERE hour >= ? AND hour < ?{where}",
            (h0, h1, *args),
        ):
            p = parts[(s, z)]
            p["n"] += (n1, n2, n3, n4)
            p["visits"] += visits
            p["hours"] += 1 if visits else 0
            p["waits"].append(waits)
            p["dwells"].append(dwells)
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
                "SELECT score, count(*) FROM ratings WHERE store_id = ? AND zone_id = ? "
                "AND at >= ? AND at < ? AND flagged = 0 GROUP BY score",
                (s, z, lo, hi),
            ):
                p["n"][score - 1] += n
            hours: set[int] = set()
            for t, dwell, wait in conn.execute(
                f"SELECT {_EPOCH.format('exit')}, dwell_s, wait_s FROM dwells "
                "WHERE store_id = ? AND zone_id = ? AND exit >= ? AND exit < ?",
                (s, z, lo, hi),
            ):
                p["visits"] += 1
                p["dwells"].append(np.float64(dwell).tobytes())
                if wait is not None:
                    p["waits"].append(np.float64(wait).tobytes())
                hours.add(int(t // 3600))
            p["hours"] += len(hours)
    lines = []
    for s, z, last in known:
        p = parts.get((s, z))
        if p is None:
            p = {"n": np.zeros(4, dtype=np.int64), "visits": 0, "hours": 0, "waits": [],
                 "dwells": []}
        n = p["n"]
        summary = an.summary_from_parts(
            ratings=int(n.sum()),
            score_sum=float(n @ np.arange(1, 5)),
            unhappy=int(n[: config.analytics.unhappy_max_score].sum()),
            visits=p["visits"],
            hours=p["hours"],
            waits=np.frombuffer(b"".join(p["waits"]), dtype=np.float64),
            dwells=np.frombuffer(b"".join(p["dwells"]), dtype=np.float64),
        )
        lines.append(ZoneLine(s, z, summary, last))
    return lines


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


# -- one zone in full -----------------------------------------------------------------------


def load_zone(
    conn: sqlite3.Connection, store: str, zone: str, since: datetime, until: datetime
) -> an.ZoneData:
    """The zone's raw, unflagged events in [since, until) as arrays (times: epoch seconds)."""
    lo, hi = format_ts(since), format_ts(until)
    r = conn.execute(
        f"SELECT {_EPOCH.format('at')}, score FROM ratings WHERE store_id = ? AND zone_id = ? "
        "AND at >= ? AND at < ? AND flagged = 0 ORDER BY at",
        (store, zone, lo, hi),
    ).fetchall()
    v = conn.execute(
        f"SELECT {_EPOCH.format('exit')}, dwell_s, wait_s FROM dwells WHERE store_id = ? "
        "AND zone_id = ? AND exit >= ? AND exit < ? ORDER BY exit",
        (store, zone, lo, hi),
    ).fetchall()
    q = conn.execute(
        f"SELECT {_EPOCH.format('at')}, length, wait_s FROM queue_windows WHERE store_id = ? "
        "AND zone_id = ? AND at >= ? AND at < ? ORDER BY at",
        (store, zone, lo, hi),
    ).fetchall()
    ra = np.array(r, dtype=float).reshape(-1, 2)
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
    )


@dataclass(frozen=True)
class ZoneReport:
    store_id: str
    zone_id: str
    timezone: str
    period: Period
    summary: an.Summary
    linked: an.LinkedRatings
    data: an.ZoneData
    bands: list[an.Band]
    tolerance: an.Tolerance
    heat_happy: an.HeatMap
    heat_wait: an.HeatMap
    trend: list[an.TrendPoint]
    peak_end: list[an.PeakEndDay]

    def as_dict(self) -> dict[str, Any]:
        tol = self.tolerance
        return {
            "store_id": self.store_id,
            "zone_id": self.zone_id,
            "timezone": self.timezone,
            "since": format_ts(self.period.since),
            "until": format_ts(self.period.until),
            "summary": self.summary.as_dict(),
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
        }


def zone_report(
    conn: sqlite3.Connection,
    store: str,
    zone: str,
    period: Period,
    config: HubConfig | None = None,
    *,
    trend_by: str | None = None,
) -> ZoneReport:
    config = config or DEFAULT
    a = config.analytics
    tz = config.timezone(store)
    lookback = timedelta(minutes=a.lookback_min)
    # Visits just before the period still count for the linkage of its first ratings.
    full = load_zone(conn, store, zone, period.since - lookback, period.until)
    since = period.since.timestamp()
    in_r = full.rating_t >= since
    in_v = full.visit_t >= since
    in_q = full.queue_t >= since
    data = an.ZoneData(
        rating_t=full.rating_t[in_r], score=full.score[in_r],
        visit_t=full.visit_t[in_v], dwell_s=full.dwell_s[in_v], wait_s=full.wait_s[in_v],
        queue_t=full.queue_t[in_q], queue_length=full.queue_length[in_q],
        queue_wait_s=full.queue_wait_s[in_q],
    )
    linked = an.link_ratings(
        an.ZoneData(
            rating_t=data.rating_t, score=data.score, visit_t=full.visit_t,
            dwell_s=full.dwell_s, wait_s=full.wait_s, queue_t=full.queue_t,
            queue_length=full.queue_length, queue_wait_s=full.queue_wait_s,
        ),
        lookback.total_seconds(),
    )
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
    )


def linked_rows(report: ZoneReport) -> list[dict[str, Any]]:
    """Each rating with what it is linked to, for CSV export; local time of the store."""
    tz = ZoneInfo(report.timezone)
    out = []
    lk = report.linked
    for i, t in enumerate(report.data.rating_t):
        local = datetime.fromtimestamp(float(t), tz)
        out.append({
            "at_utc": format_ts(_dt(float(t))),
            "at_local": local.strftime("%Y-%m-%d %H:%M:%S"),
            "weekday": an.WEEKDAYS[local.weekday()],
            "score": int(report.data.score[i]),
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
    return None if np.isnan(x) else round(float(x), 1)


# -- periods in the store's local time ------------------------------------------------------


def parse_moment(text: str, tz: ZoneInfo) -> datetime:
    """An ISO date or time; a date or a time without offset is the store's local time."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(
            f"{text!r} is not a date or time: write 2026-11-01 or 2026-11-01T09:00 "
            "(local time of the store) or 2026-11-01T08:00:00Z (UTC)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


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
    elif kind.endswith("d") and kind[:-1].isdigit():
        d = local.date() - timedelta(days=int(kind[:-1]) - 1)
        start = datetime(d.year, d.month, d.day, tzinfo=tz)
    else:
        raise ReportError(f"unknown period {kind!r}: use hour, day, week, month, 7d or 30d")
    return Period(start.astimezone(UTC), now.astimezone(UTC))
