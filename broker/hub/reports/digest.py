"""A store's digest: a day or a week in one page, by mail or as a file.

Per zone: ratings, the Happy Index and how it moved against the period before, unhappy
presses, waits, and the alerts of the period with their causes; each zone links to its page
over the same period. ``peakend digest`` makes one by hand; ``[[digests]]`` in hub.toml has the
delivery process send them on a schedule. Reads only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape

from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.reports.queries import Period, ZoneLine, store_report
from peakend.broker.hub.reports.summary import fmt_duration, fmt_index, fmt_share
from peakend.broker.wire.contract import format_ts


class DigestError(ValueError):
    """A digest that cannot be made as asked; the message says what to give instead."""


@dataclass(frozen=True)
class DigestPeriod:
    kind: str  # "day" or "week"
    key: str  # 2026-03-02 or 2026-W10
    since: datetime  # UTC, the store's local midnight
    until: datetime

    def previous(self, tz: ZoneInfo) -> DigestPeriod:
        first = self.since.astimezone(tz).date()
        if self.kind == "day":
            return day_period((first - timedelta(days=1)).isoformat(), tz)
        year, week, _ = (first - timedelta(days=7)).isocalendar()
        return week_period(f"{year}-W{week:02d}", tz)


def day_period(text: str, tz: ZoneInfo) -> DigestPeriod:
    """A store-local day, YYYY-MM-DD."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DigestError(f"{text!r} is not a day: write YYYY-MM-DD, e.g. 2026-03-02") from None
    return DigestPeriod("day", day.isoformat(), _midnight(day, tz),
                        _midnight(day + timedelta(days=1), tz))


def week_period(text: str, tz: ZoneInfo) -> DigestPeriod:
    """A store-local ISO week (Monday to Monday), YYYY-Www."""
    m = re.fullmatch(r"(\d{4})-W(\d{2})", text)
    try:
        if m is None:
            raise ValueError
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise DigestError(f"{text!r} is not an ISO week: write YYYY-Www, e.g. 2026-W10") from None
    return DigestPeriod("week", text, _midnight(monday, tz),
                        _midnight(monday + timedelta(days=7), tz))


def last_period(kind: str, tz: ZoneInfo, now: datetime) -> DigestPeriod:
    """The last whole day (yesterday) or week (last week) in the store's time."""
    today = now.astimezone(tz).date()
    if kind == "day":
        return day_period((today - timedelta(days=1)).isoformat(), tz)
    year, week, _ = (today - timedelta(days=7)).isocalendar()
    return week_period(f"{year}-W{week:02d}", tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class ZoneDigest:
    line: ZoneLine
    before: ZoneLine | None
    alerts: list[dict[str, Any]]
    link: str

    @property
    def change(self) -> str:
        """The Happy Index against the period before: "+4.2", "-1.0", or "" without both."""
        now, then = self.line.summary.happy_index, self.before and self.before.summary.happy_index
        if now is None or then is None:
            return ""
        return f"{now - then:+.1f}"


@dataclass(frozen=True)
class Digest:
    store: str
    store_label: str
    period: DigestPeriod
    timezone: str
    zones: list[ZoneDigest]

    @property
    def title(self) -> str:
        what = "day" if self.period.kind == "day" else "week"
        return f"[peakend] {self.store_label}: your {what} {self.period.key}"

    @property
    def alerts(self) -> int:
        return sum(len(z.alerts) for z in self.zones)


def build_digest(conn: HubDb, config: HubConfig, store: str, period: DigestPeriod) -> Digest:
    tz = config.timezone(store)
    lines = store_report(conn, Period(period.since, period.until), store=store, config=config)
    if not lines:
        raise DigestError(f"store {store!r} has no zone with data; check the store id "
                          "(peakend report --db ... lists the zones)")
    before = {(b.zone_id): b for b in store_report(
        conn, Period(*_bounds(period.previous(tz))), store=store, config=config)}
    base = config.delivery.base_url.rstrip("/")
    span = (f"since={period.since.astimezone(tz).date().isoformat()}"
            f"&until={period.until.astimezone(tz).date().isoformat()}")
    zones = []
    for line in lines:
        alerts = [dict(zip(("kind", "opened_at", "cause"), r, strict=True)) for r in conn.execute(
            "SELECT kind, opened_at, cause FROM alerts WHERE store_id = $1 AND zone_id = $2 AND "
            "opened_at >= $3 AND opened_at < $4 ORDER BY opened_at",
            (store, line.zone_id, format_ts(period.since), format_ts(period.until)))]
        for a in alerts:
            a["opened"] = datetime.fromisoformat(a["opened_at"].replace("Z", "+00:00")
                                                 ).astimezone(tz).strftime("%a %H:%M")
        zones.append(ZoneDigest(line, before.get(line.zone_id), alerts,
                                f"{base}/s/{store}/z/{line.zone_id}?{span}"))
    return Digest(store, config.store(store).label, period, str(tz), zones)


def _bounds(p: DigestPeriod) -> tuple[datetime, datetime]:
    return p.since, p.until


def render_text(d: Digest) -> str:
    out = [d.title, f"({d.timezone}; {d.alerts} alert{'s' if d.alerts != 1 else ''})", ""]
    for z in d.zones:
        s = z.line.summary
        out.append(f"{z.line.zone_id}: Happy Index {fmt_index(s.happy_index)}"
                   + (f" ({z.change} on the {d.period.kind} before)" if z.change else "")
                   + f", {s.ratings} ratings, unhappy {fmt_share(s.unhappy_share)}, wait p50 "
                   f"{fmt_duration(s.wait_p50_s)} / p90 {fmt_duration(s.wait_p90_s)}")
        out += [f"  alert {a['opened']}: {a['cause']}" for a in z.alerts]
        out.append(f"  {z.link}")
    return "\n".join(out) + "\n"


_ENV = Environment(autoescape=select_autoescape(default=True))
# Mail clients drop style sheets and scripts: inline styles only, one table.
_HTML = _ENV.from_string((Path(__file__).parent / "digest.html").read_text())


def render_html(d: Digest) -> str:
    return _HTML.render(d=d, fmt_index=fmt_index, fmt_share=fmt_share, fmt_duration=fmt_duration)


# A digest more than this late (the hub was off at its hour) is not sent any more: a fresh
# hub must not mail last month's digests, and yesterday's digest at 19:00 helps nobody.
LATE = {"day": timedelta(hours=12), "week": timedelta(days=2)}


def due_period(every: str, at: str, tz: ZoneInfo, now: datetime) -> DigestPeriod | None:
    """The period a schedule owes a digest for at ``now``: the last whole day (week) once the
    store's clock has passed ``at`` on the next day (Monday), until it is :data:`LATE`."""
    local = now.astimezone(tz)
    hour, minute = (int(x) for x in at.split(":"))
    start_of = local.date() if every == "day" else local.date() - timedelta(
        days=local.weekday())
    moment = datetime(start_of.year, start_of.month, start_of.day, hour, minute, tzinfo=tz)
    if local < moment:
        return None
    if local - moment > LATE[every]:
        return None
    return last_period(every, tz, moment)
