"""Accounts in the web: an admin's page of the other accounts, the one-time page where a
forgotten password is replaced, and the header's switch of the language one reads in. The
rules (who may do what, what a link allows) are in :mod:`peakend.broker.hub.web.auth`; here
only forms and answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.web.auth import (
    UserError,
    add_user,
    finish_reset,
    list_users,
    remove_user,
    reset_user,
    set_language,
    start_reset,
    stores_with_devices,
    unknown_stores,
)

if TYPE_CHECKING:
    from peakend.broker.hub.web.app import _Web


def routes(web: _Web) -> list[Route]:
    pages = _AccountPages(web)
    return [
        Route("/users", pages.users, methods=["GET"]),
        Route("/users", pages.change, methods=["POST"]),
        Route("/reset/{token}", pages.reset_form, methods=["GET"]),
        Route("/reset/{token}", pages.reset, methods=["POST"]),
        Route("/language", pages.language, methods=["POST"]),
    ]


class _AccountPages:
    def __init__(self, web: _Web) -> None:
        self.web = web

    def users(self, request: Request, notice: str = "", error: str = "",
              status: int = 200) -> Response:
        with self.web.db() as conn:
            user, csrf = self._admin(request, conn)
            users = list_users(conn)
        return self.web.render(request, "users.html", status=status, user=user, csrf=csrf,
                               users=users, notice=notice, error=error)

    async def change(self, request: Request) -> Response:
        form = await request.form()
        try:
            notice = await run_in_threadpool(self._change, request, dict(form))
        except UserError as exc:
            return self.users(request, error=str(exc), status=400)
        return self.users(request, notice=notice)

    def _change(self, request: Request, form: dict[str, Any]) -> str:
        with self.web.db(write=True) as conn:
            admin, csrf = self._admin(request, conn)
            self.web._check_csrf(form, csrf)
            action, name = str(form.get("action", "")), str(form.get("name", "")).strip()
            if action == "remove":
                if name == admin.name:
                    raise UserError(_("you cannot remove your own account"))
                remove_user(conn, name)
                return _("Removed %(name)s; their sessions have ended.") % {"name": name}
            if action == "reset":
                token = start_reset(conn, name)
                base = f"{request.url.scheme}://{request.url.netloc}"
                return (_("Pass this link to %(name)s privately; it works once, for 24 hours: "
                          "%(link)s") % {"name": name, "link": f"{base}/reset/{token}"})
            if action == "add":
                stores = [s.strip() for s in str(form.get("stores", "")).split(",") if s.strip()]
                foreign = [s for s in stores if s not in admin.stores]
                if foreign:
                    raise UserError(_("you may give only your own stores (%(yours)s), not "
                                      "%(others)s") % {"yours": ", ".join(admin.stores),
                                                       "others": ", ".join(foreign)})
                known = {s.id for s in self.web.config.stores} | stores_with_devices(conn)
                unknown = unknown_stores(stores, known)
                if unknown:
                    raise UserError(_("the hub knows no store %(stores)s")
                                    % {"stores": ", ".join(unknown)})
                add_user(conn, name, str(form.get("password", "")), stores,
                         admin=form.get("admin") == "on")
                return _("Created %(name)s.") % {"name": name}
            raise HTTPException(400, _("Unknown action."))

    async def language(self, request: Request) -> Response:
        """The user's choice of language, kept with their account (every browser they use
        follows it); back to the page they switched on."""
        form = await request.form()

        def choose() -> None:
            with self.web.db(write=True) as conn:
                user, csrf = self.web._require(request, conn)
                self.web._check_csrf(form, csrf)
                try:
                    set_language(conn, user.id, str(form.get("language", "")))
                except UserError as exc:
                    raise HTTPException(400, str(exc)) from None

        await run_in_threadpool(choose)
        back = str(form.get("back", ""))
        # only a page of this site: a forged form must not send anyone elsewhere
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        return RedirectResponse(back, status_code=303)

    def _admin(self, request: Request, conn: Any) -> tuple[Any, str]:
        user, csrf = self.web._require(request, conn)
        if not user.admin:
            raise HTTPException(404)
        return user, csrf

    def reset_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        with self.web.db() as conn:
            user = reset_user(conn, request.path_params["token"])
        if user is None:
            return self.web.render(request, "error.html", status=404, title=_("Not found"),
                                   message=_("This link is unknown, used or expired: ask an "
                                             "admin for a new one."))
        return self.web.render(request, "reset.html", status=status, account=user.name,
                               error=error)

    async def reset(self, request: Request) -> Response:
        form = await request.form()
        password = str(form.get("password", ""))
        if password != str(form.get("again", "")):
            return self.reset_form(request, _("The two passwords differ."), 400)

        def finish() -> None:
            with self.web.db(write=True) as conn:
                finish_reset(conn, request.path_params["token"], password)

        try:
            await run_in_threadpool(finish)
        except UserError as exc:
            return self.reset_form(request, str(exc), 400)
        return RedirectResponse("/login", status_code=303)
