"""detector -> tracker -> zones -> estimators, one frame at a time, with per-stage timings.

The pipeline knows nothing of sources, sockets or files: it takes a frame and a time in
seconds and returns what happened (finished visits, closed queue windows). ZoneStage alone
takes tracker output, so ground-truth paths can be fed through the very same zone logic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from peakend.edge.calibration import (
    Blob,
    CalibrationStatus,
    Calibrator,
    PersonScale,
    SavedCalibration,
    floor_signature,
    same_view,
)
from peakend.edge.config import EdgeConfig
from peakend.edge.detection import Detection
from peakend.edge.detectors import Detector
from peakend.edge.estimators import QueueEstimator, QueueWindow
from peakend.edge.till_pace import SavedPace, TillPace
from peakend.edge.tracker import Lost, Observation, Tracker
from peakend.edge.zones import Arrival, Crossing, Visit, ZoneWatcher

Result = Visit | QueueWindow


class ZoneStage:
    """Every zone's watcher, and a queue estimator for each zone with an exit line."""

    def __init__(
        self,
        config: EdgeConfig,
        t0: float = 0.0,
        relink_px: float | Callable[[float], float] | None = None,
        tracked: bool = False,
        estimator: type[QueueEstimator] = QueueEstimator,
    ) -> None:
        if relink_px is None:
            gate = config.tracker.max_distance_px
            relink_px = 1.5 * gate if gate is not None else 0.0
        self.watchers = [
            ZoneWatcher(z, relink_s=config.tracker.relink_s, relink_px=relink_px, tracked=tracked)
            for z in config.zones
        ]
        self.queues = {
            z.name: estimator(
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
                results += queue.sample(t, watcher.waiting)
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

    calibrate: float = 0.0

    def per_frame_ms(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {
            "detect": 1000 * self.detect / n,
            "calibrate": 1000 * self.calibrate / n,
            "track": 1000 * self.track / n,
            "zones": 1000 * self.zones / n,
            "total": 1000 * (self.detect + self.calibrate + self.track + self.zones) / n,
        }


class Pipeline:
    """One frame in, finished visits and queue windows out; learns the person scale as it goes.

    ``saved`` is the calibration kept from the last run: it is used from the first frame when
    the camera still looks at the same floor, and ignored (learnt again) when it does not.
    ``pace`` is the till's pace kept from the last run, by queue zone (till_pace.py).
    """

    # The tracker's gate in people: a walker moves about a third of a person per frame at
    # 10 fps (two thirds at 5 fps) and a detection wanders by a fraction of one; a gate much
    # wider reaches the next person in a queue. A lost visit is taken over within 1.5 gates.
    GATE_PEOPLE = 1.5
    RELINK_GATES = 1.5
    # A blob too small to be someone new is still someone the tracker saw this recently,
    # where it saw them (a few frames lost, say to the shadow step; not a coast).
    EXPECT_S = 0.5
    # ... and whom a whole detection showed this recently: a head alone keeps someone through
    # a wait in line, but a basket put down where they stood (as small, and as still) must
    # not keep them for as long as it stays.
    WEAK_HOLD_S = 120.0
    # Before anyone was seen: a person as wide as a sixteenth of the frame, the size a camera
    # under a shop's usual ceiling shows (what the fixed default used to be).
    GUESS_SHARE = 1.0 / 16.0

    def __init__(
        self,
        config: EdgeConfig,
        detector: Detector,
        t0: float = 0.0,
        saved: SavedCalibration | None = None,
        pace: SavedPace | None = None,
    ) -> None:
        self.config = config
        self.detector = detector
        self.saved = saved
        self.calibrator: Calibrator | None = None  # made at the first frame (needs its size)
        self._scale_version = -1
        self._floor_at_start: np.ndarray = np.zeros(0, np.float32)
        # The floor the scale was learned on; the camera compares its background with it.
        self._reference_floor: np.ndarray | None = None
        self._view_checked: float | None = None
        self.tracker = Tracker(
            self._gate,
            config.tracker.max_missed_s,
            config.tracker.min_hits,
            person=lambda row: self.scale.at(row),
        )
        self.zones = ZoneStage(config, t0, relink_px=self._relink, tracked=True)
        for name, kept in (pace.zones if pace is not None else {}).items():
            queue = self.zones.queues.get(name)
            if queue is not None:  # a zone since renamed or removed has no use for it
                queue.resume(kept)
        self.times = StageTimes()
        self.last_detections: list[Detection] = []
        self.t = t0

    def process(self, frame: np.ndarray, t: float) -> list[Result]:
        if self.calibrator is None:
            self._start_calibration(frame)
            # The first background is taken at the scale in use, not at the detector's own
            # (a person_px not yet checked would otherwise set its resolution).
            assert self.calibrator is not None
            self._scale_version = self.calibrator.version
            self._follow_scale()
        assert self.calibrator is not None
        a = time.perf_counter()
        expect = getattr(self.detector, "expect", None)
        if expect is not None:
            # Only the motion detector keeps less of a person than a whole one, where the
            # tracker saw someone a moment ago (a head alone standing in line). Not where a
            # track coasts on after its person: a fleck there would keep them on for good.
            expect(
                [
                    (tr.x, tr.y)
                    for tr in self.tracker.tracks
                    if tr.confirmed
                    and t - tr.last_seen <= self.EXPECT_S
                    and t - tr.last_whole <= self.WEAK_HOLD_S
                ]
            )
        detections = self.detector.detect(frame, t)
        b = time.perf_counter()
        blobs = getattr(self.detector, "blobs", None)
        if blobs is None:
            blobs = [_box_blob(d) for d in detections]
        if getattr(self.detector, "view_changed", False):
            self.calibrator.restart()
            self._reference_floor = None
        self._check_view(t)
        self.calibrator.observe(blobs, t)
        if self.calibrator.version != self._scale_version:
            self._scale_version = self.calibrator.version
            self._follow_scale()
        c = time.perf_counter()
        # Detections are in the frame's pixels, whichever detector made them.
        self.tracker.frame = (int(frame.shape[1]), int(frame.shape[0]))
        update = self.tracker.update(detections, t)
        d = time.perf_counter()
        results = self.zones.step(t, update.observations, update.lost)
        e = time.perf_counter()
        self.times.detect += b - a
        self.times.calibrate += c - b
        self.times.track += d - c
        self.times.zones += e - d
        self.times.frames += 1
        self.last_detections = detections
        self.t = t
        return results

    @property
    def people(self) -> int:
        return len(self.tracker.tracks)

    @property
    def scale(self) -> PersonScale:
        if self.calibrator is None:
            return PersonScale(self.config.detector.person_px or 40.0)
        return self.calibrator.scale

    def calibration(self) -> CalibrationStatus | None:
        return self.calibrator.status() if self.calibrator is not None else None

    def saved_calibration(self) -> SavedCalibration | None:
        """What to keep for the next start: only a scale learned here and trusted."""
        status = self.calibration()
        if status is None or status.state != "calibrated":
            return None
        # A typed size stands only while too few were measured to check it: neither it nor
        # those few people's size is this camera's finding.
        if status.source in ("provisional", "override"):
            return None
        assert self.calibrator is not None
        learned = self.calibrator.learned
        scale = learned.scale if learned is not None else status.scale
        people = learned.people if learned is not None else status.people
        background = self._background()
        floor = floor_signature(background) if background is not None else self._floor_at_start
        shape = getattr(self.detector, "frame_shape", None) or (0, 0)
        return SavedCalibration(scale, people, self.config.camera.view, (shape[1], shape[0]), floor)

    def till_pace(self) -> SavedPace | None:
        """What to keep of each queue's pace for the next start, or None if nothing is known."""
        zones: dict[str, TillPace] = {}
        for name, queue in self.zones.queues.items():
            pace = queue.pace()
            if pace is not None:
                zones[name] = pace
        return SavedPace(zones) if zones else None

    def finish(self) -> list[Result]:
        """End the run: close tracks and visits still open (last frame's time)."""
        lost = self.tracker.close()
        results = self.zones.step(self.t, [], lost)
        return results + self.zones.close(self.t)

    # -- helpers --------------------------------------------------------------------------

    def _start_calibration(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        view = self.config.camera.view
        guess = PersonScale(width * self.GUESS_SHARE, 0.0, height / 2.0)
        self._floor_at_start = floor_signature(frame)
        saved = None
        if (
            self.saved is not None
            and self.saved.view == view
            and self.saved.frame == (width, height)
            and same_view(self.saved.floor, self._floor_at_start)
        ):
            saved = self.saved.scale
        self.calibrator = Calibrator(
            view=view,
            frame_height=height,
            guess=guess,
            override=self.config.detector.person_px,
            min_people=self.config.calibration.min_people,
            saved=saved,
        )

    VIEW_CHECK_S = 10.0

    def _check_view(self, t: float) -> None:
        """A moved or zoomed camera: the empty floor no longer looks like the one the scale
        was learned on (the background model follows the new view within seconds)."""
        if self._view_checked is not None and t - self._view_checked < self.VIEW_CHECK_S:
            return
        self._view_checked = t
        assert self.calibrator is not None
        if self.calibrator.status().state == "calibrating":
            return
        background = self._background()
        if background is None:
            return
        floor = floor_signature(background)
        if self._reference_floor is None:
            self._reference_floor = floor
        elif not same_view(self._reference_floor, floor):
            self.calibrator.restart()
            self._reference_floor = None

    def _background(self) -> np.ndarray | None:
        # Only a detector with an empty-floor model (motion) has one.
        floor = getattr(self.detector, "background", None)
        return floor() if floor is not None else None

    def _follow_scale(self) -> None:
        use = getattr(self.detector, "use_scale", None)
        status = self.calibration()
        if use is not None and status is not None:
            use(self.scale, trusted=status.trusted)

    def _gate(self, row: float) -> float:
        fixed = self.config.tracker.max_distance_px
        return fixed if fixed is not None else self.GATE_PEOPLE * self.scale.at(row)

    def _relink(self, row: float) -> float:
        return self.RELINK_GATES * self._gate(row)


def _box_blob(detection: Detection) -> Blob:
    x1, y1, x2, y2 = detection.box
    # A detector's box holds one person; the ellipse inside it stands for their blob.
    return Blob((x1 + x2) / 2, (y1 + y2) / 2, detection.box, 0.785 * (x2 - x1) * (y2 - y1))
