"""Simulated shoppers: the kiosk's flow, journal and link without a window.

For a demo on a machine with no display, and for soak runs: shoppers arrive at random
(a Poisson process at ``rate_per_min``), press a smiley, sometimes press again at once (a
repeat), and pick a reason or let the follow-up time out, all through the same
:class:`~peakend.kiosk.touchpoint.Touchpoint` the screens use.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path

from peakend.kiosk.flow import Show, Stage
from peakend.kiosk.settings import KioskConfig
from peakend.kiosk.station import Station

log = logging.getLogger(__name__)

# Leans happy, as real exits do; a quarter of visits end unhappy.
SCORE_WEIGHTS = {1: 0.1, 2: 0.15, 3: 0.4, 4: 0.35}
REPEAT_SHARE = 0.08
REASON_SHARE = 0.6
TICK_S = 0.1


@dataclass
class SimulationResult:
    presses: int
    delivered: int


def run_simulated_shoppers(
    config_path: str | Path,
    stop_event: threading.Event,
    rate_per_min: float = 6.0,
    *,
    config: KioskConfig | None = None,
    seed: int | None = None,
) -> SimulationResult:
    """Run until ``stop_event`` is set; returns how many presses were made and delivered.

    Opens and starts the kiosk's own link from the config (the outbox and journal it names),
    and stops it on return, so every press is in the outbox by then."""
    if rate_per_min <= 0:
        raise ValueError("rate_per_min must be above 0")
    station = Station.open(config_path, config)
    station.start()
    try:
        _shoppers(station, stop_event, rate_per_min, random.Random(seed))
    finally:
        station.stop()
    tp = station.touchpoint
    return SimulationResult(presses=tp.presses, delivered=tp.delivered)


def _shoppers(
    station: Station, stop: threading.Event, rate_per_min: float, rng: random.Random
) -> None:
    tp = station.touchpoint
    config = station.config
    next_arrival = tp.monotonic() + rng.expovariate(rate_per_min / 60)
    choose_at: float | None = None
    again: int | None = None
    while not stop.wait(TICK_S):
        now = tp.monotonic()
        tp.tick()
        if again is not None and tp.flow.stage is Stage.QUESTION:
            # The impatient shopper taps again as soon as the question is back: a repeat.
            tp.press(again)
            again = None
        if choose_at is not None and now >= choose_at:
            choose_at = None
            if tp.flow.stage is Stage.REASON and tp.flow.score is not None:
                reasons = config.reasons_for(tp.flow.score)
                tp.choose(rng.choice(reasons).key)
        if now < next_arrival or tp.flow.stage is not Stage.QUESTION:
            continue
        next_arrival = now + rng.expovariate(rate_per_min / 60)
        score = rng.choices(list(SCORE_WEIGHTS), weights=list(SCORE_WEIGHTS.values()))[0]
        shows = tp.press(score)
        if rng.random() < REPEAT_SHARE:
            again = score
        asked = any(isinstance(s, Show) and s.stage is Stage.REASON for s in shows)
        if asked and rng.random() < REASON_SHARE:
            choose_at = now + rng.uniform(1.0, min(3.0, config.followup.timeout_s * 0.8))
