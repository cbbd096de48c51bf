"""How close the pipeline comes to a scene's exact ground truth.

The reference runs the same zone and queue logic on the true floor points of every person
(no detector, no tracker), so every difference is the cost of seeing people through a camera.

Per zone: visit count error, true visits found one for one (a measured visit that entered and
left within ``VISIT_MATCH_S`` of each), dwell p50/p90 error; per queue zone also the measured wait
(each true exit-line crossing matched to the nearest measured one within ``MATCH_S``, on
both sides only of visits seen entering the zone: a wait from mid-queue is a floor, sent
marked as such and left out of the hub's figures):
mean absolute error and that error relative to the mean true wait, plus the predicted wait of
each window against the wait of someone joining at the window's end (``joining_waits``), and
how many windows had a prediction at all.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.estimators import QueueEstimator, QueueWindow
from peakend.edge.pipeline import Pipeline, Result, ZoneStage
from peakend.edge.scenes import Scene
from peakend.edge.tracker import Lost, Observation
from peakend.edge.zones import Visit

MATCH_S = 3.0
T = TypeVar("T")
# A true visit is found when a measured one entered and left this close to it (one for one):
# counts alone let a missed visit and an extra one cancel out, and in a busy zone (four
# visits a second) an entry alone is that close to some true one by chance.
VISIT_MATCH_S = 1.0


@dataclass
class ZoneScore:
    zone: str
    visits_true: int
    visits_measured: int
    dwell_p50_true: float | None
    dwell_p50_measured: float | None
    dwell_p90_true: float | None
    dwell_p90_measured: float | None
    visits_matched: int = 0  # true visits found (VISIT_MATCH_S)
    waits_true: int = 0
    waits_matched: int = 0
    wait_mean_true: float | None = None
    wait_mae: float | None = None
    predicted_mae: float | None = None
    predicted_mean_true: float | None = None
    # Windows with a true joining wait, and how many of them the camera predicted.
    predicted_windows: int = 0
    predicted_scored: int = 0
    # The same prediction made from perfect tracks: the limit of the method, not the camera.
    predicted_mae_reference: float | None = None
    predicted_mean_true_reference: float | None = None
    # Against the wait of the next shopper who joined (the old yardstick, for comparison).
    predicted_mae_next: float | None = None
    predicted_mean_next: float | None = None
    length_mae: float | None = None

    @property
    def visit_error(self) -> float:
        return (self.visits_measured - self.visits_true) / max(self.visits_true, 1)

    @property
    def wait_relative(self) -> float | None:
        return _ratio(self.wait_mae, self.wait_mean_true)

    @property
    def predicted_relative(self) -> float | None:
        return _ratio(self.predicted_mae, self.predicted_mean_true)

    @property
    def predicted_reference_relative(self) -> float | None:
        return _ratio(self.predicted_mae_reference, self.predicted_mean_true_reference)

    @property
    def predicted_next_relative(self) -> float | None:
        return _ratio(self.predicted_mae_next, self.predicted_mean_next)

    @property
    def predicted_coverage(self) -> float | None:
        return _ratio(self.predicted_scored, self.predicted_windows)

    def dwell_error(self, which: str) -> float | None:
        true = getattr(self, f"dwell_{which}_true")
        got = getattr(self, f"dwell_{which}_measured")
        if true is None or got is None or true == 0:
            return None
        return (got - true) / true

    def row(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "visits": f"{self.visits_measured}/{self.visits_true}",
            "visits_matched": self.visits_matched,
            "visit_err": self.visit_error,
            "dwell_p50_err": self.dwell_error("p50"),
            "dwell_p90_err": self.dwell_error("p90"),
            "waits": f"{self.waits_matched}/{self.waits_true}",
            "wait_mean_s": self.wait_mean_true,
            "wait_mae_s": self.wait_mae,
            "wait_rel": self.wait_relative,
            "pred_mae_s": self.predicted_mae,
            "pred_rel": self.predicted_relative,
            "pred_mae_ref_s": self.predicted_mae_reference,
            "pred_coverage": self.predicted_coverage,
            "pred_rel_next": self.predicted_next_relative,
            "length_mae": self.length_mae,
        }


@dataclass
class SceneScore:
    scene: str
    zones: dict[str, ZoneScore]
    seconds: float
    frames: int
    elapsed_s: float
    stage_ms: dict[str, float] = field(default_factory=dict)


def reference(
    scene: Scene, config: EdgeConfig, estimator: type[QueueEstimator] = QueueEstimator
) -> list[Result]:
    """Visits and queue windows computed from the exact floor points."""
    stage = ZoneStage(config, estimator=estimator)
    paths = scene.paths_px()
    by_frame: dict[int, list[Observation]] = {}
    last_frame: dict[int, tuple[float, float, float]] = {}
    for pid, path in paths.items():
        for t, x, y in path:
            by_frame.setdefault(int(round(t * scene.fps)), []).append(Observation(pid, t, x, y))
        last_frame[pid] = path[-1]
    ends: dict[int, list[Lost]] = {}
    for pid, (t, x, y) in last_frame.items():
        ends.setdefault(int(round(t * scene.fps)) + 1, []).append(Lost(pid, t, x, y))
    results: list[Result] = []
    t = 0.0
    for index in range(scene.frame_count):
        t = index / scene.fps
        results += stage.step(t, by_frame.get(index, []), ends.get(index, []))
    results += stage.step(
        t, [], [lost for k, v in ends.items() if k >= scene.frame_count for lost in v]
    )
    return results + stage.close(t)


def measure(scene: Scene, config: EdgeConfig) -> tuple[list[Result], Pipeline, float]:
    """Run the real pipeline on the rendered frames."""
    detector = make_detector(config.detector, view=config.camera.view)
    pipeline = Pipeline(config, detector)
    results: list[Result] = []
    started = time.perf_counter()
    for index, frame in enumerate(scene.frames()):
        results += pipeline.process(frame, index / scene.fps)
    results += pipeline.finish()
    return results, pipeline, time.perf_counter() - started


def evaluate(scene: Scene, config: EdgeConfig | None = None) -> SceneScore:
    config = config or EdgeConfig.model_validate(scene.config())
    truth = reference(scene, config)
    got, pipeline, elapsed = measure(scene, config)
    zones = {z.name: score_zone(z.name, truth, got, scene.facts.done) for z in config.zones}
    return SceneScore(
        scene.spec.name,
        zones,
        scene.spec.seconds,
        scene.frame_count,
        elapsed,
        pipeline.times.per_frame_ms(),
    )


def score_zone(
    zone: str, truth: list[Result], got: list[Result], till_done: list[float] | None = None
) -> ZoneScore:
    """One zone's errors; ``till_done`` are the moments the till finished with someone, where
    a simulation knows them (see ``joining_waits``)."""
    tv = [r for r in truth if isinstance(r, Visit) and r.zone == zone]
    gv = [r for r in got if isinstance(r, Visit) and r.zone == zone]
    score = ZoneScore(
        zone,
        len(tv),
        len(gv),
        _pct([v.dwell_s for v in tv], 50),
        _pct([v.dwell_s for v in gv], 50),
        _pct([v.dwell_s for v in tv], 90),
        _pct([v.dwell_s for v in gv], 90),
    )
    score.visits_matched = len(
        _pairs(
            sorted((v.enter, v.exit) for v in tv),
            sorted((v.enter, v.exit) for v in gv),
            lambda a, b: max(abs(a[0] - b[0]), abs(a[1] - b[1])),
            VISIT_MATCH_S,
        )
    )
    # A wait known only as a floor (first seen mid-queue) is sent marked as such, and the hub
    # leaves it out of every wait figure; so is it here, on both sides. Those lost to it
    # show as fewer waits matched.
    true_waits = sorted(
        (v.enter + v.wait_s, v.wait_s) for v in tv if v.wait_s is not None and not v.wait_floor
    )
    got_waits = sorted(
        (v.enter + v.wait_s, v.wait_s) for v in gv if v.wait_s is not None and not v.wait_floor
    )
    if true_waits:
        score.waits_true = len(true_waits)
        score.wait_mean_true = statistics.fmean(w for _, w in true_waits)
        matched = _pairs(
            [t for t, _ in true_waits],
            [t for t, _ in got_waits],
            lambda a, b: abs(a - b),
            MATCH_S,
        )
        errors = [abs(got_waits[j][1] - true_waits[i][1]) for i, j in matched]
        score.waits_matched = len(errors)
        score.wait_mae = statistics.fmean(errors) if errors else None
    tw = [r for r in truth if isinstance(r, QueueWindow) and r.zone == zone]
    gw = [r for r in got if isinstance(r, QueueWindow) and r.zone == zone]
    if tw and gw:
        by_end = {round(w.end, 3): w for w in tw}
        pairs = [(by_end[round(w.end, 3)], w) for w in gw if round(w.end, 3) in by_end]
        score.length_mae = (
            statistics.fmean(abs(a.length - b.length) for a, b in pairs) if pairs else None
        )
        # One truth for both window sets: a moment's truth depends on the visits alone.
        joining = joining_waits(tv, sorted({w.end for w in gw} | {w.end for w in tw}), till_done)
        score.predicted_windows = sum(w.end in joining for w in gw)
        errors, truths = _predicted_errors(gw, joining)
        score.predicted_scored = len(errors)
        if errors:
            score.predicted_mae = statistics.fmean(errors)
            score.predicted_mean_true = statistics.fmean(truths)
        ref_errors, ref_truths = _predicted_errors(tw, joining)
        if ref_errors:
            score.predicted_mae_reference = statistics.fmean(ref_errors)
            score.predicted_mean_true_reference = statistics.fmean(ref_truths)
        following = next_shopper_waits(tv, [w.end for w in gw])
        next_errors, next_truths = _predicted_errors(gw, following)
        if next_errors:
            score.predicted_mae_next = statistics.fmean(next_errors)
            score.predicted_mean_next = statistics.fmean(next_truths)
    return score


# A walk through an empty lane takes about the same time for everyone; a wait this much
# longer than the quickest one means the shopper stood behind someone or for the till.
WALK_SPREAD_S = 1.0


def joining_waits(
    visits: list[Visit], moments: list[float], till_done: list[float] | None = None
) -> dict[float, float]:
    """The true wait of someone joining the queue at each moment, from the true visits.

    Lines serve in order. Let ``n`` be the first shopper who joined at or after moment ``t``
    and was served. If ``n`` had to wait (their wait is longer than the quickest walk through
    the empty lane by more than ``WALK_SPREAD_S``), someone joining at ``t`` stands where
    ``n`` stood, with the same people and the same till ahead: the till calls them when it
    called ``n``. Otherwise the lane was free by the time ``n`` came, and someone joining at
    ``t`` waits for the till to finish with whoever it called last (``till_done``, the
    moments the till finished with someone, which a simulation knows; the till calls the
    next as long after finishing as it did for those who waited) or for their own walk,
    whichever is longer. Without ``till_done`` such moments, and moments after the last
    shopper who joined, have no truth.

    (The wait of ``n`` themselves is not the truth: ``n`` may arrive a minute later, into a
    line that has moved.)
    """
    served = served_in_order(visits)
    if not served:
        return {}
    calls = sorted(call for _, call, _ in served)
    done = sorted(till_done or [])

    def call_before(call: float) -> float | None:
        earlier = [c for c in calls if c < call]
        return earlier[-1] if earlier else None

    def finished_between(start: float, end: float) -> float | None:
        return next((d for d in done if start <= d <= end), None)

    lags = []
    for _, call, waited in served:
        before = call_before(call)
        finished = None if before is None else finished_between(before, call)
        if finished is not None and waited:
            lags.append(call - finished)  # from the till finishing to the next one's crossing
    lag = statistics.median(lags) if lags else 0.0
    out: dict[float, float] = {}
    for t in moments:
        nxt = next((row for row in served if row[0] >= t), None)
        if nxt is None:
            continue
        enter, call, waited = nxt
        if waited:
            out[t] = call - t
            continue
        before = call_before(call)
        if before is None:
            out[t] = call - enter  # nobody was ever at the till: the walk
            continue
        finished = finished_between(before, call)
        if finished is not None:
            out[t] = max(min(finished + lag, call) - t, call - enter)
    return out


def served_in_order(visits: list[Visit]) -> list[tuple[float, float, bool]]:
    """(joined, called, had to wait) of everyone served, in the order they joined.

    A shopper had to wait when their wait is longer than the quickest walk through the empty
    lane by more than ``WALK_SPREAD_S``: they stood behind someone or for the till.
    """
    served = sorted((v.enter, v.enter + v.wait_s) for v in visits if v.wait_s is not None)
    if not served:
        return []
    walk = min(call - enter for enter, call in served)
    return [(enter, call, call - enter > walk + WALK_SPREAD_S) for enter, call in served]


def next_shopper_waits(visits: list[Visit], moments: list[float]) -> dict[float, float]:
    """The own wait of the first shopper who joined at or after each moment and was served."""
    joins = sorted((v.enter, v.wait_s) for v in visits if v.wait_s is not None)
    out = {}
    for t in moments:
        wait = next((w for enter, w in joins if enter >= t), None)
        if wait is not None:
            out[t] = wait
    return out


def _predicted_errors(
    windows: list[QueueWindow], truth: dict[float, float]
) -> tuple[list[float], list[float]]:
    errors, truths = [], []
    for w in windows:
        if w.wait_s is None or w.end not in truth:
            continue
        errors.append(abs(w.wait_s - truth[w.end]))
        truths.append(truth[w.end])
    return errors, truths


def _pairs(
    true: list[T], got: list[T], distance: Callable[[T, T], float], within: float
) -> list[tuple[int, int]]:
    """One for one, in the order of ``true``: each to the nearest unused measured one within
    ``within`` by ``distance`` (the last of equally near ones)."""
    pairs = []
    used: set[int] = set()
    for i, a in enumerate(true):
        best, best_d = None, within
        for j, b in enumerate(got):
            if j not in used and distance(a, b) <= best_d:
                best, best_d = j, distance(a, b)
        if best is not None:
            used.add(best)
            pairs.append((i, best))
    return pairs


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None
