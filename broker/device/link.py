"""The durable device link used by the kiosk and the edge module: a thin paho shell.

``send()`` writes the message to the outbox and returns once it is on disk; a publisher thread
pushes pending rows to the broker with QoS 1 and the retained ack on ``.../ack`` deletes them.
What to publish when, and what an ack means, is decided by the pure rules in
:mod:`peakend.broker.device.delivery`; this module feeds them paho's events and the outbox's
position and carries out their actions.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field

from peakend.broker.device import delivery
from peakend.broker.device.clock import Stamp, clock_synced
from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.device.delivery import Delivery, Position
from peakend.broker.device.mqtt import connect_properties, make_client
from peakend.broker.device.outbox import Outbox
from peakend.broker.device.salvage import is_damage
from peakend.broker.device.sqlite_tx import DiskFull
from peakend.broker.device.version import version
from peakend.broker.wire import contract

log = logging.getLogger(__name__)

# How often the publisher looks at the clock while it may not send (offline, or a fresh outbox
# waiting for the hub's answer), and how long it rests with nothing to send; any send, ack or
# connection change wakes it at once.
POLL_S = 0.2
IDLE_S = 1.0
# How long the publisher rests after a round failed (a damaged page, an I/O error) before it
# tries again.
FAULT_S = 2.0


class LinkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt_url: str
    device_id: str
    store_id: str
    zone_id: str | None = None
    role: str
    outbox_path: Path
    version: str = Field(default_factory=version)
    config_hash: str = ""
    ca_file: str | None = None
    keepalive_s: int = 30
    max_outbox_rows: int = 200_000
    window: int = Field(default=1000, ge=1, description="most rows published beyond the ack")
    retransmit_s: float = Field(default=30.0, gt=0)


@dataclass(frozen=True)
class LinkStats:
    connected: bool
    outbox_depth: int
    last_seq: int
    acked_seq: int
    acked_at: float | None
    last_error: str | None
    broker: str


class DeviceLink:
    """Outbox + MQTT client for one device. Start it once; send() from any thread.

    ``client`` and ``clock`` replace paho's client and the monotonic clock (fast tests drive
    the link against a fake broker, round by round with :meth:`pump`)."""

    def __init__(
        self,
        settings: LinkSettings,
        *,
        outbox: Outbox | None = None,
        client: mqtt.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.outbox = outbox or Outbox(
            settings.outbox_path,
            device_id=settings.device_id,
            store_id=settings.store_id,
            max_rows=settings.max_outbox_rows,
        )
        self.boot_id = str(uuid.uuid4())
        if client is None:
            self._client, self._target = make_client(
                settings.mqtt_url, settings.device_id, ca_file=settings.ca_file
            )
        else:
            self._client, self._target = client, parse_mqtt_url(settings.mqtt_url)
        self._clock = clock
        self._status_topic = contract.status_topic(settings.store_id, settings.device_id)
        self._ack_topic = contract.ack_topic(settings.store_id, settings.device_id)
        self._client.will_set(
            self._status_topic, json.dumps({"state": "offline"}), qos=1, retain=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._delivery = Delivery(
            boot_id=self.boot_id,
            window=settings.window,
            retransmit_s=settings.retransmit_s,
            synced=self.outbox.get_flag("hub_synced"),
        )
        # Guards the delivery rules; _changes counts what may give the publisher work, so it
        # never sleeps through a send, an ack or a connection change.
        self._wake = threading.Condition()
        self._changes = 0
        self._stopping = False
        self._publisher = threading.Thread(
            target=self._publish_loop, name=f"link-{settings.device_id}", daemon=True
        )
        self._started = False
        self._background = True
        self._fault: str | None = None  # why the publisher's last round failed, if it did

    # -- public ---------------------------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Connect and publish. ``background=False`` starts no publisher thread: the caller
        runs :meth:`pump` (a test stepping the link)."""
        if self._started:
            return
        self._started = True
        self._background = background
        self._client.connect_async(
            self._target.host,
            self._target.port,
            keepalive=self.settings.keepalive_s,
            # No session kept at the broker: the outbox is the device's state, and a reconnect
            # publishes again from the retained ack. A kept session would also hand a re-flashed
            # device the acks queued for its earlier life as if they were the hub's answer now.
            clean_start=True,
            properties=connect_properties(persistent=False),
        )
        self._client.loop_start()
        if background:
            self._publisher.start()

    def send(
        self,
        event_type: str,
        data: dict[str, Any] | BaseModel,
        *,
        zone_id: str | None = None,
        ts: datetime | None = None,
        msg_id: uuid.UUID | None = None,
        clock_is_synced: bool | None = None,
        at: Stamp | None = None,
    ) -> contract.Envelope:
        """Make the message durable and queue it; raises ContractError if it is not valid.

        ``clock_is_synced`` overrides the kernel's answer, e.g. for a replay whose timestamps
        come from the recording rather than this machine's clock. ``at``: when the event
        happened on the boot clock, if not now (a press that waited for its reason)."""
        envelope = self.outbox.append(
            event_type,
            data,
            zone_id=zone_id if zone_id is not None else self.settings.zone_id,
            ts=ts,
            clock_synced=clock_synced() if clock_is_synced is None else clock_is_synced,
            msg_id=msg_id,
            at=at,
        )
        with self._wake:
            self._changed()
        return envelope

    def stats(self) -> LinkStats:
        return LinkStats(
            connected=self._delivery.online,
            outbox_depth=self.outbox.depth,
            last_seq=self.outbox.last_seq,
            acked_seq=self.outbox.acked_seq,
            acked_at=self.outbox.acked_at,
            last_error=self._fault or self._delivery.last_error,
            broker=self._target.redacted(),
        )

    def wait_acked(self, seq: int | None = None, timeout: float = 10.0) -> bool:
        """Block until the hub has acked ``seq`` (default: everything in the outbox, whose seqs
        can change while waiting if a re-flashed device renumbers them)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self.outbox.acked_seq < (self.outbox.last_seq if seq is None else seq):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.2))
        return True

    def stop(self, timeout: float = 3.0) -> None:
        """Say goodbye (a clean disconnect does not fire the last will) and close."""
        with self._wake:
            self._stopping = True
            self._delivery.stopping()
            self._changed()
        if self._started:
            if self._background:
                self._publisher.join(timeout)
            if self._delivery.online:
                info = self._client.publish(
                    self._status_topic, json.dumps({"state": "offline"}), qos=1, retain=True
                )
                try:
                    info.wait_for_publish(timeout)
                except RuntimeError:
                    pass
            self._client.disconnect()
            self._client.loop_stop()
        self.outbox.close()

    def pump(self) -> float:
        """One round of the publisher: apply the rules, publish what they allow. Returns how
        long the publisher may rest before the next round (0: go on at once)."""
        with self._wake:
            publish = self._carry_out(self._delivery.tick(self._clock(), self._position()))
            if publish is None:
                return POLL_S if self._delivery.waiting() else IDLE_S
        rows = self.outbox.pending(publish.after, publish.limit)
        if not rows:
            return IDLE_S
        for row in rows:
            info = self._client.publish(row.topic, row.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return POLL_S  # disconnected; the next connect starts again from the ack
            with self._wake:
                self._delivery.published(row.seq)
        return 0.0

    # -- MQTT callbacks (paho's network thread) --------------------------------------------

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._wake:
            if reason.is_failure:
                self._delivery.refused(str(reason))
                log.warning("%s", self._delivery.last_error)
                return
            self._carry_out(self._delivery.connected(self._clock(), self._position()))
            self._changed()
        log.info("connected to %s", self._target.redacted())

    def _on_subscribe(self, *_: Any) -> None:
        with self._wake:
            self._delivery.subscribed(self._clock())
            self._changed()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._wake:
            error = self._delivery.disconnected(str(reason))
            self._changed()
        if error:
            log.warning("disconnected from %s: %s", self._target.redacted(), reason)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._wake:
            # The rules move on only if the outbox did: a failed renumbering must leave the
            # device unsynced, so the hub's next answer tries again.
            before = copy.copy(self._delivery)
            try:
                self._carry_out(
                    self._delivery.ack(message.payload, self._position(), self._clock())
                )
            except DiskFull as exc:
                # The sentence says it all (the file and the fix); the next ack tries again.
                self._delivery = before
                log.error("could not apply the hub's ack: %s", exc)
            except Exception:
                # paho's network thread must survive whatever happens here, or the device
                # would silently stop hearing acks; the next ack tries again.
                self._delivery = before
                log.exception("could not apply the hub's ack")
            self._changed()

    # -- carrying out the rules' actions ----------------------------------------------------

    def _publish_loop(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                seen = self._changes
            try:
                pause = self.pump()
                self._fault = None
            except Exception as exc:
                # The publisher must outlive whatever a round meets (a damaged page of the
                # outbox, an I/O error): dead, it would leave every message unsent until a
                # restart, and nobody would know.
                pause = self._publish_failed(exc)
            if pause > 0:
                with self._wake:
                    if not self._stopping and self._changes == seen:
                        self._wake.wait(pause)

    def _publish_failed(self, exc: Exception) -> float:
        if is_damage(exc):
            fault = (f"the outbox file is damaged ({exc}): restart the service; it then sets "
                     "the file aside and queues again what it can still read")
        else:
            fault = f"could not publish: {type(exc).__name__}: {exc}"
        if fault != self._fault:  # once per fault, not every round
            log.error("%s", fault)
        self._fault = fault
        return FAULT_S

    def _carry_out(self, actions: list[delivery.Action]) -> delivery.PublishRows | None:
        """Apply every action but the publishing of rows, which is returned for the caller to
        do outside the lock."""
        publish: delivery.PublishRows | None = None
        for action in actions:
            match action:
                case delivery.Listen():
                    self._client.subscribe(self._ack_topic, qos=1)
                case delivery.SayBirth(synced=synced):
                    self._say_birth(synced)
                case delivery.Acknowledge(seq=seq):
                    self.outbox.acknowledge(seq)
                case delivery.Adopt(hub_seq=hub_seq, first_contact=first_contact):
                    self.outbox.adopt_hub_seq(hub_seq, first_contact=first_contact)
                case delivery.MarkSynced():
                    self.outbox.set_flag("hub_synced")
                case delivery.DeclareSkipped(first=first, last=last):
                    self.outbox.announce_lost(first, last, clock_synced=clock_synced())
                case delivery.PublishRows():
                    publish = action
        return publish

    def _say_birth(self, synced: bool) -> None:
        s = self.settings
        birth = {
            "state": "online",
            # The hub answers a birth it finds retained (on its own restart) only for a device
            # that has not heard from it yet.
            "synced": synced,
            "boot_id": self.boot_id,
            "role": s.role,
            "zone_id": s.zone_id,
            "version": s.version,
            "config_hash": s.config_hash,
        }
        self._client.publish(self._status_topic, json.dumps(birth), qos=1, retain=True)

    def _position(self) -> Position:
        return Position(acked=self.outbox.acked_seq, last=self.outbox.last_seq)

    def _changed(self) -> None:
        """Call with the lock held."""
        self._changes += 1
        self._wake.notify_all()
