"""An in-memory MQTT broker and the part of paho's client a device link uses, for fast tests.

In the spirit of Home Assistant's MQTT tests: a publish is echoed to every client subscribed to
a matching filter (the publisher too, as a real broker does without no-local), retained
messages are kept and handed to new subscribers, and nothing happens behind the test's back.
Connections, subscriptions and deliveries are queued and run, in order, on the test's own
thread when it calls :meth:`FakeBroker.run`; so a test steps a :class:`DeviceLink` (its
``pump()``) and the broker in turn, with a manual clock, and runs in milliseconds.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    sender: str


class FakeBroker:
    def __init__(self) -> None:
        self.up = True
        self.refused: set[str] = set()  # client ids answered "Not authorized"
        self.retained: dict[str, Message] = {}
        self.log: list[Message] = []  # every publish accepted, in order
        self._clients: list[FakeClient] = []
        self._due: deque[Callable[[], None]] = deque()
        self._mids = itertools.count(1)

    def client(self, client_id: str) -> FakeClient:
        client = FakeClient(self, client_id)
        self._clients.append(client)
        return client

    def run(self, limit: int = 100_000) -> int:
        """Carry out everything queued (and what that queues); returns how much ran."""
        ran = 0
        while self._due:
            if ran == limit:
                raise AssertionError(f"still busy after {limit} deliveries: a loop?")
            self._due.popleft()()
            ran += 1
        return ran

    def published(self, topic_filter: str = "#") -> list[Message]:
        return [m for m in self.log if mqtt.topic_matches_sub(topic_filter, m.topic)]

    def retain(self, topic: str, payload: str | bytes) -> None:
        """Leave a retained message as a broker restored from an old file, or a bridge, would."""
        self.accept("test", topic, _bytes(payload), retain=True)

    def go_down(self) -> None:
        """The broker dies: every client loses its connection (wills fire)."""
        self.up = False
        for client in self._clients:
            if client.connected:
                self._lose(client, "Unspecified error")

    def come_back(self) -> None:
        """The broker is back; clients that want a connection reconnect, as paho's loop does."""
        self.up = True
        for client in self._clients:
            if client.wants_connection and not client.connected:
                self._due.append(lambda c=client: self._connect(c))

    # -- what clients call ----------------------------------------------------------------

    def attach(self, client: FakeClient) -> None:
        self._due.append(lambda: self._connect(client))

    def detach(self, client: FakeClient) -> None:
        """A clean disconnect: no will."""
        if client.connected:
            client.connected = False
            self._due.append(lambda: client.fire_disconnect("Normal disconnection"))

    def subscribe(self, client: FakeClient, topic_filter: str) -> int:
        mid = next(self._mids)
        client.subscriptions.add(topic_filter)
        self._due.append(lambda: client.fire_subscribe(mid))
        for message in list(self.retained.values()):
            if mqtt.topic_matches_sub(topic_filter, message.topic):
                self._due.append(lambda m=message: client.deliver(m, retain=True))
        return mid

    def accept(self, sender: str, topic: str, payload: bytes, *, retain: bool) -> int:
        message = Message(topic, payload, retain, sender)
        self.log.append(message)
        if retain:
            if payload:
                self.retained[topic] = message
            else:
                self.retained.pop(topic, None)
        for client in self._clients:
            if client.connected and any(
                mqtt.topic_matches_sub(f, topic) for f in client.subscriptions
            ):
                self._due.append(lambda c=client: c.deliver(message, retain=False))
        return next(self._mids)

    # -- internals ------------------------------------------------------------------------

    def _connect(self, client: FakeClient) -> None:
        if not (self.up and client.wants_connection) or client.connected:
            return
        if client.client_id in self.refused:
            client.fire_connect("Not authorized")
            return
        client.connected = True
        client.subscriptions = set()  # a clean start: no session kept
        client.fire_connect("Success")

    def _lose(self, client: FakeClient, reason: str) -> None:
        client.connected = False
        if client.will is not None:
            topic, payload = client.will
            self.accept(client.client_id, topic, payload, retain=True)
        self._due.append(lambda: client.fire_disconnect(reason))


class FakeClient:
    """The part of paho's ``Client`` a device link uses, wired to a :class:`FakeBroker`."""

    def __init__(self, broker: FakeBroker, client_id: str) -> None:
        self.broker = broker
        self.client_id = client_id
        self.connected = False
        self.wants_connection = False
        self.subscriptions: set[str] = set()
        self.will: tuple[str, bytes] | None = None
        self.on_connect: Callable[..., Any] | None = None
        self.on_disconnect: Callable[..., Any] | None = None
        self.on_message: Callable[..., Any] | None = None
        self.on_subscribe: Callable[..., Any] | None = None

    # paho's surface

    def will_set(self, topic: str, payload: str | bytes, qos: int = 0, retain: bool = False
                 ) -> None:
        self.will = (topic, _bytes(payload))

    def connect_async(self, host: str, port: int = 1883, **_: Any) -> None:
        self.wants_connection = True

    def loop_start(self) -> None:
        self.broker.attach(self)

    def loop_stop(self) -> None:
        pass

    def disconnect(self) -> None:
        self.wants_connection = False
        self.broker.detach(self)

    def subscribe(self, topic: str, qos: int = 0, **_: Any) -> tuple[int, int | None]:
        if not self.connected:
            return mqtt.MQTT_ERR_NO_CONN, None
        return mqtt.MQTT_ERR_SUCCESS, self.broker.subscribe(self, topic)

    def publish(self, topic: str, payload: str | bytes | None = None, qos: int = 0,
                retain: bool = False) -> mqtt.MQTTMessageInfo:
        if not self.connected:
            info = mqtt.MQTTMessageInfo(0)
            info.rc = mqtt.MQTT_ERR_NO_CONN
            return info
        info = mqtt.MQTTMessageInfo(
            self.broker.accept(self.client_id, topic, _bytes(payload or b""), retain=retain)
        )
        info._set_as_published()
        return info

    # what the broker calls

    def fire_connect(self, reason: str) -> None:
        if self.on_connect:
            code = ReasonCode(PacketTypes.CONNACK, reason)
            self.on_connect(self, None, mqtt.ConnectFlags(False), code, None)

    def fire_disconnect(self, reason: str) -> None:
        if self.on_disconnect:
            code = ReasonCode(PacketTypes.DISCONNECT, reason)
            self.on_disconnect(self, None, mqtt.DisconnectFlags(False), code, None)

    def fire_subscribe(self, mid: int) -> None:
        if self.on_subscribe:
            self.on_subscribe(self, None, mid, [ReasonCode(PacketTypes.SUBACK, "Granted QoS 1")],
                              None)

    def deliver(self, message: Message, *, retain: bool) -> None:
        if not self.connected or self.on_message is None:
            return
        out = mqtt.MQTTMessage(topic=message.topic.encode())
        out.payload = message.payload
        out.retain = retain
        out.qos = 1
        self.on_message(self, None, out)


def settle(broker: FakeBroker, links: Iterable[Any], rounds: int = 1000) -> None:
    """Step the broker and each link's publisher until neither has anything left to do."""
    links = list(links)
    for _ in range(rounds):
        busy = broker.run() > 0
        for link in links:
            busy = link.pump() == 0 or busy
        if not busy and broker.run() == 0:
            return
    raise AssertionError(f"not settled after {rounds} rounds")


def _bytes(payload: str | bytes) -> bytes:
    return payload.encode() if isinstance(payload, str) else payload
