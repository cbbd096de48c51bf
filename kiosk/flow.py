"""The rating flow as a pure state machine: question -> reason -> thanks -> question.

Nothing here touches a window, a file or a clock: each call gets ``now`` (monotonic seconds)
and answers with effects for the caller to carry out in order. That keeps the rules (repeat
presses, timeouts, which screen shows) testable in microseconds, and the Kivy screens and the
simulated shoppers share exactly the same behaviour.

Effects, in the order the caller must apply them:

- :class:`Journal` — make a new press durable (before anything on screen changes);
- :class:`Deliver` — the pending press is complete: send it, with its reason or none;
- :class:`Show` — switch the screen;
- :class:`ResetLanguage` — back to the store's own language (a shopper left it switched).

A press soon after the previous one (within ``repeat_interval_s``) is one of two things. The
same face again is a repeat: kept, flagged, thanked again. A different face is a correction:
the shopper pressed the wrong face and fixed it, so it replaces the visit's counted press
(:attr:`Journal.corrects`) and the hub leaves the replaced one out of its reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import time as clock_time
from enum import StrEnum

REPEAT = "repeat"
CORRECTION = "correction"


class Stage(StrEnum):
    QUESTION = "question"
    REASON = "reason"
    THANKS = "thanks"


@dataclass(frozen=True)
class Journal:
    score: int
    flags: tuple[str, ...]
    # This press replaces the visit's counted press (the one the caller journaled last without
    # the repeat flag); the flow knows no message ids, the caller does.
    corrects: bool = False


@dataclass(frozen=True)
class Deliver:
    reason: str | None


@dataclass(frozen=True)
class Show:
    stage: Stage
    score: int | None = None


@dataclass(frozen=True)
class ResetLanguage:
    pass


Effect = Journal | Deliver | Show | ResetLanguage


@dataclass(frozen=True)
class FlowRules:
    repeat_interval_s: float = 5.0
    followup_timeout_s: float = 6.0
    thanks_s: float = 3.0
    # A finger that keeps tapping where the smiley was must not pick a reason by accident.
    reason_guard_s: float = 0.4
    # A language switched by a shopper who then walked away must not greet the next one.
    language_reset_s: float = 20.0
    # Scores that get a follow-up question (those whose reason list is not empty).
    asks_reason: frozenset[int] = field(default_factory=frozenset)


class RatingFlow:
    """One kiosk's flow. Not thread-safe: drive it from one thread (the UI's)."""

    def __init__(self, rules: FlowRules) -> None:
        self.rules = rules
        self.stage = Stage.QUESTION
        self.score: int | None = None
        self._shown_at = 0.0
        self._last_press_at: float | None = None
        # The face of the visit's counted press: a quick press of another face corrects it.
        self._counted: int | None = None
        # When the language button was last touched, while the language is switched.
        self._language_at: float | None = None

    @property
    def pending(self) -> bool:
        """A press is journaled but not yet delivered (it waits for its reason)."""
        return self.stage is Stage.REASON

    def press(self, score: int, now: float) -> list[Effect]:
        """A smiley was touched."""
        if not 1 <= score <= 4:
            raise ValueError(f"score must be 1..4, got {score}")
        last, self._last_press_at = self._last_press_at, now
        self._language_at = None  # a rating visit: the visit's end resets the language
        quick = last is not None and now - last < self.rules.repeat_interval_s
        if quick and self._counted is not None and score != self._counted:
            journal = Journal(score, (CORRECTION,), corrects=True)
            self._counted = score
        elif quick:
            journal = Journal(score, (REPEAT,))
        else:
            journal = Journal(score, ())
            self._counted = score
        if self.stage is Stage.REASON:
            # Only reachable without the screen (the reason screen has no smileys): close the
            # earlier press first so it is never left behind.
            self._show(Stage.THANKS, now)
            return [Deliver(None), journal, Deliver(None), Show(Stage.THANKS)]
        if journal.flags == (REPEAT,):
            # Kept and sent flagged, and thanked again: a shopper who taps twice sees the
            # kiosk heard them, and no second follow-up asks them the same thing.
            self._show(Stage.THANKS, now)
            return [journal, Deliver(None), Show(Stage.THANKS)]
        if score in self.rules.asks_reason:
            self.score = score
            self._show(Stage.REASON, now)
            return [journal, Show(Stage.REASON, score)]
        self._show(Stage.THANKS, now)
        return [journal, Deliver(None), Show(Stage.THANKS)]

    def language(self, now: float) -> None:
        """The language button was touched: the switch holds while someone is there."""
        self._language_at = now

    def seconds_left(self, now: float) -> int | None:
        """Whole seconds until the follow-up gives up, counted down on screen; None when no
        follow-up is open."""
        if self.stage is not Stage.REASON:
            return None
        left = self.rules.followup_timeout_s - (now - self._shown_at)
        return max(0, math.ceil(left - 1e-9))

    def choose(self, reason: str, now: float) -> list[Effect]:
        """A follow-up choice was touched."""
        if self.stage is not Stage.REASON or now - self._shown_at < self.rules.reason_guard_s:
            return []
        self._show(Stage.THANKS, now)
        return [Deliver(reason), Show(Stage.THANKS)]

    def skip(self, now: float) -> list[Effect]:
        """The shopper declined the follow-up."""
        if self.stage is not Stage.REASON or now - self._shown_at < self.rules.reason_guard_s:
            return []
        self._show(Stage.THANKS, now)
        return [Deliver(None), Show(Stage.THANKS)]

    def tick(self, now: float) -> list[Effect]:
        """Time passed: the follow-up may expire, the thank-you may end, a switched language
        nobody uses goes back to the store's."""
        elapsed = now - self._shown_at
        if (
            self.stage is Stage.QUESTION
            and self._language_at is not None
            and now - self._language_at >= self.rules.language_reset_s
        ):
            self._language_at = None
            return [ResetLanguage()]
        if self.stage is Stage.REASON and elapsed >= self.rules.followup_timeout_s:
            self._show(Stage.THANKS, now)
            return [Deliver(None), Show(Stage.THANKS)]
        if self.stage is Stage.THANKS and elapsed >= self.rules.thanks_s:
            self._show(Stage.QUESTION, now)
            self.score = None
            # Each visit starts in the store's own language.
            return [ResetLanguage(), Show(Stage.QUESTION)]
        return []

    def _show(self, stage: Stage, now: float) -> None:
        self.stage = stage
        self._shown_at = now


def parse_clock(text: str) -> clock_time:
    hours, minutes = text.split(":")
    return clock_time(int(hours), int(minutes))


def is_open(now: clock_time, opens: clock_time, closes: clock_time) -> bool:
    """Inside opening hours; a close before the open means the shop closes after midnight."""
    if opens == closes:
        return True
    if opens < closes:
        return opens <= now < closes
    return now >= opens or now < closes
