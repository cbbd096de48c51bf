"""The device link's delivery rules, driven in milliseconds: a real DeviceLink and outbox on a
fake broker that echoes publishes, a fake hub that acks, and a clock moved by hand. The same
rules run once more against mosquitto and the real aggregator in test_link_e2e.py,
test_delivery_chaos.py and tests/hub/test_hub_restore.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub
from fake_mqtt import FakeBroker, settle
from manual_clock import ManualClock

from peakend.broker.device import delivery
from peakend.broker.device.delivery import Delivery, Position
from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.version import version

ACK = "peakend/v1/s001/kiosk-01/ack"
STATUS = "peakend/v1/s001/kiosk-01/status"


class Net:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.broker = FakeBroker()
        self.hub = FakeHub(self.broker)
        self.clock = ManualClock()
        self.links: list[DeviceLink] = []
        self.running: list[DeviceLink] = []

    def link(self, outbox: str = "kiosk.sqlite", **settings: object) -> DeviceLink:
        link = DeviceLink(
            LinkSettings(mqtt_url="mqtt://kiosk-01:secret@hub.local:1883", device_id="kiosk-01",
                         store_id="s001", zone_id="checkout", role="kiosk",
                         outbox_path=self.tmp_path / outbox, **settings),
            client=self.broker.client("kiosk-01"),
            clock=self.clock,
        )
        self.links.append(link)
        return link

    def started(self, link: DeviceLink) -> DeviceLink:
        link.start(background=False)
        self.running.append(link)
        self.settle()
        return link

    def settle(self) -> None:
        settle(self.broker, self.running)

    def earlier_life(self, messages: int) -> None:
        """The device lived on another SD card and the hub acked ``messages`` of it."""
        old = self.started(self.link("old.sqlite"))
        rate(old, messages)
        self.settle()
        assert old.stats().acked_seq == messages
        old.stop()
        self.links.remove(old)
        self.running.remove(old)

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def sent(self, since: int = 0) -> list[int]:
        """Seqs the device published, in order, repeats included."""
        return [json.loads(m.payload)["seq"]
                for m in self.broker.published("peakend/v1/s001/kiosk-01/evt/#")[since:]]

    def births(self) -> list[dict]:
        return [json.loads(m.payload) for m in self.broker.published(STATUS)
                if json.loads(m.payload)["state"] == "online"]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    net = Net(tmp_path)
    yield net
    for link in net.links:
        link.stop(timeout=0)


def rate(link: DeviceLink, n: int) -> None:
    for _ in range(n):
        link.send("rating", {"score": 4})


def test_the_hubs_ack_deletes_rows_and_a_broker_puback_does_not(net: Net) -> None:
    link = net.started(net.link())
    net.hub.acking = False
    rate(link, 3)
    net.settle()
    assert net.sent() == [1, 2, 3]  # the broker took all three
    assert link.stats().outbox_depth == 3
    net.broker.retain(ACK, '{"seq": 2}')
    net.settle()
    assert link.stats().acked_seq == 2 and link.stats().outbox_depth == 1
    net.hub.acking = True
    rate(link, 1)
    net.settle()
    assert link.stats().acked_seq == 4 and link.stats().outbox_depth == 0
    assert net.hub.stored_once("kiosk-01") == [1, 2, 3, 4]


def test_at_most_a_window_of_rows_goes_out_beyond_the_ack(net: Net) -> None:
    link = net.started(net.link(window=3))
    net.hub.acking = False
    rate(link, 10)
    net.settle()
    assert net.sent() == [1, 2, 3]
    net.broker.retain(ACK, '{"seq": 2}')
    net.settle()
    assert net.sent() == [1, 2, 3, 4, 5]
    net.hub.acking = True
    net.broker.retain(ACK, '{"seq": 5}')
    net.settle()
    assert link.stats().acked_seq == 10 and net.sent() == list(range(1, 11))


def test_a_reconnect_publishes_again_from_the_ack(net: Net) -> None:
    link = net.started(net.link())
    rate(link, 2)
    net.settle()
    assert link.stats().acked_seq == 2
    net.hub.acking = False
    rate(link, 3)
    net.settle()
    before = len(net.sent())
    net.broker.go_down()
    net.settle()
    assert not link.stats().connected
    assert link.stats().last_error == "disconnected: Unspecified error"
    assert json.loads(net.broker.retained[STATUS].payload) == {"state": "offline"}  # the will
    net.broker.come_back()
    net.settle()
    assert net.sent(before) == [3, 4, 5]  # from the ack, not from 1
    assert link.stats().connected and link.stats().last_error is None
    assert json.loads(net.broker.retained[STATUS].payload)["state"] == "online"


def test_an_ack_that_does_not_move_for_retransmit_s_publishes_again_from_it(net: Net) -> None:
    link = net.started(net.link(retransmit_s=30.0))
    net.hub.acking = False
    rate(link, 2)
    net.settle()
    net.later(29.0)
    assert net.sent() == [1, 2]
    net.later(2.0)
    assert net.sent() == [1, 2, 1, 2]
    net.later(29.0)
    assert net.sent() == [1, 2, 1, 2]  # the timer started again with the repeat
    net.hub.acking = True
    net.later(2.0)
    assert link.stats().outbox_depth == 0
    assert net.hub.stored_once("kiosk-01") == [1, 2]


def test_an_ack_that_repeats_a_gap_does_not_hold_off_the_retransmit(net: Net) -> None:
    """The hub answers every later message with the same ack while it misses one: only
    progress resets the timer."""
    link = net.started(net.link(retransmit_s=30.0))
    rate(link, 1)
    net.settle()
    net.hub.acking = False
    rate(link, 2)
    net.settle()
    for _ in range(4):
        net.later(10.0)
        net.broker.retain(ACK, '{"seq": 1}')  # the same, again and again
        net.settle()
    assert net.sent() == [1, 2, 3, 2, 3]


def test_a_fresh_device_adopts_an_ack_only_from_the_hubs_answer_to_its_own_birth(
    net: Net,
) -> None:
    net.earlier_life(10)
    # A broker restored an older retained ack; another boot's answer is also about.
    net.broker.retain(ACK, '{"seq": 5}')
    net.hub.acking = False  # the hub is away
    new = net.link("new.sqlite")  # a new SD card, with ratings taken before the network
    rate(new, 8)
    since = len(net.sent())
    net.started(new)
    net.broker.retain(ACK, '{"seq": 7, "boot_id": "an-earlier-boot"}')
    net.settle()
    assert net.sent(since) == [] and new.stats().outbox_depth == 8
    assert new.stats().last_error is None  # a grace before it says so
    net.later(2.5)
    assert new.stats().last_error == delivery.WAITING_FOR_HUB
    assert net.sent(since) == []
    net.hub.acking = True  # back, but a birth it has missed is not answered by itself
    net.later(5.0)
    assert net.sent(since) == [] and len(net.births()) == 3  # old's, new's two so far
    net.later(5.0)  # ten seconds after the last birth: said again, and answered
    assert new.stats().acked_seq == 18 and new.stats().outbox_depth == 0
    assert sorted(net.sent(since)) == list(range(11, 19))
    assert new.stats().last_error is None
    births = [b for b in net.births() if b["boot_id"] == new.boot_id]
    assert [b["synced"] for b in births] == [False, False, True]


def test_a_fresh_device_with_more_queued_than_the_hubs_ack_keeps_everything(net: Net) -> None:
    net.earlier_life(3)
    new = net.link("new.sqlite")
    rate(new, 6)
    net.started(new)
    assert new.stats().acked_seq == 9 and new.stats().outbox_depth == 0
    assert net.hub.stored_once("kiosk-01") == list(range(1, 10))


def test_a_renumbering_that_fails_leaves_the_device_waiting_for_the_next_answer(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    net.earlier_life(3)
    new = net.link("new.sqlite")
    rate(new, 2)
    real_adopt, failures = new.outbox.adopt_hub_seq, []

    def full_disk(hub_seq: int, *, first_contact: bool = False) -> int:
        if not failures:
            failures.append(hub_seq)
            raise OSError("disk full")
        return real_adopt(hub_seq, first_contact=first_contact)

    monkeypatch.setattr(new.outbox, "adopt_hub_seq", full_disk)
    since = len(net.sent())
    net.started(new)  # the hub answers; the renumbering fails
    assert failures == [3] and net.sent(since) == []  # nothing sent under the old numbers
    net.later(10.5)  # the birth again, answered again
    assert net.sent(since) == [4, 5] and new.stats().outbox_depth == 0
    assert net.hub.stored_once("kiosk-01") == [1, 2, 3, 4, 5]


def test_one_stale_low_ack_declares_nothing(net: Net) -> None:
    link = net.started(net.link(retransmit_s=1.0))
    rate(link, 4)
    net.settle()
    net.hub.acking = False
    net.broker.retain(ACK, '{"seq": 1}')  # an old copy reaches the device
    rate(link, 1)
    for _ in range(3):
        net.later(1.5)  # stalls while the hub is away
    assert link.stats().last_seq == 5  # no notice queued
    assert link.stats().acked_seq == 4 and link.stats().outbox_depth == 1
    net.hub.acking = True
    net.later(1.5)
    assert link.stats().acked_seq == 5
    assert net.hub.stored_once("kiosk-01") == [1, 2, 3, 4, 5]


def test_a_restored_hub_gets_its_hole_declared_once_per_ack(net: Net) -> None:
    link = net.started(net.link(retransmit_s=1.0))
    rate(link, 5)
    net.settle()
    net.hub.restore_backup("kiosk-01", upto=2)  # seqs 3-5 are gone for good
    rate(link, 2)  # 6 and 7: the hub answers 2, twice
    net.settle()
    assert link.stats().acked_seq == 5 and link.stats().last_seq == 7
    net.hub.acking = False
    net.later(1.5)  # a stall: the hole is declared (notice, seq 8)
    assert link.stats().last_seq == 8
    net.later(1.5)
    net.later(1.5)  # more stalls on the same hub ack: no second notice
    assert link.stats().last_seq == 8
    notices = [json.loads(m.payload)["data"]["skipped"]
               for m in net.broker.published("peakend/v1/s001/kiosk-01/evt/health")]
    assert notices and all(n == [[3, 5]] for n in notices)
    net.hub.acking = True
    net.later(1.5)
    assert link.stats().acked_seq == 8 and link.stats().outbox_depth == 0


def test_an_ack_beyond_the_outboxs_history_renumbers_what_is_pending(net: Net) -> None:
    link = net.started(net.link())
    net.hub.acking = False
    rate(link, 2)
    net.settle()
    net.broker.retain(ACK, '{"seq": 40}')
    net.settle()
    assert link.stats().acked_seq == 40 and link.stats().last_seq == 42
    assert net.sent() == [1, 2, 41, 42]


def test_a_malformed_ack_changes_nothing(net: Net) -> None:
    link = net.started(net.link())
    net.hub.acking = False
    rate(link, 2)
    net.settle()
    for payload in ("not json", '{"seq": -1}', '{"seq": "3"}'):
        net.broker.retain(ACK, payload)
    net.settle()
    assert link.stats().acked_seq == 0 and link.stats().outbox_depth == 2


def test_the_birth_says_who_the_device_is_and_a_refusal_stays_the_last_error(net: Net) -> None:
    link = net.started(net.link(config_hash="abc"))
    birth = net.births()[0]
    assert birth == {"state": "online", "synced": False, "boot_id": link.boot_id,
                     "role": "kiosk", "zone_id": "checkout", "version": version(),
                     "config_hash": "abc"}
    assert link.stats().broker == "mqtt://kiosk-01:***@hub.local:1883"
    net.broker.refused.add("kiosk-01")
    net.broker.go_down()
    net.broker.come_back()
    net.settle()
    assert link.stats().last_error == "broker refused the connection: Not authorized"
    assert not link.stats().connected


def test_the_rules_alone_rewind_to_the_ack_on_connect_and_send_nothing_offline() -> None:
    rules = Delivery(boot_id="b", window=100, retransmit_s=30.0, synced=True)
    at = Position(acked=3, last=9)
    assert rules.tick(0.0, at) == [] and rules.waiting()
    assert rules.connected(0.0, at) == [delivery.Listen(), delivery.SayBirth(synced=True)]
    assert rules.tick(0.0, at) == [delivery.PublishRows(after=3, limit=100)]
    rules.published(9)
    assert rules.tick(1.0, at) == [delivery.PublishRows(after=9, limit=94)]
    assert rules.ack(b'{"seq": 9}', at, 2.0) == [delivery.Acknowledge(9)]
    rules.disconnected("gone")
    assert rules.tick(3.0, at) == [] and rules.last_error == "disconnected: gone"
