"""Pipeline results as wire messages: dwell per visit, queue per window, health per minute.

Messages go through the durable DeviceLink when publishing; either way each envelope can be
written as one JSON line. Without a link (``--no-publish``) envelopes are built locally with
their own seq counter, so the lines look exactly like what would have been sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from peakend.broker.device.link import DeviceLink
from peakend.broker.wire.contract import Envelope, format_ts, new_envelope
from peakend.edge.estimators import QueueWindow
from peakend.edge.zones import Visit


def dwell_payload(visit: Visit, start: datetime) -> dict[str, Any]:
    enter = start + timedelta(seconds=visit.enter)
    exit_ = start + timedelta(seconds=visit.exit)
    return {
        "track": visit.track,
        "enter": format_ts(enter),
        "exit": format_ts(exit_),
        "dwell_s": round(max(0.0, visit.dwell_s), 2),
        "wait_s": None if visit.wait_s is None else round(visit.wait_s, 2),
    }


class Messenger:
    """Sends envelopes through a link (or builds them locally) and mirrors them to JSON lines."""

    def __init__(
        self,
        *,
        device_id: str,
        store_id: str,
        link: DeviceLink | None = None,
        jsonl: str | Path | None = None,
        clock_synced: bool | None = None,
    ) -> None:
        self.device_id = device_id
        self.store_id = store_id
        self.link = link
        self.clock_synced = clock_synced
        self._seq = 0
        self._out: IO[str] | None = None
        if jsonl is not None:
            path = Path(jsonl)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = path.open("w", encoding="utf-8")
        self.counts: dict[str, int] = {}

    def send(
        self, event_type: str, data: dict[str, Any], *, zone_id: str | None, ts: datetime
    ) -> Envelope:
        if self.link is not None:
            envelope = self.link.send(
                event_type, data, zone_id=zone_id, ts=ts, clock_is_synced=self.clock_synced
            )
        else:
            self._seq += 1
            envelope = new_envelope(
                device_id=self.device_id,
                store_id=self.store_id,
                zone_id=zone_id,
                seq=self._seq,
                event_type=event_type,
                data=data,
                ts=ts,
                clock_synced=True if self.clock_synced is None else self.clock_synced,
            )
        if self._out is not None:
            self._out.write(envelope.to_json().decode() + "\n")
            self._out.flush()
        self.counts[event_type] = self.counts.get(event_type, 0) + 1
        return envelope

    def visit(self, visit: Visit, start: datetime) -> Envelope:
        return self.send(
            "dwell",
            dwell_payload(visit, start),
            zone_id=visit.zone,
            ts=start + timedelta(seconds=visit.exit),
        )

    def queue(self, window: QueueWindow, start: datetime) -> Envelope:
        return self.send(
            "queue", window.payload(), zone_id=window.zone, ts=start + timedelta(seconds=window.end)
        )

    @property
    def outbox_depth(self) -> int:
        return self.link.stats().outbox_depth if self.link is not None else 0

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
