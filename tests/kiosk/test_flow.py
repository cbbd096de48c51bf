"""The rating flow's rules, without a window or a disk."""

from __future__ import annotations

from datetime import time

import pytest

from peakend.kiosk.flow import (
    CORRECTION,
    REPEAT,
    Deliver,
    FlowRules,
    Journal,
    RatingFlow,
    ResetLanguage,
    Show,
    Stage,
    is_open,
)

RULES = FlowRules(
    repeat_interval_s=5, followup_timeout_s=6, thanks_s=3, asks_reason=frozenset({1, 2})
)


def test_press_without_follow_up_journals_delivers_then_thanks_in_that_order() -> None:
    flow = RatingFlow(RULES)
    assert flow.press(4, now=100.0) == [Journal(4, ()), Deliver(None), Show(Stage.THANKS)]
    assert flow.tick(102.9) == []
    assert flow.tick(103.0) == [ResetLanguage(), Show(Stage.QUESTION)]


def test_press_with_follow_up_waits_for_the_reason_before_delivering() -> None:
    flow = RatingFlow(RULES)
    assert flow.press(1, 0.0) == [Journal(1, ()), Show(Stage.REASON, 1)]
    assert flow.pending
    assert flow.choose("wait", 1.0) == [Deliver("wait"), Show(Stage.THANKS)]
    assert not flow.pending
    assert flow.choose("staff", 1.5) == [], "a second choice is not a second rating"


def test_follow_up_times_out_into_a_rating_without_reason() -> None:
    flow = RatingFlow(RULES)
    flow.press(2, 0.0)
    assert flow.tick(5.9) == []
    assert flow.tick(6.0) == [Deliver(None), Show(Stage.THANKS)]


def test_choice_right_after_the_press_is_ignored_as_the_same_finger() -> None:
    flow = RatingFlow(RULES)
    flow.press(1, 0.0)
    assert flow.choose("wait", 0.1) == []
    assert flow.skip(0.2) == []
    assert flow.skip(0.5) == [Deliver(None), Show(Stage.THANKS)]


def test_the_same_face_within_the_interval_is_a_repeat_kept_flagged_and_thanked_again() -> None:
    flow = RatingFlow(RULES)
    flow.press(4, 0.0)
    flow.tick(3.0)
    assert flow.stage is Stage.QUESTION
    assert flow.press(4, 4.0) == [Journal(4, (REPEAT,)), Deliver(None), Show(Stage.THANKS)]
    assert flow.stage is Stage.THANKS, "a repeat gets a visible answer"
    # The interval runs from the last press, so a steady burst stays flagged.
    flow.tick(7.0)
    assert flow.press(4, 8.5) == [Journal(4, (REPEAT,)), Deliver(None), Show(Stage.THANKS)]
    flow.tick(11.5)
    assert flow.press(3, 13.6)[0] == Journal(3, ())


def test_a_different_face_within_the_interval_corrects_the_counted_press() -> None:
    flow = RatingFlow(RULES)
    assert flow.press(4, 0.0)[0] == Journal(4, ())  # meant 3, pressed 4
    flow.tick(3.0)
    assert flow.press(3, 4.0) == [
        Journal(3, (CORRECTION,), corrects=True), Deliver(None), Show(Stage.THANKS)]
    flow.tick(7.0)
    # The correction is now the counted press: the same face again is a repeat of it ...
    assert flow.press(3, 8.0)[0] == Journal(3, (REPEAT,))
    flow.tick(11.0)
    # ... and another face corrects it in turn; an unhappy correction asks why, like any press.
    assert flow.press(1, 12.0) == [
        Journal(1, (CORRECTION,), corrects=True), Show(Stage.REASON, 1)]
    assert flow.pending


def test_press_while_a_reason_is_pending_closes_the_earlier_press_first() -> None:
    flow = RatingFlow(RULES)
    flow.press(1, 0.0)
    effects = flow.press(2, 1.0)
    assert effects == [Deliver(None), Journal(2, (CORRECTION,), corrects=True), Deliver(None),
                       Show(Stage.THANKS)]


def test_a_language_left_switched_goes_back_after_the_idle_time() -> None:
    flow = RatingFlow(FlowRules(language_reset_s=20))
    flow.language(100.0)
    assert flow.tick(119.9) == []
    flow.language(110.0)  # still there, switching again: the time runs from the last touch
    assert flow.tick(129.9) == []
    assert flow.tick(130.0) == [ResetLanguage()]
    assert flow.tick(200.0) == [], "once is enough"


def test_a_shopper_who_rates_keeps_the_language_until_the_visit_ends() -> None:
    flow = RatingFlow(FlowRules(language_reset_s=20, asks_reason=frozenset({1})))
    flow.language(0.0)
    flow.press(1, 5.0)
    assert flow.tick(25.0) == [Deliver(None), Show(Stage.THANKS)]  # the follow-up timed out
    assert flow.tick(28.0) == [ResetLanguage(), Show(Stage.QUESTION)]
    assert flow.tick(60.0) == []


def test_the_follow_up_counts_down_whole_seconds() -> None:
    flow = RatingFlow(RULES)
    assert flow.seconds_left(0.0) is None
    flow.press(2, 10.0)
    assert [flow.seconds_left(10.0 + t) for t in (0.0, 0.5, 1.0, 1.01, 5.5, 6.0)] == [
        6, 6, 5, 5, 1, 0]
    flow.skip(11.0)
    assert flow.seconds_left(11.0) is None


def test_every_journaled_press_is_delivered_exactly_once() -> None:
    import random

    rng = random.Random(7)
    flow = RatingFlow(RULES)
    journaled = delivered = 0
    now = 0.0
    for _ in range(5000):
        now += rng.choice([0.05, 0.3, 1.0, 4.0, 7.0])
        action = rng.random()
        if action < 0.4:
            effects = flow.press(rng.randint(1, 4), now)
        elif action < 0.6:
            effects = flow.choose("wait", now)
        elif action < 0.7:
            effects = flow.skip(now)
        else:
            effects = flow.tick(now)
        journaled += sum(isinstance(e, Journal) for e in effects)
        delivered += sum(isinstance(e, Deliver) for e in effects)
        assert journaled - delivered == (1 if flow.pending else 0)


def test_scores_outside_one_to_four_are_refused() -> None:
    with pytest.raises(ValueError):
        RatingFlow(RULES).press(5, 0.0)


@pytest.mark.parametrize(
    ("now", "opens", "closes", "expected"),
    [
        (time(9), time(8), time(21), True),
        (time(7, 59), time(8), time(21), False),
        (time(21), time(8), time(21), False),
        (time(23), time(18), time(2), True),
        (time(1, 59), time(18), time(2), True),
        (time(12), time(18), time(2), False),
    ],
)
def test_opening_hours_including_past_midnight(now, opens, closes, expected) -> None:
    assert is_open(now, opens, closes) is expected
