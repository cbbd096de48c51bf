"""Fixtures for the kiosk: a config on disk, and a real Kivy window without any X server.

Kivy reads its environment when first imported, so this file sets it before anything imports
Kivy: SDL2's offscreen driver renders through Mesa EGL (llvmpipe), which needs only the
libegl1 and libgl1-mesa-dri packages.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from peakend.broker.device.pin import hash_pin

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="peakend-kivy-test-"))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

# The window is created at the first import of kivy.core.window (test modules import it), so
# its size and inputs are set here, before collection. 800x480: the official Pi display.
from kivy.config import Config  # noqa: E402

Config.set("graphics", "width", "800")
Config.set("graphics", "height", "480")
Config.set("graphics", "resizable", "1")
for _option, _ in Config.items("input"):
    Config.remove_option("input", _option)

CONFIG = """
[device]
id = "kiosk-01"
store = "s001"
zone = "checkout"
role = "kiosk"

[mqtt]
url = "{url}"

[outbox]
path = "outbox.sqlite"

[kiosk]
languages = ["en", "zh-Hans", "de"]
default_language = "en"
repeat_interval_s = 5.0
thanks_s = 3.0

[kiosk.question]
en = "How was your checkout today?"

[followup]
timeout_s = 6.0

[[followup.unhappy]]
key = "wait"
labels = {{ en = "Long wait", zh-Hans = "排队太久", de = "Lange Wartezeit" }}

[[followup.unhappy]]
key = "staff"
labels = {{ en = "Staff", zh-Hans = "服务态度", de = "Personal" }}

[[followup.unhappy]]
key = "price"
labels = {{ en = "Prices", zh-Hans = "价格", de = "Preise" }}

[[followup.happy]]
key = "fast"
labels = {{ en = "Quick checkout", zh-Hans = "结账快", de = "Schnelle Kasse" }}

[[followup.happy]]
key = "staff"
labels = {{ en = "Friendly staff", zh-Hans = "服务热情", de = "Freundliches Personal" }}

[screen]
width = 800
height = 480
fullscreen = false

[technician]
pin_hash = "{pin_hash}"
hold_s = 1.0
"""

# The test kiosk's PIN; its config holds only the hash, as a provisioned kiosk's does.
PIN = "4071"
PIN_HASH = hash_pin(PIN, salt=b"peakend-test-pin")


def closed_port() -> int:
    """A loopback port nobody listens on: the broker is away."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write kiosk.toml into tmp_path: ``url`` names the broker, ``extra`` is appended and
    keyword arguments replace the value of a key, e.g. thanks_s="0.5"."""

    def write(url: str | None = None, extra: str = "", **replace: str) -> Path:
        url = url or f"mqtt://kiosk-01:secret@127.0.0.1:{closed_port()}"
        text = CONFIG.format(url=url, pin_hash=PIN_HASH) + extra
        for key, value in replace.items():
            text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
            assert n == 1, key
        path = tmp_path / "kiosk.toml"
        path.write_text(text, "utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def window() -> Iterator[object]:
    """The one real Kivy window of the test process (SDL2 cannot open a second)."""
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    yield Window
