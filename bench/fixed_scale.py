"""The edge pipeline as it was before it calibrated itself: one person size, whatever it sees.

The baselines of bench/edge_robustness.py and bench/edge_speed.py. A ``person_px`` in the
config is no longer enough to get this: the camera checks a typed size against the people it
measures and, once it has measured enough, uses its own.
"""

from __future__ import annotations

import numpy as np

from peakend.edge.calibration import Blob, CalibrationStatus, Calibrator, PersonScale
from peakend.edge.pipeline import Pipeline

# The defaults before self-calibration: one person 40 px across, a tracker gate of 60 px.
OLD_DETECTOR = {"person_px": 40.0}
OLD_TRACKER = {"max_distance_px": 60.0}


class FixedScale(Calibrator):
    """Never learns: the configured size, at every row, from the first frame to the last."""

    def observe(self, blobs: list[Blob], t: float) -> None:
        return None

    def restart(self) -> None:
        return None

    @property
    def scale(self) -> PersonScale:
        return PersonScale(self.override or OLD_DETECTOR["person_px"], 0.0, self.ref_row)

    def status(self) -> CalibrationStatus:
        return CalibrationStatus("calibrated", self.scale, 0, "override")


class FixedScalePipeline(Pipeline):
    def _start_calibration(self, frame: np.ndarray) -> None:
        super()._start_calibration(frame)
        self.calibrator = FixedScale(
            view=self.config.camera.view,
            frame_height=frame.shape[0],
            guess=PersonScale(OLD_DETECTOR["person_px"]),
            override=self.config.detector.person_px,
        )
