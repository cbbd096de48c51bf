"""`peakend demo`: the whole store on one machine, through the real parts.

A mosquitto of its own on its own port (never the system broker on 1883), the aggregator and
the web, a kiosk (its window when there is a display, simulated shoppers otherwise) and the
camera module replaying a rendered scene at real time. On first run it also sends two weeks of
history through the same device links, so the reports have something to show at once.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from peakend.broker.device.config import load_config
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.devtools.simulate import shopper_rating
from peakend.broker.field.mosquitto import (
    BrokerError,
    Mosquitto,
    aggregator_url,
    free_port,
    prepare,
)
from peakend.broker.field.provision import provision

STORE, TIMEZONE = "s001", "Europe/Berlin"
KIOSK, CAMERA = "kiosk-01", "cam-01"
ZONES = ["checkout", "promo"]
OPEN_HOURS = (8, 21)


class Demo:
    """Runs the store until Ctrl-C, SIGTERM or ``--duration``; ``run`` raises BrokerError
    when no broker folder can be made or mosquitto will not start."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self) -> int:
        a = self.args
        port = a.port or free_port()
        data = Path(a.data).resolve()
        try:
            broker_dir = prepare(data / "broker", port=port, bind="127.0.0.1")
        except BrokerError as exc:
            # e.g. as root, mosquitto runs as its own user and cannot enter a home folder
            data = Path(tempfile.gettempdir()) / "peakend-demo"
            say(f"note: {exc}; using {data} instead")
            broker_dir = prepare(data / "broker", port=port, bind="127.0.0.1")
        broker = Mosquitto(broker_dir, port=port)
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        server = None
        try:
            broker.start()
            say(
                f"mosquitto: this demo's own broker on 127.0.0.1:{port} (a system broker on "
                "1883, if any, is left alone)"
            )
            kiosk_cfg = provision(
                broker_dir.root,
                device_id=KIOSK,
                store=STORE,
                zones=["checkout"],
                role="kiosk",
                host="127.0.0.1",
                out=data / "kiosk" / "kiosk.toml",
            )
            cam = provision(
                broker_dir.root,
                device_id=CAMERA,
                store=STORE,
                zones=ZONES,
                role="edge",
                host="127.0.0.1",
                out=data / "edge" / "edge.toml",
                new_zone=True,  # the demo's store gets its promo zone here
            )
            db = data / "hub.sqlite"
            hub_toml = self._hub_config(data, broker_dir.root, db)
            from peakend.broker.hub.config import HubConfig
            from peakend.broker.hub.server import start
            from peakend.broker.hub.web.auth import ensure_demo_manager

            config = load_config(hub_toml, HubConfig)
            http = self._free_http(a.http)
            server = start(
                mqtt_url=aggregator_url(broker_dir.root),
                db=str(db),
                http=http,
                broker_data=str(broker_dir.root),
                config=config,
            )
            server.aggregator.periodic_s = 5.0
            user, password = ensure_demo_manager(db, [STORE])
            say(f"aggregator + web: http://{http}/   (log in as {user} / {password}; plain "
                "HTTP, meant for this machine: a store's hub serves HTTPS, see deploy/GUIDE.md)")

            now = datetime.now(UTC)
            if not (data / ".history-sent").exists() and a.history_days > 0:
                say(f"sending {_days(a.history_days)} of history through the device links "
                    "(first run only) ...")
                events = history(a.history_days, now, random.Random(7))
            else:
                say("sending a checkout rush of the last few minutes ...")
                events = rush(now, random.Random())
            self._send(kiosk_cfg.url, cam.url, data, events)
            (data / ".history-sent").write_text(datetime.now(UTC).isoformat())
            self._start_camera(cam.url, data)
            self._start_kiosk(kiosk_cfg.config_path, kiosk_cfg.technician_pin)
            say(f"try:  .venv/bin/peakend report --db {db} --config {hub_toml} "
                f"--store {STORE} --zone checkout")
            say("Ctrl-C stops the demo." if not a.duration else f"running for {a.duration:.0f}s")
            self._wait(db)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop.set()
            for p in self.procs:
                p.terminate()
            for t in self.threads:
                t.join(20)
            if server is not None:
                server.stop()
            broker.stop()
        return 0

    # -- parts ------------------------------------------------------------------------------

    def _hub_config(self, data: Path, broker_root: Path, db: Path) -> Path:
        path = data / "hub.toml"
        path.write_text(
            f"""# The demo's hub configuration (rewritten on every start).
[hub]
db = "{db}"
broker_data = "{broker_root}"

[[stores]]
id = "{STORE}"
name = "Demo Market"
timezone = "{TIMEZONE}"

[alerts.default]
# Low thresholds so the demo shows an alert within a minute or two.
wait_p90_s = 60.0
wait_window_min = 10.0
wait_min_people = 2
unhappy_count = 3
unhappy_window_min = 10.0
"""
        )
        return path

    def _free_http(self, wanted: str) -> str:
        host, _, port = wanted.rpartition(":")
        if int(port) == 0:
            return f"{host}:{free_port(host)}"
        with socket.socket() as s:
            try:
                s.bind((host, int(port)))
                return wanted
            except OSError:
                pass
        return f"{host}:{free_port(host)}"

    def _send(self, kiosk_url: str, cam_url: str, data: Path, events: Any) -> None:
        """Past events, sent through the devices' own links with their own times."""
        kiosk = _link(kiosk_url, KIOSK, "kiosk", "checkout", data / "kiosk" / "outbox.sqlite")
        cam = _link(cam_url, CAMERA, "edge", None, data / "edge" / "outbox.sqlite")
        kiosk.start()
        cam.start()
        n = 0
        for event, role in events:
            target = kiosk if role == "kiosk" else cam
            target.send(event["type"], event["data"], zone_id=event["zone"], ts=event["ts"],
                        clock_is_synced=True)
            n += 1
        ok = kiosk.wait_acked(timeout=120) and cam.wait_acked(timeout=120)
        kiosk.stop()
        cam.stop()
        say(f"{n} messages {'stored and acked' if ok else 'sent (some still in outboxes)'}")

    def _start_camera(self, url: str, data: Path) -> None:
        from peakend.edge.runner import run
        from peakend.edge.scenes import render_demo_scene

        scene_dir = data / "scene"
        video, scene_toml = scene_dir / "demo-scene.avi", scene_dir / "edge.toml"
        if not video.exists():
            say("rendering the camera's demo scene ...")
            video, scene_toml = render_demo_scene(scene_dir)
        doc = tomllib.loads(scene_toml.read_text())
        doc["mqtt"] = {"url": url}
        doc["outbox"] = {"path": str(data / "edge" / "outbox.sqlite")}

        def replay() -> None:
            while not self.stop.is_set():
                run(
                    doc,
                    source=str(video),
                    publish=True,
                    realtime=True,
                    stop=self.stop,
                    base_dir=scene_dir,
                )

        self._thread(replay, "camera")
        say(f"camera: {CAMERA} replays {video.name} at real time (zones {', '.join(ZONES)})")

    def _start_kiosk(self, config_path: Path, pin: str | None) -> None:
        display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if display and not self.args.no_window:
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "peakend.broker.cli",
                        "kiosk",
                        "--config",
                        str(config_path),
                        "--windowed",
                    ]
                )
            )
            say(f"kiosk: {KIOSK} window open; tap a smiley (technician menu: hold the "
                f"top-left corner, PIN {pin})")
            return
        from peakend.kiosk.simulate import run_simulated_shoppers

        rate = self.args.shoppers_per_min
        self._thread(lambda: run_simulated_shoppers(config_path, self.stop, rate), "kiosk")
        say(f"kiosk: no display, so {rate:g} simulated shoppers a minute press the smileys")

    def _thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def _wait(self, db: Path) -> None:
        import sqlite3

        deadline = time.monotonic() + self.args.duration if self.args.duration else math.inf
        last_line = 0.0
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.stop.wait(1.0)
            if time.monotonic() - last_line >= 15:
                last_line = time.monotonic()
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                try:
                    row = conn.execute(
                        "SELECT (SELECT count(*) FROM ratings), (SELECT count(*) FROM dwells), "
                        "(SELECT count(*) FROM queue_windows), "
                        "(SELECT count(*) FROM alerts WHERE closed_at IS NULL)"
                    ).fetchone()
                except sqlite3.Error:
                    row = None
                finally:
                    conn.close()
                if row:
                    say(
                        f"stored: {row[0]} ratings, {row[1]} visits, {row[2]} queue windows; "
                        f"{row[3]} open alert(s)"
                    )


def history(days: int, now: datetime, rng: random.Random) -> Any:
    """Simulated past shoppers in store-local opening hours: arrivals peak at lunch and after
    work, waits grow with the load, and unhappiness grows with the wait."""
    tz = ZoneInfo(TIMEZONE)
    start = (now - timedelta(days=days)).astimezone(tz).replace(minute=0, second=0, microsecond=0)
    t = start
    track = 0
    while t < now:
        local = t.astimezone(tz)
        # The last two hours are always "open", so the demo has a live story at any hour.
        if OPEN_HOURS[0] <= local.hour < OPEN_HOURS[1] or t >= now - timedelta(hours=2):
            load = (
                1.0
                + 0.8 * math.exp(-((local.hour - 12.5) ** 2) / 2)
                + 1.0 * math.exp(-((local.hour - 17.5) ** 2) / 2)
                + (0.4 if local.weekday() == 5 else 0)
            )
            for _ in range(int(rng.gauss(14 * load, 3))):
                enter = t + timedelta(seconds=rng.uniform(0, 3600))
                wait = max(5.0, rng.gammavariate(2.0, 25 * load**2))
                exit_ = enter + timedelta(seconds=wait + rng.uniform(20, 60))
                if exit_ >= now:
                    continue
                track += 1
                yield (
                    {
                        "type": "dwell",
                        "zone": "checkout",
                        "ts": exit_,
                        "data": {
                            "track": f"h{track}",
                            "enter": enter.isoformat(),
                            "exit": exit_.isoformat(),
                            "dwell_s": round((exit_ - enter).total_seconds(), 1),
                            "wait_s": round(wait, 1),
                        },
                    },
                    "edge",
                )
                if rng.random() < 0.25:
                    press = exit_ + timedelta(seconds=rng.uniform(30, 120))
                    if press < now:
                        yield (
                            {
                                "type": "rating",
                                "zone": "checkout",
                                "ts": press,
                                "data": shopper_rating(rng, wait),
                            },
                            "kiosk",
                        )
            for minute in range(0, 60, 10):
                ts = t + timedelta(minutes=minute + 10)
                if ts < now:
                    length = max(0.0, rng.gauss(2.5 * load, 0.8))
                    yield (
                        {
                            "type": "queue",
                            "zone": "checkout",
                            "ts": ts,
                            "data": {
                                "window_s": 600.0,
                                "length": round(length, 2),
                                "arrivals": int(14 * load / 6),
                                "departures": int(14 * load / 6),
                                "wait_s": round(length * 40, 1),
                                "wait_measured_s": round(length * 38, 1),
                            },
                        },
                        "edge",
                    )
        t += timedelta(hours=1)
    yield from rush(now, rng)


def rush(now: datetime, rng: random.Random) -> Any:
    """The last minutes: the till falls behind, waits pass 5 minutes and three shoppers leave
    unhappy, so the demo opens with a service-recovery alert to act on."""
    for i in range(5):
        exit_ = now - timedelta(minutes=8 - i * 1.5)
        wait = rng.uniform(300, 480)
        enter = exit_ - timedelta(seconds=wait + 30)
        yield {"type": "dwell", "zone": "checkout", "ts": exit_, "data": {
            "track": f"r{i}", "enter": enter.isoformat(), "exit": exit_.isoformat(),
            "dwell_s": round(wait + 30, 1), "wait_s": round(wait, 1)}}, "edge"
    for i in range(3):
        yield {"type": "rating", "zone": "checkout", "ts": now - timedelta(minutes=4 - i),
               "data": {"score": 1, "reason": "wait", "flags": []}}, "kiosk"


def _link(url: str, device: str, role: str, zone: str | None, outbox: Path) -> DeviceLink:
    return DeviceLink(
        LinkSettings(
            mqtt_url=url,
            device_id=device,
            store_id=STORE,
            zone_id=zone,
            role=role,
            outbox_path=outbox,
            version="demo",
        )
    )


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def say(text: str) -> None:
    print(f"[peakend demo] {text}", flush=True)
