"""How close any queue predictor can come: a predictor told everything a lane could tell.

    python bench/wait_bound.py [--scenes 400] [--seconds 180,600] [--cvs 0.2,0.42,0.6,0.8]
                               [--walk 1] [--step 1] [--holds 8] [--seed 5]

The robustness grid asks the predicted wait of every cell to be within 25 % of the true mean
(MAE over the mean of the wait of someone joining at each window's end). This bench asks
whether any predictor can, on queues like the grid's: one till, first come first served,
shoppers arriving at random (Poisson, a mean gap drawn from 7-12 s per scene) and served in a
random time (lognormal, a mean drawn from 8-12 s per scene, as bench/edge_robustness.py draws
its base), at several spreads of the service time (its coefficient of variation, ``cv``;
the rendered scenes draw a sigma of 0.4, a cv of 0.42), in a lane that holds eight (whoever
finds it full does not join, as in the rendered scenes; nobody gives up waiting here, which
the rendered scenes' shoppers do after a few minutes). Nothing of the camera or the shipped
code is involved.

Two predictors, at each window's end, both told what no camera can know:

- ``oracle``: the exact service distribution of the scene, how many wait, and how long the
  one at the till has been served. It predicts the median of the wait's own distribution
  (the remaining service of the one at the till, given how long it has lasted, plus one
  service per person waiting, or the walk if that is longer; Monte Carlo), the least mean
  absolute error any predictor can reach from what a lane shows;
- ``median pace``: the same facts, but the shipped predictor's form: the median remaining
  service plus the people waiting times the median service, or the walk (bench/what_if.py
  ``pace_known``, with a perfect residual).

The truth, as the grid's (accuracy.joining_waits): someone joining is called when the till
is done with everyone before them, or walks through the empty lane (``--walk``), whichever
takes longer; each service starts with the called shopper's step to the till (``--step``),
which both predictors know. The defaults are the grid's lane (the quickest wait there is
1.0 s; the head walks 0.9 m to the till at 0.9 m/s). Per cv and scene length: the error
over the true mean per scene (median and mean over scenes) and how many scenes are within
25 %. The gap between the two says what the shipped form costs; the oracle's figures, what
the service times' spread leaves to any predictor.
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from peakend.edge.config import QueueSection

TARGET = 0.25
# Monte Carlo draws per moment: the median of the wait's distribution to within a few
# hundredths of its spread, which moves the error by far less than a point.
DRAWS = 4000
WINDOW_S = QueueSection().window_s


def lognormal(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal with this mean and coefficient of variation."""
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    return math.log(mean) - sigma * sigma / 2.0, sigma


@dataclass(frozen=True)
class Lane:
    """The grid's lane: the quickest walk through it, the head's step to the till, and how
    many it holds (whoever finds it full does not join)."""

    walk: float
    step: float
    holds: int


def simulate(
    rng: np.random.Generator, seconds: float, mu: float, sigma: float, lane: Lane
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(joined, served from, done) of everyone who joined, first come first served."""
    gap = rng.uniform(7.0, 12.0)
    joined: list[float] = []
    start: list[float] = []
    end: list[float] = []
    t = float(rng.exponential(gap))
    while t < seconds:
        waiting = sum(1 for s in start if s > t)
        if waiting < lane.holds:
            begin = max(t, end[-1] if end else 0.0)
            joined.append(t)
            start.append(begin)
            end.append(begin + lane.step + float(rng.lognormal(mu, sigma)))
        t += float(rng.exponential(gap))
    return np.array(joined), np.array(start), np.array(end)


def scene(
    rng: np.random.Generator, draws: np.random.Generator, seconds: float, cv: float, lane: Lane
) -> dict[str, float] | None:
    """One scene's error over the true mean, per predictor; None if nobody waited at all."""
    mu, sigma = lognormal(rng.uniform(8.0, 12.0), cv)
    joined, start, end = simulate(rng, seconds, mu, sigma, lane)
    law = NormalDist(mu, sigma)
    median_service = lane.step + math.exp(mu)
    errors: dict[str, list[float]] = {"oracle": [], "median pace": []}
    truths: list[float] = []
    for now in np.arange(WINDOW_S, seconds + 1e-9, WINDOW_S):
        # Someone joining now is called when the till is done with everyone before them,
        # or walks through the empty lane, whichever takes longer (accuracy.joining_waits).
        before = joined < now
        free = float(end[before].max()) if before.any() else now
        truth = max(lane.walk, free - now)
        waiting = int(np.count_nonzero(before & (start > now)))
        serving = np.flatnonzero((start <= now) & (end > now))
        residuals = np.zeros(DRAWS)
        median_residual = 0.0
        if len(serving):
            # The service still to go, given how long it has lasted: draws beyond it (the
            # step to the till is known, only the service itself is random).
            elapsed = now - float(start[serving[0]]) - lane.step
            low = law.cdf(math.log(elapsed)) if elapsed > 0 else 0.0
            u = np.clip(draws.uniform(low, 1.0, size=DRAWS), 1e-12, 1.0 - 1e-12)
            residuals = np.exp([law.inv_cdf(float(v)) for v in u]) - elapsed
            median_residual = math.exp(law.inv_cdf((1.0 + low) / 2.0)) - elapsed
        services = lane.step + draws.lognormal(mu, sigma, size=(DRAWS, waiting))
        total = np.maximum(lane.walk, residuals + services.sum(axis=1))
        errors["oracle"].append(abs(float(np.median(total)) - truth))
        median_form = max(lane.walk, median_residual + waiting * median_service)
        errors["median pace"].append(abs(median_form - truth))
        truths.append(truth)
    mean_truth = statistics.fmean(truths)
    if mean_truth <= 0:
        return None
    return {name: statistics.fmean(e) / mean_truth for name, e in errors.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=400, help="random scenes per row")
    parser.add_argument("--seconds", default="180,600", help="scene lengths, comma-separated")
    parser.add_argument("--cvs", default="0.2,0.42,0.6,0.8", help="service-time spreads")
    parser.add_argument("--walk", type=float, default=1.0, help="quickest walk, seconds")
    parser.add_argument("--step", type=float, default=1.0, help="walk to the till, seconds")
    parser.add_argument("--holds", type=int, default=8, help="people the lane holds")
    parser.add_argument("--seed", type=int, default=5, help="draws the scenes")
    args = parser.parse_args()
    lengths = [float(s) for s in args.seconds.split(",")]
    lane = Lane(args.walk, args.step, args.holds)
    cvs = [float(c) for c in args.cvs.split(",")]
    print(
        f"{args.scenes} scenes per row, windows of {WINDOW_S:.0f} s, walk {args.walk:.1f} s, "
        f"step {args.step:.1f} s, the lane holds {args.holds}, "
        f"seed {args.seed}; error = MAE over the true mean, per scene\n"
    )
    print(f"{'cv':>4} {'seconds':>7} {'predictor':12} {'median':>8} {'mean':>8} {'<= 25 %':>10}")
    for cv in cvs:
        for seconds in lengths:
            # The scenes from one generator, the Monte Carlo draws from another: the same
            # scenes whatever the number of draws.
            rng = np.random.default_rng([args.seed, int(100 * cv), int(seconds)])
            draws = np.random.default_rng([args.seed, int(100 * cv), int(seconds), 1])
            rows = [scene(rng, draws, seconds, cv, lane) for _ in range(args.scenes)]
            scored = [r for r in rows if r is not None]
            for name in ("oracle", "median pace"):
                values = [r[name] for r in scored]
                within = sum(v <= TARGET for v in values)
                print(
                    f"{cv:4.2f} {seconds:7.0f} {name:12} {100 * statistics.median(values):7.1f}% "
                    f"{100 * statistics.fmean(values):7.1f}% {within:5d}/{len(values)}"
                )
            ratio = [r["median pace"] / r["oracle"] for r in scored if r["oracle"] > 0]
            print(
                f"{'':4} {'':7} median pace / oracle, median over scenes: "
                f"{statistics.median(ratio):.2f}"
            )


if __name__ == "__main__":
    main()
