"""The aggregator's writer: validate one batch, store it in one transaction, compute the acks.

It runs in its own process (see :mod:`peakend.broker.hub.aggregator`), so JSON parsing, contract
checks and the database never compete with the MQTT network loop for Python's interpreter lock.
:class:`Ingest` itself is plain code over a store (SQLite or PostgreSQL, see
:func:`peakend.broker.hub.db.store.open_store`) and a Registry, tested without a broker.
"""

from __future__ import annotations

import gc
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from peakend.broker.hub.config import QuarantineSection
from peakend.broker.hub.db.database import PRUNE_LOCK
from peakend.broker.hub.db.store import EventStore, open_store, unplaceable
from peakend.broker.hub.registry import Registry
from peakend.broker.hub.reports.rollup import refresh_rollups
from peakend.broker.wire import contract
from peakend.broker.wire.forms import printable

log = logging.getLogger(__name__)

# (topic, payload, received_at as a POSIX timestamp)
Message = tuple[str, bytes, float]


@dataclass
class Counters:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    statuses: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counters) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.statuses += other.statuses
        self.batches += other.batches
        for key, n in other.by_reason.items():
            self.by_reason[key] = self.by_reason.get(key, 0) + n


class Touch(NamedTuple):
    """A device whose ack one message moves: ``kind`` is event, bad (quarantined, seq read)
    or birth."""

    device: str
    store: str
    kind: str
    boot_id: str | None = None


@dataclass
class BatchResult:
    """What the MQTT side must publish once the batch is committed."""

    acks: dict[str, tuple[str, int]]  # device -> (store, highest contiguous handled seq)
    counters: Counters
    births: dict[str, str] = field(default_factory=dict)  # device -> boot_id of a birth answered


# A batch that loses a deadlock to another worker is run again from the start, this often.
RETRIES = 5

# The writer folds new rows into the report rollups when it has a moment, at most every
# FOLD_EVERY_S; with the next batch already waiting (a backlog drains, a burst) ingest goes
# first and the fold waits up to FOLD_BUSY_S: pages read the rows past the fold, so a late fold
# costs them a little time, never a wrong figure. A fold does at most FOLD_ROWS rows per table,
# so a first catch-up over a large database never holds the acks back for long.
FOLD_EVERY_S = 1.0
FOLD_BUSY_S = 10.0
FOLD_ROWS = 20_000

# Allocations between two runs of the writer process's cycle collector (see writer_main).
GC_THRESHOLD = 50_000

# The quarantine's oldest rows are pruned this often (hub.toml's [quarantine]), in a
# transaction of its own: never on every message.
PRUNE_EVERY_S = 60.0


# -- what the aggregator and the writer process say to each other over their pipe ----------
# NamedTuples: as cheap to pickle as the bare tuples they replace, and each has a name.


class StoreBatch(NamedTuple):
    """Store these messages in one transaction. ``replayed``: positions of retained statuses
    the broker replayed on our subscribing (no device just connected)."""

    items: list[Message]
    replayed: frozenset[int] = frozenset()


class ReadAcks(NamedTuple):
    """The acks the database holds for these devices (a worker of several corrects an ack
    it published out of order with them)."""

    devices: list[str]


class Stop(NamedTuple):
    """Finish: the aggregator sends it after the last batch."""


class Ready(NamedTuple):
    """The writer opened the database and waits for batches."""


class Done(NamedTuple):
    """The request succeeded: a BatchResult for a StoreBatch, {device: seq} for ReadAcks."""

    result: Any


class Failed(NamedTuple):
    """The request failed and nothing of it was committed (the database could not be opened,
    or a failure of the database itself such as a full disk): the aggregator retries."""

    reason: str


Request = StoreBatch | ReadAcks | Stop
Reply = Ready | Done | Failed


class Ingest:
    def __init__(
        self,
        db: str | Path,
        registry_path: str | Path | None = None,
        quarantine: QuarantineSection | None = None,
    ) -> None:
        self.store: EventStore = open_store(db)
        self.registry = Registry(registry_path, refresh_on_lookup=False)
        self.quarantine = quarantine or QuarantineSection()

    def close(self) -> None:
        self.store.close()

    def fold(self) -> int:
        """Bring the report rollups up to date, a bounded step at a time; returns rows folded.
        Pages and reports read past the fold mark, so a fold that is behind costs them time,
        never exactness."""
        return refresh_rollups(self.store.db, FOLD_ROWS)

    def prune_quarantine(self, now: datetime | None = None) -> int:
        """Delete what hub.toml's ``[quarantine]`` no longer keeps, in a transaction of its own;
        returns the rows deleted. The ledger keeps the seqs, so no ack depends on these rows."""
        now = now or datetime.now(UTC)
        with self.store.db.transaction(take_turns=PRUNE_LOCK):
            deleted = self.store.prune_quarantine(
                before=now - timedelta(days=self.quarantine.keep_days),
                keep=self.quarantine.max_rows,
            )
        if deleted:
            log.info("quarantine: deleted %d row(s) beyond its retention", deleted)
        return deleted

    def handle(self, batch: list[Message], replayed: frozenset[int] = frozenset()) -> BatchResult:
        """Store one batch in one transaction; returns the acks to publish once committed.
        ``replayed``: positions of retained statuses the broker replayed on subscribing, which
        are no news of a device connecting (see ``_check_one``).

        Should the batch fail as a whole, each message is tried on its own and one that still
        fails is quarantined with the error: no single message can stop the hub storing."""
        try:
            return self._handle_with_retries(batch, replayed)
        except Exception as exc:
            if self.store.is_storage_failure(exc):
                # The database's own failure (disk full, locked): no message is to blame, and
                # one by one would fail alike. Nothing is committed or acked; it comes again.
                raise
            if len(batch) == 1:
                return self._quarantine_failed(batch[0], exc)
            log.warning("batch of %d failed (%s); storing its messages one by one",
                        len(batch), printable(str(exc)))
        total = BatchResult({}, Counters(batches=1))
        for i, message in enumerate(batch):
            result = self.handle([message], frozenset({0}) if i in replayed else frozenset())
            total.acks.update(result.acks)
            total.births.update(result.births)
            total.counters.add(result.counters)
        total.counters.batches = 1
        return total

    def _quarantine_failed(self, message: Message, exc: Exception) -> BatchResult:
        topic, payload, received = message
        counters = Counters(batches=1)
        reason = f"could not be stored: {type(exc).__name__}: {exc}"[:300]
        try:
            where = contract.parse_topic(topic)
        except contract.ContractError:
            where = None
        at = datetime.fromtimestamp(received, UTC)
        device = where.device if where else None
        # its seq, when it can be read, so that no single message can freeze the device's ack
        seq = contract.peek_seq(payload) if device else None
        with self.store.transaction():
            self._quarantine(topic, payload, at, reason, device, seq, counters)
        return BatchResult({}, counters)

    def _handle_with_retries(self, batch: list[Message], replayed: frozenset[int]) -> BatchResult:
        for attempt in range(RETRIES):
            try:
                return self._handle_once(batch, replayed)
            except Exception as exc:
                if attempt == RETRIES - 1 or not self.store.is_retryable(exc):
                    raise
                log.info(
                    "batch of %d lost a race with another worker (%s); again",
                    len(batch),
                    type(exc).__name__,
                )
        raise AssertionError("unreachable")

    def _handle_once(self, batch: list[Message], replayed: frozenset[int]) -> BatchResult:
        counters = Counters(batches=1)
        touched: dict[str, str] = {}
        seen: dict[str, int] = {}
        births: dict[str, str] = {}
        bad_store: dict[str, str] = {}
        valid: list[tuple[contract.Envelope, datetime, str, bytes]] = []
        self.registry.refresh()  # once per batch: a provision or a revoke counts from the next
        with self.store.transaction():
            for i, (topic, payload, received) in enumerate(batch):
                at = datetime.fromtimestamp(received, UTC)
                touch = self._check_one(topic, payload, at, counters, valid, i in replayed)
                if touch is None:
                    continue
                if touch.kind == "bad":
                    bad_store.setdefault(touch.device, touch.store)
                else:
                    touched[touch.device] = touch.store
                if touch.kind == "birth":
                    if touch.boot_id:
                        births[touch.device] = touch.boot_id
                else:
                    seen[touch.device] = seen.get(touch.device, 0) + 1
            # a valid message's store wins over one a quarantined copy named
            for device, store in bad_store.items():
                touched.setdefault(device, store)
            outcomes = self.store.store_events([(e, at) for e, at, _, _ in valid])
            for (e, at, topic, payload), outcome in zip(valid, outcomes, strict=True):
                if outcome.kind == "stored":
                    counters.stored += 1
                elif outcome.kind == "duplicate":
                    counters.duplicates += 1
                else:
                    # With its seq, so the ack can move past it: the ledger insert never
                    # replaces an owner (a reused seq keeps its stored message), and a msg_id
                    # replayed under a new seq (an outbox renumbered by a re-flash) would
                    # otherwise leave a hole that freezes the device's ack for good.
                    reason = outcome.reason or outcome.kind
                    self._quarantine(topic, payload, at, reason, e.device_id, e.seq, counters)
            if batch and seen:
                last = datetime.fromtimestamp(batch[-1][2], UTC)
                self.store.touch_devices(sorted((d, touched[d], n) for d, n in seen.items()), last)
            acked = self.store.advance_acks(sorted(touched))
            acks = {d: (s, acked[d]) for d, s in touched.items()}
        return BatchResult(acks, counters, births)

    def _check_one(
        self,
        topic: str,
        payload: bytes,
        at: datetime,
        counters: Counters,
        valid: list[tuple[contract.Envelope, datetime, str, bytes]],
        replayed: bool = False,
    ) -> Touch | None:
        """Quarantine or queue one message for storing; returns the device whose ack is to be
        published, on which store's topic, and why (a birth's boot_id is echoed in the ack, so
        the device knows the answer is its own).

        A device's birth (its status when it connects) gets its ack from the database too: the
        retained ack a device finds when it connects is otherwise whatever the brokers kept, and
        a bridge or a broker restart can leave an older one there. Answering every birth makes
        the ack a device hears on connecting the database's, whatever the brokers did. A birth
        the broker replays from its retained store (on our subscribing) is answered only for a
        device that has not heard from the hub yet: otherwise a restart of the hub would answer
        every device of the chain at once, for nothing."""
        try:
            where = contract.parse_topic(topic)
        except contract.ContractError as exc:
            self._quarantine(topic, payload, at, str(exc), None, None, counters)
            return None
        if where.kind == "status":
            status = self._handle_status(topic, payload, at, where, counters)
            if (status is not None and status.state == "online"
                    and (not replayed or status.synced is False)
                    and self.registry.active(where.device)):
                return Touch(where.device, where.store, "birth", status.boot_id)
            return None
        if where.kind != "evt":
            reason = f"devices do not publish on {topic}"
            self._quarantine(topic, payload, at, reason, where.device, None, counters)
            return None
        try:
            envelope = contract.parse_event(topic, payload, at, where)
        except contract.ContractError as exc:
            seq = contract.peek_seq(payload)
            self._quarantine(topic, payload, at, str(exc), where.device, seq, counters)
            return Touch(where.device, where.store, "bad")
        # A time that cannot be placed on the hub's clock is refused here with its reason,
        # rather than failing the batch's insert and sending it one message at a time.
        problem = self.registry.check(envelope) or unplaceable(envelope, at)
        if problem:
            self._quarantine(topic, payload, at, problem, where.device, envelope.seq, counters)
            # Acked where the device publishes, which is where it listens: a device configured
            # for the wrong store drains into the quarantine instead of resending for ever.
            return Touch(where.device, where.store, "bad")
        valid.append((envelope, at, topic, payload))
        return Touch(where.device, where.store, "event")

    def _handle_status(
        self, topic: str, payload: bytes, at: datetime, where: contract.Topic, counters: Counters
    ) -> contract.Status | None:
        """Record a status; returns it, or None when there was none to record (or it was
        quarantined: the same size limit, store and zone checks as an event's)."""
        if not payload:
            return None  # a cleared retained status
        try:
            status = contract.parse_status(payload)
        except contract.ContractError as exc:
            reason = f"bad status: {exc}".splitlines()[0]
            self._quarantine(topic, payload, at, reason, where.device, None, counters)
            return None
        problem = self.registry.status_problem(where.device, where.store, status.zone_id)
        if problem:
            self._quarantine(topic, payload, at, problem, where.device, None, counters)
            return None
        self.store.record_status(
            where.device, where.store, status.model_dump(exclude_none=True), at
        )
        counters.statuses += 1
        return status

    def _quarantine(
        self,
        topic: str,
        payload: bytes,
        at: datetime,
        reason: str,
        device: str | None,
        seq: int | None,
        counters: Counters,
    ) -> None:
        counters.quarantined += 1
        key = printable(reason.split(":")[0], 60)
        counters.by_reason[key] = counters.by_reason.get(key, 0) + 1
        # escaped: the topic and the reason quote what a device sent, CR and LF included
        log.warning("quarantined %s: %s", printable(topic), printable(reason))
        self.store.quarantine(
            topic=topic, raw=payload, reason=reason, received_at=at, device_id=device, seq=seq
        )


def writer_main(
    conn: Connection,
    db: str,
    registry_path: str | None,
    log_level: int,
    quarantine: QuarantineSection | None = None,
) -> None:
    """The writer process: one :data:`Request` in, one :data:`Reply` out, until told to
    :class:`Stop`."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Ctrl-C reaches the whole process group: the aggregator stops this process itself, after
    # the last batch, by sending Stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A batch keeps thousands of young objects alive until it is committed, and at the default
    # threshold (700 allocations) the cycle collector walks them again and again: 4 % of the
    # writer's instructions per message. What it stores makes next to no reference cycles.
    gc.set_threshold(GC_THRESHOLD, 10, 10)
    try:
        ingest = Ingest(db, registry_path, quarantine)
    except Exception as exc:
        log.error("cannot open the database: %s", exc)
        conn.send(Failed(str(exc)))
        return
    conn.send(Ready())
    folded_at = 0.0
    pruned_at = -PRUNE_EVERY_S
    upkeep = _Upkeep()
    try:
        while True:
            if fold_due(time.monotonic() - folded_at, busy=conn.poll(0)):
                upkeep.run("folding the report rollups", ingest, ingest.fold)
                folded_at = time.monotonic()
            if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                upkeep.run("pruning the quarantine", ingest, ingest.prune_quarantine)
                pruned_at = time.monotonic()
            if not conn.poll(FOLD_EVERY_S):
                continue  # idle: the fold above runs again
            try:
                request: Request = conn.recv()
            except EOFError:
                break
            if isinstance(request, Stop):
                break
            try:
                if isinstance(request, ReadAcks):
                    conn.send(Done(ingest.store.acked_seqs(request.devices)))
                else:
                    conn.send(Done(ingest.handle(request.items, request.replayed)))
            except Exception as exc:  # reported, and the batch is not acked: it comes again
                if ingest.store.is_storage_failure(exc):
                    # one line that says what to do; a traceback would only hide it
                    log.error("%s not stored: %s", type(request).__name__, exc)
                    conn.send(Failed(str(exc)))
                else:
                    log.exception("%s failed", type(request).__name__)
                    conn.send(Failed(printable(f"{type(exc).__name__}: {exc}", 1000)))
    finally:
        ingest.close()


def fold_due(elapsed_s: float, *, busy: bool) -> bool:
    """Whether to fold now, ``elapsed_s`` after the last fold; ``busy``: the next batch is
    already waiting."""
    return elapsed_s >= (FOLD_BUSY_S if busy else FOLD_EVERY_S)


class _Upkeep:
    """The writer's chores between batches (the rollup fold, the quarantine's pruning): a
    failure is logged and the chore runs again later; a failure of the database itself (a
    full disk) is logged once, not every second, until the chore succeeds again."""

    def __init__(self) -> None:
        self._failing: set[str] = set()

    def run(self, what: str, ingest: Ingest, chore: Callable[[], Any]) -> None:
        try:
            chore()
        except Exception as exc:
            if not ingest.store.is_storage_failure(exc):
                log.exception("%s failed", what)
            elif what not in self._failing:
                log.error("%s failed: %s", what, exc)
            self._failing.add(what)
            return
        self._failing.discard(what)
