"""A token bucket per API token, in the web's memory: a BI tool that loops cannot take the
hub's two cores from ingest and the managers' pages. Pure, with the clock passed in."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimit:
    """``rate_per_s`` requests a second on average, bursts of up to ``burst``, per key."""

    def __init__(self, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate_per_s, burst, clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()  # pages run in a thread pool

    def take(self, key: int) -> float:
        """0.0 when the request may go; else the seconds until it may (for Retry-After)."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))
