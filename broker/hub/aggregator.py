"""The aggregator: MQTT in, the hub database (SQLite or PostgreSQL) out, acks back.

Two processes. This one holds the paho client: its callback only appends what arrives to an
inbox, and a dispatcher thread hands the whole inbox as one batch to the writer process
(:mod:`peakend.broker.hub.writer`), which validates, stores and commits it. Only after the commit
does the dispatcher PUBACK each message to the broker (paho's manual acks) and publish each
device's retained ack. Batches size themselves: whatever arrived while the writer worked on the
previous batch is the next one, so light traffic is stored at once and heavy traffic in bulk.
Under load the next batch is already on its way while the dispatcher acks the last one
(see :data:`PIPELINE`), so the writer does not wait for those acks.
A device's birth is answered with its ack too (see :mod:`peakend.broker.hub.writer`); the retain
flag travels with each message so the writer can tell a device connecting now from a birth the
broker replays to us from its retained store.

Killing either process at any point loses nothing: the broker redelivers whatever was not
PUBACKed to the persistent session, and devices keep whatever the hub has not acked.

Several aggregators (workers) can share the stream of a chain's central broker with an MQTT v5
shared subscription (``shared_group``) into one PostgreSQL database. Each ack comes from the
database, so it is right whichever worker stored what; but two workers may publish acks of the
same device in the opposite order of their commits, leaving a lower retained ack behind (never a
too-high one), and a restarted broker or a bridge can hand on an older copy. So every worker of
a group watches every ack at the centre and, for a few seconds after each, compares it with the
database and publishes the database's value again where it has moved on.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from peakend.broker.device.mqtt import connect_properties, make_client
from peakend.broker.hub.config import QuarantineSection
from peakend.broker.hub.writer import (
    BatchResult,
    Counters,
    Failed,
    ReadAcks,
    Ready,
    Reply,
    Stop,
    StoreBatch,
    writer_main,
)
from peakend.broker.wire import contract
from peakend.broker.wire.forms import printable

log = logging.getLogger(__name__)

# Batches handed to the writer before the first of them is answered: while the dispatcher
# acks one, the writer already stores the next.
PIPELINE = 2
MAX_BATCH = 5000
# How often the dispatcher, waiting for the writer's answer, looks whether the next batch has
# filled up (see _settle).
EARLY_POLL_S = 0.005
# Unacked messages the broker may push to us at once (MQTT v5 receive maximum). With manual
# acks, room for the batches in flight and the next one filling: otherwise the broker stops
# sending while the writer works, and the network loop idles. It bounds this process's memory
# too (at most this many payloads of at most 4 KiB).
RECEIVE_MAXIMUM = MAX_BATCH * (PIPELINE + 1)
# In a shared group: how often, and for how long after publishing, acks are checked against the
# database (see the module docstring).
ACK_REFRESH_S = 2.0
ACK_REFRESH_WINDOW_S = 8.0
ACKS_SUBSCRIPTION = f"{contract.ROOT}/+/+/ack"

Periodic = Callable[[datetime], list[tuple[str, dict[str, Any]]]]
# What arrived: (topic, payload, received at, mid, qos, retained)
Item = tuple[str, bytes, float, int, int, bool]


class AggregatorError(RuntimeError):
    pass


class Aggregator:
    def __init__(
        self,
        mqtt_url: str,
        db_path: str | Path,
        *,
        registry_path: str | Path | None = None,
        client_id: str = "peakend-aggregator",
        shared_group: str | None = None,
        ca_file: str | None = None,
        periodic: Periodic | None = None,
        periodic_s: float = 15.0,
        quarantine: QuarantineSection | None = None,
    ) -> None:
        self.db_path = str(db_path)
        self.registry_path = str(registry_path) if registry_path else None
        self.quarantine = quarantine
        self.counters = Counters()
        self.periodic = periodic
        self.periodic_s = periodic_s
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._prefix = f"$share/{shared_group}/" if shared_group else ""
        self._inbox: list[Item] = []
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._client, self._target = make_client(
            mqtt_url, client_id, ca_file=ca_file, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="aggregator")
        self._writer: Any = None
        self._pipe: Any = None
        # device -> (store, seq, when) of the last ack this worker published or the broker echoed
        self._published: dict[str, tuple[str, int, float]] = {}
        self._acks_lock = threading.Lock()
        self._failures = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        # spawn, not fork: forking a process that runs paho's threads is unsafe.
        ctx = mp.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._writer = ctx.Process(
            target=writer_main,
            args=(child, self.db_path, self.registry_path, logging.getLogger().level,
                  self.quarantine),
            name="aggregator-writer",
            daemon=True,
        )
        self._writer.start()
        child.close()
        if not self._pipe.poll(60):
            raise AggregatorError("the writer process did not start")
        reply: Reply = self._pipe.recv()
        if not isinstance(reply, Ready):
            raise AggregatorError(f"the writer process failed to open the database: {reply[0]}")
        self._client.connect_async(
            self._target.host,
            self._target.port,
            keepalive=30,
            clean_start=False,
            properties=connect_properties(persistent=True, receive_maximum=RECEIVE_MAXIMUM),
        )
        self._client.loop_start()
        self._dispatcher.start()

    def stop(self) -> None:
        self._stop.set()
        with self._arrived:
            self._arrived.notify_all()
        if self._dispatcher.is_alive():
            self._dispatcher.join(15)
        self._client.disconnect()
        self._client.loop_stop()
        if self._pipe is not None:
            try:
                self._pipe.send(Stop())
            except (BrokenPipeError, OSError):
                pass
        if self._writer is not None:
            self._writer.join(10)
            if self._writer.is_alive():
                self._writer.kill()

    def alive(self) -> bool:
        return self._dispatcher.is_alive() and self._writer is not None and self._writer.is_alive()

    def run_forever(self, stop: threading.Event) -> None:
        self.start()
        while not stop.is_set() and self.alive():
            stop.wait(1.0)
        self.stop()

    # -- paho callbacks (network thread: keep them as cheap as a bare subscriber's) ---------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the aggregator: {reason}"
            log.error("%s", self.last_error)
            return
        topics = [
            # Retain as published: a device's retained event is seen as retained when it is
            # published, not only when the broker replays it, so it is cleared at once (see
            # _clear_retained_events).
            (self._prefix + contract.EVENTS_SUBSCRIPTION,
             SubscribeOptions(qos=1, retainAsPublished=True)),
            (self._prefix + contract.STATUS_SUBSCRIPTION, SubscribeOptions(qos=1)),
        ]
        if self._prefix:
            # Every worker watches every ack (not shared): whichever worker's ack the broker
            # kept last, each of them can see a stale one and publish the database's again.
            topics.append((ACKS_SUBSCRIPTION, SubscribeOptions(qos=1)))
        client.subscribe(topics)
        self.connected.set()
        log.info(
            "aggregator connected to %s (session present: %s)",
            self._target.redacted(),
            flags.session_present,
        )

    def _on_disconnect(self, *_: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic  # paho decodes it on every read
        if topic.endswith("/ack"):
            self._observe_ack(msg)
            return
        retained = msg.retain
        if retained and not msg.payload and _is_event(topic):
            # A retained event being cleared (by us, see _clear_retained_events): no message.
            if msg.qos > 0:
                self._client.ack(msg.mid, msg.qos)
            return
        item = (topic, msg.payload, time.time(), msg.mid, msg.qos, retained)
        with self._arrived:
            self._inbox.append(item)
            if len(self._inbox) == 1:
                self._arrived.notify()

    # -- dispatcher -------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        next_periodic = time.monotonic() + self.periodic_s
        next_refresh = time.monotonic() + ACK_REFRESH_S
        # Batches sent to the writer and not answered yet, oldest first: the pipe answers in
        # order.
        in_flight: deque[list[Item]] = deque()
        while not self._stop.is_set():
            if not in_flight:
                with self._arrived:
                    if not self._inbox:
                        self._arrived.wait(0.5)
                if not self._hand_on(in_flight):
                    return
            if in_flight and not self._settle(in_flight):
                return
            if self._prefix and time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + ACK_REFRESH_S
                # The pipe answers in order: the batches in flight first.
                while in_flight:
                    if not self._settle(in_flight, hand_on=False):
                        return
                if not self._refresh_acks():
                    return
            if self.periodic and time.monotonic() >= next_periodic:
                next_periodic = time.monotonic() + self.periodic_s
                self._run_periodic()
        # Stopping: batches still in flight are answered before the writer is told to stop,
        # and acked if committed (otherwise the broker redelivers them to the next start).
        while in_flight and self._settle(in_flight, hand_on=False):
            pass

    def _hand_on(self, in_flight: deque[list[Item]], at_least: int = 1) -> bool:
        """Send what has arrived to the writer as the next batch, if there is room in flight
        and at least ``at_least`` messages; False if the writer is gone."""
        if len(in_flight) >= PIPELINE or self._stop.is_set():
            return True
        with self._arrived:
            if len(self._inbox) < at_least:
                return True
            batch, self._inbox = self._inbox[:MAX_BATCH], self._inbox[MAX_BATCH:]
        if not batch:
            return True
        if not self._send(batch):
            return False
        in_flight.append(batch)
        return True

    def _send(self, batch: list[Item]) -> bool:
        items = [(topic, payload, at) for topic, payload, at, _, _, _ in batch]
        # retained statuses the broker replays on our subscribing: no device just connected
        replayed = [i for i, item in enumerate(batch) if item[5]]
        try:
            self._pipe.send(StoreBatch(items, frozenset(replayed)))
        except (BrokenPipeError, OSError):
            return self._writer_died()
        return True

    def _writer_died(self) -> bool:
        self.last_error = "the writer process died"
        log.error("%s; nothing unanswered was acked, the broker will redeliver it",
                  self.last_error)
        return False

    def _settle(self, in_flight: deque[list[Item]], *, hand_on: bool = True) -> bool:
        """Wait for the writer's answer to the oldest batch in flight; ack it once committed,
        or put it back to be tried again. ``hand_on``: send the next batch before acking.
        False if the writer is gone."""
        batch = in_flight[0]
        try:
            # While the writer stores it, the next batch goes into the pipe as soon as about as
            # much has arrived, so the writer starts on it the moment it answers this one:
            # under load this process's network thread holds the interpreter lock most of the
            # time, and reading the answer before sending more left the writer idle meanwhile.
            while hand_on and not self._pipe.poll(EARLY_POLL_S):
                if not self._hand_on(in_flight, _enough(batch)):
                    return False
            reply: Reply = self._pipe.recv()
        except (EOFError, BrokenPipeError, OSError):
            return self._writer_died()
        in_flight.popleft()
        if isinstance(reply, Failed):
            # Nothing of it was committed or PUBACKed: put it back and try again shortly (a
            # full disk or a locked database passes; a bad message is quarantined by the writer).
            # A batch behind it, already sent, is answered first: the ledger takes any order.
            log.error("batch of %d not stored (%s); retrying", len(batch),
                      printable(reply.reason, 1000))
            while in_flight:
                if not self._settle(in_flight, hand_on=False):
                    return False
            with self._arrived:
                self._inbox[:0] = batch
            self._stop.wait(min(30.0, 1.0 * 2 ** min(self._failures, 5)))
            self._failures += 1
            return True
        if self._failures:
            log.info("storing again after %d failed attempt(s)", self._failures)
        self._failures = 0
        # The writer gets its next batch before this one's acks go out: PUBACKing thousands of
        # messages takes a while, and the writer would otherwise wait for it. When it has one
        # already, a few messages more wait for the next: each batch costs a commit.
        if hand_on and not self._hand_on(in_flight, _enough(in_flight[-1]) if in_flight else 1):
            return False
        self._publish_acks(batch, reply.result)
        self._clear_retained_events(batch)
        return True

    def _clear_retained_events(self, batch: list[Item]) -> None:
        """Events are not retained (wire contract): a device that publishes one with the retain
        flag would leave it at the broker, and in a broker's every restart, and every
        subscriber's replay, for good, one per topic it invents. mosquitto cannot refuse the
        flag per topic (``retain_available false`` would refuse it everywhere, and births and
        acks are retained), so once the event is stored (or quarantined) the hub deletes the
        broker's copy with an empty retained message."""
        for topic, payload, *_ in filter(_retained, batch):
            if payload and _is_event(topic):
                self._client.publish(topic, b"", qos=1, retain=True)

    def _publish_acks(
        self, batch: list[Item], result: BatchResult
    ) -> None:
        self.counters.add(result.counters)
        # Everything in the batch is durable now: tell the broker, then the devices.
        ack = self._client.ack
        for _, _, _, mid, qos, _ in batch:
            if qos:
                ack(mid, qos)
        now = time.monotonic()
        for device, (store_id, seq) in result.acks.items():
            self._publish_ack(store_id, device, seq, now, result.births.get(device))

    def _publish_ack(
        self, store_id: str, device: str, seq: int, now: float, boot_id: str | None = None
    ) -> None:
        ack: dict[str, Any] = {"seq": seq}
        if boot_id:
            ack["boot_id"] = boot_id
        self._client.publish(
            contract.ack_topic(store_id, device), json.dumps(ack), qos=1, retain=True
        )
        with self._acks_lock:
            self._published[device] = (store_id, seq, now)

    def _observe_ack(self, msg: mqtt.MQTTMessage) -> None:
        """An ack as the broker now holds it, from any worker: the value to check next."""
        if msg.qos > 0:
            self._client.ack(msg.mid, msg.qos)
        try:
            where = contract.parse_topic(msg.topic)
            seq = contract.Ack.model_validate_json(msg.payload).seq
        except ValueError:
            return
        with self._acks_lock:
            self._published[where.device] = (where.store, seq, time.monotonic())

    def _refresh_acks(self) -> bool:
        """Publish again, from the database, the recent acks another worker has overtaken."""
        now = time.monotonic()
        with self._acks_lock:
            recent = {
                d: v for d, v in self._published.items() if now - v[2] < ACK_REFRESH_WINDOW_S
            }
            self._published = dict(recent)
        if not recent:
            return True
        try:
            self._pipe.send(ReadAcks(sorted(recent)))
            reply: Reply = self._pipe.recv()
        except (EOFError, BrokenPipeError, OSError):
            self.last_error = "the writer process died"
            log.error("%s", self.last_error)
            return False
        if isinstance(reply, Failed):
            log.warning("could not re-read acks: %s", reply.reason)
            return True
        for device, seq in reply.result.items():
            store_id, published, when = recent[device]
            if seq > published:
                log.info("ack of %s overtaken (%d < %d): publishing again", device, published, seq)
                self._publish_ack(store_id, device, seq, when)
        return True

    def _run_periodic(self) -> None:
        assert self.periodic is not None
        try:
            for store_id, payload in self.periodic(datetime.now(UTC)):
                self._client.publish(
                    contract.alerts_topic(store_id), json.dumps(payload), qos=1, retain=False
                )
        except Exception:
            log.exception("periodic task failed; continuing")


def _enough(in_the_writer: list[Item]) -> int:
    """How many messages make a batch worth sending while the writer still has
    ``in_the_writer``: three quarters of it, which arrive at about the time it is stored when
    the stream and the writer keep pace."""
    return max(1, len(in_the_writer) * 3 // 4)


def _retained(item: Item) -> bool:
    return item[5]


def _is_event(topic: str) -> bool:
    """Under ``peakend/v1/{store}/{device}/evt/``, whatever follows."""
    return topic.startswith(contract.ROOT + "/") and topic.split("/", 5)[4:5] == ["evt"]
