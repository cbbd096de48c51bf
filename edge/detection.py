"""What every detector returns: one person in one frame."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    """A person's box and floor point in source-frame pixels.

    The floor point is what zones test: the blob centre for an overhead camera, the
    bottom-centre of the box (the feet) for an oblique one.
    """

    x: float
    y: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float = 1.0
    # Too little of a person to be someone new, but where someone was a moment ago (a head
    # alone, the rest the floor's colour): it may only continue a person already followed.
    weak: bool = False

    @classmethod
    def from_box(
        cls, x1: float, y1: float, x2: float, y2: float, *, view: str, score: float = 1.0
    ) -> Detection:
        fx = (x1 + x2) / 2
        fy = (y1 + y2) / 2 if view == "overhead" else y2
        return cls(fx, fy, (x1, y1, x2, y2), score)
