"""How long pixels have been foreground, in 16 bits: exact over hours, reset when time goes
back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peakend.edge.detectors.foreground_age import MAX_AGE_S, ForegroundAge


def at(shape: tuple[int, int], *pixels: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for y, x in pixels:
        mask[y, x] = True
    return mask


def test_a_pixel_foreground_longer_than_absorb_is_stale_and_one_that_left_starts_again() -> None:
    age = ForegroundAge((4, 4))
    both = at((4, 4), (0, 0), (1, 1))
    for t in np.arange(0.0, 30.0, 0.5):
        # (1, 1) leaves for one frame at 10 s: its time starts over
        fg = at((4, 4), (0, 0)) if t == 10.0 else both
        stale = age.update(fg, float(t), absorb_s=25.0)
        assert not stale[1, 1]
        assert stale[0, 0] == (t > 25.0)
    assert age.ages(29.5, 0, 0, np.eye(2, dtype=bool)).tolist() == pytest.approx([29.5, 19.0])


def test_a_pixel_that_was_not_foreground_before_is_younger_than_any() -> None:
    age = ForegroundAge((2, 2))
    age.update(at((2, 2), (0, 0)), 0.0, absorb_s=900.0)
    ages = age.ages(3.0, 0, 0, np.ones((1, 2), bool))
    assert ages[0] == pytest.approx(3.0) and ages[1] < -1000.0


def test_ages_stay_exact_for_hours_while_the_oldest_are_absorbed() -> None:
    # 16 bits hold 6553 s of tenths: the count moves up with the oldest pixel instead. Kept
    # against the same rule in floats: (t - since) > absorb_s.
    age = ForegroundAge((1, 3))
    since = [math.inf] * 3
    for t in np.arange(0.0, 5 * 3600.0, 1.0):
        t = float(t)
        fg = [True, True, t % 2000.0 >= 1000.0]  # the last one comes and goes
        stale = age.update(np.array([fg]), t, absorb_s=600.0)
        age.forget(stale)
        for i in range(3):
            since[i] = (since[i] if since[i] < math.inf else t) if fg[i] else math.inf
            expected = fg[i] and t - since[i] > 600.0
            assert stale[0, i] == expected, (t, i)
            if expected:
                since[i] = math.inf
    now = 5 * 3600.0 - 1.0
    ages = age.ages(now, 0, 0, np.ones((1, 3), bool))
    assert ages.tolist() == pytest.approx([now - s for s in since], abs=0.1)


def test_time_going_back_counts_again_and_absorbs_nothing() -> None:
    age = ForegroundAge((2, 2))
    fg = np.ones((2, 2), bool)
    for t in range(0, 100):
        age.update(fg, float(t), absorb_s=50.0)
    assert not age.update(fg, 5.0, absorb_s=50.0).any()
    assert age.ages(6.0, 0, 0, fg).tolist() == pytest.approx([1.0] * 4)


def test_absorb_is_capped_at_the_longest_age_kept() -> None:
    age = ForegroundAge((1, 1))
    fg = np.ones((1, 1), bool)
    stale = [age.update(fg, float(t), absorb_s=10 * MAX_AGE_S).any() for t in range(0, 3700)]
    assert stale.index(True) == MAX_AGE_S + 1
