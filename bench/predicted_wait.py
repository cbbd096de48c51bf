"""The predicted queue wait against Little's law, on perfect tracks of random simulated queues.

    python bench/predicted_wait.py [--scenes 40] [--seconds 180] [--seed 11] [--jobs 2]

What the predictor itself is worth, apart from the camera: each scene's exact floor points go
through the zone and queue code (edge/accuracy.py ``reference``) twice, once with the shipped
``QueueEstimator`` and once with Little's law as it shipped before (kept here as the
baseline), and every window's predicted wait is scored against the wait of someone joining at
the window's end (``accuracy.joining_waits``, from the simulated till's own finish times) and,
for comparison, against the next shopper's own wait. Scenes are drawn like the cells of
bench/edge_robustness.py (random scale, crowd, queue rates, seed), one named condition each.

Per predictor: the error over the true mean per scene (median and mean over scenes, scenes
within 25 %), on the windows each predicts and on the windows both predict, and the share of
windows predicted. Target of the robustness grid: within 25 % of the true mean.

Three what-ifs say where the rest of the error lies (none can ship; they are told things
from outside the lane's footage):
- ``till seen``: also told the moment the till finishes with each shopper, as it happens (a
  camera that watched the till perfectly): the pace from every service, the first included,
  and whether the till is busy or idle right now;
- ``pace known``: the shipped predictor, told the till's median pace over the whole scene
  from the start (the future included); scenes where nobody waited have no pace and are
  left out of its figures;
- ``finish known``: told the pace as ``pace known`` is, and when the till will finish the
  service under way: what is left is mostly the spread of the services of those waiting.
Each what-if's "both predict" rows are on the windows the shipped predictor predicts too:
the fair comparison with it.
If seeing the till changes little and knowing the pace in advance changes much, the error is
the time it takes to learn a pace from the few services of the first minutes; what knowing
the finish adds on top is the service under way, which no camera can know in advance.
bench/wait_bound.py asks the same of a predictor told everything a lane could tell.
"""

from __future__ import annotations

import argparse
import statistics
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from edge_robustness import CELLS, cell_spec
from what_if import finish_known, pace_known, scene_pace, till_seen

from peakend.edge import accuracy, scenes
from peakend.edge.config import EdgeConfig
from peakend.edge.estimators import QueueEstimator, QueueWindow
from peakend.edge.scenes import SceneSpec
from peakend.edge.zones import Visit

LITTLE_MIN_CROSSINGS = 3


class LittlesLaw(QueueEstimator):
    """The predictor before this one: ``L_now`` over the crossings per busy second.

    While fewer than three crossings are in the horizon it leans on the measured median,
    scaled by how the queue changed since; an empty lane waits nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy_s = 0.0
        self._windows: deque[tuple[float, float, float]] = deque()  # end, length, busy s

    def _integrate(self, t: float) -> None:
        if self._last is not None:
            last_t, last_len = self._last
            start = max(last_t, self._window_start)
            if t > start and last_len > 0:
                self._busy_s += t - start
        super()._integrate(t)

    def predict(self, now: float, length_now: float) -> tuple[float | None, float | None]:
        # Called once per window, from _close (as the old code was): it books the window.
        measured, _ = super().predict(now, length_now)
        horizon_start = now - self.horizon_s
        self._windows.append((now, self._window_length(now), self._busy_s))
        self._busy_s = 0.0
        while self._windows and self._windows[0][0] <= horizon_start:
            self._windows.popleft()
        crossings = [c for c in self._crossings if horizon_start <= c[0] <= now]
        observed = min(self.horizon_s, now - self.t0)
        if not crossings:
            return measured, (0.0 if length_now < 0.5 and observed >= self.window_s else None)
        busy = sum(b for _, _, b in self._windows) or observed
        little = length_now * max(busy, 1e-6) / len(crossings)
        if measured is None or len(crossings) >= LITTLE_MIN_CROSSINGS:
            return measured, little
        past = statistics.fmean(v for _, v, _ in self._windows)
        scaled = measured * (length_now + 1.0) / (past + 1.0)
        weight = len(crossings) / LITTLE_MIN_CROSSINGS
        return measured, weight * little + (1.0 - weight) * scaled


PREDICTORS = ("shipped", "little", "till seen", "pace known", "finish known")


def predictions(
    scene: scenes.Scene, config: EdgeConfig, estimator: type[QueueEstimator]
) -> tuple[dict[float, float | None], list[Visit]]:
    """Each checkout window's predicted wait by its end, and the checkout's visits."""
    results = accuracy.reference(scene, config, estimator)
    windows = [r for r in results if isinstance(r, QueueWindow) and r.zone == "checkout"]
    visits = [r for r in results if isinstance(r, Visit) and r.zone == "checkout"]
    return {w.end: w.wait_s for w in windows}, visits


def run(spec: SceneSpec) -> dict[str, dict[str, float | None]]:
    scene = scenes.build(spec)
    config = EdgeConfig.model_validate(scene.config())
    predicted: dict[str, dict[float, float | None]] = {}
    predicted["shipped"], visits = predictions(scene, config, QueueEstimator)
    predicted["little"], _ = predictions(scene, config, LittlesLaw)
    done = sorted(scene.facts.done)
    predicted["till seen"], _ = predictions(scene, config, till_seen(done))
    pace = scene_pace(visits)
    # No pace where nobody waited: the scene is left out of this what-if's figures.
    predicted["pace known"] = {}
    predicted["finish known"] = {}
    if pace is not None:
        predicted["pace known"], _ = predictions(scene, config, pace_known(pace))
        predicted["finish known"], _ = predictions(scene, config, finish_known(pace, done))
    moments = list(predicted["shipped"])
    joining = accuracy.joining_waits(visits, moments, scene.facts.done)
    following = accuracy.next_shopper_waits(visits, moments)
    out: dict[str, dict[str, float | None]] = {}
    for name, own in predicted.items():
        # "both": the windows this one and the other of its pair predict (the what-ifs are
        # paired with the shipped predictor, the shipped one with Little's law).
        other = predicted["little" if name == "shipped" else "shipped"]
        for truth_name, truth in (("joining", joining), ("next", following)):
            for subset in ("own", "both"):
                keys = [
                    t
                    for t in truth
                    if own.get(t) is not None and (subset == "own" or other.get(t) is not None)
                ]
                error = sum(abs(own[t] - truth[t]) for t in keys)
                mean = sum(truth[t] for t in keys)
                out.setdefault(name, {})[f"{truth_name} {subset}"] = (
                    error / mean if mean else None
                )
        out[name]["coverage"] = (
            sum(own.get(t) is not None for t in joining) / len(joining) if joining else None
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=40, help="how many random scenes")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each scene")
    parser.add_argument("--seed", type=int, default=11, help="draws the scenes")
    parser.add_argument("--jobs", type=int, default=2, help="scenes run in this many processes")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    names = [name for name in CELLS if not name.startswith("oblique")]  # same queues
    specs = [cell_spec(names[i % len(names)], args.seconds, rng) for i in range(args.scenes)]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run, specs))
    print(
        f"{args.scenes} scenes x {args.seconds:.0f} s, seed {args.seed}, perfect tracks; "
        "error = MAE over the true mean, per scene\n"
    )
    print(f"{'predictor':12} {'yardstick':22} {'median':>8} {'mean':>8} {'<= 25 %':>9}")
    for name in PREDICTORS:
        for key in ("joining own", "joining both", "next own", "next both"):
            values = [r[name][key] for r in rows if r[name][key] is not None]
            within = sum(v <= 0.25 for v in values)
            label = {
                "joining own": "joining, own windows",
                "joining both": "joining, both predict",
                "next own": "next shopper, own",
                "next both": "next shopper, both",
            }[key]
            print(
                f"{name:12} {label:22} {100 * statistics.median(values):7.1f}% "
                f"{100 * statistics.fmean(values):7.1f}% {within:4d}/{len(values)}"
            )
        covered = [r[name]["coverage"] for r in rows if r[name]["coverage"] is not None]
        print(f"{name:12} windows predicted: {100 * statistics.fmean(covered):.0f} %")
    ratio = [
        r["shipped"]["joining both"] / r["little"]["joining both"]
        for r in rows
        if r["shipped"]["joining both"] is not None and r["little"]["joining both"]
    ]
    print(
        "\nshipped / Little's law, same windows, median over scenes: "
        f"{statistics.median(ratio):.2f}"
    )


if __name__ == "__main__":
    main()
