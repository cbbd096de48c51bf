"""Device vitals for the health message: processing rate, dropped frames, CPU, temperature."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temperature() -> float | None:
    """The SoC temperature in °C (a Pi throttles at 80-85 °C), or None where there is none."""
    try:
        return round(int(THERMAL.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


class HealthMeter:
    """Counts frames between reports and turns them into one health payload per interval."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._since_wall = time.monotonic()
        self._since_cpu = _cpu_seconds()
        self._since_t: float | None = None
        self._frames = 0
        self._dropped_at = 0
        self._stale_at = 0

    def frame(self) -> None:
        self._frames += 1

    def due(self, t: float) -> bool:
        if self._since_t is None:
            self._since_t = t
            return False
        return t - self._since_t >= self.interval_s

    def report(
        self, t: float, *, dropped: int, stale: int, outbox: int, **extra: Any
    ) -> dict[str, Any]:
        now = time.monotonic()
        cpu_now = _cpu_seconds()
        wall = max(now - self._since_wall, 1e-6)
        data = {
            "fps": round(self._frames / wall, 2),
            # Percent of one core, as `top` shows it for a process.
            "cpu": round(100.0 * (cpu_now - self._since_cpu) / wall, 1),
            "outbox": int(outbox),
            "temp_c": cpu_temperature(),
            "dropped_frames": int(dropped - self._dropped_at),
            "stale_frames": int(stale - self._stale_at),
            **extra,
        }
        self._since_wall, self._since_cpu, self._since_t = now, cpu_now, t
        self._frames = 0
        self._dropped_at, self._stale_at = dropped, stale
        return data


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
