"""Carries out the flow's effects: journal the press, deliver the rating, report the screen.

The window and the simulated shoppers both drive a :class:`Touchpoint`; it owns the order that
makes a tap impossible to lose: the press is in the journal before the flow moves on, and the
rating is in the link's outbox before the thank-you shows. Failures are logged and counted for
the technician menu, never shown to a shopper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from peakend.broker.device.clock import clock_synced
from peakend.kiosk.flow import Deliver, Effect, Journal, RatingFlow, Show
from peakend.kiosk.journal import Press, PressJournal

log = logging.getLogger(__name__)


class Sender(Protocol):
    """What the touchpoint needs of peakend.broker.device.link.DeviceLink."""

    def send(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        ts: datetime | None = None,
        msg_id: Any = None,
        clock_is_synced: bool | None = None,
        at: Any = None,
    ) -> Any: ...


class Touchpoint:
    def __init__(
        self,
        flow: RatingFlow,
        journal: PressJournal,
        link: Sender,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flow = flow
        self.journal = journal
        self.link = link
        self.monotonic = monotonic
        self.pending: Press | None = None
        self.last_error: str | None = None
        self.presses = 0
        self.delivered = 0

    def recover(self) -> int:
        """Send, without a reason, every press a previous run journaled but never sent."""
        count = 0
        for press in self.journal.unsent():
            self._deliver(press, None)
            count += 1
        if count:
            log.info("sent %d press(es) left from the previous run", count)
        return count

    def press(self, score: int) -> list[Show]:
        return self._apply(self.flow.press(score, self.monotonic()))

    def choose(self, reason: str) -> list[Show]:
        return self._apply(self.flow.choose(reason, self.monotonic()))

    def skip(self) -> list[Show]:
        return self._apply(self.flow.skip(self.monotonic()))

    def tick(self) -> list[Show]:
        return self._apply(self.flow.tick(self.monotonic()))

    def close_pending(self) -> None:
        """Deliver a press still waiting for its reason, without one (the app is stopping)."""
        if self.pending is not None:
            self._deliver(self.pending, None)
            self.pending = None

    def _apply(self, effects: list[Effect]) -> list[Show]:
        shows: list[Show] = []
        for effect in effects:
            if isinstance(effect, Journal):
                self.presses += 1
                try:
                    self.pending = self.journal.record(
                        effect.score, effect.flags, clock_synced=clock_synced()
                    )
                except Exception as exc:  # a full or failing SD card: keep the screen going
                    self._fail("could not write the press journal", exc)
                    self.pending = None
                    self._send_directly(effect)
            elif isinstance(effect, Deliver):
                if self.pending is not None:
                    self._deliver(self.pending, effect.reason)
                    self.pending = None
            else:
                shows.append(effect)
        return shows

    def _deliver(self, press: Press, reason: str | None) -> None:
        data = {"score": press.score, "reason": reason, "flags": list(press.flags)}
        try:
            envelope = self.link.send(
                "rating",
                data,
                ts=press.pressed_at,
                msg_id=press.msg_id,
                clock_is_synced=press.clock_synced,
                at=press.at,
            )
        except Exception as exc:
            self._fail("could not queue a rating", exc)
            return
        self.delivered += 1
        try:
            self.journal.mark_sent(press, reason, envelope.seq)
        except Exception as exc:
            # The rating is in the outbox; a resend at the next start keeps its msg_id.
            self._fail("could not mark a press sent", exc)

    def _send_directly(self, effect: Journal) -> None:
        """Without a journal the press goes straight to the outbox, reason unknown."""
        data = {"score": effect.score, "reason": None, "flags": list(effect.flags)}
        try:
            self.link.send("rating", data)
            self.delivered += 1
        except Exception as exc:
            self._fail("could not queue a rating", exc)

    def _fail(self, what: str, exc: Exception) -> None:
        self.last_error = f"{what}: {exc}"
        log.error("%s", self.last_error)
