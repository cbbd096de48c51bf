"""The ``dnn`` detector: an ONNX person detector on onnxruntime (``peakend edge model``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from peakend.broker.device.config import ConfigError
from peakend.edge.detection import Detection
from peakend.edge.detectors.settings import BoxSettings


class DnnSettings(BoxSettings):
    """[detector] with kind = "dnn"."""

    kind: Literal["dnn"] = Field(
        default="dnn", title="Detector", description="dnn: an ONNX person detector."
    )
    model: str | None = Field(
        default=None,
        title="ONNX model",
        description="Path of the person detector made by `peakend edge model`; relative "
        "paths are relative to this file.",
    )

    @model_validator(mode="after")
    def _model_given(self) -> DnnSettings:
        if not self.model:
            raise ValueError(
                "detector.kind is dnn but detector.model is not set; run `peakend edge model "
                '--out person.onnx` and set model = "person.onnx"'
            )
        return self


class DnnDetector:
    """An ONNX person detector on onnxruntime.

    Two output layouts are understood: TensorFlow Object Detection API exports (what
    ``peakend edge model`` makes: ``detection_boxes`` [ymin, xmin, ymax, xmax] normalised,
    ``detection_scores``, ``detection_classes`` with person = 1, uint8 NHWC RGB input), and a
    single ``[N, 7]`` SSD output ``[image, class, score, x1, y1, x2, y2]`` normalised (OpenCV's
    DetectionOutput layout) with float NCHW input scaled to 0..1.
    """

    name = "dnn"
    PERSON_CLASS = 1

    def __init__(self, path: Path, settings: DnnSettings, *, view: str = "oblique") -> None:
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - onnxruntime is in the edge extra
            raise ConfigError(
                "detector.kind is dnn but onnxruntime is not installed: pip install onnxruntime"
            ) from None
        if not path.is_file():
            raise ConfigError(
                f"detector.model: {path} does not exist; "
                f"make it with `peakend edge model --out {path}`"
            )
        self.settings = settings
        self.view = view
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ConfigError(
                f"detector.model: {path} is not a usable ONNX model ({exc})"
            ) from None
        meta = self.session.get_inputs()[0]
        self.input_name = meta.name
        self.uint8 = meta.type == "tensor(uint8)"
        shape = list(meta.shape)
        self.nhwc = shape[-1] == 3
        h, w = (shape[1], shape[2]) if self.nhwc else (shape[2], shape[3])
        self.size = (
            int(w) if isinstance(w, int) else 300,
            int(h) if isinstance(h, int) else 300,
        )
        self.outputs = [o.name for o in self.session.get_outputs()]

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(
            cv2.resize(frame, self.size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB
        )
        if self.nhwc:
            blob = rgb[None]
        else:
            blob = np.transpose(rgb, (2, 0, 1))[None]
        return blob if self.uint8 else blob.astype(np.float32) / 255.0

    def infer(self, blob: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: blob})

    def detect(self, frame: np.ndarray, t: float) -> list[Detection]:
        outputs = self.infer(self.preprocess(frame))
        return self.decode(outputs, frame.shape[1], frame.shape[0])

    def decode(self, outputs: list[np.ndarray], width: int, height: int) -> list[Detection]:
        named = {
            name.split(":")[0]: value for name, value in zip(self.outputs, outputs, strict=True)
        }
        if "detection_boxes" in named:
            boxes = named["detection_boxes"].reshape(-1, 4)
            scores = named["detection_scores"].reshape(-1)
            classes = named["detection_classes"].reshape(-1)
            rows = [
                (s, b[1] * width, b[0] * height, b[3] * width, b[2] * height)
                for b, s, c in zip(boxes, scores, classes, strict=True)
                if int(round(float(c))) == self.PERSON_CLASS and s >= self.settings.score
            ]
        else:
            table = outputs[0].reshape(-1, 7)
            rows = [
                (r[2], r[3] * width, r[4] * height, r[5] * width, r[6] * height)
                for r in table
                if int(round(float(r[1]))) == self.PERSON_CLASS and r[2] >= self.settings.score
            ]
        if not rows:
            return []
        rects = [
            [float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for _, x1, y1, x2, y2 in rows
        ]
        scores = [float(r[0]) for r in rows]
        keep = cv2.dnn.NMSBoxes(rects, scores, self.settings.score, self.settings.nms_iou)
        out = []
        for i in np.ravel(keep):
            s, x1, y1, x2, y2 = rows[int(i)]
            out.append(
                Detection.from_box(
                    float(np.clip(x1, 0, width)),
                    float(np.clip(y1, 0, height)),
                    float(np.clip(x2, 0, width)),
                    float(np.clip(y2, 0, height)),
                    view=self.view,
                    score=float(s),
                )
            )
        return out
