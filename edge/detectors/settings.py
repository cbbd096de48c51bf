"""What the settings of every kind of detector share: the person-size override, and for the
detectors that score boxes, the score and overlap limits. Each kind adds its own keys."""

from __future__ import annotations

from pydantic import Field

from peakend.broker.device.config import Section


class DetectorSettings(Section):
    """[detector] keys every kind takes."""

    person_px: float | None = Field(
        default=None,
        gt=4,
        le=1000,
        title="Person size override (px)",
        description="Leave unset: the camera learns how big one person is (see [calibration] "
        "and `peakend edge calibrate`). Set, it is the diameter of one person's blob in "
        "pixels (at the middle row of an oblique view): a check on what the camera measures "
        "(more than 20 % apart, the scale is reported unsure) and the size used where it "
        "has measured too few people to check it (under four) for 2 minutes. What the "
        "camera measures is always used first.",
    )


class BoxSettings(DetectorSettings):
    """[detector] keys of the detectors that score boxes (dnn, hog)."""

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
