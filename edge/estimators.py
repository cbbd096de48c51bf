"""Queue windows: length, arrivals, departures, measured wait and a predicted wait.

Measured wait: the median wait of people who crossed the exit line within ``horizon_s``,
counting only visits whose track entered the zone from outside (a track born mid-queue after
a break under-measures). It is the truth about people who joined a while ago.

Predicted wait for someone joining now: the time until the till calls them. Ahead of them are
the ``L_now`` people waiting in the zone (not whoever just crossed the exit line), each taking
the till's pace ``S`` from one call to the next, and whoever the till serves now, who still
needs their residual time ``R``: ``W = R + L_now * S``, and never less than the quickest wait
measured lately (walking through an empty lane takes a second or two, not nothing).

``S`` is the median gap between consecutive exit-line crossings that were one service: the
zone never emptied in between, or whoever came into the emptied lane stood there longer than
twice the quickest walk (so the till was still busy when they came). Other gaps hold idle
time or a walk-in. ``R`` is what the gaps say is left, given the time ``a`` since the last
crossing: the median of ``g - a`` over the gaps ``g`` longer than ``a`` (none longer: the
till is probably idle). Crossings are counted by whatever track crosses the line, so a track
broken mid-queue costs nothing here, and medians shrug off the odd double or missed crossing.

Until anyone has gone through the lane the prediction is ``None`` (Little's law said 0 for an
empty lane), and until a gap of service is known it is ``None`` unless the lane is empty.
The latest gaps are kept past the horizon, so a quiet spell does not forget the pace; and
across a restart (till_pace.py), so a new start predicts from its first call, with the
quickest walk kept too, for an empty lane.

Little's law shipped before (``L_now`` over the crossings per busy second, leaning on the
measured waits for the first crossings): it has no residual term and predicts no wait for
an empty lane. bench/predicted_wait.py runs both on perfect tracks of random simulated
queues, scored against the wait of someone joining at the window's end: over 40 scenes of
180 s this one is off by a median 35.4 % of the mean (12 scenes within 25 %, 91 % of windows
predicted), Little's law by 49.2 % on the same windows (4 scenes); over 20 scenes of 600 s,
24.2 % (10 scenes, 98 % of windows) against 31.6 % (6). Told the till's pace over the whole
scene from the start (a what-if, bench/what_if.py) it would be 25.9 % and 18.4 % on the same
windows: learning the pace from the first few services costs about 9 and 6 points; what a
known pace leaves is mostly the spread of the services ahead. bench/edge_robustness.py
prints the camera's figures.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from peakend.edge.till_pace import TillPace

# Gaps kept past the horizon (the latest ones), used when none is within it: the till's pace
# outlives a quiet spell.
KEEP_GAPS = 12


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
        self._last: tuple[float, int] | None = None
        self._arrivals = 0
        self._departures = 0
        self._crossings: deque[tuple[float, float, bool]] = deque()  # t, wait, intact
        self._gaps: deque[tuple[float, float]] = deque()  # crossing time, gap to the one before
        self._calls: deque[float] = deque(maxlen=KEEP_GAPS)  # latest crossings, past the horizon
        self._emptied_at = float("-inf")  # last sample with nobody in the zone
        # The pace kept by the run before (resume): its gaps until the first fresh one, its
        # walk until the first fresh crossing. None and empty on a first start.
        self._kept_gaps: list[float] = []
        self._walk: float | None = None
        # The quickest walk at the last window that had one: kept for the next start even
        # after a quiet spell has emptied the horizon (predictions do not use it).
        self._last_walk: float | None = None

    def resume(self, pace: TillPace) -> None:
        """Start from the pace kept by the run before."""
        self._kept_gaps = list(pace.gaps[-KEEP_GAPS:])
        self._walk = pace.walk_s

    def pace(self) -> TillPace | None:
        """What to keep for the next start: the latest gaps and the quickest walk lately (or
        what was kept, until fresh ones replace it)."""
        gaps = tuple(g for _, g in self._gaps)[-KEEP_GAPS:] or tuple(self._kept_gaps)
        walk = self._quickest(float("inf"))
        walk = walk if walk is not None else self._last_walk
        if not gaps and walk is None:
            return None
        return TillPace(gaps, walk)

    def sample(self, t: float, length: int) -> list[QueueWindow]:
        """Record the people in the zone at time ``t``; returns windows that closed."""
        closed = []
        while t >= self._window_start + self.window_s:
            end = self._window_start + self.window_s
            self._integrate(end)
            closed.append(self._close(end, length_now=self._last[1] if self._last else 0))
        self._integrate(t)
        self._last = (t, length)
        if length == 0:
            self._emptied_at = t
        return closed

    def arrival(self, t: float) -> None:
        self._arrivals += 1

    def departure(self, t: float, wait_s: float, intact: bool) -> None:
        self._departures += 1
        self._crossings.append((t, wait_s, intact))
        if intact:
            self._walk = None  # a fresh walk is measured: the kept one has served
        before = self._calls[-1] if self._calls else None
        if before is not None and t > before and self._served_back_to_back(before, t):
            self._gaps.append((t, t - before))
        if before is None or t > before:
            self._calls.append(t)

    # -- helpers -------------------------------------------------------------------------

    def _served_back_to_back(self, before: float, t: float) -> bool:
        """Whether the till called this one as soon as it was done with the one before.

        So it was if someone waited all along since the last call; or, when the lane emptied
        in between, if whoever came in after that waited longer than twice the quickest walk
        through the lane: they stood there while the till finished. Otherwise the gap holds
        idle time or a walk-in, not a service.
        """
        if self._emptied_at < before:
            return True
        walk = self._quickest(t)
        return walk is not None and t - self._emptied_at > 2.0 * walk

    def _quickest(self, now: float) -> float | None:
        """The quickest measured wait lately: about a walk through the empty lane (the one
        kept from the run before until anyone is measured)."""
        return min((w for c, w, ok in self._crossings if ok and c <= now), default=self._walk)

    def _integrate(self, t: float) -> None:
        if self._last is not None:
            last_t, last_len = self._last
            start = max(last_t, self._window_start)
            if t > start:
                self._area += last_len * (t - start)
            self._last = (t, last_len)

    def _window_length(self, end: float) -> float:
        """The time-weighted mean length of the window that ends at ``end``."""
        span = end - self._window_start
        return self._area / span if span > 0 else 0.0

    def _close(self, end: float, length_now: int) -> QueueWindow:
        length = self._window_length(end)
        horizon_start = end - self.horizon_s
        while self._crossings and self._crossings[0][0] < horizon_start:
            self._crossings.popleft()
        while len(self._gaps) > KEEP_GAPS and self._gaps[0][0] < horizon_start:
            self._gaps.popleft()
        walk = self._quickest(end)
        self._last_walk = walk if walk is not None else self._last_walk
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
        self._arrivals = 0
        self._departures = 0
        return window

    def predict(self, now: float, length_now: float) -> tuple[float | None, float | None]:
        """(median measured wait, predicted wait for someone joining now)."""
        intact = [w for c, w, ok in self._crossings if ok and c <= now]
        measured = statistics.median(intact) if intact else None
        # The last call at or before now (a crossing of this very frame may come after it).
        last = max((c for c in self._calls if c <= now), default=None)
        if last is None:
            # Nobody seen through the lane yet: no residual for a busy till; an empty lane is
            # a walk, if the run before kept one.
            walk = self._walk
            return measured, (walk if walk is not None and length_now < 0.5 else None)
        quickest = self._quickest(now) or 0.0
        known = [(t, g) for t, g in self._gaps if t <= now]
        recent = [g for t, g in known if t >= now - self.horizon_s]
        gaps = recent or [g for _, g in known] or self._kept_gaps
        if not gaps:
            return measured, (quickest if length_now < 0.5 else None)
        pace = statistics.median(gaps)
        longer = [g - (now - last) for g in gaps if g > now - last]
        residual = statistics.median(longer) if longer else 0.0
        return measured, max(residual + length_now * pace, quickest)
