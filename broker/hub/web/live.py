"""What keeps a zone or store page live: a small JSON of the store's open alerts and each
zone's last hour, which ``static/live.js`` polls every few seconds and draws into the page's
``#live`` element, so a new alert shows within seconds without a reload. Same session and
same store check as the pages; reads only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from peakend.broker.hub import i18n
from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.alert_rules import cause_text
from peakend.broker.hub.reports.alerts import store_alerts
from peakend.broker.hub.reports.queries import zones
from peakend.broker.hub.reports.summary import fmt_duration, happy_index
from peakend.broker.wire.contract import format_ts

if TYPE_CHECKING:
    from peakend.broker.hub.web.app import _Web

WINDOW_MIN = 60
POLL_S = 5


def routes(web: _Web) -> list[Route]:
    def live(request: Request) -> Response:
        store = request.path_params["store"]
        zone = request.query_params.get("zone") or None
        with web.db() as conn:
            web._require(request, conn, store)
            body = live_figures(conn, store, zone, datetime.now(UTC),
                                web.config.analytics.unhappy_max_score,
                                lambda ts: _local(web, ts, store))
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return [Route("/s/{store}/live.json", live)]


def live_figures(conn: HubDb, store: str, zone: str | None, now: datetime, unhappy_max: int,
                 local: Any) -> dict[str, Any]:
    """Open alerts of the store (or zone) and, per zone, the last hour's presses and waits."""
    since, until = format_ts(now - timedelta(minutes=WINDOW_MIN)), format_ts(now)
    alerts = [{"alert_id": a["alert_id"], "zone_id": a["zone_id"], "kind": a["kind"],
               "cause": cause_text(a["cause"]), "opened": local(a["opened_at"]),
               "acked_by": a["acked_by"], "state_line": _state_line(a, local)}
              for a in store_alerts(conn, store, zone) if a["state"] == "open"]
    figures = []
    for _store, z, _last in zones(conn, store, zone):
        scores = [r[0] for r in conn.execute(
            "SELECT score FROM ratings WHERE store_id = $1 AND zone_id = $2 AND at > $3 AND "
            "at <= $4 AND flagged = 0", (store, z, since, until))]
        waits = [r[0] for r in conn.execute(
            "SELECT wait_s FROM dwells WHERE store_id = $1 AND zone_id = $2 AND exit > $3 AND "
            "exit <= $4 AND wait_s IS NOT NULL", (store, z, since, until))]
        index = happy_index(len(scores), float(sum(scores)))
        p90 = float(np.percentile(waits, 90)) if waits else None
        figures.append({
            "zone_id": z, "ratings": len(scores),
            "unhappy": sum(1 for s in scores if s <= unhappy_max),
            "happy_index": None if index is None else round(index, 1),
            # as the pages write them (75.0, not the script's 75; 1:02 for 61.5 s, not 1:01)
            "happy_text": i18n.fmt_index(index),
            "wait_p90_s": round(p90, 1) if p90 is not None else None,
            "wait_text": fmt_duration(p90)})
    updated = local(format_ts(now))
    return {"updated": updated, "window_min": WINDOW_MIN, "poll_s": POLL_S,
            "alerts": alerts, "zones": figures, "text": _texts(updated)}


def _texts(updated: str) -> dict[str, Any]:
    """What live.js writes around the figures, in the reader's language: the script holds no
    words of its own, so the part of the page that refreshes reads like the rest of it."""
    return {
        "heading": _("Now"),
        "note": _("last %(minutes)s min; updated %(time)s") % {"minutes": WINDOW_MIN,
                                                               "time": updated},
        "open": _("open"),
        "none": _("No open alerts."),
        "columns": [_("Zone"), _("Ratings"), _("Unhappy"), _("Happy Index"), _("Wait p90")],
    }


def _state_line(alert: dict[str, Any], local: Any) -> str:
    """The line under an alert's cause: when it opened and who acknowledged it."""
    line = _("opened %(at)s") % {"at": local(alert["opened_at"])}
    if alert["acked_by"]:
        line += " - " + _("acknowledged by %(name)s") % {"name": alert["acked_by"]}
    return line


def _local(web: _Web, ts: str | None, store: str) -> str:
    from peakend.broker.hub.web.app import _local as local

    return local(ts, web.config.store(store).timezone)
