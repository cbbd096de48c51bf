"""The Kivy app: screens on top of a :class:`~peakend.kiosk.station.Station`.

Import this module only after :func:`peakend.kiosk.display.prepare_kivy` (Kivy reads its
environment at import). Every touch handler goes straight to the touchpoint, which makes the
press durable before this module switches the screen; exceptions are logged for the technician
menu and never reach a shopper.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import LabelBase
from kivy.uix.floatlayout import FloatLayout

from peakend.broker.device.version import version
from peakend.kiosk.flow import ResetLanguage, Stage
from peakend.kiosk.fonts import find_cjk_font
from peakend.kiosk.screens import (
    FONT,
    Dimmer,
    HiddenCorner,
    Painted,
    PinScreen,
    QuestionScreen,
    ReasonScreen,
    Screens,
    TechScreen,
    ThanksScreen,
)
from peakend.kiosk.station import Station
from peakend.kiosk.technician import LinkWatch, PinVerdict, TechnicianMenu, menu_rows
from peakend.kiosk.touchpoint import Screen

log = logging.getLogger(__name__)

TICK_S = 0.1
DIM_CHECK_S = 30.0
LINK_WATCH_S = 1.0


def shielded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Log a handler's failure instead of letting it reach the screen."""

    @wraps(handler)
    def run(self: KioskApp, *args: Any) -> Any:
        try:
            return handler(self, *args)
        except Exception:
            log.exception("kiosk handler %s failed", handler.__name__)
            self.station.touchpoint.last_error = f"{handler.__name__} failed (see log)"
            return None

    return run


class KioskApp(App):
    title = "peakend kiosk"

    def __init__(self, station: Station, *, own_station: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.station = station
        # False when a caller (a test, a benchmark) started the station and will stop it.
        self.own_station = own_station
        self.manager: Screens | None = None
        self.last_score = 4
        tech = station.config.technician
        self.menu = TechnicianMenu(tech.pin_hash, plain_pin=tech.pin)
        self.link_watch = LinkWatch()
        self._events: list[Any] = []
        self._unbind_flip: Callable[[], None] | None = None

    # -- building --------------------------------------------------------------------------

    def build(self) -> FloatLayout:
        register_font(self.station.config.screen.font)
        tech = self.station.config.technician
        self.corner = HiddenCorner(tech.hold_s, self.open_pin)
        self.question = QuestionScreen(self.on_smiley, self.on_language, self.corner)
        self.reason = ReasonScreen(self.on_reason, self.on_skip)
        self.thanks = ThanksScreen()
        self.pin = PinScreen(self.on_pin, self.close_tech)
        self.tech = TechScreen(self.on_test, self.close_tech, self.on_exit)
        self.manager = Screens()
        for screen in (self.question, self.reason, self.thanks, self.pin, self.tech):
            self.manager.add_screen(screen)
        self.dimmer = Dimmer()
        root = FloatLayout()
        root.add_widget(self.manager)
        root.add_widget(self.dimmer)
        self.refresh_text()
        return root

    def on_start(self) -> None:
        if self.own_station:
            self.station.start()
        if os.environ.get("SDL_VIDEODRIVER") == "offscreen":
            # Without a real swap, Mesa's llvmpipe never reaches a sync point and keeps every
            # updated vertex buffer: memory grows ~1 MB per screen change. One glFinish after
            # each frame lets it release them (a real display's swap does this by itself).
            from kivy.core.window import Window

            Window.bind(on_flip=_finish_frame)
            self._unbind_flip = lambda: Window.unbind(on_flip=_finish_frame)
        self._events = [
            Clock.schedule_interval(lambda _dt: self.tick(), TICK_S),
            Clock.schedule_interval(lambda _dt: self.check_dimming(), DIM_CHECK_S),
            Clock.schedule_interval(lambda _dt: self.watch_link(), LINK_WATCH_S),
        ]
        self.check_dimming()
        self.watch_link()

    def on_stop(self) -> None:
        for event in self._events:
            event.cancel()
        if self._unbind_flip is not None:
            self._unbind_flip()
            self._unbind_flip = None
        if self.own_station:
            self.station.stop()

    @property
    def screens(self) -> list[Painted]:
        return [self.question, self.reason, self.thanks, self.pin, self.tech]

    @property
    def current(self) -> str:
        return self.manager.current if self.manager else ""

    def refresh_text(self) -> None:
        for screen in self.screens:
            screen.refresh_text(self.station.catalog)

    # -- shoppers --------------------------------------------------------------------------

    @shielded
    def on_smiley(self, score: int) -> None:
        if self.current != "question":
            return
        self.last_score = score
        self.show(self.station.touchpoint.press(score))

    @shielded
    def on_reason(self, key: str) -> None:
        if self.current == "reason":
            self.show(self.station.touchpoint.choose(key))

    @shielded
    def on_skip(self) -> None:
        if self.current == "reason":
            self.show(self.station.touchpoint.skip())

    @shielded
    def on_language(self) -> None:
        self.station.touchpoint.language()
        self.station.catalog.switch()
        self.refresh_text()

    @shielded
    def tick(self) -> None:
        if self.current in ("pin", "tech"):
            self.tick_tech()
            return
        touchpoint = self.station.touchpoint
        self.show(touchpoint.tick())
        if self.current == "reason":
            self.reason.count_down(touchpoint.seconds_left(), self.station.catalog)

    def show(self, shows: list[Screen]) -> None:
        catalog = self.station.catalog
        for show in shows:
            if isinstance(show, ResetLanguage):
                if catalog.language != catalog.default:
                    catalog.reset()
                    self.refresh_text()
            elif show.stage is Stage.QUESTION:
                self.manager.current = "question"
            elif show.stage is Stage.REASON:
                score = show.score or self.last_score
                self.reason.ask(score, self.station.config.reasons_for(score), catalog)
                self.reason.count_down(self.station.touchpoint.seconds_left(), catalog)
                self.manager.current = "reason"
            else:
                self.thanks.face.score = self.last_score
                self.manager.current = "thanks"

    @shielded
    def check_dimming(self) -> None:
        dimmed = self.station.dimmed(datetime.now())
        self.dimmer.set_brightness(self.station.config.hours.dim_level if dimmed else 1.0)

    @shielded
    def watch_link(self) -> None:
        self.link_watch.observe(self.station.link.stats().connected, time.time())

    # -- technician ------------------------------------------------------------------------

    @shielded
    def open_pin(self) -> None:
        if self.current != "question":
            return
        self.menu.ask_pin(time.monotonic())
        self.pin.reset()
        self.manager.current = "pin"

    @shielded
    def on_pin(self, entered: str) -> None:
        verdict = self.menu.enter_pin(entered, time.monotonic())
        if verdict is PinVerdict.OPEN:
            self.manager.current = "tech"
            self.tick_tech()
        elif verdict is PinVerdict.LOCKED_OUT:
            self.close_tech()
        else:
            self.pin.reset(self.station.catalog.text("pin_wrong"))

    @shielded
    def close_tech(self) -> None:
        self.pin.reset()
        self.manager.current = "question"

    @shielded
    def on_test(self) -> None:
        link = self.station.link
        envelope = link.send("health", {"outbox": link.stats().outbox_depth, "test": True})
        self.menu.test_queued(envelope.seq, time.monotonic())
        self.tech.status.text = self.menu.status(link.stats().acked_seq, self.station.catalog)

    @shielded
    def on_exit(self) -> None:
        log.info("technician closed the kiosk")
        self.stop()

    def tick_tech(self) -> None:
        if self.menu.expired(time.monotonic()):
            self.close_tech()
            return
        if self.current == "pin":
            return
        s = self.station
        stats = s.link.stats()
        now = time.time()
        self.link_watch.observe(stats.connected, now)
        self.tech.show_values(menu_rows(
            stats, device=s.config.device, waiting_press=s.touchpoint.pending is not None,
            kiosk_error=s.touchpoint.last_error, version=version(), catalog=s.catalog,
            down_since=self.link_watch.down_since, now=now,
        ))
        self.tech.status.text = self.menu.status(stats.acked_seq, s.catalog)


def _finish_frame(*_: object) -> None:
    from kivy.graphics.opengl import glFinish

    glFinish()


def register_font(configured: str | None) -> str | None:
    """Make FONT name the CJK-capable font (or Kivy's Roboto when none is installed)."""
    path = find_cjk_font(configured)
    if path is None:
        LabelBase.register(FONT, fn_regular="data/fonts/Roboto-Regular.ttf",
                           fn_bold="data/fonts/Roboto-Bold.ttf")
        return None
    LabelBase.register(FONT, fn_regular=str(path))
    return str(path)
