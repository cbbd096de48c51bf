"""Simulated devices that speak the contract through the real device link.

Used by `peakend demo` before real kiosks and cameras are attached, by the delivery tests (a
device process that can be SIGKILLed and restarted) and by the benchmarks. Message ids are
derived from device and seq, so a test knows exactly which messages must arrive.

    python -m peakend.broker.devtools.simulate --url URL --device kiosk-01 --store s001 \
        --zone checkout --role kiosk --outbox kiosk-01.sqlite --count 3000 --rate 200
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from peakend.broker.device.link import DeviceLink, LinkSettings

NAMESPACE = uuid.UUID("6c9a3f0e-8f7b-4d0a-9a55-2f1f3c2b7e10")


def msg_id_for(device_id: str, seq: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{device_id}/{seq}")


def shopper_rating(rng: random.Random, wait_s: float) -> dict[str, Any]:
    """A rating whose odds of unhappiness climb with the wait, as the peak-end rule predicts."""
    unhappy = 1 / (1 + math.exp(-(wait_s - 240) / 60))
    r = rng.random()
    if r < unhappy * 0.6:
        score = 1
    elif r < unhappy:
        score = 2
    elif r < unhappy + (1 - unhappy) * 0.4:
        score = 3
    else:
        score = 4
    return {"score": score, "reason": followup_answer(rng, score, wait_s), "flags": []}


def followup_answer(rng: random.Random, score: int, wait_s: float) -> str | None:
    """What the shopper picks on the kiosk's follow-up question (keys of the example
    kiosk.toml): after a long wait mostly the wait; one in five walks off without answering."""
    if rng.random() < 0.2:
        return None
    if score <= 2:
        if wait_s > 240 and rng.random() < 0.7:
            return "wait"
        return rng.choice(["staff", "price", "stock", "clean", "other"])
    if wait_s < 120 and rng.random() < 0.5:
        return "fast"
    return rng.choice(["staff", "choice", "other"])


def event_for(role: str, rng: random.Random, now: datetime) -> tuple[str, dict[str, Any]]:
    if role == "kiosk":
        return "rating", shopper_rating(rng, rng.expovariate(1 / 180))
    if rng.random() < 0.2:
        return "queue", {
            "window_s": 10.0,
            "length": round(rng.uniform(0, 8), 2),
            "arrivals": rng.randint(0, 4),
            "departures": rng.randint(0, 4),
            "wait_s": round(rng.uniform(30, 400), 1),
            "wait_measured_s": round(rng.uniform(30, 400), 1),
        }
    dwell = rng.uniform(20, 600)
    return "dwell", {
        "track": rng.randint(1, 10**6),
        "enter": (now - timedelta(seconds=dwell)).isoformat(),
        "exit": now.isoformat(),
        "dwell_s": round(dwell, 2),
        "wait_s": round(dwell * 0.8, 2),
    }


def run_device(
    link: DeviceLink,
    *,
    count: int,
    rate: float,
    role: str,
    stop: threading.Event,
    seed: int = 0,
) -> int:
    """Send until the device's lifetime seq reaches ``count`` (or forever if 0); returns sent."""
    rng = random.Random(seed)
    interval = 1.0 / rate if rate > 0 else 0.0
    sent = 0
    next_at = time.monotonic()
    while not stop.is_set():
        seq = link.outbox.last_seq + 1
        if count and seq > count:
            break
        now = datetime.now(UTC)
        event_type, data = event_for(role, rng, now)
        link.send(event_type, data, ts=now, msg_id=msg_id_for(link.settings.device_id, seq))
        sent += 1
        if interval:
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_at = time.monotonic()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a simulated kiosk or camera")
    parser.add_argument("--url", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--zone", required=True)
    parser.add_argument("--role", choices=("kiosk", "edge"), default="kiosk")
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--count", type=int, default=0, help="stop at this lifetime seq (0: never)")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="messages per second (0: flat out)"
    )
    parser.add_argument("--retransmit", type=float, default=30.0)
    parser.add_argument("--wait-acked", type=float, default=120.0, help="then wait for the ack")
    args = parser.parse_args(argv)
    link = DeviceLink(
        LinkSettings(
            mqtt_url=args.url,
            device_id=args.device,
            store_id=args.store,
            zone_id=args.zone,
            role=args.role,
            outbox_path=Path(args.outbox),
            version="sim",
            retransmit_s=args.retransmit,
        )
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    link.start()
    try:
        run_device(
            link, count=args.count, rate=args.rate, role=args.role, stop=stop
        )
        ok = link.wait_acked(timeout=args.wait_acked) if not stop.is_set() else True
    finally:
        link.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
