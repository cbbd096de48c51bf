"""The managers' web: log in, see your stores, a zone's charts, alerts, CSV export; and for
techs the fleet page (every device of your stores, problems first), the one-time install
scripts ``peakend provision`` prepares, and ``/time`` for ``peakend doctor``'s clock check.

A Starlette app served by uvicorn inside ``peakend serve``, on a store's SQLite file or a
chain's PostgreSQL alike (one set of SQL, see :mod:`peakend.broker.hub.db.database`). Pages are
server-rendered (Jinja2 templates, SVG charts) and need no CDN; one small script of the hub's
own (``static/live.js``) keeps zone and store pages' alerts and last hour live. Security:
scrypt-hashed passwords, database-backed sessions in an HttpOnly SameSite cookie (Secure when
served over HTTPS, see ``peakend serve --https``), a CSRF token in every form, and a manager
who asks for a store that is not theirs gets the same 404 as for a store that does not exist.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import io
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from peakend.broker.field import install
from peakend.broker.hub import i18n
from peakend.broker.hub.config import DEFAULT, HubConfig
from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.i18n import N_
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports import analytics as an
from peakend.broker.hub.reports import compare as cmp
from peakend.broker.hub.reports.alert_rules import cause_text
from peakend.broker.hub.reports.alerts import acknowledge, add_comment, store_alerts
from peakend.broker.hub.reports.compare import (
    NO_DATA,
    Compared,
    SortError,
    parse_sort,
    ranked,
)
from peakend.broker.hub.reports.queries import (
    Period,
    ReportError,
    TodayView,
    has_sent,
    linked_rows,
    local_period,
    open_db,
    parse_moment,
    previous_period,
    rated_zones,
    store_overview,
    store_report,
    today_view,
    zone_report,
)
from peakend.broker.hub.reports.shares import FACES
from peakend.broker.hub.web import accounts, api, charts, live, token_pages
from peakend.broker.hub.web import chartspec as spec
from peakend.broker.hub.web import fleet as fl
from peakend.broker.hub.web.auth import User, authenticate, end_session, session_user, start_session
from peakend.broker.hub.web.downloads import content_disposition
from peakend.broker.hub.web.hub_vitals import hub_vitals
from peakend.broker.hub.web.throttle import LoginThrottle

HERE = Path(__file__).parent
COOKIE = "peakend_session"
LOGIN_COOKIE = "peakend_login"
# labels translated where the page shows them
PERIODS = [("day", N_("Today")), ("week", N_("This week")), ("7d", N_("7 days")),
           ("month", N_("This month")), ("30d", N_("30 days"))]
# States the pages show as words (an alert's, a device's), translated there
SHOWN_STATES = (N_("open"), N_("closed"), N_("online"), N_("offline"), N_("never connected"))
# Scripts only from the hub itself (the vendored Chart.js, static/charts.js and
# static/live.js): no inline script, no CDN.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'")


def create_app(
    db: str | Path, config: HubConfig | None = None, broker_data: str | Path | None = None
) -> Starlette:
    """The ASGI app for the hub database ``db``, a ``--db`` value: a SQLite file (path or
    ``sqlite:///path``) or a ``postgresql://`` URL.

    ``broker_data`` (default: the config's ``[hub] broker_data``) is the broker folder: its
    registry adds never-connected and revoked devices to the fleet page, and its install
    scripts are served from it."""
    config = config or DEFAULT
    if broker_data is None and config.hub.broker_data:
        broker_data = config.hub.broker_data
    web = _Web(db, config, Path(broker_data) if broker_data else None)
    routes = [
        Route("/", web.index),
        Route("/login", web.login_form, methods=["GET"]),
        Route("/login", web.login, methods=["POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/healthz", lambda r: PlainTextResponse("ok")),
        Route("/time", _time),
        Route("/fleet", web.fleet_page),
        Route("/install/{token}.sh", web.install_script),
        Route("/s/{store}", web.store_page),
        Route("/s/{store}/z/{zone}", web.zone_page),
        Route("/s/{store}/z/{zone}/export.csv", web.zone_csv),
        Route("/s/{store}/alerts/{alert_id:int}/ack", web.ack, methods=["POST"]),
        Route("/s/{store}/alerts/{alert_id:int}/comment", web.comment, methods=["POST"]),
        *accounts.routes(web),
        *api.routes(web),
        *token_pages.routes(web),
        *live.routes(web),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: web.error},
                    lifespan=_sweeping_installs(web.broker_data))
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(_BrowserLanguage)
    return app


SWEEP_S = 60.0


def _sweeping_installs(broker_data: Path | None) -> Any:
    """While the web runs, expired install scripts (each holds a device's live MQTT password)
    are deleted every minute rather than when someone asks for their link."""
    import asyncio
    import contextlib
    import logging

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async def sweep_forever() -> None:
            while True:
                try:
                    await asyncio.to_thread(install.sweep, broker_data)
                except OSError as exc:
                    logging.getLogger(__name__).warning("install scripts not swept: %s", exc)
                await asyncio.sleep(SWEEP_S)

        task = asyncio.create_task(sweep_forever()) if broker_data is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    return lifespan


def create_redirect_app(
    https_port: int, broker_data: str | Path | None = None, host: str = "localhost"
) -> Starlette:
    """The plain-HTTP side of a hub that serves HTTPS: it sends everything on to HTTPS but
    ``/time``, which a device's ``peakend doctor`` asks before it may have the hub's CA.

    It sends them to ``host`` (see :func:`redirect_host`), never to the request's Host header:
    anyone could otherwise make a link to this hub that lands on a site of their choosing.

    An install link asked for here had its token cross the network in clear, so the script
    is voided rather than sent on: whoever saw the token cannot fetch it over HTTPS."""

    name = f"[{host.strip('[]')}]" if ":" in host else host
    port = "" if https_port == 443 else f":{https_port}"

    def to_https(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        # 307, not 301: browsers would remember a permanent one even after the ports change.
        return RedirectResponse(f"https://{name}{port}{request.url.path}{query}", 307)

    def void_install(request: Request) -> Response:
        if broker_data is not None:
            install.claim(broker_data, request.path_params["token"])
        return PlainTextResponse(
            "echo 'This install link was asked for over plain HTTP and is now void: run "
            "peakend provision again on the hub and paste the https command it prints.' >&2; "
            "exit 1\n", status_code=404)

    every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[
        Route("/time", _time),
        Route("/install/{token}.sh", void_install, methods=every),
        Route("/{path:path}", to_https, methods=every),
    ])
    app.add_middleware(_SecurityHeaders)
    return app


def redirect_host(config: HubConfig | None, https_address: str) -> str:
    """Where plain-HTTP visitors are sent: the configured public name, else the HTTPS address
    when it names one host, else this machine's name (on the hub's certificate)."""
    import socket

    if config is not None and config.hub.public_host:
        return config.hub.public_host
    bind = https_address.rpartition(":")[0].strip("[]")
    if bind and bind not in ("0.0.0.0", "::"):
        return bind
    return socket.gethostname()


def _time(request: Request) -> Response:
    return JSONResponse({"unix": time.time()}, headers={"Cache-Control": "no-store"})


class _SecurityHeaders:
    """Headers on every answer. Pages, CSVs and scripts are private (a shared or back-button
    cache must not keep a manager's figures), so nothing but the static files may be stored;
    over HTTPS, browsers are told to come back only over HTTPS."""

    HSTS = b"max-age=31536000"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")
        https = scope.get("scheme") == "https"
        began = time.perf_counter()

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                # What the hub spent on the answer before its first byte (a page is rendered
                # whole by then): browsers' developer tools show it beside the network time.
                spent = (time.perf_counter() - began) * 1000
                headers += [(b"server-timing", b"app;dur=%.1f" % spent),
                            (b"content-security-policy", CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin"),
                            (b"x-frame-options", b"DENY")]
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if https:
                    headers.append((b"strict-transport-security", self.HSTS))
            await send(message)

        await self.app(scope, receive, with_headers)


class _BrowserLanguage:
    """Every request starts in the browser's language (Accept-Language), so the login page and
    the errors of someone not logged in read in it; a logged-in user's own choice replaces it
    in :meth:`_Web._user`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or ()).get(b"accept-language", b"")
            i18n.use(i18n.negotiate(header.decode("latin-1")))
        await self.app(scope, receive, send)


class _Web:
    def __init__(self, db: str | Path, config: HubConfig, broker_data: Path | None = None) -> None:
        self.config = config
        self.broker_data = broker_data
        # Nothing to open yet: the writer migrates the database when `peakend serve` starts,
        # and each page opens its own connection, which never writes (a read-only role will do).
        self.db_url = db
        self.throttle = LoginThrottle()
        self._usual: dict[tuple[str, tuple[str, ...], date, str],
                          tuple[float, Any, float, TodayView]] = {}
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                 autoescape=True, extensions=["jinja2.ext.i18n"])
        # the catalogue is looked up at each call, in the language the request set
        env.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.gettext, i18n.ngettext, newstyle=True)
        self.templates = Jinja2Templates(env=env)
        # numbers in the reader's language (Babel); durations stay m:ss in every language
        self.templates.env.globals.update(fmt_duration=an.fmt_duration,
                                          fmt_index=i18n.fmt_index, fmt_share=i18n.fmt_share,
                                          happy_colour=charts.happy_colour,
                                          face_colour=charts.face_colour, face_names=FACES,
                                          fmt_count=i18n.fmt_decimal,
                                          fmt_change_index=cmp.fmt_change_index,
                                          fmt_change_share=i18n.fmt_change_share,
                                          fmt_change_duration=cmp.fmt_change_duration,
                                          fmt_change_count=cmp.fmt_change_count,
                                          keep_query=_keep_query, cause_text=cause_text,
                                          fmt_decimal=i18n.fmt_decimal,
                                          languages=i18n.LANGUAGES)

    @contextmanager
    def db(self, *, write: bool = False) -> Iterator[HubDb]:
        """A connection per request, as pages run in a thread pool; the same SQL on either
        engine. Read-only unless ``write``: only logging in and out and acting on an alert
        write; a page view never does."""
        try:
            conn = open_db(self.db_url, migrate=False, read_only=not write)
        except ReportError:
            raise HTTPException(503, _("The hub's database cannot be reached just now; try "
                                       "again in a minute.")) from None
        try:
            yield conn
        finally:
            conn.close()

    # -- helpers ----------------------------------------------------------------------------

    def _user(self, request: Request, conn: HubDb) -> tuple[User, str] | None:
        found = session_user(conn, request.cookies.get(COOKIE))
        if found is not None and found[0].language:
            # kept in the scope too: an error page is drawn outside this thread
            request.scope["language"] = found[0].language
            i18n.use(found[0].language)
        return found

    def _require(self, request: Request, conn: HubDb,
                 store: str | None = None) -> tuple[User, str]:
        found = self._user(request, conn)
        if found is None:
            raise HTTPException(303, headers={"Location": "/login"})
        if store is not None and store not in found[0].stores:
            raise HTTPException(404)
        return found

    def _check_csrf(self, form: Any, csrf: str) -> None:
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
            raise HTTPException(403, _("The form was stale or not from this site; reload and "
                                       "try again."))

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        ctx.setdefault("user", None)
        if "language" in request.scope:
            i18n.use(request.scope["language"])
        ctx["language"] = i18n.current()
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)

    def _period(self, request: Request, store: str) -> tuple[Period, str]:
        """The period asked for; a 400 page says why when it cannot be shown (an unreadable
        date, an end before the start), rather than an empty dashboard."""
        tz = self.config.timezone(store)
        q = request.query_params
        now = datetime.now(UTC)
        try:
            if q.get("since") or q.get("until"):
                if not q.get("since"):
                    raise ReportError(_("the period has an end but no start: pick a start "
                                        "date"))
                since = parse_moment(q["since"], tz)
                until = parse_moment(q["until"], tz) if q.get("until") else now
                if q.get("until") and len(q["until"]) == 10:
                    # the form's "until" is a day the manager wants to see, so it counts whole
                    until = until + timedelta(days=1)
                if until <= since:
                    raise ReportError(
                        _("the period ends (%(until)s) before it starts (%(since)s): pick an "
                          "end after the start") % {"until": q.get("until"),
                                                    "since": q["since"]})
                return Period(since.astimezone(UTC), until.astimezone(UTC)), "custom"
            # Pages open on today: "how did today go" is the manager's first question.
            kind = q.get("period") or "day"
            return local_period(kind, tz, now), kind
        except ReportError as exc:
            text = str(exc)
            raise HTTPException(400, f"{text[:1].upper()}{text[1:]}.") from None

    # The usual day (the same weekday of the last four weeks) is kept for a few minutes per
    # store, zones and day, so a manager who reloads today's page waits only for today's rows
    # (late data for those days shows within USUAL_TTL_S); today itself is read again when
    # the card is older than TODAY_TTL_S, so pages reloaded by several people at once (a
    # wall screen, a team), or while a flood of requests shares the web's interpreter, share
    # one reading and the card is never more than that behind.
    USUAL_TTL_S = 300.0
    TODAY_TTL_S = 20.0

    def _today_view(self, conn: HubDb, store: str, zone_ids: list[str],
                    now: datetime) -> TodayView:
        day = now.astimezone(self.config.timezone(store)).date()
        # the card's sentences are in the reader's language, so each language keeps its own
        key = (store, tuple(zone_ids), day, i18n.current())
        t = time.monotonic()
        # (when the usual day was read, the usual day, when the card was made, the card)
        kept = self._usual.get(key)
        if kept is not None and t - kept[2] < self.TODAY_TTL_S:
            return kept[3]
        usual = kept[1] if kept is not None and t - kept[0] < self.USUAL_TTL_S else None
        view = today_view(conn, store, zone_ids, now, self.config, usual=usual)
        if len(self._usual) > 1000:  # many stores and zone sets: start again
            self._usual.clear()
        self._usual[key] = (kept[0] if usual is not None and kept else t, view.usual, t, view)
        return view

    @staticmethod
    def _today(view: TodayView | None) -> dict[str, Any]:
        """The template values of the today-against-usual card (none when not today)."""
        if view is None:
            return {"today": None}
        usual = i18n.gettext("usual %(weekday)s") % {"weekday": view.weekday}
        return {"today": view,
                "day_happy": spec.day_lines(view.today, view.usual, "happy", usual,
                                            view.now_hour),
                "day_wait": spec.day_lines(view.today, view.usual, "wait", usual,
                                           view.now_hour)}

    def _store_known(self, conn: HubDb, store: str) -> bool:
        """Listed in hub.toml, a device of it has connected, or it sent something; on a new
        hub that knows no store at all yet, every store of an account (as `peakend user add`
        accepts them then)."""
        def devices(where: str, args: tuple[str, ...]) -> bool:
            row = conn.execute(f"SELECT 1 FROM devices{where} LIMIT 1", args).fetchone()
            return row is not None

        if any(s.id == store for s in self.config.stores) or has_sent(conn, store) or devices(
                " WHERE store_id = $1", (store,)):
            return True
        return not self.config.stores and not has_sent(conn, None) and not devices("", ())

    def _known_store(self, conn: HubDb, store: str) -> None:
        """A store of the user's account that the hub has never heard of is a 404, not an
        empty page."""
        if not self._store_known(conn, store):
            raise HTTPException(404, _("No store %(store)s on this hub: it is not listed in "
                                       "hub.toml and none of its devices has connected yet.")
                                % {"store": store})

    def _known_zone(self, conn: HubDb, store: str, zone: str) -> None:
        if not has_sent(conn, store, zone):
            raise HTTPException(404, _("No zone '%(zone)s' at %(store)s: no device of that zone "
                                       "has sent anything. The store page lists its zones.")
                                % {"zone": zone, "store": self.config.store(store).label})

    async def error(self, request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (301, 302, 303) and exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=303)
        # A 404 of a store that is not the user's must read like one that does not exist;
        # only our own details (which never name another store) are shown.
        generic = {404: _("Nothing here, or not yours to see.")}
        titles = {400: _("This period cannot be shown"), 404: _("Not found"),
                  403: _("Forbidden"), 503: _("Service Unavailable")}
        detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
        return self.render(request, "error.html", status=exc.status_code,
                           title=titles.get(exc.status_code, HTTPStatus(exc.status_code).phrase),
                           message=detail or generic.get(exc.status_code, ""),
                           back=request.url.path if exc.status_code == 400 else None)

    # -- pages ------------------------------------------------------------------------------

    def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        resp = self.render(request, "login.html", status=status, csrf=token, error=error)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=3600)
        return resp

    async def login(self, request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not hmac.compare_digest(str(form.get("csrf", "")), cookie):
            return await self._refuse(request, _("The form expired; please try again."), 403)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        address = request.client.host if request.client else "?"
        wait = self.throttle.retry_after(name, address)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            resp = await self._refuse(request, i18n.ngettext(
                "Too many wrong passwords for this account or from this address; try again in "
                "%(num)d minute.",
                "Too many wrong passwords for this account or from this address; try again in "
                "%(num)d minutes.", minutes) % {"num": minutes}, 429)
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        # scrypt takes tens of milliseconds on purpose: off the event loop, so other people's
        # pages do not wait for it
        token = await run_in_threadpool(self._log_in, name, password)
        if token is None:
            self.throttle.failed(name, address)
            return self.login_form(request, _("Wrong name or password."), 401)
        self.throttle.succeeded(name)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", max_age=14 * 86400)
        resp.delete_cookie(LOGIN_COOKIE)
        return resp

    async def _refuse(self, request: Request, error: str, status: int) -> Response:
        """A refused login, answered only after a pause that costs the hub nothing (no
        thread, no CPU): a guesser who keeps going, with or without the form's token, gets
        one answer a second per connection instead of hundreds, each of which would take the
        event loop from managers' pages."""
        await asyncio.sleep(self.throttle.refusal_pause_s)
        return self.login_form(request, error, status)

    def _log_in(self, name: str, password: str) -> str | None:
        """The new session's cookie token, or None for a wrong name or password."""
        with self.db(write=True) as conn:
            user = authenticate(conn, name, password)
            return None if user is None else start_session(conn, user)[0]

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        with self.db(write=True) as conn:
            found = self._user(request, conn)
            if found:
                self._check_csrf(form, found[1])
                end_session(conn, request.cookies.get(COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    def index(self, request: Request) -> Response:
        """The user's stores side by side, and their zones ranked across them: each with its
        figures, the change from the previous period and open alerts; sorted as asked."""
        with self.db() as conn:
            user, csrf = self._require(request, conn)
            # one store: straight to it, once the hub knows it (else this page lists it, and
            # its own page says why it is empty)
            if len(user.stores) == 1 and self._store_known(conn, user.stores[0]):
                return RedirectResponse(f"/s/{user.stores[0]}", status_code=303)
            try:
                store_sort = parse_sort(request.query_params.get("sort"), "name")
                zone_sort = parse_sort(request.query_params.get("zsort"), "happy")
            except SortError as exc:
                raise HTTPException(400, f"{exc}.") from None
            alerts: dict[tuple[str, str], int] = {
                (s, z): n for s, z, n in conn.execute(
                    "SELECT store_id, zone_id, count(*) FROM alerts WHERE state = 'open' "
                    "GROUP BY store_id, zone_id")}
            stores, zone_rows = [], []
            kind = "day"
            for st in user.stores:
                period, kind = self._period(request, st)
                tz = self.config.timezone(st)
                now, now_lines = store_overview(conn, period, [st], self.config)
                before, before_lines = store_overview(
                    conn, previous_period(period, kind, tz), [st], self.config)
                name = self.config.store(st).label
                stores.append(Compared(st, None, name, now[st], before[st], sum(
                    n for (s, _), n in alerts.items() if s == st)))
                earlier = {line.zone_id: line.summary for line in before_lines}
                zone_rows += [Compared(st, line.zone_id, f"{name} / {line.zone_id}",
                                       line.summary, earlier.get(line.zone_id, NO_DATA),
                                       alerts.get((st, line.zone_id), 0))
                              for line in now_lines]
        if request.query_params.get("sort"):
            stores = ranked(stores, *store_sort)
        return self.render(request, "index.html", user=user, csrf=csrf, stores=stores,
                           zones=ranked(zone_rows, *zone_sort), store_sort=store_sort,
                           zone_sort=zone_sort, kind=kind, periods=PERIODS)

    def fleet_page(self, request: Request) -> Response:
        """Every device of the user's stores; a tech's account is one with the stores they
        look after (``peakend user add --store ...``)."""
        from peakend.broker.hub.registry import load_registry

        registry = ({k: v.model_dump() for k, v in
                     load_registry(self.broker_data / "registry.json").devices.items()}
                    if self.broker_data else {})
        def local(ts: str | None, store: str) -> str:
            return _local(ts, self.config.store(store).timezone)

        with self.db() as conn:
            user, csrf = self._require(request, conn)
            devices = fl.fleet(conn, user.stores, registry, local=local)
            vitals = hub_vitals(conn, self.broker_data, datetime.now(UTC))
            channels = fl.delivery_problems(conn, user.stores, datetime.now(UTC))
        counts = {level: sum(1 for d in devices if d.level == level) for level in fl.SEVERITY}
        zones = sorted({self.config.store(d.store_id).timezone for d in devices})
        return self.render(request, "fleet.html", user=user, csrf=csrf, devices=devices,
                           counts=counts, refresh_s=5, vitals=vitals, local=local,
                           channel_problems=channels,
                           clock=", ".join(zones) or "UTC")

    def install_script(self, request: Request) -> Response:
        """A device's install script, once; then (or after it expires) 404."""
        if self.broker_data is None:
            raise HTTPException(404)
        text = install.claim(self.broker_data, request.path_params["token"])
        if text is None:
            return PlainTextResponse(
                "echo 'This install link is unknown, used or expired: run peakend provision "
                "again on the hub.' >&2; exit 1\n", status_code=404)
        return PlainTextResponse(text, media_type="text/x-shellscript",
                                 headers={"Cache-Control": "no-store"})

    def store_page(self, request: Request) -> Response:
        store = request.path_params["store"]
        with self.db() as conn:
            user, csrf = self._require(request, conn, store)
            self._known_store(conn, store)
            period, kind = self._period(request, store)
            lines = store_report(conn, period, store=store, config=self.config)
            rated = rated_zones(conn, store, [line.zone_id for line in lines])
            today = (self._today_view(conn, store, [line.zone_id for line in lines],
                                      period.until) if kind == "day" else None)
            alerts = [a for a in store_alerts(conn, store) if a["state"] == "open"]
        return self.render(request, "store.html", user=user, csrf=csrf, store=store,
                           store_name=self.config.store(store).label, lines=lines,
                           rated=rated, **self._today(today),
                           alerts=alerts, period=period, kind=kind, periods=PERIODS,
                           tz=self.config.store(store).timezone,
                           local=lambda ts: _local(ts, self.config.store(store).timezone))

    def zone_page(self, request: Request) -> Response:
        store, zone = request.path_params["store"], request.path_params["zone"]
        with self.db() as conn:
            user, csrf = self._require(request, conn, store)
            self._known_zone(conn, store, zone)
            period, kind = self._period(request, store)
            rep = zone_report(conn, store, zone, period, self.config)
            rated = bool(rated_zones(conn, store, [zone]))
            today = (self._today_view(conn, store, [zone], period.until)
                     if kind == "day" and rated else None)
            alerts = store_alerts(conn, store, zone, limit=20)
        if not rated:
            return self.render(
                request, "zone_camera.html", user=user, csrf=csrf, store=store, zone=zone,
                store_name=self.config.store(store).label, rep=rep, s=rep.summary,
                alerts=alerts, period=period, kind=kind, periods=PERIODS,
                query=request.url.query, local=lambda ts: _local(ts, rep.timezone),
                heat_visits=_heat(rep.heat_visits, "count"),
                heat_wait=_heat(rep.heat_wait, "wait") if rep.summary.waits else None,
                dwell=spec.dwell(rep.dwell_trend),
            )
        return self.render(
            request, "zone.html", user=user, csrf=csrf, store=store, zone=zone,
            store_name=self.config.store(store).label, rep=rep, s=rep.summary, alerts=alerts,
            period=period, kind=kind, periods=PERIODS, query=request.url.query,
            lookback=f"{self.config.analytics.lookback_min:g}",
            min_ratings=self.config.analytics.min_ratings_tolerance,
            local=lambda ts: _local(ts, rep.timezone),
            heat_happy=_heat(rep.heat_happy, "happy"),
            heat_wait=_heat(rep.heat_wait, "wait"),
            bands=spec.wait_bands(rep.bands),
            trend=spec.trend(rep.trend, rep.trend_by),
            peak_end=spec.peak_end(rep.peak_end),
            **self._today(today),
        )

    def zone_csv(self, request: Request) -> Response:
        store, zone = request.path_params["store"], request.path_params["zone"]
        with self.db() as conn:
            self._require(request, conn, store)
            self._known_zone(conn, store, zone)
            period, _ = self._period(request, store)
            rep = zone_report(conn, store, zone, period, self.config)
        rows = linked_rows(rep)
        buf = io.StringIO()
        fields = list(rows[0]) if rows else ["at_utc", "at_local", "weekday", "score", "reason"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        day = period.since.astimezone(self.config.timezone(store)).date().isoformat()
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": content_disposition(f"{store}-{zone}-{day}.csv")})

    async def ack(self, request: Request) -> Response:
        return await self._alert_action(request, "ack")

    async def comment(self, request: Request) -> Response:
        return await self._alert_action(request, "comment")

    async def _alert_action(self, request: Request, action: str) -> Response:
        store, alert_id = request.path_params["store"], request.path_params["alert_id"]
        form = await request.form()
        with self.db(write=True) as conn:
            user, csrf = self._require(request, conn, store)
            self._check_csrf(form, csrf)
            row = conn.execute("SELECT zone_id FROM alerts WHERE id = $1 AND store_id = $2",
                               (alert_id, store)).fetchone()
            if row is None:
                raise HTTPException(404)
            text = str(form.get("comment", ""))
            if action == "ack":
                acknowledge(conn, alert_id, user.name, text)
            elif text.strip():
                add_comment(conn, alert_id, user.name, text)
        back = str(form.get("back", "")) or f"/s/{store}/z/{row[0]}"
        if not back.startswith(f"/s/{store}/"):
            back = f"/s/{store}/z/{row[0]}"
        return RedirectResponse(back + "#alerts", status_code=303)


def _heat(hm: an.HeatMap, kind: str) -> dict[str, Any]:
    """A heat map as a laptop shows it, as a phone shows it (turned a quarter) and as a
    table."""
    head, rows = charts.heat_table(hm, kind)
    return {"wide": charts.heatmap(hm, kind), "tall": charts.heatmap(hm, kind, tall=True),
            "head": head, "rows": rows, "title": hm.title}


def _keep_query(request: Request, param: str, value: str) -> str:
    """The page's query with one parameter set: a sort link keeps the period and the other
    table's order."""
    query = dict(request.query_params)
    query[param] = value
    return urlencode(query)


def _local(ts: str | None, tz: str) -> str:
    """A moment in store time, as short as is clear, written the reader's way."""
    if not ts:
        return "-"
    from zoneinfo import ZoneInfo

    moment = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))
    today = datetime.now(ZoneInfo(tz)).date()
    if moment.date() == today:
        return i18n.fmt_datetime(moment, "Hm")
    if moment.date() > today - timedelta(days=6):
        return i18n.fmt_datetime(moment, "EHm")
    return f"{i18n.fmt_datetime(moment, 'MMMd')} {i18n.fmt_datetime(moment, 'Hm')}"
