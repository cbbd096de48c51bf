"""Is the system clock disciplined by NTP? A Pi has no real-time clock, so after a cold boot
without network its time can be days off; envelopes say so and the hub then trusts its own
receive time instead.

Each event also carries its :class:`Stamp` on the boot clock, which no NTP step moves: the
envelope says how old the event is when it is published, and the hub dates it at its receive
time minus that age."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time
from dataclasses import dataclass
from pathlib import Path

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


# -- the event's age, for a device whose wall clock cannot be trusted -------------------------

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# CLOCK_BOOTTIME keeps counting while the board is suspended, which CLOCK_MONOTONIC does not;
# both start again at zero on every boot.
_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


@dataclass(frozen=True)
class Stamp:
    """When an event happened on this device's boot clock. The reading means something only
    within the boot that took it, so it carries that boot's id."""

    boot_id: str
    elapsed: float  # seconds since that boot


@functools.cache
def boot_id() -> str:
    """The kernel's id of this boot ("" where there is none: no age can then be measured)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def stamp() -> Stamp:
    """This moment on the boot clock."""
    return Stamp(boot_id(), time.clock_gettime(_CLOCK))


def age_of(event: Stamp | None, now: Stamp | None = None) -> float | None:
    """Seconds since ``event``, or None when it cannot be known: no stamp, or one taken in
    another boot (the clock started again at zero in between, and how long the device was off
    is not known)."""
    now = now or stamp()
    if event is None or not event.boot_id or event.boot_id != now.boot_id:
        return None
    return max(0.0, now.elapsed - event.elapsed)
