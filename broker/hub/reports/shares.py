"""What shoppers pressed and why: the share of each face and of each follow-up reason.

Pure and numpy-free (plain sequences; numpy arrays are read through ``tolist``), so the
all-zones report keeps starting without numpy. SQL lives in
:mod:`peakend.broker.hub.reports.queries`.

- Faces: the four scores, 1 very unhappy .. 4 very happy, each as a share of all presses.
- Reasons: the kiosk asks "what went wrong?" after a 1 or 2 and "what went well?" after a 3
  or 4; each side's reasons are shares of the presses on that side that answered (a shopper
  may walk away from the question, so how many answered is shown too).
- The wait reason by measured wait: of the ratings whose linked wait fell in a band, how many
  named the wait as what went wrong. Perceived against measured wait: where the share climbs,
  shoppers feel the wait.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peakend.broker.hub.i18n import N_
from peakend.broker.hub.reports.summary import fmt_duration

FACES = (N_("very unhappy"), N_("unhappy"), N_("happy"), N_("very happy"))

# The kiosk's follow-up question splits here whatever a hub counts as unhappy: its "what went
# wrong" choices follow a 1 or 2, its "what went well" choices a 3 or 4 (kiosk/settings.py).
KIOSK_UNHAPPY_MAX = 2


@dataclass(frozen=True)
class FaceShare:
    score: int  # 1..4
    label: str
    count: int
    share: float | None  # of all presses; None without presses


def face_counts(scores: Iterable[int]) -> list[int]:
    """Presses per score, [n1, n2, n3, n4]; scores outside 1..4 cannot be stored."""
    counted = Counter(_plain(scores))
    return [counted[s] for s in (1, 2, 3, 4)]


def face_shares(counts: Sequence[int]) -> list[FaceShare]:
    total = sum(counts)
    return [FaceShare(i + 1, FACES[i], int(k), k / total if total else None)
            for i, k in enumerate(counts)]


@dataclass(frozen=True)
class ReasonShare:
    key: str
    label: str
    count: int
    share: float  # of the presses on its side that answered


@dataclass(frozen=True)
class ReasonSide:
    """One side of the follow-up question: "went wrong" (scores 1-2) or "went well" (3-4)."""

    side: str  # "wrong" or "well"
    presses: int  # presses on this side
    answered: int  # of which gave a reason
    reasons: list[ReasonShare]  # most named first

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.presses if self.presses else None

    def as_dict(self) -> dict[str, Any]:
        return {"presses": self.presses, "answered": self.answered,
                "reasons": [{"key": r.key, "label": r.label, "count": r.count,
                             "share": r.share} for r in self.reasons]}


def reason_sides(
    scores: Iterable[int],
    reasons: Iterable[str | None],
    wrong_labels: Mapping[str, str] | None = None,
    well_labels: Mapping[str, str] | None = None,
) -> tuple[ReasonSide, ReasonSide]:
    """(what went wrong, what went well) over the presses; ``reasons`` in the same order as
    ``scores`` (None: no answer)."""
    counts: dict[str, Counter[str]] = {"wrong": Counter(), "well": Counter()}
    presses = {"wrong": 0, "well": 0}
    for s, r in zip(_plain(scores), reasons, strict=True):
        side = "wrong" if s <= KIOSK_UNHAPPY_MAX else "well"
        presses[side] += 1
        if r:
            counts[side][r] += 1
    labels = {"wrong": wrong_labels or {}, "well": well_labels or {}}
    out = []
    for side in ("wrong", "well"):
        answered = sum(counts[side].values())
        ranked = sorted(counts[side].items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(ReasonSide(side, presses[side], answered, [
            ReasonShare(k, labels[side].get(k, k), n, n / answered) for k, n in ranked]))
    return out[0], out[1]


@dataclass(frozen=True)
class WaitReasonBand:
    """Ratings whose linked (measured) wait fell in [low_s, high_s) and how many of them
    blamed the wait."""

    low_s: float
    high_s: float | None
    ratings: int
    named: int  # ratings whose reason is the wait reason
    complaints: int  # unhappy ratings that gave any reason

    @property
    def share(self) -> float | None:
        """Of all ratings in the band, the share that named the wait."""
        return self.named / self.ratings if self.ratings else None

    @property
    def share_of_complaints(self) -> float | None:
        """Of the unhappy ratings in the band that said why, the share that named the wait."""
        return self.named / self.complaints if self.complaints else None

    @property
    def label(self) -> str:
        if self.high_s is None:
            return f">= {fmt_duration(self.low_s)}"
        return f"{fmt_duration(self.low_s)}-{fmt_duration(self.high_s)}"

    def as_dict(self) -> dict[str, Any]:
        return {"band": self.label, "low_s": self.low_s, "high_s": self.high_s,
                "ratings": self.ratings, "named": self.named, "complaints": self.complaints,
                "share": self.share, "share_of_complaints": self.share_of_complaints}


def wait_reason_by_band(
    scores: Iterable[int],
    reasons: Iterable[str | None],
    linked_wait_s: Iterable[float],
    bands_s: Sequence[float],
    wait_key: str,
) -> list[WaitReasonBand]:
    """The bands are those of the Happy Index by wait (upper edges, a last open band); ratings
    without a measured linked wait (nan) are left out."""
    edges = [0.0, *bands_s]
    ratings = [0] * len(edges)
    named = [0] * len(edges)
    complaints = [0] * len(edges)
    for s, r, w in zip(_plain(scores), reasons, _plain(linked_wait_s), strict=True):
        if w != w:  # nan: no measured wait in the look-back
            continue
        i = _band_of(w, edges)
        ratings[i] += 1
        if r and s <= KIOSK_UNHAPPY_MAX:
            complaints[i] += 1
        if r == wait_key and s <= KIOSK_UNHAPPY_MAX:
            named[i] += 1
    return [WaitReasonBand(low, edges[i + 1] if i + 1 < len(edges) else None, ratings[i],
                           named[i], complaints[i]) for i, low in enumerate(edges)]


def _band_of(w: float, edges: list[float]) -> int:
    # edges start at 0 and increase (the config says so): the last edge at or below w
    return max(0, bisect_right(edges, w) - 1)


def _plain(values: Iterable[Any]) -> list[Any]:
    """A numpy array as plain Python numbers (one conversion, not one per element)."""
    tolist = getattr(values, "tolist", None)
    return tolist() if tolist is not None else list(values)
