"""How close the pipeline comes to a scene's exact ground truth.

The reference runs the same zone and queue logic on the true floor points of every person
(no detector, no tracker), so every difference is the cost of seeing people through a camera.

Per zone: visit count error, dwell p50/p90 error; per queue zone also the measured wait
(each true exit-line crossing matched to the nearest measured one within ``MATCH_S``):
mean absolute error and that error relative to the mean true wait, plus the predicted wait of
each window against the wait the next person to join actually had.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.estimators import QueueWindow
from peakend.edge.pipeline import Pipeline, Result, ZoneStage
from peakend.edge.scenes import Scene
from peakend.edge.tracker import Lost, Observation
from peakend.edge.zones import Visit

MATCH_S = 3.0


@dataclass
class ZoneScore:
    zone: str
    visits_true: int
    visits_measured: int
    dwell_p50_true: float | None
    dwell_p50_measured: float | None
    dwell_p90_true: float | None
    dwell_p90_measured: float | None
    waits_true: int = 0
    waits_matched: int = 0
    wait_mean_true: float | None = None
    wait_mae: float | None = None
    predicted_mae: float | None = None
    predicted_mean_true: float | None = None
    # The same prediction made from perfect tracks: the limit of the method, not the camera.
    predicted_mae_reference: float | None = None
    length_mae: float | None = None

    @property
    def visit_error(self) -> float:
        return (self.visits_measured - self.visits_true) / max(self.visits_true, 1)

    @property
    def wait_relative(self) -> float | None:
        if self.wait_mae is None or not self.wait_mean_true:
            return None
        return self.wait_mae / self.wait_mean_true

    @property
    def predicted_relative(self) -> float | None:
        if self.predicted_mae is None or not self.predicted_mean_true:
            return None
        return self.predicted_mae / self.predicted_mean_true

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


def reference(scene: Scene, config: EdgeConfig) -> list[Result]:
    """Visits and queue windows computed from the exact floor points."""
    stage = ZoneStage(config)
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
    zones = {z.name: score_zone(z.name, truth, got) for z in config.zones}
    return SceneScore(
        scene.spec.name,
        zones,
        scene.spec.seconds,
        scene.frame_count,
        elapsed,
        pipeline.times.per_frame_ms(),
    )


def score_zone(zone: str, truth: list[Result], got: list[Result]) -> ZoneScore:
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
    true_waits = sorted((v.enter + v.wait_s, v.wait_s) for v in tv if v.wait_s is not None)
    got_waits = sorted((v.enter + v.wait_s, v.wait_s) for v in gv if v.wait_s is not None)
    if true_waits:
        score.waits_true = len(true_waits)
        score.wait_mean_true = statistics.fmean(w for _, w in true_waits)
        errors = []
        used: set[int] = set()
        for t, w in true_waits:
            best, best_d = None, MATCH_S
            for i, (t2, _) in enumerate(got_waits):
                if i not in used and abs(t2 - t) <= best_d:
                    best, best_d = i, abs(t2 - t)
            if best is not None:
                used.add(best)
                errors.append(abs(got_waits[best][1] - w))
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
        # The wait someone joining at the end of a window really had: the next true visitor
        # who entered after that moment and was served.
        joins = sorted((v.enter, v.wait_s) for v in tv if v.wait_s is not None)
        errors, truths = _predicted_errors(gw, joins)
        if errors:
            score.predicted_mae = statistics.fmean(errors)
            score.predicted_mean_true = statistics.fmean(truths)
        ref_errors, _ = _predicted_errors(tw, joins)
        if ref_errors:
            score.predicted_mae_reference = statistics.fmean(ref_errors)
    return score


def _predicted_errors(
    windows: list[QueueWindow], joins: list[tuple[float, float]]
) -> tuple[list[float], list[float]]:
    errors, truths = [], []
    for w in windows:
        if w.wait_s is None:
            continue
        nxt = next((wait for enter, wait in joins if enter >= w.end), None)
        if nxt is None:
            continue
        errors.append(abs(w.wait_s - nxt))
        truths.append(nxt)
    return errors, truths


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None
