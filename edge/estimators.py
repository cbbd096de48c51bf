"""Queue windows: length, arrivals, departures, measured wait and a predicted wait.

Predicted wait for someone joining now. Two estimates, combined by how much the tracks can be
trusted:

* measured: the median wait of people who crossed the exit line within ``horizon_s``, counting
  only visits whose track entered the zone from outside (a track born mid-queue after a break
  under-measures). It describes people who joined a while ago, so it is scaled by how the
  queue has changed since: ``W_meas * (L_now + 1) / (L_past + 1)``, with ``L_past`` the mean
  length over the horizon.
* Little's law: ``W = L / lambda``. In a stable queue the departure rate equals the arrival
  rate, and a newcomer waits for the ``L_now`` people ahead to be served at the recent
  departure rate: ``W_little = L_now / (departures / horizon)``. It needs only counts and the
  length, so it survives broken tracks.

The two are blended by ``q``, the share of recent departures whose wait was measured on an
intact track: ``W = q * W_meas_scaled + (1 - q) * W_little``. With good tracking the measured
waits dominate; when tracks break up the law takes over.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueWindow:
    zone: str
    start: float
    end: float
    length: float
    arrivals: int
    departures: int
    wait_s: float | None
    wait_measured_s: float | None

    def payload(self) -> dict[str, float | int | None]:
        return {
            "window_s": round(self.end - self.start, 3),
            "length": round(self.length, 3),
            "arrivals": self.arrivals,
            "departures": self.departures,
            "wait_s": None if self.wait_s is None else round(self.wait_s, 2),
            "wait_measured_s": None if self.wait_measured_s is None else round(self.wait_measured_s, 2),
        }


class QueueEstimator:
    """Collects one zone's samples and closes a window every ``window_s`` seconds."""

    def __init__(self, zone: str, *, window_s: float, horizon_s: float, t0: float = 0.0):
        self.zone = zone
        self.window_s = window_s
        self.horizon_s = horizon_s
        self.t0 = t0
        self._window_start = t0
        self._area = 0.0  # integral of length over time within the window
        self._last: tuple[float, int] | None = None
        self._arrivals = 0
        self._departures = 0
        self._crossings: deque[tuple[float, float, bool]] = deque()  # t, wait, intact
        self._lengths: deque[tuple[float, float]] = deque()  # window end, mean length

    def sample(self, t: float, length: int) -> list[QueueWindow]:
        """Record the people in the zone at time ``t``; returns windows that closed."""
        closed = []
        while t >= self._window_start + self.window_s:
            end = self._window_start + self.window_s
            self._integrate(end)
            closed.append(self._close(end, length_now=self._last[1] if self._last else 0))
        self._integrate(t)
        self._last = (t, length)
        return closed

    def arrival(self, t: float) -> None:
        self._arrivals += 1

    def departure(self, t: float, wait_s: float, intact: bool) -> None:
        self._departures += 1
        self._crossings.append((t, wait_s, intact))

    # -- helpers -------------------------------------------------------------------------

    def _integrate(self, t: float) -> None:
        if self._last is not None:
            last_t, last_len = self._last
            start = max(last_t, self._window_start)
            if t > start:
                self._area += last_len * (t - start)
            self._last = (t, last_len)

    def _close(self, end: float, length_now: int) -> QueueWindow:
        span = end - self._window_start
        length = self._area / span if span > 0 else 0.0
        self._lengths.append((end, length))
        horizon_start = end - self.horizon_s
        while self._crossings and self._crossings[0][0] < horizon_start:
            self._crossings.popleft()
        while self._lengths and self._lengths[0][0] <= horizon_start:
            self._lengths.popleft()
        measured, predicted = self.predict(end, length)
        window = QueueWindow(
            self.zone, self._window_start, end, length, self._arrivals, self._departures,
            predicted, measured,
        )
        self._window_start = end
        self._area = 0.0
        self._arrivals = 0
        self._departures = 0
        return window

    def predict(self, now: float, length_now: float) -> tuple[float | None, float | None]:
        """(median measured wait, predicted wait for someone joining now)."""
        crossings = [c for c in self._crossings if c[0] <= now]
        intact = [w for _, w, ok in crossings if ok]
        measured = statistics.median(intact) if intact else None
        observed = min(self.horizon_s, now - self.t0)
        if not crossings:
            # Nobody served yet: an empty queue means no wait, otherwise we cannot tell.
            return measured, (0.0 if length_now < 0.5 and observed >= self.window_s else None)
        rate = len(crossings) / max(observed, 1e-6)
        little = length_now / rate
        if measured is None:
            return None, little
        past = statistics.fmean(v for _, v in self._lengths) if self._lengths else length_now
        scaled = measured * (length_now + 1.0) / (past + 1.0)
        q = len(intact) / len(crossings)
        return measured, q * scaled + (1.0 - q) * little
