"""Faces and reasons: shares against hand-counted presses, and the wait reason by band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peakend.broker.hub.reports.shares import (
    face_counts,
    face_shares,
    reason_sides,
    wait_reason_by_band,
)


def test_face_shares_count_each_score_over_all_presses() -> None:
    counts = face_counts(np.array([1, 1, 2, 4, 4, 4, 3, 4]))
    assert counts == [2, 1, 1, 4]
    shares = face_shares(counts)
    assert [f.label for f in shares] == ["very unhappy", "unhappy", "happy", "very happy"]
    assert [f.share for f in shares] == [2 / 8, 1 / 8, 1 / 8, 4 / 8]
    assert [f.share for f in face_shares([0, 0, 0, 0])] == [None] * 4


def test_reasons_split_by_the_kiosk_question_and_rank_by_count() -> None:
    scores = [1, 1, 2, 2, 1, 3, 4, 4, 4, 2]
    reasons = ["wait", "staff", "wait", None, "odd-key", "staff", "fast", None, "fast", "wait"]
    wrong, well = reason_sides(scores, reasons, {"wait": "Long wait", "staff": "Staff"},
                               {"staff": "Friendly staff", "fast": "Quick checkout"})
    # 6 presses of 1 or 2, of which 5 said why: wait 3, staff 1, odd-key 1
    assert (wrong.presses, wrong.answered) == (6, 5)
    assert [(r.key, r.label, r.count) for r in wrong.reasons] == [
        ("wait", "Long wait", 3), ("odd-key", "odd-key", 1), ("staff", "Staff", 1)]
    assert [r.share for r in wrong.reasons] == [3 / 5, 1 / 5, 1 / 5]
    assert wrong.answered_share == pytest.approx(5 / 6)
    # the same key on the happy side keeps its happy label
    assert (well.presses, well.answered) == (4, 3)
    assert [(r.label, r.count) for r in well.reasons] == [("Quick checkout", 2),
                                                          ("Friendly staff", 1)]


def test_no_presses_no_shares() -> None:
    wrong, well = reason_sides([], [])
    assert wrong.presses == wrong.answered == 0 and wrong.reasons == []
    assert wrong.answered_share is None and well.answered_share is None


def test_wait_reason_by_measured_wait_band() -> None:
    nan = math.nan
    waits = np.array([30, 59.9, 60, 150, 170, 400, 900, nan, 10])
    scores = [1, 4, 2, 1, 1, 2, 1, 1, 3]
    reasons = ["staff", None, "wait", "wait", None, "wait", "price", "wait", "wait"]
    bands = wait_reason_by_band(scores, reasons, waits, [60, 180, 600], "wait")
    assert [b.label for b in bands] == ["0:00-1:00", "1:00-3:00", "3:00-10:00", ">= 10:00"]
    # the happy press naming "wait" (10 s) is not a complaint; the nan wait is left out
    assert [(b.ratings, b.named, b.complaints) for b in bands] == [
        (3, 0, 1), (3, 2, 2), (1, 1, 1), (1, 0, 1)]
    assert bands[1].share == pytest.approx(2 / 3) and bands[1].share_of_complaints == 1.0
    assert bands[3].share == 0.0
    empty = wait_reason_by_band([], [], [], [60], "wait")
    assert [b.share for b in empty] == [None, None]
