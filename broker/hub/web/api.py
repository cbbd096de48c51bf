"""The read-only JSON API for BI tools: /api/v1, with a personal access token.

Every endpoint answers rows of the token's account's stores only: the store filter is built
from the account (a ``store`` parameter may narrow it, never widen it; a store that is not the
account's is a 404, as on the pages) and from nothing a request or a cursor carries. Rows come
in pages, in the order the hub stored them (a keyset on the row id), so a sync job resumes
where it stopped and new rows only ever join at the end; the cursor is opaque (base64 of the
last key and the endpoint) and a bad one is a 400. ``since``/``until`` (ISO 8601 with a zone,
or a date) filter by each table's time; ``format=csv`` gives the same rows as CSV, with the
next cursor in the ``X-Next-Cursor`` header. Each token has its own rate limit (429 with
Retry-After). The OpenAPI description is at /api/openapi.json.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.reports.analytics import ZoneData, link_ratings
from peakend.broker.hub.reports.summary import happy_index
from peakend.broker.hub.web.auth import User
from peakend.broker.hub.web.ratelimit import RateLimit
from peakend.broker.hub.web.tokens import token_user
from peakend.broker.wire.contract import format_ts

if TYPE_CHECKING:
    from peakend.broker.hub.web.app import _Web


class ApiError(HTTPException):
    """An answer other than 200, with a JSON body saying what to do."""


@dataclass(frozen=True)
class Query:
    """What one request asks for, checked: the stores it may read, the page, the filters."""

    stores: tuple[str, ...]
    zone: str | None
    since: str | None
    until: str | None
    after: Any
    limit: int
    csv: bool


@dataclass(frozen=True)
class Endpoint:
    name: str
    summary: str
    columns: tuple[str, ...]
    time_column: str
    read: Callable[[HubDb, Query, _Api], tuple[list[dict[str, Any]], Any]]


def routes(web: _Web) -> list[Route]:
    api = _Api(web)
    out = [Route("/api/openapi.json", api.openapi)]
    for e in ENDPOINTS:
        out.append(Route(f"/api/v1/{e.name}", api.handler(e)))
    return out


class _Api:
    def __init__(self, web: _Web) -> None:
        self.web = web
        c = web.config.api
        self.limit = RateLimit(c.rate_per_s, c.burst)

    def handler(self, endpoint: Endpoint) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            try:
                return self._answer(request, endpoint)
            except ApiError as exc:
                return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                                    headers=exc.headers)
        return handle

    def _answer(self, request: Request, endpoint: Endpoint) -> Response:
        with self.web.db() as conn:
            token_id, user = self._authorise(request, conn)
            wait = self.limit.take(token_id)
            if wait:
                raise ApiError(429, "Too many requests for this token; wait as Retry-After "
                               "says.", headers={"Retry-After": RateLimit.retry_after(wait)})
            query = self._query(request, user, endpoint)
            with conn.snapshot():
                rows, last = endpoint.read(conn, query, self)
        cursor = encode_cursor(endpoint.name, last) if last is not None else None
        headers = {"Cache-Control": "no-store"}
        if cursor:
            headers["X-Next-Cursor"] = cursor
        if query.csv:
            return Response(to_csv(endpoint.columns, rows), media_type="text/csv; charset=utf-8",
                            headers=headers)
        return JSONResponse({"data": rows, "next_cursor": cursor}, headers=headers)

    def _authorise(self, request: Request, conn: HubDb) -> tuple[int, User]:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        found = token_user(conn, secret.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise ApiError(401, "Send a live personal access token: Authorization: Bearer "
                           "pkt_... (peakend token add, or the web's Tokens page).",
                           headers={"WWW-Authenticate": 'Bearer realm="peakend"'})
        return found

    def _query(self, request: Request, user: User, endpoint: Endpoint) -> Query:
        q = request.query_params
        known = {"store", "zone", "since", "until", "cursor", "limit", "format"}
        unknown = sorted(set(q) - known)
        if unknown:
            raise ApiError(400, f"unknown parameter {unknown[0]!r}; use {', '.join(sorted(known))}")
        stores = user.stores
        if q.get("store"):
            if q["store"] not in user.stores:
                raise ApiError(404, "No such store.")  # the same for another's store
            stores = (q["store"],)
        cfg = self.web.config.api
        try:
            limit = int(q.get("limit", cfg.default_page))
        except ValueError:
            raise ApiError(400, "limit must be a whole number") from None
        if not 1 <= limit <= cfg.max_page:
            raise ApiError(400, f"limit must be 1..{cfg.max_page}")
        fmt = q.get("format", "json")
        if fmt not in ("json", "csv"):
            raise ApiError(400, "format must be json or csv")
        after = decode_cursor(endpoint.name, q["cursor"]) if q.get("cursor") else None
        return Query(stores, q.get("zone") or None, _moment(q.get("since"), "since"),
                     _moment(q.get("until"), "until"), after, limit, fmt == "csv")

    def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_spec())


# -- the endpoints ---------------------------------------------------------------------------

def _page(conn: HubDb, table: str, key: str, columns: str, q: Query, time_column: str
          ) -> list[tuple]:
    """One page of a table's rows of the query's stores, after its key, in key order."""
    d = conn.dialect
    args: list[Any] = [q.after if q.after is not None else -1]
    where = [f"{key} > {d.param(1)}"]
    marks = d.params(2, len(q.stores))
    args += list(q.stores)
    # the rows in the order the hub stored them: a walk of the rowid, never a sort per page
    where.append(f"{d.unindexed('store_id')} IN ({marks})")
    for cond, value in (("zone_id = ", q.zone), (f"{time_column} >= ", q.since),
                        (f"{time_column} < ", q.until)):
        if value is not None:
            args.append(value)
            where.append(f"{cond}{d.param(len(args))}")
    args.append(q.limit)
    sql = (f"SELECT {key}, {columns} FROM {table} WHERE {' AND '.join(where)} "
           f"ORDER BY {key} LIMIT {d.param(len(args))}")
    return conn.execute(sql, args).fetchall()


def _last(rows: list[tuple], q: Query) -> Any:
    return rows[-1][0] if len(rows) == q.limit else None


RATING_COLUMNS = ("msg_id", "store_id", "zone_id", "device_id", "at", "score", "reason",
                  "flags", "flagged", "replaces")
LINK_COLUMNS = ("linked_visits", "linked_waits", "linked_wait_s", "linked_wait_max_s",
                "linked_dwell_s")


def read_ratings(conn: HubDb, q: Query, api: _Api) -> tuple[list[dict[str, Any]], Any]:
    at = conn.dialect.epoch("at")
    rows = _page(conn, "ratings", "rowid", f"{', '.join(RATING_COLUMNS)}, {at}", q, "at")
    n = len(RATING_COLUMNS)
    out = [dict(zip(RATING_COLUMNS, r[1:n + 1], strict=True)) for r in rows]
    for o in out:
        # nearly every press has no flags: no JSON to parse then
        o["flags"] = json.loads(o["flags"]) if o["flags"] and o["flags"] != "[]" else []
        o["flagged"] = bool(o["flagged"])
    _link(conn, out, [r[n + 1] for r in rows], api.web.config.analytics.lookback_min * 60)
    return out, _last(rows, q)


def _link(conn: HubDb, ratings: list[dict[str, Any]], times: list[float],
          lookback_s: float) -> None:
    """Each rating's linked wait, as the reports link it: the visits of its zone that ended in
    the look-back before the press (median and longest measured wait, median dwell). The
    visits are read per zone and per run of presses less than a look-back apart, so a page
    that holds a late upload from last week reads last week's look-backs, not the week."""
    by_zone: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(ratings):
        by_zone.setdefault((r["store_id"], r["zone_id"]), []).append(i)
    exit_t = conn.dialect.epoch("exit")
    for (store, zone), idx in by_zone.items():
        idx.sort(key=lambda i: times[i])
        runs: list[list[int]] = [[idx[0]]]
        for i in idx[1:]:
            if times[i] - times[runs[-1][-1]] > lookback_s:
                runs.append([])
            runs[-1].append(i)
        for run in runs:
            since = format_ts(datetime.fromtimestamp(times[run[0]] - lookback_s, UTC))
            until = format_ts(datetime.fromtimestamp(times[run[-1]], UTC)
                              + timedelta(milliseconds=1))
            visits = conn.execute(
                f"SELECT {exit_t}, dwell_s, wait_s FROM dwells WHERE store_id = $1 AND "
                "zone_id = $2 AND exit > $3 AND exit <= $4 ORDER BY exit",
                (store, zone, since, until)).fetchall()
            v = np.array(visits, dtype=float).reshape(-1, 3)  # None (no wait) becomes nan
            linked = link_ratings(ZoneData(rating_t=np.array([times[i] for i in run]),
                                           visit_t=v[:, 0], dwell_s=v[:, 1], wait_s=v[:, 2]),
                                  lookback_s)
            columns = zip(linked.visits.tolist(), linked.waits.tolist(),
                          _nums(linked.wait_s), _nums(linked.wait_max_s),
                          _nums(linked.dwell_s), strict=True)
            for i, values in zip(run, columns, strict=True):
                ratings[i].update(zip(LINK_COLUMNS, values, strict=True))


def _nums(values: np.ndarray) -> list[float | None]:
    """Rounded to the millisecond, nan (nothing to link) as None."""
    return [None if x != x else x for x in np.round(values.astype(float), 3).tolist()]


DWELL_COLUMNS = ("msg_id", "store_id", "zone_id", "device_id", "track", "enter", "exit",
                 "dwell_s", "wait_s", "wait_floor_s")


def read_dwells(conn: HubDb, q: Query, api: _Api) -> tuple[list[dict[str, Any]], Any]:
    rows = _page(conn, "dwells", "rowid", ", ".join(DWELL_COLUMNS), q, "exit")
    return [dict(zip(DWELL_COLUMNS, r[1:], strict=True)) for r in rows], _last(rows, q)


QUEUE_COLUMNS = ("msg_id", "store_id", "zone_id", "device_id", "at", "window_s", "length",
                 "arrivals", "departures", "wait_s", "wait_measured_s")


def read_queue(conn: HubDb, q: Query, api: _Api) -> tuple[list[dict[str, Any]], Any]:
    rows = _page(conn, "queue_windows", "rowid", ", ".join(QUEUE_COLUMNS), q, "at")
    return [dict(zip(QUEUE_COLUMNS, r[1:], strict=True)) for r in rows], _last(rows, q)


ALERT_COLUMNS = ("id", "store_id", "zone_id", "kind", "state", "opened_at", "closed_at",
                 "cause", "value", "threshold", "value_now", "acked_at", "acked_by")


def read_alerts(conn: HubDb, q: Query, api: _Api) -> tuple[list[dict[str, Any]], Any]:
    rows = _page(conn, "alerts", "id", ", ".join(ALERT_COLUMNS), q, "opened_at")
    return [dict(zip(ALERT_COLUMNS, r[1:], strict=True)) for r in rows], _last(rows, q)


ZONE_COLUMNS = ("store_id", "zone_id", "last_seen")


def read_zones(conn: HubDb, q: Query, api: _Api) -> tuple[list[dict[str, Any]], Any]:
    from peakend.broker.hub.reports.queries import zones

    found = [z for s in q.stores for z in zones(conn, s, q.zone)]
    found.sort(key=lambda z: (z[0], z[1]))
    key = list(q.after) if q.after is not None else None
    page = [z for z in found if key is None or [z[0], z[1]] > key][: q.limit]
    last = [page[-1][0], page[-1][1]] if len(page) == q.limit else None
    return [dict(zip(ZONE_COLUMNS, z, strict=True)) for z in page], last


DAY_COLUMNS = ("store_id", "zone_id", "day", "ratings", "n1", "n2", "n3", "n4", "flagged",
               "happy_index", "visits", "wait_p50_s", "wait_p90_s", "dwell_p50_s")


def read_days(conn: HubDb, q: Query, api: _Api) -> tuple[list[dict[str, Any]], Any]:
    """Per zone and store-local day: the writer's hourly rollups (``zone_hours``) and the raw
    rows past its fold marks, as the reports add them, so a day is exact even while the fold
    is behind. Keyed by (store, zone, day); since and until select days (:func:`_day_in`)."""
    from peakend.broker.hub.reports.rollup import marks

    d = conn.dialect
    args: list[Any] = list(q.stores)
    where = [f"store_id IN ({d.params(1, len(q.stores))})"]
    if q.zone:
        args.append(q.zone)
        where.append(f"zone_id = {d.param(len(args))}")
    hour_where, hour_args = list(where), list(args)
    for op, value in ((">=", q.since), ("<", q.until)):
        if value is not None:
            # a superset: +-14 h holds any store's local day; _day_in picks the days exactly
            hour_args.append(int(_epoch(value) // 3600) + (-14 if op == ">=" else 38))
            hour_where.append(f"hour {op} {d.param(len(hour_args))}")
    days: dict[tuple[str, str, str], dict[str, Any]] = {}

    def day_of(store: str, zone: str, t: float) -> dict[str, Any]:
        day = datetime.fromtimestamp(t, api.web.config.timezone(store)).date().isoformat()
        return days.setdefault((store, zone, day), {
            "n": [0, 0, 0, 0], "flagged": 0, "visits": 0, "waits": [], "dwells": []})

    for store, zone, hour, n1, n2, n3, n4, flagged, visits, waits, dwells in conn.execute(
            "SELECT store_id, zone_id, hour, n1, n2, n3, n4, flagged, visits, waits, dwells "
            f"FROM zone_hours WHERE {' AND '.join(hour_where)}", hour_args):
        acc = day_of(store, zone, hour * 3600.0)
        for k, v in enumerate((n1, n2, n3, n4)):
            acc["n"][k] += v
        acc["flagged"] += flagged
        acc["visits"] += visits
        acc["waits"].append(np.frombuffer(bytes(waits), dtype=np.float64))
        acc["dwells"].append(np.frombuffer(bytes(dwells), dtype=np.float64))
    folded = marks(conn)
    mark = d.param(len(args) + 1)
    for store, zone, t, score, flagged in conn.execute(
            f"SELECT store_id, zone_id, {d.epoch('at')}, score, flagged FROM ratings "
            f"WHERE rowid > {mark} AND {' AND '.join(where)}", [*args, folded["ratings"]]):
        acc = day_of(store, zone, t)
        if flagged:
            acc["flagged"] += 1
        else:
            acc["n"][score - 1] += 1
    for store, zone, t, dwell, wait in conn.execute(
            f"SELECT store_id, zone_id, {d.epoch('exit')}, dwell_s, wait_s FROM dwells "
            f"WHERE rowid > {mark} AND {' AND '.join(where)}", [*args, folded["dwells"]]):
        acc = day_of(store, zone, t)
        acc["visits"] += 1
        acc["dwells"].append(np.array([dwell]))
        if wait is not None:
            acc["waits"].append(np.array([wait]))
    out = []
    key = list(q.after) if q.after is not None else None
    for (store, zone, day), acc in sorted(days.items()):
        if (key is not None and [store, zone, day] <= key) or not _day_in(day, q):
            continue
        waits = np.concatenate(acc["waits"]) if acc["waits"] else np.empty(0)
        dwells = np.concatenate(acc["dwells"]) if acc["dwells"] else np.empty(0)
        n = acc["n"]
        index = happy_index(sum(n), n[0] + 2 * n[1] + 3 * n[2] + 4 * n[3])
        out.append({
            "store_id": store, "zone_id": zone, "day": day, "ratings": sum(n),
            "n1": n[0], "n2": n[1], "n3": n[2], "n4": n[3], "flagged": acc["flagged"],
            "happy_index": _num(index), "visits": acc["visits"],
            "wait_p50_s": _pct(waits, 50), "wait_p90_s": _pct(waits, 90),
            "dwell_p50_s": _pct(dwells, 50)})
        if len(out) == q.limit:
            return out, [store, zone, day]
    return out, None


def _day_in(day: str, q: Query) -> bool:
    """For days, since and until are dates (in UTC when given as a time): since's day on,
    until's day not."""
    return not ((q.since and day < q.since[:10]) or (q.until and day >= q.until[:10]))


ENDPOINTS = (
    Endpoint("zones", "The zones of your stores that ever sent something.", ZONE_COLUMNS,
             "", read_zones),
    Endpoint("ratings", "Ratings with the wait and dwell their zone's shoppers had just "
             "before (the look-back of [analytics]).", RATING_COLUMNS + LINK_COLUMNS, "at",
             read_ratings),
    Endpoint("dwells", "One row per person visit to a zone; wait_s for queues (wait_floor_s "
             "instead when the device saw the person only from mid-queue: a lower bound, left "
             "out of every wait figure).",
             DWELL_COLUMNS, "exit", read_dwells),
    Endpoint("queue_windows", "Queue state every window (length, arrivals, predicted wait).",
             QUEUE_COLUMNS, "at", read_queue),
    Endpoint("days", "Daily rollups per zone and store-local day.", DAY_COLUMNS, "day",
             read_days),
    Endpoint("alerts", "Service-recovery alerts.", ALERT_COLUMNS, "opened_at", read_alerts),
)


# -- cursors, times, CSV ---------------------------------------------------------------------

def encode_cursor(endpoint: str, key: Any) -> str:
    raw = json.dumps({"e": endpoint, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(endpoint: str, cursor: str) -> Any:
    """The key a cursor carries; 400 for anything but a cursor this endpoint gave out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        key = doc["k"]
        ok = doc["e"] == endpoint and (
            isinstance(key, int) and not isinstance(key, bool)
            or isinstance(key, list) and all(isinstance(k, str) for k in key))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise ApiError(400, "cursor is not one this endpoint gave out; start again without it")
    return key


def _moment(text: str | None, name: str) -> str | None:
    """ISO 8601 with a zone (2026-03-02T08:00:00Z) or a date (UTC midnight), as stored text."""
    if not text:
        return None
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError
    except ValueError:
        raise ApiError(400, f"{name} must be ISO 8601 with a zone, e.g. 2026-03-02T08:00:00Z, "
                       "or a date such as 2026-03-02") from None
    return format_ts(moment)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), 3)


def _pct(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values.size else None


def to_csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else
                    json.dumps(r[c]) if isinstance(r.get(c), list) else r[c] for c in columns])
    return buf.getvalue()


def openapi_spec() -> dict[str, Any]:
    """OpenAPI 3.1 of the endpoints above, built from the same table that routes them."""
    params = [
        {"name": "store", "in": "query", "schema": {"type": "string"},
         "description": "One of your stores (default: all of them)."},
        {"name": "zone", "in": "query", "schema": {"type": "string"}},
        {"name": "since", "in": "query", "schema": {"type": "string"},
         "description": "ISO 8601 with a zone, or a date; rows at or after it."},
        {"name": "until", "in": "query", "schema": {"type": "string"},
         "description": "ISO 8601 with a zone, or a date; rows before it."},
        {"name": "cursor", "in": "query", "schema": {"type": "string"},
         "description": "next_cursor of the previous page."},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
    ]
    paths = {}
    for e in ENDPOINTS:
        row = {"type": "object", "properties": {c: {} for c in e.columns}}
        paths[f"/api/v1/{e.name}"] = {"get": {
            "summary": e.summary, "parameters": params, "security": [{"token": []}],
            "responses": {
                "200": {"description": "A page of rows.",
                        "headers": {"X-Next-Cursor": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {"schema": {"type": "object", "properties": {
                                "data": {"type": "array", "items": row},
                                "next_cursor": {"type": ["string", "null"]}}}},
                            "text/csv": {"schema": {"type": "string"}}}},
                "400": {"description": "A parameter is wrong; the body says which."},
                "401": {"description": "No live token."},
                "404": {"description": "Not one of your stores."},
                "429": {"description": "Too many requests; see Retry-After.",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "peakend read-only API", "version": "1"},
        "paths": paths,
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                                     "description": "A personal access token "
                                                     "(peakend token add)."}}},
    }
