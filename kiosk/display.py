"""Prepare Kivy before it is imported: environment, window size, input.

Kivy reads its environment and config at import time, so this module must not import Kivy at
the top; :func:`prepare_kivy` is called first and the app module imported after it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from peakend.kiosk.settings import ScreenSection


def prepare_environment(kivy_home: Path | None = None, *, headless: bool | None = None) -> None:
    """Set the variables Kivy reads at import.

    ``headless`` (default: when no X or Wayland display is set and no SDL driver is chosen)
    selects SDL2's offscreen driver, which renders through Mesa EGL without any X server."""
    # peakend owns the command line; Kivy must not parse it.
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Kivy's log records go through Python logging like the rest of peakend (one format, one
    # place: the journal under systemd). Kivy then writes no log files of its own.
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    # Kivy's own config.ini is not ours to keep: prepare_kivy sets every option the kiosk
    # needs. Without a file Kivy would write one on the first start and warn twice about
    # "upgrading" it, noise before the kiosk's own messages that sends techs looking for a
    # problem that is not there.
    os.environ.setdefault("KIVY_NO_CONFIG", "1")
    home = kivy_home or Path(tempfile.gettempdir()) / "peakend-kivy"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_HOME", str(home))
    if headless is None:
        headless = not (
            os.environ.get("DISPLAY")
            or os.environ.get("WAYLAND_DISPLAY")
            or os.environ.get("SDL_VIDEODRIVER")
        ) and not Path("/dev/dri/card0").exists()
    if headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")


def prepare_kivy(screen: ScreenSection, kivy_home: Path | None = None) -> None:
    """Environment plus the window settings; call before importing the app module."""
    prepare_environment(kivy_home)
    from kivy.config import Config  # after the environment is set

    Config.set("graphics", "width", str(screen.width))
    Config.set("graphics", "height", str(screen.height))
    Config.set("graphics", "fullscreen", "auto" if screen.fullscreen else "0")
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "show_cursor", "0" if screen.fullscreen else "1")
    # A shopper's palm must not draw multitouch dots or close the app.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "info")
