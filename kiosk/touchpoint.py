"""Carries out the flow's effects: journal the press, deliver the rating, report the screen.

The window and the simulated shoppers both drive a :class:`Touchpoint`; it owns the order that
makes a tap impossible to lose: the press is in the journal before the flow moves on, and the
rating is in the link's outbox before the thank-you shows. Failures are logged and counted for
the technician menu, never shown to a shopper.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from peakend.broker.device.clock import clock_synced
from peakend.kiosk.flow import REPEAT, Deliver, Effect, Journal, RatingFlow, ResetLanguage, Show
from peakend.kiosk.journal import Press, PressJournal

log = logging.getLogger(__name__)

# What the screens are told to do.
Screen = Show | ResetLanguage

# A correction's reference travels in the journal row's flags, so a correction that waits for
# its reason when the power goes still names the press it replaces when the next start sends
# it (the journal keeps flags as a list; it needs no column of its own for this).
_REPLACES = "replaces:"


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
        # The msg_id of this visit's counted press, which a correction replaces.
        self.counted: uuid.UUID | None = None
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

    def press(self, score: int) -> list[Screen]:
        return self._apply(self.flow.press(score, self.monotonic()))

    def choose(self, reason: str) -> list[Screen]:
        return self._apply(self.flow.choose(reason, self.monotonic()))

    def skip(self) -> list[Screen]:
        return self._apply(self.flow.skip(self.monotonic()))

    def tick(self) -> list[Screen]:
        return self._apply(self.flow.tick(self.monotonic()))

    def language(self) -> None:
        self.flow.language(self.monotonic())

    def seconds_left(self) -> int | None:
        return self.flow.seconds_left(self.monotonic())

    def close_pending(self) -> None:
        """Deliver a press still waiting for its reason, without one (the app is stopping)."""
        if self.pending is not None:
            self._deliver(self.pending, None)
            self.pending = None

    def _apply(self, effects: list[Effect]) -> list[Screen]:
        shows: list[Screen] = []
        for effect in effects:
            if isinstance(effect, Journal):
                self.presses += 1
                replaces = self.counted if effect.corrects else None
                flags = effect.flags + ((f"{_REPLACES}{replaces}",) if replaces else ())
                try:
                    self.pending = self.journal.record(
                        effect.score, flags, clock_synced=clock_synced()
                    )
                except Exception as exc:  # a full or failing SD card: keep the screen going
                    self._fail("could not write the press journal", exc)
                    self.pending = None
                    sent = self._send_directly(effect.score, flags)
                    if REPEAT not in effect.flags:
                        self.counted = sent
                    continue
                if REPEAT not in effect.flags:
                    self.counted = self.pending.msg_id
            elif isinstance(effect, Deliver):
                if self.pending is not None:
                    self._deliver(self.pending, effect.reason)
                    self.pending = None
            else:
                shows.append(effect)
        return shows

    def _deliver(self, press: Press, reason: str | None) -> None:
        data = rating_data(press.score, reason, press.flags)
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

    def _send_directly(self, score: int, flags: tuple[str, ...]) -> uuid.UUID | None:
        """Without a journal the press goes straight to the outbox, reason unknown."""
        try:
            envelope = self.link.send("rating", rating_data(score, None, flags))
        except Exception as exc:
            self._fail("could not queue a rating", exc)
            return None
        self.delivered += 1
        return getattr(envelope, "msg_id", None)

    def _fail(self, what: str, exc: Exception) -> None:
        self.last_error = f"{what}: {exc}"
        log.error("%s", self.last_error)


def rating_data(score: int, reason: str | None, flags: tuple[str, ...]) -> dict[str, Any]:
    """The rating message's data from a journaled press's flags (a correction's reference
    among them becomes the message's ``replaces``)."""
    data: dict[str, Any] = {
        "score": score,
        "reason": reason,
        "flags": [f for f in flags if not f.startswith(_REPLACES)],
    }
    for flag in flags:
        if flag.startswith(_REPLACES):
            data["replaces"] = flag.removeprefix(_REPLACES)
    return data
