"""What-if queue predictors: the shipped one, told what the lane's footage cannot tell it.

None can ship. They say where the predicted wait's error lies (bench/predicted_wait.py,
bench/edge_robustness.py):
- ``till_seen``: told each moment the till finishes with a shopper, as it happens (a camera
  that watched the till perfectly): the pace from every service, the first included, and
  whether the till is busy or idle; until it has seen a finish, the shipped prediction;
- ``pace_known``: told the till's median pace over the whole scene (``scene_pace``, from the
  true visits) from the start, the future included;
- ``finish_known``: told the pace as ``pace_known`` is, and also when the till will finish
  the service under way (the future): what is left is mostly the spread of the services of
  the people waiting.
"""

from __future__ import annotations

import statistics
from typing import Any

from peakend.edge import accuracy
from peakend.edge.estimators import QueueEstimator
from peakend.edge.zones import Visit


def till_seen(done: list[float]) -> type[QueueEstimator]:
    """The shipped predictor, also told each moment the till finishes, as it happens."""

    class TillSeen(QueueEstimator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._every_call: list[float] = []  # the shipped one keeps the latest few only

        def departure(self, t: float, wait_s: float, intact: bool) -> None:
            super().departure(t, wait_s, intact)
            self._every_call.append(t)

        def predict(self, now: float, length_now: float) -> tuple[float | None, float | None]:
            measured, shipped = super().predict(now, length_now)
            calls = sorted(c for c in self._every_call if c <= now)
            seen = [d for d in done if d <= now]
            if not calls:
                return measured, None
            # One service: from a call to the till's next finish. The next call follows a
            # finish by a lag (the head steps up) when someone was waiting.
            services = [
                next(d for d in seen if d > c) - c for c in calls if any(d > c for d in seen)
            ]
            if not services:
                return measured, shipped  # no finish seen yet: nothing more than the lane's
            lag = _lag(self, seen, now)
            pace = statistics.median(services) + lag
            residual = 0.0
            if not any(d > calls[-1] for d in seen):  # busy with whoever was called last
                since = now - calls[-1]
                longer = [s - since for s in services if s > since]
                residual = (statistics.median(longer) if longer else 0.0) + lag
            return measured, max(residual + length_now * pace, self._quickest(now) or 0.0)

    return TillSeen


def pace_known(pace: float) -> type[QueueEstimator]:
    """The shipped predictor, told the till's pace over the whole scene from the start.

    Its residual still comes from the gaps seen so far, as the shipped one's does (the known
    pace stands in for them until there is one), so it is an upper bound on what knowing the
    pace is worth, not the least error any predictor could reach.
    """

    class PaceKnown(QueueEstimator):
        def predict(self, now: float, length_now: float) -> tuple[float | None, float | None]:
            measured, _ = super().predict(now, length_now)
            last = max((c for c in self._calls if c <= now), default=None)
            if last is None:
                return measured, None
            known = [(t, g) for t, g in self._gaps if t <= now]
            recent = [g for t, g in known if t >= now - self.horizon_s]
            gaps = recent or [g for _, g in known] or [pace]
            longer = [g - (now - last) for g in gaps if g > now - last]
            residual = statistics.median(longer) if longer else 0.0
            return measured, max(residual + length_now * pace, self._quickest(now) or 0.0)

    return PaceKnown


def finish_known(pace: float, done: list[float]) -> type[QueueEstimator]:
    """The shipped form, told the till's pace and when it will finish the service under way.

    The till is busy when it has not finished since the last call; then the one it serves
    needs until its next finish, which a simulation knows in advance and no camera can, and
    the next in line is called a moment later (the head steps up to the line: the lag from
    a finish to a call back to back, as ``till_seen`` takes it, from what was seen so far).
    """

    class FinishKnown(QueueEstimator):
        def predict(self, now: float, length_now: float) -> tuple[float | None, float | None]:
            measured, _ = super().predict(now, length_now)
            last = max((c for c in self._calls if c <= now), default=None)
            if last is None:
                return measured, None
            busy = not any(last < d <= now for d in done)
            ahead = [d for d in done if d > now]
            residual = ahead[0] - now + _lag(self, done, now) if busy and ahead else 0.0
            return measured, max(residual + length_now * pace, self._quickest(now) or 0.0)

    return FinishKnown


def _lag(estimator: QueueEstimator, done: list[float], now: float) -> float:
    """The median lag from a finish to the next call, where that call came back to back
    (the head steps up to the line), over the calls up to ``now``."""
    lags = [
        t - max(d for d in done if d <= t)
        for t, _ in estimator._gaps
        if t <= now and any(d <= t for d in done)
    ]
    return statistics.median(lags) if lags else 0.0


def scene_pace(visits: list[Visit]) -> float | None:
    """The median gap between calls of shoppers who had to wait: the till's pace.

    From the true visits, with the truth's rule of who had to wait (accuracy.served_in_order),
    not the shipped estimator's, which sees only the lane as it goes.
    """
    served = accuracy.served_in_order(visits)
    gaps = [
        call - before
        for (_, call, waited), (_, before, _) in zip(served[1:], served[:-1], strict=True)
        if waited and call > before
    ]
    return statistics.median(gaps) if gaps else None
