"""detector -> tracker -> zones -> estimators, one frame at a time, with per-stage timings.

The pipeline knows nothing of sources, sockets or files: it takes a frame and a time in
seconds and returns what happened (finished visits, closed queue windows). ZoneStage alone
takes tracker output, so ground-truth paths can be fed through the very same zone logic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from peakend.edge.config import EdgeConfig
from peakend.edge.detection import Detection
from peakend.edge.detectors import Detector
from peakend.edge.estimators import QueueEstimator, QueueWindow
from peakend.edge.tracker import Lost, Observation, Tracker
from peakend.edge.zones import Arrival, Crossing, Visit, ZoneWatcher

Result = Visit | QueueWindow


class ZoneStage:
    """Every zone's watcher, and a queue estimator for each zone with an exit line."""

    def __init__(self, config: EdgeConfig, t0: float = 0.0) -> None:
        relink_px = config.tracker.max_distance_px * 1.5
        self.watchers = [
            ZoneWatcher(z, relink_s=config.tracker.relink_s, relink_px=relink_px)
            for z in config.zones
        ]
        self.queues = {
            z.name: QueueEstimator(
                z.name, window_s=config.queue.window_s, horizon_s=config.queue.horizon_s, t0=t0
            )
            for z in config.zones
            if z.is_queue
        }

    def step(self, t: float, observations: list[Observation], lost: list[Lost]) -> list[Result]:
        results: list[Result] = []
        for watcher in self.watchers:
            events = []
            for obs in observations:
                events += watcher.observe(obs)
            for gone in lost:
                events += watcher.lost(gone)
            events += watcher.tick(t)
            results += self._route(watcher, events)
            queue = self.queues.get(watcher.name)
            if queue is not None:
                results += queue.sample(t, watcher.occupancy)
        return results

    def close(self, t: float) -> list[Result]:
        results: list[Result] = []
        for watcher in self.watchers:
            results += self._route(watcher, watcher.close(t))
        return results

    def _route(self, watcher: ZoneWatcher, events: list) -> list[Result]:
        out: list[Result] = []
        queue = self.queues.get(watcher.name)
        for event in events:
            if isinstance(event, Visit):
                out.append(event)
            elif queue is not None and isinstance(event, Arrival):
                queue.arrival(event.t)
            elif queue is not None and isinstance(event, Crossing):
                queue.departure(event.t, event.wait_s, event.intact)
        return out


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over frames."""

    detect: float = 0.0
    track: float = 0.0
    zones: float = 0.0
    frames: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def per_frame_ms(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {
            "detect": 1000 * self.detect / n,
            "track": 1000 * self.track / n,
            "zones": 1000 * self.zones / n,
            "total": 1000 * (self.detect + self.track + self.zones) / n,
        }


class Pipeline:
    def __init__(self, config: EdgeConfig, detector: Detector, t0: float = 0.0) -> None:
        self.config = config
        self.detector = detector
        self.tracker = Tracker(
            config.tracker.max_distance_px, config.tracker.max_missed_s, config.tracker.min_hits
        )
        self.zones = ZoneStage(config, t0)
        self.times = StageTimes()
        self.last_detections: list[Detection] = []
        self.t = t0

    def process(self, frame: np.ndarray, t: float) -> list[Result]:
        a = time.perf_counter()
        detections = self.detector.detect(frame, t)
        b = time.perf_counter()
        update = self.tracker.update(detections, t)
        c = time.perf_counter()
        results = self.zones.step(t, update.observations, update.lost)
        d = time.perf_counter()
        self.times.detect += b - a
        self.times.track += c - b
        self.times.zones += d - c
        self.times.frames += 1
        self.last_detections = detections
        self.t = t
        return results

    @property
    def people(self) -> int:
        return len(self.tracker.tracks)

    def finish(self) -> list[Result]:
        """End the run: close tracks and visits still open (last frame's time)."""
        lost = self.tracker.close()
        results = self.zones.step(self.t, [], lost)
        return results + self.zones.close(self.t)
