"""The web's Tokens page: a manager makes and revokes their own personal access tokens for
the read-only API (:mod:`peakend.broker.hub.web.api`). The rules are in
:mod:`peakend.broker.hub.web.tokens`; here only the form and its answers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from peakend.broker.hub import i18n
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.web.auth import UserError
from peakend.broker.hub.web.tokens import create_token, list_tokens, revoke_token

if TYPE_CHECKING:
    from peakend.broker.hub.web.app import _Web


def routes(web: _Web) -> list[Route]:
    pages = _TokenPages(web)
    return [Route("/tokens", pages.page, methods=["GET"]),
            Route("/tokens", pages.change, methods=["POST"])]


class _TokenPages:
    def __init__(self, web: _Web) -> None:
        self.web = web

    def page(self, request: Request, notice: str = "", secret: str = "", error: str = "",
             status: int = 200) -> Response:
        with self.web.db() as conn:
            user, csrf = self.web._require(request, conn)
            tokens = list_tokens(conn, user.name)
        base = f"{request.url.scheme}://{request.url.netloc}"
        # the page that shows a new token once must not linger in a cache or history
        response = self.web.render(request, "tokens.html", status=status, user=user, csrf=csrf,
                                   tokens=tokens, notice=notice, secret=secret, error=error,
                                   base=base, utc=_utc)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def change(self, request: Request) -> Response:
        form = dict(await request.form())
        try:
            notice, secret = await run_in_threadpool(self._change, request, form)
        except UserError as exc:
            return self.page(request, error=str(exc), status=400)
        return self.page(request, notice=notice, secret=secret)

    def _change(self, request: Request, form: dict[str, Any]) -> tuple[str, str]:
        with self.web.db(write=True) as conn:
            user, csrf = self.web._require(request, conn)
            self.web._check_csrf(form, csrf)
            action = str(form.get("action", ""))
            if action == "create":
                info, secret = create_token(conn, user.name, str(form.get("name", "")))
                return (_("Made token %(name)s. Copy it now: it is shown only this once.")
                        % {"name": info.name}, secret)
            if action == "revoke":
                try:
                    token_id = int(str(form.get("id", "")))
                except ValueError:
                    raise UserError(_("no such token")) from None
                info = revoke_token(conn, user.name, token_id)
                return _("Revoked token %(name)s; it no longer works.") % {"name": info.name}, ""
            raise HTTPException(400, _("Unknown action."))


def _utc(ts: str) -> str:
    """A stored moment, in UTC (an account's tokens span stores with different clocks),
    written the reader's way."""
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return i18n.fmt_datetime(moment, "yMMMd") + " " + i18n.fmt_datetime(moment, "Hm")
