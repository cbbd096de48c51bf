"""One row of ``peakend doctor``: what was checked, how it went, what was found and the fix.

It lives with the device side because the kiosk and the camera add checks of their own
(display and touch, camera frames) and may import only ``broker.wire`` and ``broker.device``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    name: str
    status: str  # PASS, WARN, FAIL or SKIP
    detail: str
    fix: str = ""
