"""Is the system clock disciplined by NTP? A Pi has no real-time clock, so after a cold boot
without network its time can be days off; envelopes say so and the hub then trusts its own
receive time instead."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time

TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
_CACHE_S = 30.0


class _Timex(ctypes.Structure):
    # Only `modes` is written (0 = read-only query); the rest is room for the kernel's struct.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 256)]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


_state: tuple[float, bool] = (-_CACHE_S, True)


def clock_synced() -> bool:
    """True when the kernel says NTP keeps the clock in sync (or when it cannot tell)."""
    global _state
    now = time.monotonic()
    if now - _state[0] < _CACHE_S:
        return _state[1]
    libc = _libc()
    synced = True
    if libc is not None and hasattr(libc, "adjtimex"):
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
        synced = state != TIME_ERROR if state >= 0 else True
    _state = (now, synced)
    return synced
