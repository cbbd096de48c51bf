"""Driving the real kiosk window: touches, frames and screenshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kivy.base import EventLoop
from kivy.core.window import Window
from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels
from kivy.tests.common import UnitTestTouch
from kivy.uix.widget import Widget


def frames(count: int = 2) -> None:
    """Tick the clock, dispatch and draw, as the main loop would."""
    for _ in range(count):
        EventLoop.idle()


def run_for(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        EventLoop.idle()


def until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        EventLoop.idle()
        if predicate():
            return True
    return predicate()


def centre(widget: Widget) -> tuple[float, float]:
    return widget.to_window(*widget.center)


def tap(widget: Widget) -> None:
    """A real touch down and up at the widget's centre, through Kivy's input dispatch."""
    x, y = centre(widget)
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    touch.touch_up()
    frames(1)


def hold(x: float, y: float, seconds: float) -> None:
    touch = UnitTestTouch(x, y)
    touch.touch_down()
    run_for(seconds)
    touch.touch_up()
    frames(1)


def screenshot(path: Path) -> bytes:
    """Draw a frame, read it back from GL and save it as PNG; returns the RGB bytes."""
    EventLoop.idle()
    Window.dispatch("on_draw")
    width, height = Window.size
    data = glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE)
    path.parent.mkdir(parents=True, exist_ok=True)
    Window._win.save_bytes_in_png(str(path), data, width, height)
    return data


def drawn_share(rgb: bytes, step: int = 5) -> tuple[float, int]:
    """(share of sampled pixels unlike the most common colour, distinct colours sampled).

    A blank or single-colour frame gives (0, 1); a drawn screen has text and faces."""
    counts: dict[bytes, int] = {}
    n = 0
    for i in range(0, len(rgb) - 2, 3 * step):
        key = rgb[i : i + 3]
        counts[key] = counts.get(key, 0) + 1
        n += 1
    dominant = max(counts.values())
    return (n - dominant) / max(1, n), len(counts)


def assert_drawn(rgb: bytes, min_share: float = 0.03) -> None:
    share, colours = drawn_share(rgb)
    assert share >= min_share and colours >= 8, f"screen looks blank: {share:.3f}, {colours}"


def overflowing(root: Widget) -> list[str]:
    """Every label under ``root`` whose text, drawn with its font at its size and wrapped at
    its box's width, needs more room than its box, or whose texture is bigger than its box.

    The text is measured apart from the label: a label whose ``text_size`` is its box would
    cut off the lines that do not fit and look tidy while hiding them."""
    from kivy.core.text import Label as CoreLabel
    from kivy.uix.label import Label

    bad = []
    for widget in root.walk():
        if not isinstance(widget, Label) or not widget.text or widget.width <= 1:
            continue
        widget.texture_update()
        wrap = widget.text_size[0] or widget.width
        core = CoreLabel(text=widget.text, font_name=widget.font_name,
                         font_size=widget.font_size, bold=widget.bold,
                         text_size=(wrap, None), halign=widget.halign)
        core.refresh()
        need_w, need_h = core.texture.size
        has_w, has_h = widget.texture_size
        if max(need_w, has_w) > widget.width + 1 or max(need_h, has_h) > widget.height + 1:
            bad.append(f"{widget.text[:60]!r}: needs {need_w}x{need_h}, texture "
                       f"{has_w}x{has_h}, box {widget.width:.0f}x{widget.height:.0f}")
    return bad
