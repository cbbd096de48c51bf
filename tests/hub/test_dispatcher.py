"""The aggregator's dispatcher between the MQTT client and the writer process, with the two
ends replaced by recorders (the real pair runs in the hub tests; here the order of what the
dispatcher does is checked exactly): the writer gets its next batch while it still stores the
last one, and the one after before the last one's PUBACKs go out; nothing is PUBACKed before
its batch is committed; failed batches are tried again until every message is acked exactly
once."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import pytest

from peakend.broker.hub import aggregator as agg_module
from peakend.broker.hub.aggregator import Aggregator
from peakend.broker.hub.writer import BatchResult, Counters, Done, Failed, StoreBatch


class Recorder:
    """Stands for both ends: the writer's pipe (send/recv, answered in order) and the paho
    client (ack/publish); every call goes to one log."""

    def __init__(self, failures: int = 0) -> None:
        self.log: list[tuple[str, Any]] = []
        self.pending: list[StoreBatch] = []
        self.failures = failures  # the first N batches fail as a full disk would
        self.committed: set[int] = set()
        self.looked = False
        self.lock = threading.Lock()

    # the pipe
    def send(self, request: Any) -> None:
        assert isinstance(request, StoreBatch)
        with self.lock:
            self.log.append(("send", [int(t) for t, _, _ in request.items]))
            self.pending.append(request)
            self.looked = False

    def poll(self, timeout: float) -> bool:
        """The writer is busy the first time the dispatcher looks after a send, then done."""
        with self.lock:
            ready, self.looked = self.looked, True
        return ready

    def recv(self) -> Any:
        with self.lock:
            request = self.pending.pop(0)
            mids = [int(t) for t, _, _ in request.items]
            if self.failures:
                self.failures -= 1
                self.log.append(("failed", mids))
                return Failed("database or disk is full")
            self.committed.update(mids)
            self.log.append(("commit", mids))
        return Done(BatchResult({}, Counters(stored=len(mids), batches=1)))

    # the MQTT client
    def ack(self, mid: int, qos: int) -> None:
        with self.lock:
            assert mid in self.committed, f"message {mid} PUBACKed before its commit"
            self.log.append(("ack", mid))

    def publish(self, *args: Any, **kwargs: Any) -> None:
        pass

    def acked(self) -> list[int]:
        with self.lock:
            return [mid for what, mid in self.log if what == "ack"]


def run_dispatcher(recorder: Recorder, messages: int) -> Aggregator:
    agg = Aggregator("mqtt://127.0.0.1:1", "unused.sqlite")
    agg._client = recorder  # type: ignore[assignment]
    agg._pipe = recorder
    # The topic carries the mid, so the recorder knows which message is which.
    agg._inbox = [(str(mid), b"{}", time.time(), mid, 1, False) for mid in range(1, messages + 1)]
    thread = threading.Thread(target=agg._dispatch_loop, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(recorder.acked()) < messages and time.monotonic() < deadline:
        time.sleep(0.01)
    agg._stop.set()
    with agg._arrived:
        agg._arrived.notify_all()
    thread.join(10)
    assert not thread.is_alive()
    return agg


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agg_module, "MAX_BATCH", 100)


def test_the_writer_has_its_next_batch_before_it_answers_and_before_the_acks() -> None:
    recorder = Recorder()
    run_dispatcher(recorder, 350)
    kinds = [what for what, _ in recorder.log]
    # batch 2 is in the pipe while the writer stores batch 1; once batch 1 is committed,
    # batch 3 goes in before batch 1's PUBACKs
    assert kinds[:4] == ["send", "send", "commit", "send"]
    assert kinds.index("ack") == 4
    assert sorted(recorder.acked()) == list(range(1, 351))
    assert [len(mids) for what, mids in recorder.log if what == "send"] == [100, 100, 100, 50]


def test_a_few_messages_wait_for_more_while_the_writer_has_a_batch() -> None:
    recorder = Recorder()
    agg = Aggregator("mqtt://127.0.0.1:1", "unused.sqlite")
    agg._client = recorder  # type: ignore[assignment]
    agg._pipe = recorder
    agg._inbox = [(str(m), b"{}", time.time(), m, 1, False) for m in range(1, 101)]
    in_flight: deque[list] = deque()
    assert agg._hand_on(in_flight)
    agg._inbox = [(str(m), b"{}", time.time(), m, 1, False) for m in range(101, 111)]
    assert agg._hand_on(in_flight, agg_module._enough(in_flight[-1]))
    assert len(in_flight) == 1 and len(agg._inbox) == 10  # 10 < 75: not worth a commit yet
    assert agg._settle(in_flight)  # answered: the ten go now, whatever their number
    assert [len(mids) for what, mids in recorder.log if what == "send"] == [100, 10]


def test_failed_batches_are_tried_again_and_every_message_is_acked_once() -> None:
    # the first fails with the second already in the pipe, then the second fails too
    recorder = Recorder(failures=2)
    agg = run_dispatcher(recorder, 250)
    acked = recorder.acked()
    assert Counter(acked) == Counter(range(1, 251))  # every message once, none twice
    assert [what for what, _ in recorder.log].count("failed") == 2
    assert agg.counters.stored == 250


def test_the_writer_folds_when_it_has_a_moment_and_late_when_batches_queue() -> None:
    from peakend.broker.hub.writer import FOLD_BUSY_S, FOLD_EVERY_S, fold_due

    assert FOLD_EVERY_S < FOLD_BUSY_S
    assert fold_due(FOLD_EVERY_S, busy=False)
    assert not fold_due(FOLD_EVERY_S, busy=True)  # a backlog drains first
    assert not fold_due(FOLD_BUSY_S - 0.1, busy=True)
    assert fold_due(FOLD_BUSY_S, busy=True)  # but never later than this
