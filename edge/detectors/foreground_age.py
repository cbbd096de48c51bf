"""How long each working pixel has been foreground, in two bytes a pixel.

The motion detector asks two things of it: which pixels have been foreground for longer than
``absorb_s`` (a parked trolley, taken into the background) and how long a blob's pixels have
been (a ghost stays where it was left). Times are kept as tenths of a second from an epoch
that moves up with the oldest foreground pixel; since every pixel is absorbed after at most
``MAX_AGE_S``, 16 bits always hold it (a float a pixel took twice the memory).
"""

from __future__ import annotations

import math

import numpy as np

TICK_S = 0.1
NEVER = int(np.iinfo(np.uint16).max)  # not foreground
# Ages up to this are kept exactly (the epoch moves when a tick would pass REBASE_AT).
MAX_AGE_S = 3600.0
REBASE_AT = 60_000


class ForegroundAge:
    def __init__(self, shape: tuple[int, int]) -> None:
        self.since = np.full(shape, NEVER, dtype=np.uint16)
        self._epoch: float | None = None
        self._last = -math.inf

    def update(self, foreground: np.ndarray, t: float, absorb_s: float) -> np.ndarray:
        """Record this frame's ``foreground`` (bool); the pixels foreground for longer than
        ``absorb_s`` (at most ``MAX_AGE_S``)."""
        now = self._tick(t)
        since = self.since
        since[~foreground] = NEVER
        since[foreground & (since == NEVER)] = now
        limit = now - round(min(absorb_s, MAX_AGE_S) / TICK_S)
        if limit <= 0:
            return np.zeros(since.shape, dtype=bool)
        return foreground & (since < limit)

    def ages(self, t: float, x: int, y: int, patch: np.ndarray) -> np.ndarray:
        """Seconds each pixel of ``patch`` (at x, y) has been foreground; a pixel that was
        not foreground before this frame counts as far in the future (younger than any)."""
        now = self._tick(t)
        h, w = patch.shape
        since = self.since[y : y + h, x : x + w][patch].astype(np.int32)
        since[since == NEVER] = now + REBASE_AT
        return (now - since) * TICK_S

    def forget(self, pixels: np.ndarray) -> None:
        """``pixels`` (bool) were absorbed into the background: no longer foreground."""
        self.since[pixels] = NEVER

    def _tick(self, t: float) -> int:
        if self._epoch is None or t < self._last:
            # The first frame, or time went back (a source restarted): count from here.
            self._epoch = t
            self.since.fill(NEVER)
        self._last = t
        now = int((t - self._epoch) / TICK_S + 0.5)
        if now >= REBASE_AT:
            valid = self.since != NEVER
            oldest = int(self.since[valid].min()) if valid.any() else now
            self.since[valid] -= np.uint16(oldest)
            self._epoch += oldest * TICK_S
            now -= oldest
        # Only a pixel older than MAX_AGE_S, which update never leaves, could keep it high.
        return min(now, NEVER - 1)
