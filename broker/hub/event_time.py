"""When an event happened, as the hub believes it.

A device whose clock is synchronised is trusted: its ``ts``. One whose clock is not (a Pi has
no real-time clock) is dated by the hub: at the receive time minus the age the device measured
on its boot clock (``age_s``), or at the receive time itself when the device sent no age (an
older device, or an event from before the device's last reboot). Its other times (a visit's
enter and exit) keep their distance from ``ts``, so they move by the same offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from peakend.broker.wire.contract import Envelope


def device_offset(e: Envelope, received_at: datetime) -> timedelta | None:
    """What to add to the device's times to place them on the hub's clock; None when the
    device's clock is trusted as it is."""
    if e.clock_synced:
        return None
    # The contract bounds age_s to 0..MAX_AGE_S, so this cannot leave datetime's range.
    happened = received_at - timedelta(seconds=e.age_s) if e.age_s is not None else received_at
    return happened - e.ts
