"""The aggregator: MQTT in, SQLite out, acks back.

paho's network thread only queues what arrives; one writer thread validates, stores a batch in
one transaction (flushed on size or time), and only then PUBACKs each message to the broker
(manual acks) and publishes each device's retained ack. Killing the process at any point
therefore loses nothing: the broker redelivers whatever was not PUBACKed to the persistent
session, and the devices keep whatever is not acked.

Nothing that arrives can stop it: a message that fails validation is quarantined with its raw
bytes and the reason, and still counts as handled so the device's ack moves on.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from peakend.broker import contract
from peakend.broker.mosquitto import load_registry
from peakend.broker.mqtt import connect_properties, make_client
from peakend.broker.store import Store

log = logging.getLogger(__name__)

RECEIVE_MAXIMUM = 2000


@dataclass
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime


@dataclass
class Counters:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    statuses: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class Registry:
    """Provisioned devices (registry.json in the broker folder), re-read when it changes."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._mtime: float | None = None
        self._devices: dict[str, dict] = {}

    def check(self, envelope: contract.Envelope) -> str | None:
        """The reason the envelope does not fit its registered device, or None."""
        if self.path is None:
            return None
        self._refresh()
        device = self._devices.get(envelope.device_id)
        if device is None or device.get("revoked"):
            return f"device {envelope.device_id!r} is not registered on this hub"
        if envelope.store_id != device.get("store"):
            return (
                f"store {envelope.store_id!r} does not match store {device.get('store')!r} "
                f"registered for {envelope.device_id}"
            )
        zones = device.get("zones") or []
        if envelope.zone_id is not None and zones and envelope.zone_id not in zones:
            return (
                f"zone {envelope.zone_id!r} is not a zone registered for {envelope.device_id} "
                f"({', '.join(zones)})"
            )
        return None

    def _refresh(self) -> None:
        assert self.path is not None
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            self._devices = load_registry(self.path)
            self._mtime = mtime


class Aggregator:
    def __init__(
        self,
        mqtt_url: str,
        db_path: str | Path,
        *,
        registry_path: str | Path | None = None,
        client_id: str = "peakend-aggregator",
        shared_group: str | None = None,
        batch_size: int = 500,
        flush_s: float = 0.05,
        ca_file: str | None = None,
        periodic: Callable[[datetime], list[tuple[str, dict[str, Any]]]] | None = None,
        periodic_s: float = 15.0,
    ) -> None:
        self.store = Store(db_path)
        self.registry = Registry(registry_path)
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.counters = Counters()
        self._prefix = f"$share/{shared_group}/" if shared_group else ""
        self._queue: queue.Queue[Incoming | None] = queue.Queue()
        self._client, self._target = make_client(
            mqtt_url, client_id, ca_file=ca_file, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._writer = threading.Thread(target=self._write_loop, name="aggregator-writer")
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._periodic = periodic
        self._periodic_s = periodic_s
        self._last_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._client.connect_async(
            self._target.host,
            self._target.port,
            keepalive=30,
            clean_start=False,
            properties=connect_properties(persistent=True, receive_maximum=RECEIVE_MAXIMUM),
        )
        self._client.loop_start()
        self._writer.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._writer.join(10)
        self._client.disconnect()
        self._client.loop_stop()
        self.store.close()

    def run_forever(self) -> None:
        self.start()
        try:
            while self._writer.is_alive():
                self._writer.join(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # -- paho callbacks -------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._last_error = f"broker refused the aggregator: {reason}"
            log.error("%s", self._last_error)
            return
        client.subscribe(
            [
                (self._prefix + contract.EVENTS_SUBSCRIPTION, 1),
                (self._prefix + contract.STATUS_SUBSCRIPTION, 1),
            ]
        )
        self.connected.set()
        log.info(
            "aggregator connected to %s (session present: %s)",
            self._target.redacted(),
            flags.session_present,
        )

    def _on_disconnect(self, *_: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(
            Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, datetime.now(UTC))
        )

    # -- the writer -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        next_periodic = time.monotonic() + self._periodic_s
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                try:
                    self._handle(batch)
                except Exception:
                    # Never PUBACK what was not committed: the broker will redeliver it.
                    log.exception("batch of %d failed; it will be redelivered", len(batch))
                    time.sleep(1.0)
                    self._client.reconnect()
            if self._periodic and time.monotonic() >= next_periodic:
                next_periodic = time.monotonic() + self._periodic_s
                self._run_periodic()

    def _collect(self) -> list[Incoming]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + self.flush_s
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stop.set()
                break
            batch.append(item)
        return batch

    def _handle(self, batch: list[Incoming]) -> None:
        touched: dict[str, str] = {}
        with self.store.transaction():
            for item in batch:
                device = self._handle_one(item)
                if device:
                    touched[device[0]] = device[1]
            seen: dict[str, tuple[str, int]] = {}
            for item in batch:
                if "/evt/" in item.topic:
                    try:
                        where = contract.parse_topic(item.topic)
                    except contract.ContractError:
                        continue
                    count = seen.get(where.device, (where.store, 0))[1]
                    seen[where.device] = (where.store, count + 1)
            received = batch[-1].received_at
            for device, (store_id, count) in seen.items():
                self.store.touch_device(device, store_id, received, count)
            acks = {device: self.store.advance_ack(device) for device in touched}
        self.counters.batches += 1
        # Only now is everything in the batch durable: tell the broker and the devices.
        for item in batch:
            if item.qos > 0:
                self._client.ack(item.mid, item.qos)
        for device, store_id in touched.items():
            self._client.publish(
                contract.ack_topic(store_id, device),
                json.dumps({"seq": acks[device]}),
                qos=1,
                retain=True,
            )

    def _handle_one(self, item: Incoming) -> tuple[str, str] | None:
        """Store, skip or quarantine one message; returns (device, store) whose ack may move."""
        try:
            where = contract.parse_topic(item.topic)
        except contract.ContractError as exc:
            self._quarantine(item, str(exc), None, None)
            return None
        if where.kind == "status":
            self._handle_status(item, where)
            return None
        if where.kind != "evt":
            self._quarantine(item, f"devices do not publish on {item.topic}", where.device, None)
            return None
        try:
            envelope = contract.parse_event(item.topic, item.payload, item.received_at)
        except contract.ContractError as exc:
            seq = contract.peek_seq(item.payload)
            self._quarantine(item, str(exc), where.device, seq)
            return (where.device, where.store)
        problem = self.registry.check(envelope)
        if problem:
            self._quarantine(item, problem, where.device, envelope.seq)
            return (where.device, where.store)
        outcome = self.store.store_event(envelope, item.received_at)
        if outcome.kind == "stored":
            self.counters.stored += 1
        elif outcome.kind == "duplicate":
            self.counters.duplicates += 1
        else:
            # Quarantine with seq=None: the ledger already holds the real owner of that seq.
            self._quarantine(item, outcome.reason or outcome.kind, where.device, None)
        return (where.device, where.store)

    def _handle_status(self, item: Incoming, where: contract.Topic) -> None:
        if not item.payload:
            return  # a cleared retained status
        try:
            status = contract.Status.model_validate_json(item.payload)
        except ValueError as exc:
            self._quarantine(item, f"bad status: {exc}".splitlines()[0], where.device, None)
            return
        self.store.record_status(
            where.device, where.store, status.model_dump(exclude_none=True), item.received_at
        )
        self.counters.statuses += 1

    def _quarantine(self, item: Incoming, reason: str, device: str | None, seq: int | None) -> None:
        self.counters.quarantined += 1
        key = reason.split(":")[0][:60]
        self.counters.by_reason[key] = self.counters.by_reason.get(key, 0) + 1
        log.warning("quarantined %s: %s", item.topic, reason)
        self.store.quarantine(
            topic=item.topic,
            raw=item.payload,
            reason=reason,
            received_at=item.received_at,
            device_id=device,
            seq=seq,
        )

    def _run_periodic(self) -> None:
        assert self._periodic is not None
        try:
            for store_id, payload in self._periodic(datetime.now(UTC)):
                self._client.publish(
                    contract.alerts_topic(store_id), json.dumps(payload), qos=1, retain=False
                )
        except Exception:
            log.exception("periodic task failed; continuing")
