"""Queue windows: length, arrivals, departures, measured wait and a predicted wait.

Measured wait: the median wait of people who crossed the exit line within ``horizon_s``,
counting only visits whose track entered the zone from outside (a track born mid-queue after
a break under-measures). It is the truth about people who joined a while ago.

Predicted wait for someone joining now: Little's law, ``W = L / lambda``. A newcomer waits
for the ``L_now`` people in the zone at this moment to be served; ``lambda`` is the till's
service rate, the exit-line crossings within the horizon divided by the time the zone was not
empty (idle minutes would make a fast till look slow). It needs only counts and the current
length, so it survives tracks that break up: a departure is counted by whatever track crosses
the line, whether or not it saw the person join.

Measured waits come in while crossings are still too few for a rate (fewer than
``MIN_CROSSINGS`` in the horizon): then the prediction leans on them, scaled by how the queue
changed since (``W_meas * (L_now + 1) / (L_past + 1)``), and moves to the law as crossings
accrue. Why not lean on measured waits always: on the simulated checkouts (bench/) the
measured median lags a changing queue by a whole wait, and predicts the next shopper's wait
about twice as badly as the law does.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

MIN_CROSSINGS = 3


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
            "wait_measured_s": None
            if self.wait_measured_s is None
            else round(self.wait_measured_s, 2),
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
        self._busy = 0.0  # time within the window with someone in the zone
        self._last: tuple[float, int] | None = None
        self._arrivals = 0
        self._departures = 0
        self._crossings: deque[tuple[float, float, bool]] = deque()  # t, wait, intact
        self._lengths: deque[tuple[float, float, float]] = deque()  # window end, length, busy s

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
                if last_len > 0:
                    self._busy += t - start
            self._last = (t, last_len)

    def _close(self, end: float, length_now: int) -> QueueWindow:
        span = end - self._window_start
        length = self._area / span if span > 0 else 0.0
        self._lengths.append((end, length, self._busy))
        horizon_start = end - self.horizon_s
        while self._crossings and self._crossings[0][0] < horizon_start:
            self._crossings.popleft()
        while self._lengths and self._lengths[0][0] <= horizon_start:
            self._lengths.popleft()
        measured, predicted = self.predict(end, float(length_now))
        window = QueueWindow(
            self.zone,
            self._window_start,
            end,
            length,
            self._arrivals,
            self._departures,
            predicted,
            measured,
        )
        self._window_start = end
        self._area = 0.0
        self._busy = 0.0
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
        # The till's service rate: departures per second of the time anyone was queueing
        # (idle minutes would otherwise make the till look slow).
        busy = sum(b for _, _, b in self._lengths) or observed
        rate = len(crossings) / max(busy, 1e-6)
        little = length_now / rate
        if measured is None or len(crossings) >= MIN_CROSSINGS:
            return measured, little
        past = statistics.fmean(v for _, v, _ in self._lengths) if self._lengths else length_now
        scaled = measured * (length_now + 1.0) / (past + 1.0)
        weight = len(crossings) / MIN_CROSSINGS
        return measured, weight * little + (1.0 - weight) * scaled
