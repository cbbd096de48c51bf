"""A seeded hub database, the web app on an ephemeral port, and Chromium from the system."""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.db.store import open_store
from peakend.broker.hub.reports.alerts import AlertMonitor
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user
from peakend.broker.wire.contract import Envelope, new_envelope

ARTIFACTS = Path(__file__).parents[2] / "artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse"

CONFIG = HubConfig.model_validate({
    "stores": [{"id": "s001", "name": "Market Street", "timezone": "Europe/Berlin"},
               {"id": "s002", "name": "Harbour Mall", "timezone": "America/New_York"}],
    "analytics": {"min_ratings_tolerance": 30},
})


def messages(now: datetime, days: int = 14, rng_seed: int = 11) -> list[Envelope]:
    """Open hours 8-20 local; waits peak at lunch and after work; patience runs out near 4 min."""
    rng = random.Random(rng_seed)
    # the follow-up answers draw from their own stream, so the presses stay those of before
    why = random.Random(rng_seed + 1)
    seq: dict[str, int] = {}
    out: list[Envelope] = []

    def send(device: str, st: str, zone: str, kind: str, at: datetime, data: dict) -> None:
        seq[device] = seq.get(device, 0) + 1
        out.append(new_envelope(device_id=device, store_id=st, zone_id=zone, seq=seq[device],
                                event_type=kind, ts=at, data=data))

    for st, zone, base in [("s001", "checkout", 150), ("s001", "deli", 60),
                           ("s002", "checkout", 110)]:
        tz = CONFIG.timezone(st)
        for d in range(days, -1, -1):
            day = (now - timedelta(days=d)).astimezone(tz).date()
            t = datetime(day.year, day.month, day.day, 8, tzinfo=tz).astimezone(UTC)
            close = datetime(day.year, day.month, day.day, 20, tzinfo=tz).astimezone(UTC)
            # background stops 15 min ago: the last 10 minutes hold only the scripted
            # presses below, whatever the hour the tests run at (the step is checked after
            # it is taken: one that overshot by 5 minutes once added a fourth unhappy press)
            end = min(close, now - timedelta(minutes=15))
            while (t := t + timedelta(seconds=rng.expovariate(1 / 150))) < end:
                hour = t.astimezone(tz).hour + t.astimezone(tz).minute / 60
                rush = math.exp(-((hour - 12.5) ** 2) / 1.5) + math.exp(
                    -((hour - 17.5) ** 2) / 1.5)
                wait = max(5.0, rng.gauss(base * (0.6 + 1.6 * rush), base * 0.3))
                send(f"cam-{st}", st, zone, "dwell", t, {
                    "track": rng.randrange(10**6), "enter": t - timedelta(seconds=wait + 20),
                    "exit": t, "dwell_s": wait + 20, "wait_s": wait})
                if rng.random() < 0.35:
                    p_unhappy = 0.1 if wait < 240 else 0.65
                    score = rng.choice([1, 2]) if rng.random() < p_unhappy else rng.choice(
                        [3, 4, 4])
                    send(f"kiosk-{st}-{zone}", st, zone, "rating",
                         t + timedelta(seconds=rng.uniform(10, 60)),
                         {"score": score, "reason": reason_for(why, score, wait)})
    # a moment ago at s001's checkout: three unhappy presses after long waits
    for i in range(4):
        at = now - timedelta(minutes=6 - i)
        send("cam-s001", "s001", "checkout", "dwell", at, {
            "track": 9_000_000 + i, "enter": at - timedelta(seconds=500), "exit": at,
            "dwell_s": 500.0, "wait_s": 480.0})
    for i in range(3):
        send("kiosk-s001-checkout", "s001", "checkout", "rating",
             now - timedelta(minutes=3 - i), {"score": 1})
    return out


def reason_for(rng: random.Random, score: int, wait: float) -> str | None:
    """What a shopper answers after the press: after a long wait mostly the wait; one in five
    walks away from the question."""
    if rng.random() < 0.2:
        return None
    if score <= 2:
        if wait >= 240 and rng.random() < 0.75:
            return "wait"
        return rng.choice(["staff", "price", "stock", "other"])
    return rng.choice(["fast", "fast", "staff", "choice"])


def seed(db: str | Path, envelopes: list[Envelope], batch: int = 500) -> None:
    """Store the envelopes as the aggregator would, received when they were sent; ``db`` is a
    --db value of either engine."""
    store = open_store(db)
    try:
        with store.transaction():
            for i in range(0, len(envelopes), batch):
                store.store_events([(e, e.ts) for e in envelopes[i : i + batch]])
    finally:
        store.close()


@pytest.fixture(scope="session")
def hub_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web") / "hub.sqlite"
    now = datetime.now(UTC)
    seed(path, messages(now))
    monitor = AlertMonitor(path, CONFIG)
    opened = monitor.check(now)
    monitor.close()
    assert any(s == "s001" and e["kind"] == "unhappy" for s, e in opened)
    conn = open_db(path)
    add_user(conn, "anna", PASSWORD, ["s001"])
    add_user(conn, "bert", PASSWORD, ["s002"])
    add_user(conn, "chris", PASSWORD, ["s001", "s002"])
    conn.close()
    return path


@pytest.fixture(scope="session")
def web_url(hub_db: Path) -> Iterator[str]:
    with serve_in_thread(create_app(str(hub_db), CONFIG)) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def tz(store: str) -> ZoneInfo:
    return CONFIG.timezone(store)
