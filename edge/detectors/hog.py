"""The ``hog`` detector: OpenCV's HOG + linear SVM people detector (upright people)."""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from peakend.broker.device.config import ConfigError
from peakend.edge.detection import Detection
from peakend.edge.detectors.settings import BoxSettings


class HogSettings(BoxSettings):
    """[detector] with kind = "hog"."""

    kind: Literal["hog"] = Field(
        default="hog", title="Detector", description="hog: OpenCV's HOG people detector (slow)."
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
