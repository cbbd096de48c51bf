"""Pipeline results as wire messages: dwell per visit, queue per window, health per minute.

Messages go through the durable DeviceLink when publishing; either way each envelope can be
written as one JSON line. Without a link (``--no-publish``) envelopes are built locally with
their own seq counter, so the lines look exactly like what would have been sent.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from peakend.broker.device.link import DeviceLink
from peakend.broker.device.sqlite_tx import DiskFull
from peakend.broker.wire.contract import Envelope, format_ts, new_envelope
from peakend.edge.estimators import QueueWindow
from peakend.edge.zones import Visit

log = logging.getLogger(__name__)


def dwell_payload(visit: Visit, start: datetime) -> dict[str, Any]:
    enter = start + timedelta(seconds=visit.enter)
    exit_ = start + timedelta(seconds=visit.exit)
    payload = {
        "track": visit.track,
        "enter": format_ts(enter),
        "exit": format_ts(exit_),
        "dwell_s": round(max(0.0, visit.dwell_s), 2),
        "wait_s": None if visit.wait_s is None else round(visit.wait_s, 2),
    }
    if visit.wait_floor:
        payload["wait_floor"] = True
    return payload


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
        # Messages the outbox could not take (its disk is full), oldest first; sent before any
        # newer one as soon as it takes them again. Bounded: a day of a busy camera's visits.
        self.held: deque[tuple[str, dict[str, Any], str | None, datetime]] = deque(
            maxlen=self.HOLD_MAX)
        self.dropped = 0
        self._said_full = 0.0

    HOLD_MAX = 20_000

    def send(
        self, event_type: str, data: dict[str, Any], *, zone_id: str | None, ts: datetime
    ) -> Envelope | None:
        """The envelope sent (or built); None when it is held because the disk is full."""
        if self.link is not None:
            if len(self.held) == self.held.maxlen:
                self.dropped += 1  # the oldest held message falls out
            self.held.append((event_type, data, zone_id, ts))
            envelope = None
            while self.held:
                kind, payload, zone, at = self.held[0]
                try:
                    envelope = self.link.send(
                        kind, payload, zone_id=zone, ts=at, clock_is_synced=self.clock_synced
                    )
                except DiskFull as exc:
                    self._say_full(exc)
                    return None
                self.held.popleft()
                self._mirror(envelope, kind)
            return envelope
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
        self._mirror(envelope, event_type)
        return envelope

    def _mirror(self, envelope: Envelope, event_type: str) -> None:
        if self._out is not None:
            self._out.write(envelope.to_json().decode() + "\n")
            self._out.flush()
        self.counts[event_type] = self.counts.get(event_type, 0) + 1

    def _say_full(self, exc: DiskFull) -> None:
        # once a minute, not once a frame: the camera goes on counting meanwhile
        if time.monotonic() - self._said_full >= 60:
            self._said_full = time.monotonic()
            log.error("%s; %d message(s) held in memory until there is space again%s",
                      str(exc).rstrip("."),
                      len(self.held), f", {self.dropped} dropped" if self.dropped else "")

    def visit(self, visit: Visit, start: datetime) -> Envelope | None:
        return self.send(
            "dwell",
            dwell_payload(visit, start),
            zone_id=visit.zone,
            ts=start + timedelta(seconds=visit.exit),
        )

    def queue(self, window: QueueWindow, start: datetime) -> Envelope | None:
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
