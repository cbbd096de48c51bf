"""A store's digest: a day or a week in one page, by mail or as a file.

Per zone: ratings, the Happy Index and how it moved against the period before, unhappy
presses, waits, and the alerts of the period with their causes; each zone links to its page
over the same period. Every text of it is in the store's language (``[[stores]] language``),
through the web's gettext catalogues. ``peakend digest`` makes one by hand; ``[[digests]]`` in
hub.toml has the delivery process send them on a schedule. Reads only.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape

from peakend.broker.hub import i18n
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.alert_rules import cause_text
from peakend.broker.hub.reports.mail_charts import HEIGHT, WIDTH
from peakend.broker.hub.reports.queries import Period, ZoneLine, store_report, today_view
from peakend.broker.hub.reports.summary import fmt_duration
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
    language: str = i18n.DEFAULT  # en, zh-Hans: what every text of it is written in
    # a day's digest: the store's day hour by hour against the usual day (queries.TodayView,
    # typed loosely as it needs numpy); None for a week's
    day: Any = None

    @property
    def title(self) -> str:
        with i18n.speaking(self.language):
            if self.period.kind == "day":
                return _("[peakend] %(store)s: your day %(day)s") % {
                    "store": self.store_label, "day": self.period.key}
            return _("[peakend] %(store)s: your week %(week)s") % {
                "store": self.store_label, "week": self.period.key}

    @property
    def alerts(self) -> int:
        return sum(len(z.alerts) for z in self.zones)


def build_digest(conn: HubDb, config: HubConfig, store: str, period: DigestPeriod,
                 language: str | None = None) -> Digest:
    """The digest of ``store`` over ``period``, in ``language`` (default: the store's own,
    hub.toml's ``[[stores]] language``)."""
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
    keys = ("id", "kind", "opened_at", "cause", "acked_by")
    for line in lines:
        alerts = [dict(zip(keys, r, strict=True)) for r in conn.execute(
            "SELECT id, kind, opened_at, cause, acked_by FROM alerts WHERE store_id = $1 AND "
            "zone_id = $2 AND opened_at >= $3 AND opened_at < $4 ORDER BY opened_at",
            (store, line.zone_id, format_ts(period.since), format_ts(period.until)))]
        for a in alerts:
            a["opened"] = datetime.fromisoformat(a["opened_at"].replace("Z", "+00:00")
                                                 ).astimezone(tz)
            # what was done about it, in the words of those who did it
            a["comments"] = [f"{who}: {text}" for who, text in conn.execute(
                "SELECT author, text FROM alert_comments WHERE alert_id = $1 ORDER BY id",
                (a["id"],))]
        zones.append(ZoneDigest(line, before.get(line.zone_id), alerts,
                                f"{base}/s/{store}/z/{line.zone_id}?{span}"))
    day = None
    if period.kind == "day":
        # the whole day: its last moment is "now" for the hour-by-hour view
        day = today_view(conn, store, [line.zone_id for line in lines],
                         period.until - timedelta(milliseconds=1), config)
    return Digest(store, config.store(store).label, period, str(tz), zones,
                  language or config.store(store).language, day)


def _bounds(p: DigestPeriod) -> tuple[datetime, datetime]:
    return p.since, p.until


def render_text(d: Digest) -> str:
    """The plain-text part, in the digest's language."""
    with i18n.speaking(d.language):
        out = [d.title, _times_and_alerts(d), ""]
        for z in d.zones:
            s = z.line.summary
            out.append(_("%(zone)s: Happy Index %(index)s%(change)s, %(ratings)s ratings, "
                         "unhappy %(unhappy)s, wait p50 %(p50)s / p90 %(p90)s") % {
                "zone": z.line.zone_id, "index": i18n.fmt_index(s.happy_index),
                "change": " " + change_note(d, z) if z.change else "",
                "ratings": i18n.fmt_decimal(s.ratings), "unhappy": i18n.fmt_share(
                    s.unhappy_share), "p50": fmt_duration(s.wait_p50_s),
                "p90": fmt_duration(s.wait_p90_s)})
            for a in z.alerts:
                out.append("  " + _("alert %(when)s: %(cause)s") % {
                    "when": opened(d, a), "cause": cause_text(a["cause"])})
                out += [f"    {line}" for line in done_about(a)]
            out.append(f"  {z.link}")
        if d.day is not None:
            out += ["", *against_usual(d)]
        return "\n".join(out) + "\n"


def _times_and_alerts(d: Digest) -> str:
    return " ".join([_("Times in %(timezone)s.") % {"timezone": d.timezone},
                     i18n.ngettext("%(num)d alert.", "%(num)d alerts.", d.alerts) % {
                         "num": d.alerts}])


def against_usual(d: Digest) -> list[str]:
    """The day against the usual one (the same weekday of the last four weeks), in words: the
    sentences the web's Today card says, over the whole day."""
    from peakend.broker.hub.reports import today as td

    return td.compare(d.day.today, d.day.usual, d.day.day.weekday(), 23, past=True)


@dataclass(frozen=True)
class Chart:
    name: str  # "happy", "wait"
    title: str
    png: bytes

    def content_id(self, d: Digest) -> str:
        return f"{self.name}-{d.store}-{d.period.key}@peakend"


def charts(d: Digest) -> list[Chart]:
    """A day's charts, in the current language: the Happy Index and the wait p90 by hour, as
    bars, against the usual day's as a line; none for a week, nor for a figure the day did not
    measure (a zone without a camera has no waits)."""
    if d.day is None:
        return []
    from peakend.broker.hub.reports.mail_charts import hourly_chart

    today, usual = d.day.today.hours, d.day.usual.hours
    out = []
    if any(h.happy_index is not None for h in today):
        out.append(Chart("happy", _("Happy Index by hour"), hourly_chart(
            [h.happy_index for h in today], [h.happy_index for h in usual], 100.0)))
    if any(h.wait_p90_s is not None for h in today):
        out.append(Chart("wait", _("Wait p90 by hour, in minutes"), hourly_chart(
            [_minutes(h.wait_p90_s) for h in today], [_minutes(h.wait_p90_s) for h in usual])))
    return out


def chart_images(d: Digest) -> dict[str, bytes]:
    """Content-ID -> PNG of the charts a mail of :func:`render_html` (``cid=True``) shows."""
    return {c.content_id(d): c.png for c in charts(d)}


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def change_note(d: Digest, z: ZoneDigest) -> str:
    if d.period.kind == "day":
        return _("(%(change)s on the day before)") % {"change": z.change}
    return _("(%(change)s on the week before)") % {"change": z.change}


def opened(d: Digest, alert: dict[str, Any]) -> str:
    """When an alert opened, store time: the hour in a day's digest, with the weekday in a
    week's, as the digest's language writes them."""
    return i18n.fmt_datetime(alert["opened"], "Hm" if d.period.kind == "day" else "EHm")


def done_about(alert: dict[str, Any]) -> list[str]:
    lines = [_("acknowledged by %(name)s") % {"name": alert["acked_by"]}
             ] if alert["acked_by"] else []
    return lines + alert["comments"]


_ENV = Environment(autoescape=select_autoescape(default=True), extensions=["jinja2.ext.i18n"])
_ENV.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True)
# Mail clients drop style sheets and scripts: inline styles only, one table.
_HTML = _ENV.from_string((Path(__file__).parent / "digest.html").read_text())


def render_html(d: Digest, *, cid: bool = False) -> str:
    """The HTML part, in the digest's language. Its charts are ``cid:`` references to the
    images of :func:`chart_images` for a mail (``cid``), else ``data:`` URIs, so a file
    written for a look shows them in a browser."""
    with i18n.speaking(d.language):
        shown = [{"title": c.title, "src": f"cid:{c.content_id(d)}" if cid else
                  "data:image/png;base64," + base64.b64encode(c.png).decode()}
                 for c in charts(d)]
        weekday = None
        if d.day is not None:
            from peakend.broker.hub.reports.today import FULL_WEEKDAYS, USUAL_WEEKS

            weekday = _(FULL_WEEKDAYS[d.day.day.weekday()])
            legend = _("Bars: this day. Line and dots: a usual %(day)s (%(days)d of the last "
                       "%(weeks)d).") % {"day": weekday, "days": d.day.usual.days,
                                         "weeks": USUAL_WEEKS}
        return _HTML.render(d=d, fmt_index=i18n.fmt_index, fmt_share=i18n.fmt_share,
                            fmt_duration=fmt_duration, fmt_count=i18n.fmt_decimal,
                            times_and_alerts=_times_and_alerts(d),
                            change_note=change_note, opened=opened, cause_text=cause_text,
                            done_about=done_about, charts=shown, weekday=weekday,
                            legend=legend if weekday else "",
                            sentences=against_usual(d) if d.day is not None else [],
                            width=WIDTH, height=HEIGHT)


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
