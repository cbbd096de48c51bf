"""Kiosk benchmark: touch -> durable, touch -> thank-you drawn, and resident memory.

Runs the real app in a real Kivy window (SDL2 offscreen through Mesa EGL when there is no
display) with real touches, on temp files, the broker away (nothing listens on its port), so
every figure includes the SQLite fsyncs a press costs. Baselines measured in the same run:

- durable: one bare SQLite insert committed in WAL with synchronous=FULL (the floor any
  durable write pays on this disk);
- thank-you: one frame of the idle app (the floor of anything appearing on screen);
- memory: the process with the Kivy window open before the app is built.

    python bench/kiosk_latency.py [--presses 300]

Targets: touch -> durable p99 < 20 ms; touch -> thank-you p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_NO_CONFIG", "1")  # as the kiosk runs: no config.ini, no upgrade warning
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="peakend-kivy-bench-"))
if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

CONFIG = """
[device]
id = "kiosk-bench"
store = "s001"
zone = "checkout"
role = "kiosk"

[mqtt]
url = "mqtt://kiosk-bench:x@127.0.0.1:{port}"

[kiosk]
repeat_interval_s = 5.0
thanks_s = 1.0

[[followup.unhappy]]
key = "wait"
labels = {{ en = "Long wait", zh-Hans = "排队太久" }}

[screen]
width = {width}
height = {height}
fullscreen = false
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=300, help="presses to time")
    parser.add_argument("--portrait", action="store_true", help="1080x1920 instead of 800x480")
    args = parser.parse_args()
    width, height = (1080, 1920) if args.portrait else (800, 480)

    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    for option, _ in Config.items("input"):
        Config.remove_option("input", option)
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    EventLoop.ensure_window()
    for _ in range(5):
        EventLoop.idle()
    rss_window = rss_mb()

    from peakend.kiosk.app import KioskApp
    from peakend.kiosk.station import Station

    folder = Path(tempfile.mkdtemp(prefix="peakend-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = folder / "kiosk.toml"
    path.write_text(CONFIG.format(port=port, width=width, height=height), "utf-8")
    station = Station.open(path)
    clock = [time.monotonic()]
    station.touchpoint.monotonic = lambda: clock[0]
    app = KioskApp(station)
    app._run_prepare()
    for _ in range(5):
        EventLoop.idle()

    durable_at: list[float] = []
    record = station.journal.record

    def timed_record(*a, **k):  # type: ignore[no-untyped-def]
        press = record(*a, **k)
        durable_at.append(time.perf_counter())
        return press

    station.journal.record = timed_record  # type: ignore[method-assign]

    base_db = sqlite3.connect(folder / "baseline.sqlite", isolation_level=None)
    base_db.execute("PRAGMA journal_mode=WAL")
    base_db.execute("PRAGMA synchronous=FULL")
    base_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    rss_start = rss_mb()
    baseline: list[float] = []
    idle_frames, to_durable, to_thanks, reason_to_thanks = [], [], [], []
    for i in range(args.presses):
        # Baselines interleaved with the presses, so both meet the same disk and CPU load.
        t0 = time.perf_counter()
        base_db.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
        baseline.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        EventLoop.idle()
        idle_frames.append((time.perf_counter() - t0) * 1000)

        score = 1 if i % 4 == 0 else 3 + i % 2  # a quarter go through the follow-up
        x, y = app.question.smileys[score].to_window(*app.question.smileys[score].center)
        touch = UnitTestTouch(x, y)
        t0 = time.perf_counter()
        touch.touch_down()
        EventLoop.idle()  # the frame that shows the next screen
        t1 = time.perf_counter()
        touch.touch_up()
        to_durable.append((durable_at[-1] - t0) * 1000)
        if score == 1:
            assert app.current == "reason"
            clock[0] += 0.5
            bx, by = app.reason.buttons["wait"].to_window(*app.reason.buttons["wait"].center)
            touch = UnitTestTouch(bx, by)
            t2 = time.perf_counter()
            touch.touch_down()
            EventLoop.idle()
            reason_to_thanks.append((time.perf_counter() - t2) * 1000)
            touch.touch_up()
        else:
            to_thanks.append((t1 - t0) * 1000)
        assert app.current == "thanks", app.current
        clock[0] += 10  # the visit ends; the next press is not a repeat
        app.tick()
        assert app.current == "question"
    rss_app = rss_mb()
    sent = station.link.stats().outbox_depth
    app.dispatch("on_stop")
    base_db.close()

    def line(name: str, values: list[float], base: list[float] | None = None) -> str:
        text = (
            f"{name:34s} n={len(values):4d}  p50={pct(values, 50):6.2f} ms  "
            f"p99={pct(values, 99):6.2f} ms  max={max(values):6.2f} ms"
        )
        if base:
            text += f"  (p99 x{pct(values, 99) / max(1e-9, pct(base, 99)):.1f} baseline)"
        return text

    print(f"kiosk benchmark, {width}x{height}, {Window.__class__.__name__}, "
          f"python {sys.version.split()[0]}, {args.presses} presses, ratings queued: {sent}")
    print(line("baseline: SQLite FULL commit", baseline))
    print(line("baseline: one idle frame", idle_frames))
    print(line("touch -> durable (journal)", to_durable, baseline))
    print(line("touch -> thank-you drawn", to_thanks, idle_frames))
    print(line("reason tap -> thank-you drawn", reason_to_thanks, idle_frames))
    print(f"resident memory: window only {rss_window:.0f} MB, app built {rss_start:.0f} MB, "
          f"after {args.presses} visits {rss_app:.0f} MB (x{rss_app / rss_window:.2f} window)")
    ok = pct(to_durable, 99) < 20 and pct(to_thanks + reason_to_thanks, 99) < 50
    print("targets (durable p99 < 20 ms, thank-you p99 < 50 ms):", "met" if ok else "MISSED")
    print(f"mean touch -> thank-you {statistics.fmean(to_thanks):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
