"""Frame sources: camera index (V4L2), video file, RTSP URL, the Pi camera, or frames in memory.

Two ways to read:

* live (camera, RTSP, Pi camera): a grabber thread keeps only the newest frame; the pipeline
  takes one every 1/fps seconds, so a slow frame never builds a backlog. Frames overwritten
  before they were used are ``stale``; ticks missed because processing ran late are ``dropped``.
* replay (a file): every frame, stamped ``frame / fps`` seconds after the start, as fast as the
  machine allows (or at the recording's pace with ``realtime``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from peakend.broker.device.config import ConfigError
from peakend.edge.config import CameraSection


@dataclass(frozen=True)
class Frame:
    index: int
    t: float  # seconds since the start of the run
    image: np.ndarray


class FrameSource:
    live: bool = False
    fps: float = 10.0
    total: int | None = None
    dropped: int = 0
    stale: int = 0

    def frames(self) -> Iterator[Frame]:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


def open_source(
    spec: str, camera: CameraSection, *, base_dir: Path | None = None, realtime: bool = False
) -> FrameSource:
    """Open what ``spec`` names; errors say what was tried and what to check."""
    if spec == "picamera2":
        return LiveSource(_PiCamera(camera), camera.fps)
    if spec.isdigit():
        capture = cv2.VideoCapture(int(spec), cv2.CAP_V4L2)
        if not capture.isOpened():
            capture = cv2.VideoCapture(int(spec))
        _configure(capture, camera)
        if not capture.isOpened():
            raise ConfigError(
                f"camera {spec} cannot be opened: is /dev/video{spec} there and free?"
            )
        return LiveSource(_CaptureReader(capture), camera.fps)
    if "://" in spec:
        capture = cv2.VideoCapture(spec)
        if not capture.isOpened():
            raise ConfigError(
                f"stream {spec} cannot be opened: check the URL, network and credentials"
            )
        return LiveSource(_CaptureReader(capture), camera.fps)
    path = Path(spec)
    if not path.is_absolute() and base_dir is not None and not path.exists():
        path = base_dir / path
    if not path.is_file():
        raise ConfigError(f"video file {spec} does not exist")
    return FileSource(path, default_fps=camera.fps, realtime=realtime)


class FileSource(FrameSource):
    def __init__(self, path: Path, *, default_fps: float = 10.0, realtime: bool = False) -> None:
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise ConfigError(f"video file {path} cannot be decoded by this OpenCV build")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else default_fps
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total = count if count > 0 else None
        self.realtime = realtime

    def frames(self) -> Iterator[Frame]:
        index = 0
        started = time.monotonic()
        while True:
            ok, image = self.capture.read()
            if not ok:
                return
            t = index / self.fps
            if self.realtime:
                delay = started + t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield Frame(index, t, image)
            index += 1

    def close(self) -> None:
        self.capture.release()


class MemorySource(FrameSource):
    """Frames already in hand (tests, rendered scenes), replayed like a file."""

    def __init__(self, images: Iterable[np.ndarray], fps: float, total: int | None = None) -> None:
        self.images = images
        self.fps = fps
        self.total = total

    def frames(self) -> Iterator[Frame]:
        for index, image in enumerate(self.images):
            yield Frame(index, index / self.fps, image)


class LiveSource(FrameSource):
    live = True

    def __init__(self, reader: _Reader, fps: float) -> None:
        self.reader = reader
        self.fps = fps
        self._latest: tuple[int, np.ndarray] | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._grabbed = 0
        self._thread = threading.Thread(target=self._grab, name="camera-grab", daemon=True)
        self._thread.start()

    def frames(self) -> Iterator[Frame]:
        period = 1.0 / self.fps
        started = time.monotonic()
        next_tick = started
        used = 0
        index = 0
        while True:
            with self._cond:
                while (self._latest is None or self._latest[0] == used) and not self._stop:
                    self._cond.wait(1.0)
                if self._latest is None or self._stop and self._latest[0] == used:
                    return
                number, image = self._latest
            self.stale += max(0, number - used - 1)
            used = number
            now = time.monotonic()
            yield Frame(index, now - started, image)
            index += 1
            next_tick += period
            now = time.monotonic()
            if now > next_tick:
                missed = int((now - next_tick) / period)
                self.dropped += missed
                next_tick += missed * period
            else:
                time.sleep(next_tick - now)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(2.0)
        self.reader.close()

    def _grab(self) -> None:
        failures = 0
        while not self._stop:
            image = self.reader.read()
            if image is None:
                failures += 1
                if failures > 50:
                    with self._cond:
                        self._stop = True
                        self._cond.notify_all()
                    return
                time.sleep(0.1)
                continue
            failures = 0
            with self._cond:
                self._grabbed += 1
                self._latest = (self._grabbed, image)
                self._cond.notify_all()


class _Reader:
    def read(self) -> np.ndarray | None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class _CaptureReader(_Reader):
    def __init__(self, capture: cv2.VideoCapture) -> None:
        self.capture = capture

    def read(self) -> np.ndarray | None:
        ok, image = self.capture.read()
        return image if ok else None

    def close(self) -> None:
        self.capture.release()


class _PiCamera(_Reader):
    """The Pi camera module through picamera2 (installed from Raspberry Pi OS's apt)."""

    def __init__(self, camera: CameraSection) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError:
            raise ConfigError(
                "source is picamera2 but the picamera2 module is not installed: "
                "sudo apt install python3-picamera2 (and create the venv with "
                "--system-site-packages)"
            ) from None
        self.cam = Picamera2()
        size = (camera.width or 640, camera.height or 480)
        self.cam.configure(
            self.cam.create_video_configuration(main={"size": size, "format": "RGB888"})
        )
        self.cam.start()

    def read(self) -> np.ndarray | None:
        # picamera2's "RGB888" is laid out B, G, R in memory: what OpenCV calls BGR.
        return self.cam.capture_array()

    def close(self) -> None:
        self.cam.stop()


def _configure(capture: cv2.VideoCapture, camera: CameraSection) -> None:
    if camera.width:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, camera.width)
    if camera.height:
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, camera.height)
    # Keep the driver's own queue short: we want the newest frame, not a backlog.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
