"""The kiosk's screens, kept thin: they lay out widgets and forward touches to the app.

Sizes follow the window (800x480 landscape or 1080x1920 portrait): every target is at least
a sixth of the short side, far above the ~10 mm a fingertip needs.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from peakend.kiosk.catalog import Catalog
from peakend.kiosk.faces import INK, Face
from peakend.kiosk.settings import Reason
from peakend.kiosk.technician import ROWS

BACKGROUND = (0.97, 0.97, 0.95)
BUTTON = (0.2, 0.3, 0.45)
FONT = "PeakendText"


class Screens(FloatLayout):
    """Shows one screen at a time and switches instantly.

    Kivy's ScreenManager ignores touches while a transition runs, even NoTransition's
    zero-length one that ends on the next frame; a shopper tapping right after the question
    returns would lose that tap. Swapping the child keeps every touch."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.by_name: dict[str, Widget] = {}
        self._current = ""

    def add_screen(self, screen: Painted) -> None:
        self.by_name[screen.name] = screen
        if not self._current:
            self.current = screen.name

    @property
    def current(self) -> str:
        return self._current

    @current.setter
    def current(self, name: str) -> None:
        if name == self._current:
            return
        screen = self.by_name[name]
        self.clear_widgets()
        self.add_widget(screen)
        self._current = name


def unit(widget: Widget) -> float:
    """The short side of the window, the yardstick for every size."""
    return max(240.0, min(widget.width, widget.height))


class Painted(FloatLayout):
    """A screen with the kiosk's background and a layout refreshed on resize."""

    def __init__(self, name: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.name = name
        with self.canvas.before:
            Color(*BACKGROUND)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._resized, size=self._resized)

    def _resized(self, *_: object) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size
        self.layout()

    def layout(self) -> None:
        """Size fonts and grids for the current window."""

    def refresh_text(self, catalog: Catalog) -> None:
        """Take every visible string from the catalog."""


# Text never runs past its box, whatever the language: it wraps within the box's width, and
# when the lines are still taller than the box the font shrinks, down to this share of its
# size. Kivy would otherwise cut off the lines that do not fit (text_size set to the box) or
# draw past the box (text_size unset), and a tech would read half an error.
MIN_FONT_SHARE = 0.5


def set_font(label: Label, size: float) -> None:
    """The label's font size when its text fits; smaller when it does not."""
    label.max_font_size = size  # type: ignore[attr-defined]
    fit(label)


def fit(label: Label, *_: object) -> None:
    if not hasattr(label, "max_font_size"):
        # Fitted before its screen set a size: start from Kivy's, never from a shrunk one.
        label.max_font_size = label.font_size  # type: ignore[attr-defined]
    size = float(label.max_font_size)  # type: ignore[attr-defined]
    label.text_size = (max(1.0, label.width * getattr(label, "text_share", 1.0)), None)
    font = size
    while True:
        label.font_size = font
        label.texture_update()
        if label.texture_size[1] <= label.height or font <= size * MIN_FONT_SHARE:
            return
        font = max(size * MIN_FONT_SHARE, font * 0.9)


def text(**kwargs: object) -> Label:
    kwargs.setdefault("color", (*INK, 1))
    kwargs.setdefault("halign", "center")
    kwargs.setdefault("valign", "middle")
    label = Label(font_name=FONT, **kwargs)
    label.bind(size=fit, text=fit)
    return label


def big_button(on_press: Callable[[], object], **kwargs: object) -> Button:
    kwargs.setdefault("background_color", (*BUTTON, 1))
    button = Button(font_name=FONT, background_normal="", halign="center", valign="middle",
                    **kwargs)
    button.text_share = 0.92  # type: ignore[attr-defined]
    button.bind(size=fit, text=fit)
    button.bind(on_press=lambda *_: on_press())
    return button


class SmileyButton(ButtonBehavior, BoxLayout):
    """A face with its name under it; the whole tile is the target."""

    score = NumericProperty(4)
    caption = StringProperty("")

    def __init__(self, score: int, **kwargs: object) -> None:
        super().__init__(orientation="vertical", padding=6, spacing=4, **kwargs)
        self.score = score
        self.face = Face(score=score, size_hint_y=0.78)
        self.label = text(size_hint_y=0.22)
        self.add_widget(self.face)
        self.add_widget(self.label)
        self.bind(state=lambda _w, s: setattr(self.face, "pressed", s == "down"))
        self.bind(caption=lambda _w, v: setattr(self.label, "text", v))


class HiddenCorner(Widget):
    """An invisible patch: held for ``hold_s`` it calls ``on_hold`` (the technician's way in)."""

    def __init__(self, hold_s: float, on_hold: Callable[[], object], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hold_s = hold_s
        self.on_hold = on_hold
        self._event = None

    def on_touch_down(self, touch):  # type: ignore[no-untyped-def]
        if not self.collide_point(*touch.pos):
            return False
        touch.grab(self)
        self._event = Clock.schedule_once(lambda _dt: self.on_hold(), self.hold_s)
        return True

    def on_touch_up(self, touch):  # type: ignore[no-untyped-def]
        if touch.grab_current is self:
            touch.ungrab(self)
            if self._event is not None:
                self._event.cancel()
                self._event = None
            return True
        return False


class QuestionScreen(Painted):
    def __init__(
        self,
        on_smiley: Callable[[int], object],
        on_language: Callable[[], object],
        corner: HiddenCorner,
        **kwargs: object,
    ) -> None:
        super().__init__(name="question", **kwargs)
        box = FloatLayout()
        self.question = text(size_hint=(0.64, 0.22), pos_hint={"center_x": 0.5, "top": 0.98})
        self.language = big_button(on_language, size_hint=(0.16, 0.14),
                                   pos_hint={"right": 0.985, "top": 0.975})
        self.grid = GridLayout(
            cols=4, size_hint=(0.96, 0.72), pos_hint={"center_x": 0.5, "y": 0.03}
        )
        self.smileys = {s: SmileyButton(s) for s in (1, 2, 3, 4)}
        for score, smiley in self.smileys.items():
            smiley.bind(on_press=lambda _w, s=score: on_smiley(s))
            self.grid.add_widget(smiley)
        self.corner = corner
        corner.size_hint = (0.14, 0.2)
        corner.pos_hint = {"x": 0, "top": 1}
        for widget in (self.question, self.language, self.grid, corner):
            box.add_widget(widget)
        self.add_widget(box)

    def layout(self) -> None:
        u = unit(self)
        portrait = self.height > self.width
        self.grid.cols = 2 if portrait else 4
        self.grid.spacing = u * 0.03
        set_font(self.question, u * 0.075)
        set_font(self.language, u * 0.05)
        for smiley in self.smileys.values():
            set_font(smiley.label, u * 0.045)

    def refresh_text(self, catalog: Catalog) -> None:
        self.question.text = catalog.text("question")
        nxt = catalog.next_language()
        self.language.text = catalog.strings_of(nxt)["language_name"]
        for score, smiley in self.smileys.items():
            smiley.caption = catalog.text(f"face_{score}")


class ReasonScreen(Painted):
    def __init__(
        self, on_reason: Callable[[str], object], on_skip: Callable[[], object], **kwargs: object
    ) -> None:
        super().__init__(name="reason", **kwargs)
        self.on_reason = on_reason
        self.score = 1
        self.reasons: list[Reason] = []
        self.buttons: dict[str, Button] = {}
        root = BoxLayout(orientation="vertical", padding=12, spacing=12)
        self.prompt = text(size_hint_y=0.2)
        self.grid = GridLayout(cols=3, size_hint_y=0.62)
        bottom = BoxLayout(size_hint_y=0.18, spacing=12)
        self.skip = big_button(on_skip, size_hint_x=0.4,
                               background_color=(0.45, 0.45, 0.5, 1))
        # The seconds left, so a shopper knows the kiosk will move on by itself.
        self.countdown = text(size_hint_x=0.3, color=(0.35, 0.35, 0.4, 1))
        for widget in (Widget(size_hint_x=0.3), self.skip, self.countdown):
            bottom.add_widget(widget)
        for widget in (self.prompt, self.grid, bottom):
            root.add_widget(widget)
        self.add_widget(root)
        self._seconds: int | None = None

    def count_down(self, seconds: int | None, catalog: Catalog) -> None:
        self._seconds = seconds
        self.countdown.text = "" if seconds is None else catalog.text("seconds_left",
                                                                      seconds=seconds)

    def ask(self, score: int, reasons: list[Reason], catalog: Catalog) -> None:
        self.score, self.reasons = score, reasons
        self.grid.clear_widgets()
        self.buttons = {}
        for reason in reasons:
            button = big_button(lambda key=reason.key: self.on_reason(key))
            self.buttons[reason.key] = button
            self.grid.add_widget(button)
        self.refresh_text(catalog)
        self.layout()

    def layout(self) -> None:
        u = unit(self)
        portrait = self.height > self.width
        n = max(1, len(self.reasons))
        self.grid.cols = (1 if n <= 3 else 2) if portrait else min(3, n)
        self.grid.spacing = u * 0.03
        set_font(self.prompt, u * 0.065)
        set_font(self.skip, u * 0.05)
        set_font(self.countdown, u * 0.05)
        for button in self.buttons.values():
            set_font(button, u * 0.055)

    def refresh_text(self, catalog: Catalog) -> None:
        self.prompt.text = catalog.text("why_unhappy" if self.score <= 2 else "why_happy")
        self.skip.text = catalog.text("skip")
        self.count_down(self._seconds, catalog)
        for reason in self.reasons:
            label = reason.labels.get(catalog.language) or next(iter(reason.labels.values()))
            self.buttons[reason.key].text = label


class ThanksScreen(Painted):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(name="thanks", **kwargs)
        root = BoxLayout(orientation="vertical", padding=20, spacing=10)
        self.face = Face(score=4, size_hint_y=0.45)
        self.title = text(size_hint_y=0.3, bold=True)
        self.detail = text(size_hint_y=0.25)
        for widget in (self.face, self.title, self.detail):
            root.add_widget(widget)
        self.add_widget(root)

    def layout(self) -> None:
        u = unit(self)
        set_font(self.title, u * 0.12)
        set_font(self.detail, u * 0.055)

    def refresh_text(self, catalog: Catalog) -> None:
        self.title.text = catalog.text("thanks")
        self.detail.text = catalog.text("thanks_detail")


class PinScreen(Painted):
    """A keypad for the technician PIN. Shoppers who stumble here get nothing but the pad."""

    def __init__(
        self, on_submit: Callable[[str], object], on_cancel: Callable[[], object], **kwargs: object
    ) -> None:
        super().__init__(name="pin", **kwargs)
        self.on_submit = on_submit
        self.entered = ""
        root = BoxLayout(orientation="horizontal", padding=12, spacing=12)
        side = BoxLayout(orientation="vertical", size_hint_x=0.4, spacing=8)
        self.prompt = text()
        self.dots = text()
        self.message = text(color=(0.75, 0.2, 0.1, 1))
        self.cancel = big_button(on_cancel, background_color=(0.45, 0.45, 0.5, 1))
        for widget in (self.prompt, self.dots, self.message, self.cancel):
            side.add_widget(widget)
        self.pad = GridLayout(cols=3, spacing=8, size_hint_x=0.6)
        self.keys: dict[str, Button] = {}
        for key in ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"):
            button = big_button(lambda k=key: self.key(k))
            if key in "0123456789":
                button.text = key
            self.keys[key] = button
            self.pad.add_widget(button)
        root.add_widget(side)
        root.add_widget(self.pad)
        self.add_widget(root)

    def key(self, key: str) -> None:
        if key == "clear":
            self.entered = ""
        elif key == "ok":
            entered, self.entered = self.entered, ""
            self.on_submit(entered)
        elif len(self.entered) < 8:
            self.entered += key
        self.dots.text = "•" * len(self.entered)

    def reset(self, message: str = "") -> None:
        self.entered = ""
        self.dots.text = ""
        self.message.text = message

    def layout(self) -> None:
        u = unit(self)
        for label in (self.prompt, self.message):
            set_font(label, u * 0.06)
        set_font(self.dots, u * 0.1)
        for button in (*self.keys.values(), self.cancel):
            set_font(button, u * 0.06)

    def refresh_text(self, catalog: Catalog) -> None:
        self.prompt.text = catalog.text("pin_prompt")
        self.keys["clear"].text = catalog.text("pin_clear")
        self.keys["ok"].text = catalog.text("pin_ok")
        self.cancel.text = catalog.text("cancel")


class TechScreen(Painted):
    """What a tech needs on site: identity, connection, backlog, a test message, exit."""

    FIELDS = ROWS

    def __init__(
        self,
        on_test: Callable[[], object],
        on_back: Callable[[], object],
        on_exit: Callable[[], object],
        **kwargs: object,
    ) -> None:
        super().__init__(name="tech", **kwargs)
        root = BoxLayout(orientation="vertical", padding=12, spacing=8)
        self.title = text(size_hint_y=0.1, bold=True)
        table_rows = [key for key in self.FIELDS if key != "tech_last_error"]
        self.table = GridLayout(cols=2, size_hint_y=0.5, spacing=2)
        self.names: dict[str, Label] = {}
        self.values: dict[str, Label] = {}
        for key in self.FIELDS:
            self.names[key] = text(halign="left")
            self.values[key] = text(halign="left")
        for key in table_rows:
            self.table.add_widget(self.names[key])
            self.table.add_widget(self.values[key])
        # The last error says what happened and what to do: it gets a wide box of its own.
        error = BoxLayout(size_hint_y=0.2, spacing=2)
        self.names["tech_last_error"].size_hint_x = 0.25
        self.values["tech_last_error"].size_hint_x = 0.75
        error.add_widget(self.names["tech_last_error"])
        error.add_widget(self.values["tech_last_error"])
        self.status = text(size_hint_y=0.07)
        buttons = BoxLayout(size_hint_y=0.16, spacing=10)
        self.test = big_button(on_test)
        self.back = big_button(on_back)
        self.exit = big_button(on_exit, background_color=(0.6, 0.25, 0.15, 1))
        for button in (self.test, self.back, self.exit):
            buttons.add_widget(button)
        for widget in (self.title, self.table, error, self.status, buttons):
            root.add_widget(widget)
        self.add_widget(root)

    def show_values(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.values[key].text = value

    def layout(self) -> None:
        u = unit(self)
        set_font(self.title, u * 0.07)
        set_font(self.status, u * 0.045)
        for label in (*self.names.values(), *self.values.values()):
            set_font(label, u * 0.04)
        for button in (self.test, self.back, self.exit):
            set_font(button, u * 0.05)

    def refresh_text(self, catalog: Catalog) -> None:
        self.title.text = catalog.text("tech_title")
        for key, label in self.names.items():
            label.text = catalog.text(key)
        self.test.text = catalog.text("tech_test")
        self.back.text = catalog.text("tech_back")
        self.exit.text = catalog.text("tech_exit")


class Dimmer(Widget):
    """A translucent veil over everything outside opening hours; touches pass through it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        with self.canvas:
            self._colour = Color(0, 0, 0, 0)
            self._rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._fit, size=self._fit)

    def _fit(self, *_: object) -> None:
        self._rect.pos, self._rect.size = self.pos, self.size

    def set_brightness(self, level: float) -> None:
        self._colour.a = max(0.0, min(1.0, 1.0 - level))

    @property
    def brightness(self) -> float:
        return 1.0 - self._colour.a
