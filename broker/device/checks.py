"""One row of ``peakend doctor``: what was checked, how it went, what was found and the fix.

It lives with the device side because the kiosk and the camera add checks of their own
(display and touch, camera frames) and may import only ``broker.wire`` and ``broker.device``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    name: str
    status: str  # PASS, WARN, FAIL or SKIP
    detail: str
    fix: str = ""


def check_set_aside(path: Path, what: str) -> Check:
    """Warns while a damaged copy of ``path`` that the device set aside is still there: the
    device runs on, but a tech should know the card lost data once, and what was saved."""
    from peakend.broker.device.salvage import report_of, set_aside_files

    found = set_aside_files(path)
    name = f"{what} file"
    if not found:
        return Check(name, "PASS", f"{path}: no damaged copy set aside")
    latest = found[-1]
    said = report_of(latest) or f"{latest.name}: set aside (no report was written)"
    more = f" ({len(found)} damaged copies in all)" if len(found) > 1 else ""
    return Check(
        name,
        "WARN",
        f"{said.replace(chr(10), ' ')}{more}",
        f"nothing to do for delivery (the device recovered what it could); keep {latest.name} "
        "for support or delete it once read. If it happens again, the SD card or the power "
        "supply is failing: replace the card and check the power (an undervoltage warning in "
        "`dmesg`)",
    )
