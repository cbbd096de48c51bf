"""What the hub refused from each device lately: the quarantine, counted per device, with its
commonest reason. A device whose messages are refused looks healthy from every other angle
(online, acked, an empty outbox), so the fleet page and `peakend doctor --hub` show this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from peakend.broker.hub.db.database import HubDb
from peakend.broker.wire.forms import format_ts

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Refused:
    device_id: str
    messages: int  # copies included: a message re-sent ten times counts ten
    reason: str  # the commonest reason
    last_at: str


def refused_by_device(conn: HubDb, now: datetime, window: timedelta = WINDOW
                      ) -> dict[str, Refused]:
    """Devices with messages quarantined within ``window`` before ``now``."""
    rows = conn.execute(
        "SELECT device_id, reason, sum(times), max(last_received_at) FROM quarantine "
        "WHERE device_id IS NOT NULL AND last_received_at >= $1 GROUP BY device_id, reason",
        (format_ts(now - window),),
    ).fetchall()
    by_device: dict[str, list[tuple[int, str, str]]] = {}
    for device, reason, times, last in rows:
        by_device.setdefault(device, []).append((int(times), reason, last))
    return {
        device: Refused(device, sum(t for t, _, _ in found), max(found)[1],
                        max(last for _, _, last in found))
        for device, found in by_device.items()
    }
