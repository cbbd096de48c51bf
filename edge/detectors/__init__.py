"""Person detectors behind one interface: ``detect(frame, t) -> list[Detection]``.

One module per detector, each with its own settings model, chosen by ``[detector] kind``:

* ``motion``: background subtraction plus blob analysis; no model (the default).
* ``dnn``: an ONNX person detector on onnxruntime (made by ``peakend edge model``).
* ``hog``: OpenCV's built-in HOG people detector, for oblique views, where OpenCV has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Protocol

import numpy as np
from pydantic import Field

from peakend.broker.device.config import resolve
from peakend.edge.detection import Detection
from peakend.edge.detectors.dnn import DnnDetector, DnnSettings
from peakend.edge.detectors.hog import HogDetector, HogSettings
from peakend.edge.detectors.motion import MotionDetector, MotionSettings

DetectorSettings = Annotated[
    MotionSettings | DnnSettings | HogSettings, Field(discriminator="kind")
]

__all__ = [
    "Detector",
    "DetectorSettings",
    "DnnDetector",
    "DnnSettings",
    "HogDetector",
    "HogSettings",
    "MotionDetector",
    "MotionSettings",
    "make_detector",
]


class Detector(Protocol):
    name: str

    def detect(self, frame: np.ndarray, t: float) -> list[Detection]: ...


def make_detector(
    settings: MotionSettings | DnnSettings | HogSettings,
    *,
    view: str,
    base_dir: Path | None = None,
) -> Detector:
    if isinstance(settings, DnnSettings):
        assert settings.model is not None  # the settings refuse dnn without a model
        return DnnDetector(resolve(base_dir, settings.model), settings, view=view)
    if isinstance(settings, HogSettings):
        return HogDetector(settings, view=view)
    return MotionDetector(settings, view=view)
