"""A monotonic clock a test moves by hand, for code that takes ``monotonic=`` or ``clock=``."""

from __future__ import annotations


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
