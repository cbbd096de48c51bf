"""The ``hog`` detector: OpenCV's HOG + linear SVM people detector (upright people)."""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from peakend.broker.device.config import ConfigError, Section
from peakend.edge.detection import Detection


class HogSettings(Section):
    """[detector] with kind = "hog"."""

    kind: Literal["hog"] = Field(
        default="hog", title="Detector", description="hog: OpenCV's HOG people detector (slow)."
    )
    person_px: float | None = Field(
        default=None,
        gt=4,
        le=1000,
        title="Person size override (px)",
        description="Leave unset: the camera learns how big one person is (see [calibration] "
        "and `peakend edge calibrate`). Set, it is the diameter of one person's blob in "
        "pixels (at the middle row of an oblique view), used from the first frame and while "
        "the camera's own measurement agrees within 20 %; beyond that the camera uses its "
        "own and reports the scale as unsure.",
    )
    score: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        title="Minimum score",
        description="Weakest detection kept.",
    )
    nms_iou: float = Field(
        default=0.45,
        gt=0,
        lt=1,
        title="Overlap suppression",
        description="Boxes overlapping more than this (IoU) are merged.",
    )


class HogDetector:
    """OpenCV's default HOG + linear SVM people detector (upright people, oblique views)."""

    name = "hog"

    def __init__(self, settings: HogSettings, *, view: str = "oblique") -> None:
        if not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
            raise ConfigError(
                "detector.kind is hog but this OpenCV build has no HOG people detector; "
                'use kind = "motion" or "dnn"'
            )
        self.settings = settings
        self.view = view
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, frame: np.ndarray, t: float) -> list[Detection]:
        rects, weights = self.hog.detectMultiScale(
            frame, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        if len(rects) == 0:
            return []
        boxes = [[int(x), int(y), int(w), int(h)] for x, y, w, h in rects]
        # The SVM margin is not a probability; squash it so `score` reads the same way.
        scores = [float(1 / (1 + math.exp(-float(s)))) for s in np.ravel(weights)]
        keep = cv2.dnn.NMSBoxes(boxes, scores, self.settings.score, self.settings.nms_iou)
        out = []
        for i in np.ravel(keep):
            x, y, w, h = boxes[int(i)]
            out.append(Detection.from_box(x, y, x + w, y + h, view=self.view, score=scores[int(i)]))
        return out
