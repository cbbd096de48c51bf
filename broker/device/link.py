"""The durable device link used by the kiosk and the edge module.

``send()`` writes the message to the outbox and returns once it is on disk; a publisher thread
pushes pending rows to the broker with QoS 1, at most ``window`` ahead of the hub's ack, and the
retained ack on ``.../ack`` deletes them. On every (re)connect, and whenever the ack has not
moved for ``retransmit_s`` while rows are out, it publishes again from the ack: the hub stores
idempotently, so a repeat costs bandwidth, never a double row.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field

from peakend.broker.device.clock import clock_synced
from peakend.broker.device.mqtt import connect_properties, make_client
from peakend.broker.device.outbox import Outbox
from peakend.broker.wire import contract

log = logging.getLogger(__name__)

# How long a fresh outbox waits for the hub's first answer before it says so in last_error; it
# sends nothing until that answer, so a re-flashed device learns the seq it must continue from
# (see Outbox.adopt_hub_seq).
FIRST_SYNC_GRACE_S = 2.0
# How often a fresh outbox says its birth again while the hub has not answered it.
BIRTH_RETRY_S = 10.0


class LinkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt_url: str
    device_id: str
    store_id: str
    zone_id: str | None = None
    role: str
    outbox_path: Path
    version: str = "0"
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
    """Outbox + MQTT client for one device. Start it once; send() from any thread."""

    def __init__(self, settings: LinkSettings, *, outbox: Outbox | None = None) -> None:
        self.settings = settings
        self.outbox = outbox or Outbox(
            settings.outbox_path,
            device_id=settings.device_id,
            store_id=settings.store_id,
            max_rows=settings.max_outbox_rows,
        )
        self.boot_id = str(uuid.uuid4())
        self._client, self._target = make_client(
            settings.mqtt_url, settings.device_id, ca_file=settings.ca_file
        )
        self._client.will_set(
            contract.status_topic(settings.store_id, settings.device_id),
            json.dumps({"state": "offline"}),
            qos=1,
            retain=True,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._wake = threading.Condition()
        self._connected = False
        self._subscribed_at: float | None = None
        self._sent_upto = 0
        self._progress_at = time.monotonic()
        # The hub's latest ack, how many times in a row it was that same value below ours, and
        # the hole last announced.
        self._hub_ack: int | None = None
        self._low_acks = 0
        self._announced: tuple[int, int] | None = None
        self._stopping = False
        self._last_error: str | None = None
        self._publisher = threading.Thread(
            target=self._publish_loop, name=f"link-{settings.device_id}", daemon=True
        )
        self._started = False

    # -- public ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
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
    ) -> contract.Envelope:
        """Make the message durable and queue it; raises ContractError if it is not valid.

        ``clock_is_synced`` overrides the kernel's answer, e.g. for a replay whose timestamps
        come from the recording rather than this machine's clock."""
        envelope = self.outbox.append(
            event_type,
            data,
            zone_id=zone_id if zone_id is not None else self.settings.zone_id,
            ts=ts,
            clock_synced=clock_synced() if clock_is_synced is None else clock_is_synced,
            msg_id=msg_id,
        )
        with self._wake:
            self._wake.notify_all()
        return envelope

    def stats(self) -> LinkStats:
        return LinkStats(
            connected=self._connected,
            outbox_depth=self.outbox.depth,
            last_seq=self.outbox.last_seq,
            acked_seq=self.outbox.acked_seq,
            acked_at=self.outbox.acked_at,
            last_error=self._last_error,
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
            self._wake.notify_all()
        if self._started:
            self._publisher.join(timeout)
            if self._connected:
                info = self._client.publish(
                    contract.status_topic(self.settings.store_id, self.settings.device_id),
                    json.dumps({"state": "offline"}),
                    qos=1,
                    retain=True,
                )
                try:
                    info.wait_for_publish(timeout)
                except RuntimeError:
                    pass
            self._client.disconnect()
            self._client.loop_stop()
        self.outbox.close()

    # -- MQTT callbacks (paho's network thread) --------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._last_error = f"broker refused the connection: {reason}"
            log.warning("%s", self._last_error)
            return
        s = self.settings
        # Subscribe first, so the hub's answer to the birth cannot pass before we listen.
        client.subscribe(contract.ack_topic(s.store_id, s.device_id), qos=1)
        self._publish_birth()
        with self._wake:
            self._connected = True
            self._last_error = None
            self._sent_upto = self.outbox.acked_seq
            self._progress_at = time.monotonic()
            self._wake.notify_all()
        log.info("connected to %s", self._target.redacted())

    def _publish_birth(self) -> None:
        self._birth_at = time.monotonic()
        s = self.settings
        birth = {
            "state": "online",
            # The hub answers a birth it finds retained (on its own restart) only for a device
            # that has not heard from it yet.
            "synced": bool(self._hub_synced or self.outbox.get_flag("hub_synced")),
            "boot_id": self.boot_id,
            "role": s.role,
            "zone_id": s.zone_id,
            "version": s.version,
            "config_hash": s.config_hash,
        }
        self._client.publish(
            contract.status_topic(s.store_id, s.device_id), json.dumps(birth), qos=1, retain=True
        )

    def _on_subscribe(self, *_: Any) -> None:
        with self._wake:
            self._subscribed_at = time.monotonic()
            self._wake.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._wake:
            self._connected = False
            self._subscribed_at = None
        # Keep the broker's refusal ("Not authorized") rather than the disconnect that follows.
        if not self._stopping and not (self._last_error or "").startswith("broker refused"):
            self._last_error = f"disconnected: {reason}"
            log.warning("disconnected from %s: %s", self._target.redacted(), reason)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._take_ack(message)
        except Exception:
            # paho's network thread must survive whatever happens here (a full disk, say),
            # or the device would silently stop hearing acks; the next ack tries again.
            log.exception("could not apply the hub's ack")

    def _announce_lost(self, acked: int) -> None:
        """Stalled while the hub keeps acking less than it once did: it has lost what this
        outbox deleted (a database restored from a backup). Declare that hole skipped, once per
        hub ack, so the hub's ack can move on. One low ack proves nothing: a broker can hand on
        an old retained one, two workers' acks can cross, and a restarted broker or bridge can
        deliver a run of old ones (each a different, rising value). The hub answering the same
        low value again to newer messages does. Were it wrong anyway, it costs one health
        notice and no data: every declared seq was acked, so the hub holds it and ignores the
        skip."""
        hub = self._hub_ack
        if (hub is None or hub >= acked or self._low_acks < 2
                or self._announced == (hub, acked)):
            return
        self._announced = (hub, acked)
        log.warning(
            "the hub acks seq %d but had acked %d: it has lost seqs %d-%d (restored from a "
            "backup?); declaring them skipped so its ack can move on", hub, acked, hub + 1, acked
        )
        self.outbox.announce_lost(hub + 1, acked, clock_synced=clock_synced())

    def _take_ack(self, message: mqtt.MQTTMessage) -> None:
        try:
            ack = contract.Ack.model_validate_json(message.payload)
        except ValueError:
            log.warning("ignoring malformed ack %r", message.payload[:100])
            return
        if ack.seq >= self.outbox.acked_seq:
            self._low_acks = 0
        elif ack.seq == self._hub_ack:
            self._low_acks += 1
        else:
            self._low_acks = 1
        self._hub_ack = ack.seq
        before = self.outbox.acked_seq
        if not (self._hub_synced or self.outbox.get_flag("hub_synced")):
            # First contact of this outbox: any ack belongs to an earlier life of the device
            # (a re-flashed card), and pending rows are renumbered to follow it. An ack may be
            # an old copy a broker or a bridge kept, lower than what the hub holds, and it can
            # arrive as if new (a bridge that reconnects passes the centre's retained acks on
            # live); adopting it would give new rows seqs the hub already has, and the hub's
            # next ack would delete them unstored. So wait for the hub's answer to this boot's
            # birth (it echoes our boot_id, and comes from its database) and adopt the highest
            # ack heard up to then.
            self._first_acks = max(self._first_acks, ack.seq)
            if ack.boot_id != self.boot_id:
                return
            if self._first_acks > 0:
                self.outbox.adopt_hub_seq(self._first_acks, first_contact=True)
            self.outbox.set_flag("hub_synced")
            self._hub_synced = True
            if (self._last_error or "").startswith("waiting for the hub"):
                self._last_error = None
            self._publish_birth()  # the retained birth now says so
        elif ack.seq > 0 and ack.seq > self.outbox.last_seq:
            self.outbox.adopt_hub_seq(ack.seq)
        else:
            self.outbox.acknowledge(ack.seq)
        with self._wake:
            # Only progress resets the retransmit timer: the hub repeats an ack that is stuck at
            # a gap with every later message, and that must not hide the gap.
            if self.outbox.acked_seq > before:
                self._progress_at = time.monotonic()
                self._announced = None  # a later hole may repeat an earlier (hub, ours) pair
            self._sent_upto = max(self._sent_upto, ack.seq)
            self._wake.notify_all()

    _hub_synced = False
    _first_acks = 0  # the highest ack heard before the hub's answer to our birth
    _birth_at = 0.0

    # -- publisher thread ----------------------------------------------------------------

    def _ready(self) -> bool:
        if not self._connected:
            return False
        if self._hub_synced or self.outbox.get_flag("hub_synced"):
            self._hub_synced = True
            return True
        # A fresh outbox sends nothing before the hub has answered its birth (see _take_ack):
        # its rows wait on disk, which is as safe as in the broker's queue. The birth is said
        # again now and then: the hub may have been away, a worker of several down with the
        # birth in its queue, or the device not yet in the hub's registry.
        now = time.monotonic()
        if self._subscribed_at and now - self._subscribed_at > FIRST_SYNC_GRACE_S:
            self._last_error = "waiting for the hub to answer this device's birth"
            if now - self._birth_at > min(self.settings.retransmit_s, BIRTH_RETRY_S):
                self._publish_birth()
        return False

    def _publish_loop(self) -> None:
        s = self.settings
        while True:
            with self._wake:
                if self._stopping:
                    return
                if not self._ready():
                    self._wake.wait(0.2)
                    continue
                acked = self.outbox.acked_seq
                stalled = time.monotonic() - self._progress_at > s.retransmit_s
                if stalled and self._sent_upto > acked:
                    log.info(
                        "no ack for %.0fs: publishing again from seq %d", s.retransmit_s, acked + 1
                    )
                    self._announce_lost(acked)
                    self._sent_upto = acked
                    self._progress_at = time.monotonic()
                room = acked + s.window - self._sent_upto
                if room <= 0:
                    self._wake.wait(1.0)
                    continue
                after = self._sent_upto
            rows = self.outbox.pending(after, min(room, 500))
            if not rows:
                with self._wake:
                    if self.outbox.last_seq <= self._sent_upto:
                        self._wake.wait(1.0)
                continue
            for row in rows:
                info = self._client.publish(row.topic, row.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # disconnected; the next connect starts again from the ack
                with self._wake:
                    if self._sent_upto < row.seq:
                        self._sent_upto = row.seq
