"""What a device sees of the hub, on a :class:`~fake_mqtt.FakeBroker`: the aggregator's delivery
rules and nothing else (no database, no registry).

It records every event it receives, acks each device's highest contiguous seq (skipped ranges
count as handled) as a retained message, and answers a live birth, or a retained one whose
device says it has not heard from the hub, with its ack and the birth's ``boot_id``.
"""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt
from fake_mqtt import FakeBroker

from peakend.broker.wire import contract


class FakeHub:
    def __init__(self, broker: FakeBroker, client_id: str = "aggregator") -> None:
        self.broker = broker
        self.acking = True  # False: it takes events in and says nothing (a writer that is stuck)
        self.received: dict[str, list[int]] = {}  # device -> seqs in arrival order, repeats too
        self.handled: dict[str, set[int]] = {}  # device -> seqs stored or declared skipped
        self.stores: dict[str, str] = {}
        self.client = broker.client(client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect_async("hub")
        self.client.loop_start()

    def acked(self, device: str) -> int:
        """The highest seq up to which every seq of ``device`` is handled."""
        handled, seq = self.handled.get(device, set()), 0
        while seq + 1 in handled:
            seq += 1
        return seq

    def restore_backup(self, device: str, upto: int) -> None:
        """The hub's database comes back from a backup that held ``device`` up to ``upto``."""
        self.handled[device] = {s for s in self.handled.get(device, set()) if s <= upto}

    def stored_once(self, device: str) -> list[int]:
        return sorted(set(self.received.get(device, [])))

    # -- MQTT ---------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(f"{contract.ROOT}/+/+/evt/#", qos=1)
        client.subscribe(f"{contract.ROOT}/+/+/status", qos=1)

    def _on_message(self, client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        where = contract.parse_topic(message.topic)
        self.stores[where.device] = where.store
        doc = json.loads(message.payload) if message.payload else {}
        if where.kind == "status":
            answer = doc.get("state") == "online" and (
                not message.retain or doc.get("synced") is False)
            if answer and self.acking:
                self._ack(where.device, doc.get("boot_id"))
            return
        seq = doc["seq"]
        self.received.setdefault(where.device, []).append(seq)
        handled = self.handled.setdefault(where.device, set())
        handled.add(seq)
        for first, last in (doc.get("data") or {}).get("skipped") or []:
            handled.update(range(first, last + 1))
        if self.acking:
            self._ack(where.device)

    def _ack(self, device: str, boot_id: str | None = None) -> None:
        ack: dict[str, object] = {"seq": self.acked(device)}
        if boot_id:
            ack["boot_id"] = boot_id
        self.client.publish(contract.ack_topic(self.stores[device], device), json.dumps(ack),
                            qos=1, retain=True)
