"""`peakend edge run`: source -> pipeline -> messages -> link, live or replayed.

No frame leaves this loop: frames are read, measured and dropped; only dwell, queue and health
messages are written (to the outbox and, if asked, to a JSON-lines file).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2

from peakend.broker.device.config import ConfigError, config_hash, resolve
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.edge import config as edge_config
from peakend.edge.calibration import SavedCalibration
from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.estimators import QueueWindow
from peakend.edge.health import HealthMeter
from peakend.edge.messages import Messenger
from peakend.edge.pipeline import Pipeline, Result
from peakend.edge.sources import FrameSource, open_source
from peakend.edge.till_pace import SavedPace
from peakend.edge.zones import Visit

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    frames: int = 0
    seconds: float = 0.0  # of video
    wall_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def run(
    config: EdgeConfig | str | Path | dict[str, Any],
    source: str | None = None,
    start: datetime | None = None,
    jsonl: str | Path | None = None,
    publish: bool = True,
    link: DeviceLink | None = None,
    realtime: bool = False,
    *,
    progress: bool = False,
    stop: threading.Event | None = None,
    base_dir: Path | None = None,
) -> RunSummary:
    """Run the edge pipeline until the source ends (a file) or ``stop`` is set (live).

    ``config`` is an EdgeConfig, a dict of one, or the path of an edge.toml (relative paths in
    it are then relative to the file). With ``publish`` and no ``link``, a DeviceLink is built
    from [mqtt]/[outbox], started, drained for a few seconds at the end and stopped; a
    ``link`` passed in is used as it is and left running. ``start`` stamps a replay (default:
    now); ``realtime`` paces a replay at the recording's speed.
    """
    cfg, base_dir, path = _load(config, base_dir)
    cv2.setNumThreads(1)
    frames = open_source(
        source or cfg.camera.source, cfg.camera, base_dir=base_dir, realtime=realtime
    )
    own_link = False
    if publish and link is None:
        link = make_link(cfg, base_dir, path)
        link.start()
        own_link = True
    if frames.live:
        # Live frames are stamped with this machine's clock; the kernel says if NTP agrees.
        clock_synced = None
        start = datetime.now(UTC)
    else:
        clock_synced = True
        start = start or datetime.now(UTC)
    messenger = Messenger(
        device_id=cfg.device.id,
        store_id=cfg.device.store,
        link=link if publish else None,
        jsonl=jsonl,
        clock_synced=clock_synced,
    )
    try:
        return _loop(cfg, frames, messenger, start, base_dir, progress=progress, stop=stop)
    finally:
        messenger.close()
        frames.close()
        if own_link and link is not None:
            if not link.wait_acked(timeout=10.0):
                log.warning("the hub has not confirmed every message; they stay in the outbox")
            link.stop()


def make_link(cfg: EdgeConfig, base_dir: Path | None, path: Path | None = None) -> DeviceLink:
    if cfg.mqtt is None:
        raise ConfigError(
            'publishing needs an [mqtt] section with url = "mqtt://USER:PASSWORD@HOST:PORT" '
            "(or run with --no-publish)"
        )
    settings = LinkSettings(
        mqtt_url=cfg.mqtt.url,
        device_id=cfg.device.id,
        store_id=cfg.device.store,
        zone_id=None,
        role="edge",
        outbox_path=resolve(base_dir, cfg.outbox.path),
        config_hash=config_hash(path) if path is not None else "",
        ca_file=cfg.mqtt.ca_file,
        keepalive_s=cfg.mqtt.keepalive_s,
        max_outbox_rows=cfg.outbox.max_rows,
    )
    return DeviceLink(settings)


def _load(
    config: EdgeConfig | str | Path | dict[str, Any], base_dir: Path | None
) -> tuple[EdgeConfig, Path | None, Path | None]:
    if isinstance(config, EdgeConfig):
        return config, base_dir, None
    if isinstance(config, dict):
        return EdgeConfig.model_validate(config), base_dir, None
    cfg, folder = edge_config.load(config)
    return cfg, base_dir or folder, Path(config)


def _loop(
    cfg: EdgeConfig,
    frames: FrameSource,
    messenger: Messenger,
    start: datetime,
    base_dir: Path | None,
    *,
    progress: bool,
    stop: threading.Event | None,
) -> RunSummary:
    detector = make_detector(cfg.detector, view=cfg.camera.view, base_dir=base_dir)
    # The learned scale is kept beside the outbox; without a folder to keep it in (a config
    # given as an object) the camera learns again each run.
    state = resolve(base_dir, cfg.calibration.path) if base_dir is not None else None
    saved = SavedCalibration.read(state) if state is not None else None
    # So is the till's pace, for the predicted wait from the first call after a start.
    pace_state = resolve(base_dir, cfg.queue.pace_path) if base_dir is not None else None
    pace = SavedPace.read(pace_state) if pace_state is not None else None
    pipeline = Pipeline(cfg, detector, saved=saved, pace=pace)
    # The scale is kept when it changes, not each time the floor's thumbnail moves a little.
    keepers = [
        _Keeper(state, Pipeline.saved_calibration, "the learned scale", key=lambda s: s.scale),
        _Keeper(pace_state, Pipeline.till_pace, "the till's pace"),
    ]
    health = HealthMeter(cfg.health.interval_s)
    summary = RunSummary()
    bar = _Progress(frames) if progress else None
    began = time.monotonic()
    checked = False
    t = 0.0
    for frame in frames.frames():
        if not checked:
            height, width = frame.image.shape[:2]
            edge_config.check_frame(cfg, width, height)
            checked = True
        t = frame.t
        _emit(messenger, pipeline.process(frame.image, t), start)
        health.frame()
        summary.frames += 1
        if health.due(t):
            _health(messenger, health, frames, pipeline, start, t)
            for keeper in keepers:
                keeper.keep(pipeline)
        if bar is not None:
            bar.update(summary.frames, time.monotonic() - began)
        if stop is not None and stop.is_set():
            break
    _emit(messenger, pipeline.finish(), start)
    if summary.frames:
        _health(messenger, health, frames, pipeline, start, t)
        for keeper in keepers:
            keeper.keep(pipeline)
    summary.wall_s = time.monotonic() - began
    summary.seconds = t
    summary.counts = dict(messenger.counts)
    summary.stage_ms = pipeline.times.per_frame_ms()
    if bar is not None:
        bar.done(summary)
    return summary


def _emit(messenger: Messenger, results: list[Result], start: datetime) -> None:
    for result in results:
        if isinstance(result, Visit):
            messenger.visit(result, start)
        elif isinstance(result, QueueWindow):
            messenger.queue(result, start)


def _health(
    messenger: Messenger,
    health: HealthMeter,
    frames: FrameSource,
    pipeline: Pipeline,
    start: datetime,
    t: float,
) -> None:
    status = pipeline.calibration()
    data = health.report(
        t,
        dropped=frames.dropped,
        stale=frames.stale,
        outbox=messenger.outbox_depth,
        people=pipeline.people,
        detector=pipeline.detector.name,
        ms_per_frame=round(pipeline.times.per_frame_ms()["total"], 2),
        **(status.health() if status is not None else {}),
    )
    messenger.send("health", data, zone_id=None, ts=start + timedelta(seconds=t))


class _Keeper:
    """Writes one thing the camera learned to its state file when it has changed (``key``:
    what counts as a change), so a restart starts from it."""

    def __init__(
        self,
        path: Path | None,
        learned: Callable[[Pipeline], Any],
        what: str,
        key: Callable[[Any], Any] = lambda value: value,
    ) -> None:
        self.path = path
        self.learned = learned
        self.what = what
        self.key = key
        self._written: Any = None

    def keep(self, pipeline: Pipeline) -> None:
        if self.path is None:
            return
        value = self.learned(pipeline)
        if value is None or self.key(value) == self._written:
            return
        try:
            value.write(self.path)
            self._written = self.key(value)
        except OSError as exc:
            # Not fatal: after a restart the camera learns it again.
            log.warning("cannot keep %s in %s: %s", self.what, self.path, exc)


class _Progress:
    """One self-rewriting line on stderr: a bar when the length is known, and the fps."""

    def __init__(self, frames: FrameSource) -> None:
        self.total = frames.total
        self.last = 0.0

    def update(self, done: int, wall: float) -> None:
        if wall - self.last < 0.5:
            return
        self.last = wall
        fps = done / wall if wall > 0 else 0.0
        if self.total:
            share = min(1.0, done / self.total)
            filled = int(share * 30)
            bar = "#" * filled + "." * (30 - filled)
            line = f"[{bar}] {share:4.0%} {done}/{self.total} frames {fps:6.1f} fps"
        else:
            line = f"{done} frames {fps:6.1f} fps"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def done(self, summary: RunSummary) -> None:
        sys.stderr.write(
            f"\r{summary.frames} frames ({summary.seconds:.0f} s of video) "
            f"in {summary.wall_s:.1f} s: "
            f"{summary.fps:.1f} fps; sent {summary.counts}\n"
        )
        sys.stderr.flush()
