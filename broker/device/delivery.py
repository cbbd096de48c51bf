"""The device's delivery rules as a pure state machine: what to publish, when, and what the hub's
ack means.

Nothing here touches a socket, a thread, a clock or the outbox's file: each call gets ``now``
(monotonic seconds) and where the outbox stands, and answers with actions for the caller
(:class:`~peakend.broker.device.link.DeviceLink`) to carry out in order. That keeps the rules
testable in milliseconds against a fake client, while the link stays a thin paho shell.

The rules:

- rows go out at most ``window`` beyond the hub's ack, and leave the outbox only when the ack
  covers them (a broker PUBACK is not an ack);
- on every (re)connect, and whenever the ack has not moved for ``retransmit_s`` while rows are
  out, publishing starts again from the ack: the hub stores idempotently, so a repeat costs
  bandwidth, never a double row;
- a fresh outbox (one that has never heard from the hub) sends nothing until the hub answers
  its own birth (the ack echoes the birth's ``boot_id``), adopts the highest ack heard until
  then, and says its birth again every ``BIRTH_RETRY_S`` until answered;
- when sending stalls while the hub keeps answering the same ack below ours, the hub has lost
  what we deleted (a database restored from a backup): that hole is declared skipped, once per
  hub ack.

Actions, in the order the caller must apply them:

- :class:`Listen` — subscribe to this device's ack topic;
- :class:`SayBirth` — publish the retained birth;
- :class:`Acknowledge` — delete the outbox's rows up to ``seq``;
- :class:`Adopt` — renumber pending rows to follow the hub's seq;
- :class:`MarkSynced` — remember in the outbox that the hub has answered it;
- :class:`DeclareSkipped` — queue notices declaring ``first..last`` skipped;
- :class:`PublishRows` — publish pending rows after ``after``, at most ``limit``, reporting each
  one that went out with :meth:`Delivery.published`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from peakend.broker.wire import contract

log = logging.getLogger(__name__)

# How long a fresh outbox waits for the hub's first answer before it says so in last_error; it
# sends nothing until that answer, so a re-flashed device learns the seq it must continue from
# (see Outbox.adopt_hub_seq).
FIRST_SYNC_GRACE_S = 2.0
# How often a fresh outbox says its birth again while the hub has not answered it.
BIRTH_RETRY_S = 10.0
# Rows read from the outbox per round: small enough that an ack is heard between rounds.
BATCH = 500

WAITING_FOR_HUB = "waiting for the hub to answer this device's birth"
REFUSED = "broker refused the connection"


@dataclass(frozen=True)
class Position:
    """Where the outbox stands: the hub's last ack it applied, and the last seq it issued."""

    acked: int
    last: int


@dataclass(frozen=True)
class Listen:
    pass


@dataclass(frozen=True)
class SayBirth:
    synced: bool


@dataclass(frozen=True)
class Acknowledge:
    seq: int


@dataclass(frozen=True)
class Adopt:
    hub_seq: int
    first_contact: bool


@dataclass(frozen=True)
class MarkSynced:
    pass


@dataclass(frozen=True)
class DeclareSkipped:
    first: int
    last: int


@dataclass(frozen=True)
class PublishRows:
    after: int
    limit: int


Action = Listen | SayBirth | Acknowledge | Adopt | MarkSynced | DeclareSkipped | PublishRows


class Delivery:
    """The delivery rules of one device link. Not thread-safe: the link calls it under a lock."""

    def __init__(
        self, *, boot_id: str, window: int, retransmit_s: float, synced: bool, batch: int = BATCH
    ) -> None:
        self.boot_id = boot_id
        self.window = window
        self.retransmit_s = retransmit_s
        self.batch = batch
        # Has the hub ever answered this outbox (kept in the outbox, so across restarts)?
        self.synced = synced
        self.online = False
        self.last_error: str | None = None
        self._stopping = False
        self._subscribed_at: float | None = None
        self._birth_at = 0.0
        self._sent_upto = 0
        self._progress_at = 0.0
        # The hub's latest ack, how many times in a row it was that same value below ours, and
        # the hole last declared.
        self._hub_ack: int | None = None
        self._low_acks = 0
        self._declared: tuple[int, int] | None = None
        self._first_acks = 0  # the highest ack heard before the hub's answer to our birth

    @property
    def sent_upto(self) -> int:
        """The highest seq published (or known to be held by the hub) since the last rewind."""
        return self._sent_upto

    # -- connection events -----------------------------------------------------------------

    def connected(self, now: float, at: Position) -> list[Action]:
        """Connected: listen first, so the hub's answer to the birth cannot pass before we do;
        then publish again from the ack (the broker keeps no session for us)."""
        self.online = True
        self.last_error = None
        self._sent_upto = at.acked
        self._progress_at = now
        return [Listen(), self._birth(now)]

    def refused(self, reason: str) -> None:
        self.last_error = f"{REFUSED}: {reason}"

    def subscribed(self, now: float) -> None:
        self._subscribed_at = now

    def disconnected(self, reason: str) -> str | None:
        """Returns the error to report, or None when the disconnect is no news."""
        self.online = False
        self._subscribed_at = None
        # Keep the broker's refusal ("Not authorized") rather than the disconnect that follows.
        if self._stopping or (self.last_error or "").startswith(REFUSED):
            return None
        self.last_error = f"disconnected: {reason}"
        return self.last_error

    def stopping(self) -> None:
        self._stopping = True

    # -- the hub's ack -----------------------------------------------------------------------

    def ack(self, payload: bytes, at: Position, now: float) -> list[Action]:
        """A message on this device's ack topic."""
        try:
            ack = contract.Ack.model_validate_json(payload)
        except ValueError:
            log.warning("ignoring malformed ack %r", payload[:100])
            return []
        if ack.seq >= at.acked:
            self._low_acks = 0
        elif ack.seq == self._hub_ack:
            self._low_acks += 1
        else:
            self._low_acks = 1
        self._hub_ack = ack.seq
        acked = at.acked
        actions: list[Action] = []
        if not self.synced:
            # First contact of this outbox: any ack belongs to an earlier life of the device (a
            # re-flashed card), and pending rows are renumbered to follow it. An ack may be an
            # old copy a broker or a bridge kept, lower than what the hub holds, and it can
            # arrive as if new (a bridge that reconnects passes the centre's retained acks on
            # live); adopting it would give new rows seqs the hub already has, and the hub's
            # next ack would delete them unstored. So wait for the hub's answer to this boot's
            # birth (it echoes our boot_id, and comes from its database) and adopt the highest
            # ack heard up to then.
            self._first_acks = max(self._first_acks, ack.seq)
            if ack.boot_id != self.boot_id:
                return []
            if self._first_acks > 0:
                actions.append(Adopt(self._first_acks, first_contact=True))
                acked = self._first_acks
            actions.append(MarkSynced())
            self.synced = True
            if self.last_error == WAITING_FOR_HUB:
                self.last_error = None
            actions.append(self._birth(now))  # the retained birth now says so
        elif ack.seq > 0 and ack.seq > at.last:
            # The hub holds seqs this outbox never issued: its history was wiped.
            actions.append(Adopt(ack.seq, first_contact=False))
            acked = ack.seq
        else:
            actions.append(Acknowledge(ack.seq))
            acked = max(acked, ack.seq)
        # Only progress resets the retransmit timer: the hub repeats an ack that is stuck at a
        # gap with every later message, and that must not hide the gap.
        if acked > at.acked:
            self._progress_at = now
            self._declared = None  # a later hole may repeat an earlier (hub, ours) pair
        self._sent_upto = max(self._sent_upto, ack.seq)
        return actions

    # -- the publisher's rounds ------------------------------------------------------------

    def tick(self, now: float, at: Position) -> list[Action]:
        """One round of the publisher: what to send now."""
        if not self.online:
            return []
        if not self.synced:
            return self._wait_for_hub(now)
        actions: list[Action] = []
        if now - self._progress_at > self.retransmit_s and self._sent_upto > at.acked:
            log.info("no ack for %.0fs: publishing again from seq %d", self.retransmit_s,
                     at.acked + 1)
            declare = self._declaration(at.acked)
            if declare is not None:
                actions.append(declare)
            self._sent_upto = at.acked
            self._progress_at = now
        room = at.acked + self.window - self._sent_upto
        if room > 0:
            actions.append(PublishRows(self._sent_upto, min(room, self.batch)))
        return actions

    def published(self, seq: int) -> None:
        self._sent_upto = max(self._sent_upto, seq)

    def waiting(self) -> bool:
        """True while nothing can be sent whatever the outbox holds (offline, or a fresh
        outbox whose birth the hub has not answered): the publisher polls the clock."""
        return not (self.online and self.synced)

    # -- helpers -----------------------------------------------------------------------------

    def _birth(self, now: float) -> SayBirth:
        self._birth_at = now
        return SayBirth(synced=self.synced)

    def _wait_for_hub(self, now: float) -> list[Action]:
        """A fresh outbox sends nothing before the hub has answered its birth (see ack()): its
        rows wait on disk, which is as safe as in the broker's queue. The birth is said again
        now and then: the hub may have been away, a worker of several down with the birth in
        its queue, or the device not yet in the hub's registry."""
        if self._subscribed_at is None or now - self._subscribed_at <= FIRST_SYNC_GRACE_S:
            return []
        self.last_error = WAITING_FOR_HUB
        if now - self._birth_at > min(self.retransmit_s, BIRTH_RETRY_S):
            return [self._birth(now)]
        return []

    def _declaration(self, acked: int) -> DeclareSkipped | None:
        """Stalled while the hub keeps acking less than it once did: it has lost what this
        outbox deleted (a database restored from a backup). Declare that hole skipped, once per
        hub ack, so the hub's ack can move on. One low ack proves nothing: a broker can hand on
        an old retained one, two workers' acks can cross, and a restarted broker or bridge can
        deliver a run of old ones (each a different, rising value). The hub answering the same
        low value again to newer messages does. Were it wrong anyway, it costs one health
        notice and no data: every declared seq was acked, so the hub holds it and ignores the
        skip."""
        hub = self._hub_ack
        if hub is None or hub >= acked or self._low_acks < 2 or self._declared == (hub, acked):
            return None
        self._declared = (hub, acked)
        log.warning(
            "the hub acks seq %d but had acked %d: it has lost seqs %d-%d (restored from a "
            "backup?); declaring them skipped so its ack can move on", hub, acked, hub + 1, acked
        )
        return DeclareSkipped(hub + 1, acked)
