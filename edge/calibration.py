"""How big one person looks to this camera, learned from the people it sees.

A tech cannot know how many pixels a person covers, and a wrong guess breaks everything that
follows (merged blobs split into too many or too few people, gates that lose or swap people),
so the camera finds out itself. It watches foreground blobs that keep their size while they
move: one person walking alone does that; a group that forms and parts, a fragment, noise, a
parked trolley (it does not move) or a sunlit patch (one slow "chain" among hundreds of
people) do not weigh much. Each such chain of blobs is one vote, and the person size is the
peak of the votes' sizes, refined by the median of the votes near it: groups add votes at
1.4 and 1.7 times one person, apart from the peak, and cannot pull it while people alone are
the most common sight.

In an oblique view the size grows with the image row (nearer the camera, lower in the
picture). Nearer people hide those behind them, so whoever stands in front is whole at the
bottom of a blob, however crowded the rest: their legs are measured there, and the row
model is a robust line through the legs' widths (no band of rows may pull it: it has to
outvote the others). How tall and wide a person is for their legs comes from the upright
blobs of people seen whole, or from an adult's usual build where nobody is (a dense crowd).
Without legs (another detector's boxes) the row model is fitted to box heights, and the
width and area follow from the ratios lone people show.

The estimate is refreshed every few seconds and checked against recent chains: a size that
no longer fits what the camera sees (it was moved, zoomed, remounted) is learned again.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from peakend.broker.device.files import replace_atomically

State = Literal["calibrating", "calibrated", "unsure"]


@dataclass(frozen=True)
class PersonScale:
    """One person's size in source-frame pixels, as a function of the image row.

    ``size_px`` is the equivalent diameter (the circle with the blob's area) at ``ref_row``;
    ``slope`` its change per row (0 for an overhead camera). ``width_ratio`` and
    ``height_ratio`` turn it into the box a lone person fills. ``extent_ratio`` (overhead,
    once measured) is the longer side of a lone person's box per size, whichever way they
    face: what one person alone may measure end to end.
    """

    size_px: float
    slope: float = 0.0
    ref_row: float = 0.0
    width_ratio: float = 1.0
    height_ratio: float = 1.0
    extent_ratio: float | None = None

    def at(self, row: float) -> float:
        # Never below a fifth of the reference: a fitted line must not reach zero or below at
        # the top of a steep view.
        return max(self.size_px + self.slope * (row - self.ref_row), 0.2 * self.size_px)

    def area_at(self, row: float) -> float:
        size = self.at(row)
        return math.pi / 4 * size * size

    def width_at(self, row: float) -> float:
        return self.width_ratio * self.at(row)

    def height_at(self, row: float) -> float:
        return self.height_ratio * self.at(row)

    def scaled(self, factor: float) -> PersonScale:
        return PersonScale(
            self.size_px * factor,
            self.slope * factor,
            self.ref_row,
            self.width_ratio,
            self.height_ratio,
            self.extent_ratio,
        )


@dataclass(frozen=True)
class Blob:
    """One foreground region, before it is split into people (source-frame pixels)."""

    x: float  # centre
    y: float
    box: tuple[float, float, float, float]
    area: float
    # Oblique view: the legs of the people standing in front, (centre column, foot row,
    # width) each, measured by legs_of (none from another detector's boxes).
    legs: tuple[tuple[float, float, float], ...] = ()
    whole: bool = True  # False: cut by the frame's edge, so its size says nothing

    @property
    def size(self) -> float:
        return math.sqrt(4.0 * self.area / math.pi)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def foot_row(self) -> float:
        return self.box[3]


@dataclass
class _Chain:
    id: int
    x: float
    y: float
    measure: float  # what must stay steady: a blob's area, the width of legs
    steady: int = 0
    travelled: float = 0.0
    # Who it is: a chain broken by a change of size (someone in clothes near the floor's
    # colour flickers in and out, two people merge) goes on as the same person, so one
    # person is one vote however often their blob changes.
    person: int = 0


@dataclass
class Estimate:
    scale: PersonScale
    people: int  # chains that agree with it
    share: float  # of all chains' votes


@dataclass
class CalibrationStatus:
    """What the health message and `peakend edge calibrate` report."""

    state: State
    scale: PersonScale
    people: int
    source: Literal["learned", "saved", "override", "provisional"]
    disagreement: float | None = None  # override vs measured, once something was measured

    @property
    def trusted(self) -> bool:
        """Whether the size may split blobs: measured, saved, or a checked override."""
        return self.source != "provisional"

    def health(self) -> dict[str, object]:
        return {
            "scale_state": self.state,
            "person_px": round(self.scale.size_px, 1),
            "person_px_per_row": round(self.scale.slope, 4),
            "scale_ref_row": round(self.scale.ref_row, 1),
            "scale_people": self.people,
            "scale_source": self.source,
        }


class Calibrator:
    """Learns the person scale from blobs, frame by frame; cheap enough to run on every one.

    ``frame_height`` sets the reference row (the middle). A ``guess`` is used until enough
    people were seen. ``override`` (the config's ``person_px``) is a check and a fallback,
    never a size put before what the camera measures: once the first people are measured (or
    a size was saved) the measurement is used, and an override that disagrees with it by more
    than OVERRIDE_TOLERANCE is a mistake (a value copied from another camera, a camera moved
    since): the state stays ``unsure`` until the config is fixed. Only where too few people
    to check it by are measured for OVERRIDE_CHECK_S is the override used (and never saved
    as the camera's own); until then the camera goes on as without it.
    """

    # A chain must keep its area within this factor from one frame to the next: merging with
    # someone or splitting apart changes it by about two.
    STEADY_RATIO = 1.3
    # ... for this many consecutive frames, and have moved at least half its own size, before
    # it votes (noise flickers, a parked trolley does not move).
    STEADY_FRAMES = 3
    MOVED = 0.5
    # Votes within this log-distance of the peak agree with it (one person's blob varies by
    # build and pose by less than +-20 %; two people merged are about 1.4x one).
    AGREE_LOG = 0.18
    REFRESH_S = 5.0
    KEEP_CHAINS = 400  # people whose votes are remembered (a rolling window)
    RECENT_CHAINS = 40  # the newest people's votes, checked against the scale in use
    CHANGED = 0.25  # relative difference that counts as "the view changed"
    # A size set by hand agrees with the measured one within this: builds, clothes and
    # shadows move a learned size by about +-10 %, a wrong setting by much more.
    OVERRIDE_TOLERANCE = 0.2
    # An override is a claim the camera checks, not a size it uses while it can measure: 30 %
    # too small, it cuts everyone walking alone in two, and in a quiet store that is most of
    # the visits before enough people are measured. Nor once the first people agree with it:
    # a first estimate from a few people may itself be 17 % off, and a size 30 % off then
    # passes as agreeing (in an oblique crowd, used for ten seconds, it moved a dwell median
    # by 12.5 points for the rest of three minutes). Where too few are measured to check it
    # (a crowd packed from the start), it is used after this long.
    OVERRIDE_CHECK_S = 120.0
    # Oblique view. Legs move less than this many of their widths from one frame to the next
    # (walking, at 5 frames a second).
    LEGS_REACH = 1.5
    # Proportions of a standing adult, against the width of their legs (hip breadth about
    # 0.35 m): stature about 1.7 m, the silhouette with its arms about 0.47 m wide, filling
    # about 0.7 of its box. Used only until PROPORTION_PEOPLE people were seen whole; in a
    # dense crowd everyone's upper body merges with those behind and only legs are seen.
    HEIGHT_PER_LEGS = 4.9
    WIDTH_PER_LEGS = 1.35
    FILL = 0.7
    PROPORTION_PEOPLE = 6
    # A blob of one upright person is at least this many times as tall as wide (about 3.5
    # for an adult with arms down; two side by side, heads, a crowd's merged mass are not).
    UPRIGHT = 2.5

    def __init__(
        self,
        *,
        view: str,
        frame_height: float,
        guess: PersonScale,
        override: float | None = None,
        min_people: int = 12,
        saved: PersonScale | None = None,
    ) -> None:
        self.view = view
        self.ref_row = frame_height / 2.0
        self.override = override
        self.min_people = min_people
        self.learned: Estimate | None = None
        self._saved = saved
        self._guess = guess
        self._state: State = "calibrated" if saved is not None else "calibrating"
        self._doubt_since: float | None = None
        self._chains: list[_Chain] = []
        self._next_chain = 1
        # Votes per person (see _Chain.person): (foot row, size, width, height, area)
        self._votes: dict[int, list[tuple[float, ...]]] = {}
        self._order: deque[int] = deque()
        # Oblique view: the legs of the people in front in each blob, (foot row, width).
        self._legs_chains: list[_Chain] = []
        self._legs: dict[int, list[tuple[float, ...]]] = {}
        self._legs_order: deque[int] = deque()
        self._last_refresh: float | None = None
        self._first_t: float | None = None
        self._t = 0.0
        self.version = 0  # bumped whenever the scale in use changes
        self._used = self._in_use()

    # -- the scale in use -----------------------------------------------------------------

    @property
    def scale(self) -> PersonScale:
        if self._override_stands():
            # Nothing saved, nor enough measured to go by: only the guess's or a few
            # people's shape (slope, proportions) is there to scale.
            base = self.learned.scale if self.learned else self._guess
            assert self.override is not None
            return PersonScale(
                self.override,
                base.slope * self.override / max(base.size_px, 1e-6),
                self.ref_row,
                base.width_ratio,
                base.height_ratio,
                base.extent_ratio,
            )
        if self.learned is not None and (
            self._state != "calibrating" or self.learned.people >= self._provisional_people
        ):
            return self.learned.scale
        return self._saved or self._guess

    @property
    def _provisional_people(self) -> int:
        # Before the count is reached a rough estimate beats the guess by far (the guess may
        # be off by a factor of two); a handful of people already give one.
        return max(4, self.min_people // 3)

    def _override_off(self) -> float | None:
        """The override against what was measured (or saved), once there is something."""
        if self.override is None:
            return None
        if self.learned is not None and self.learned.people >= self._provisional_people:
            measured = self.learned.scale.at(self.ref_row)
        elif self._saved is not None:
            measured = self._saved.at(self.ref_row)
        else:
            return None
        return self.override / measured - 1.0

    def _override_stands(self) -> bool:
        """Whether the override is the size in use: only while too few people were measured
        to check it (and nothing was saved), after OVERRIDE_CHECK_S. The camera's own size,
        even a first estimate, is what the people in view show; a typed one may come from
        another camera."""
        if self.override is None or self._override_off() is not None:
            return False
        # Too few to check it with for long (a crowd from the start): the tech's word stands.
        waited = 0.0 if self._first_t is None else self._t - self._first_t
        return waited >= self.OVERRIDE_CHECK_S

    def status(self) -> CalibrationStatus:
        people = self.learned.people if self.learned else 0
        off = self._override_off()
        if self._override_stands():
            return CalibrationStatus("calibrated", self.scale, people, "override")
        state = self._state
        if off is not None and abs(off) > self.OVERRIDE_TOLERANCE:
            state = "unsure"  # a wrong override: the config needs fixing
        if self.learned is not None and people >= self._provisional_people:
            source = "learned"
        elif self._saved is not None:
            source = "saved"
        else:
            source = "provisional"
        return CalibrationStatus(state, self.scale, people, source, off)

    def restart(self) -> None:
        """The view changed (camera moved): forget what was learned and learn again."""
        self.learned = None
        self._saved = None
        self._state = "calibrating"
        self._chains = []
        self._votes = {}
        self._order.clear()
        self._legs_chains = []
        self._legs = {}
        self._legs_order.clear()
        self._doubt_since = None
        self._first_t = None  # an override is checked again on the new view
        self.version += 1
        self._used = self._in_use()

    # -- learning -------------------------------------------------------------------------

    def observe(self, blobs: list[Blob], t: float) -> None:
        """Feed one frame's blobs (already off the frame edge); refreshes every few seconds."""
        if self._first_t is None:
            self._first_t = t
        self._t = t
        self._follow(blobs)
        # Until a first estimate exists, look every second: the guess costs accuracy.
        every = self.REFRESH_S if self.learned is not None else 1.0
        if self._last_refresh is None:
            self._last_refresh = t
        elif t - self._last_refresh >= every:
            self._last_refresh = t
            self.refresh(t)
        elif self.override is not None:
            # An override's check may run out of time between refreshes (see _override_stands).
            self._note_change()

    def _in_use(self) -> tuple[PersonScale, str, bool]:
        status = self.status()
        return status.scale, status.source, status.trusted

    def _note_change(self) -> None:
        used = self._in_use()
        if used != self._used:
            self._used = used
            self.version += 1

    def refresh(self, t: float) -> None:
        """Estimate again from the votes so far; ``version`` moves if the scale in use did."""
        self._learn(t)
        self._note_change()

    def _learn(self, t: float) -> None:
        estimate = self.estimate()
        if estimate is None:
            return
        if self._state == "calibrating" or self.learned is None:
            self.learned = estimate
            if estimate.people >= self.min_people:
                self._state = "calibrated"
        else:
            recent = self.estimate(recent=True)
            current = self.learned.scale.at(self.ref_row)
            if recent is not None and recent.people >= self.min_people // 2:
                off = abs(recent.scale.at(self.ref_row) / current - 1.0)
                if off > self.CHANGED:
                    # Recent people do not fit: doubt first, relearn if it lasts (a passing
                    # crowd of families should not move the scale).
                    self._state = "unsure"
                    if self._doubt_since is None:
                        self._doubt_since = t
                    elif t - self._doubt_since >= 6 * self.REFRESH_S:
                        self._relearn_from_recent()
                        self.learned = self.estimate() or recent
                        self._doubt_since = None
                        self._state = (
                            "calibrated"
                            if self.learned.people >= self.min_people
                            else "calibrating"
                        )
                else:
                    self._doubt_since = None
                    self.learned = estimate
                    self._state = "calibrated" if estimate.share >= 0.3 else "unsure"

    def estimate(self, recent: bool = False) -> Estimate | None:
        """The person scale the votes point to, or None with too few votes."""
        table = self._table(self._votes, self._order, recent)
        if self.view == "oblique":
            legs = self._table(self._legs, self._legs_order, recent)
            if legs is not None:
                estimate = self._from_legs(legs, table)
                if estimate is not None:
                    return estimate
            # Another detector's boxes carry no legs: their heights and widths alone.
            return self._fit_rows(*table) if table is not None else None
        if table is None:
            return None
        ids, weight, _foot, size, width, height, _area = table
        peak = _peak(np.log(size), weight)
        if peak is None:
            return None
        agree = np.abs(np.log(size) - peak) < self.AGREE_LOG
        value = float(np.exp(_weighted_median(np.log(size[agree]), weight[agree])))
        wr = _weighted_median(width[agree] / size[agree], weight[agree])
        hr = _weighted_median(height[agree] / size[agree], weight[agree])
        er = _weighted_median(np.maximum(width, height)[agree] / size[agree], weight[agree])
        people = len(set(ids[agree].tolist()))
        share = float(weight[agree].sum() / weight.sum())
        return Estimate(PersonScale(value, 0.0, self.ref_row, wr, hr, er), people, share)

    def _table(
        self, votes: dict[int, list[tuple[float, ...]]], order: deque[int], recent: bool
    ) -> tuple[np.ndarray, ...] | None:
        """(person ids, weights, then one column per value voted), one vote per person."""
        chains = list(order)[-self.RECENT_CHAINS :] if recent else list(order)
        rows = [(cid, *v) for cid in chains for v in votes.get(cid, [])]
        if len(chains) < 3 or not rows:
            return None
        table = np.array(rows, dtype=np.float64)
        ids = table[:, 0].astype(int)
        _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
        weight = 1.0 / counts[inverse]  # one vote per person, however long they were seen
        return (ids, weight, *(table[:, k] for k in range(1, table.shape[1])))

    # -- helpers --------------------------------------------------------------------------

    def _from_legs(
        self, legs: tuple[np.ndarray, ...], blobs: tuple[np.ndarray, ...] | None
    ) -> Estimate | None:
        """The scale from the legs of the people in front in each blob, and their build.

        Legs are seen in any crowd, so the row model rests on them. How tall and wide a
        person is for their legs comes from the people seen whole (upright blobs of the most
        common height for their legs), or from an adult's usual build while too few were.
        """
        ids, weight, foot, legs_width = legs
        line = self._row_line(foot, legs_width, weight)
        if line is None:
            return None
        slope, intercept, agree = line
        tall, wide, fill = self.HEIGHT_PER_LEGS, self.WIDTH_PER_LEGS, self.FILL
        if blobs is not None:
            b_ids, b_weight, b_foot, _size, width, height, area = blobs
            at = np.maximum(intercept + slope * b_foot, 1.0)
            upright = height >= self.UPRIGHT * width
            h_ratio = height / at
            peak = _peak(np.log(h_ratio[upright]), b_weight[upright]) if upright.any() else None
            if peak is not None:
                whole = upright & (np.abs(np.log(h_ratio) - peak) < self.AGREE_LOG)
                if len(set(b_ids[whole].tolist())) >= self.PROPORTION_PEOPLE:
                    w = b_weight[whole]
                    tall = _weighted_median(h_ratio[whole], w)
                    wide = _weighted_median(width[whole] / at[whole], w)
                    fill = _weighted_median(area[whole] / (width[whole] * height[whole]), w)
        legs_ref = float(intercept + slope * self.ref_row)
        if legs_ref <= 0.2:
            return None
        scale = self._scale(legs_ref, slope, wide, tall, fill)
        people = len(set(ids[agree].tolist()))
        share = float(weight[agree].sum() / weight.sum())
        return Estimate(scale, people, share)

    def _scale(
        self, ref: float, slope: float, wide: float, tall: float, fill: float
    ) -> PersonScale:
        """The person scale from a row model of some measure (legs' width, or height): its
        value ``ref`` at the reference row and ``slope`` per row, and how wide and tall one
        person is in that measure, filling ``fill`` of their box."""
        # Equivalent diameter of one person per unit of the measure.
        d = math.sqrt(4.0 / math.pi * fill * wide * tall)
        return PersonScale(ref * d, float(slope) * d, self.ref_row, wide / d, tall / d)

    def _row_line(
        self, foot: np.ndarray, value: np.ndarray, weight: np.ndarray
    ) -> tuple[float, float, np.ndarray] | None:
        """A robust line value(foot row), never falling with the row (nearer is lower in the
        picture, and larger). Per band of rows the most common value; of the lines through
        one band (flat) or two, the one most chains agree with; then trimmed refits on the
        samples that agree. A crowd's merged legs make a few bands wrong, so no band may pull
        the line: they have to outvote it. Returns (slope, intercept, which samples agree).
        """
        lo, hi = float(foot.min()), float(foot.max())
        bands = np.linspace(lo, hi + 1e-6, 7)
        centres, peaks = [], []
        for a, b in zip(bands[:-1], bands[1:], strict=True):
            sel = (foot >= a) & (foot < b)
            if weight[sel].sum() < 2.0:
                continue
            peak = _peak(np.log(value[sel]), weight[sel])
            if peak is not None:
                centres.append(float(np.average(foot[sel], weights=weight[sel])))
                peaks.append(math.exp(peak))
        if not peaks:
            return None
        lines = [(0.0, p) for p in peaks]
        for i in range(len(peaks)):
            for j in range(i + 1, len(peaks)):
                slope = (peaks[j] - peaks[i]) / (centres[j] - centres[i])
                if slope > 0:
                    lines.append((slope, peaks[i] - slope * centres[i]))

        def agreeing(line: tuple[float, float]) -> np.ndarray:
            expected = np.maximum(line[1] + line[0] * foot, 1.0)
            return np.abs(np.log(value / expected)) < self.AGREE_LOG

        slope, intercept = max(lines, key=lambda line: float(weight[agreeing(line)].sum()))
        agree = np.zeros(len(foot), bool)
        for _ in range(3):
            agree = agreeing((slope, intercept))
            if agree.sum() < 3:
                return None
            slope = 0.0
            if len(set(np.round(foot[agree] / 8).tolist())) >= 2:
                slope, intercept = np.polyfit(foot[agree], value[agree], 1, w=weight[agree])
            if slope <= 0:
                intercept = _weighted_median(value[agree], weight[agree])
                slope = 0.0
        return float(slope), float(intercept), agree

    def _fit_rows(
        self,
        ids: np.ndarray,
        weight: np.ndarray,
        foot: np.ndarray,
        size: np.ndarray,
        width: np.ndarray,
        height: np.ndarray,
        area: np.ndarray,
    ) -> Estimate | None:
        # Heights first: side-by-side people do not change them, so the row model is fitted
        # where groups cannot pull it.
        line = self._row_line(foot, height, weight)
        if line is None:
            return None
        slope, intercept, agree = line
        # Widths of lone people: among the samples of the right height, the narrowest peak
        # (people side by side are as tall, twice as wide).
        expected = np.maximum(intercept + slope * foot, 1.0)
        ratio_w = width / expected
        wpeak = _peak(np.log(ratio_w[agree]), weight[agree], smallest=True)
        if wpeak is None:
            return None
        alone = agree & (np.abs(np.log(ratio_w) - wpeak) < self.AGREE_LOG)
        if alone.sum() < 3:
            alone = agree
        w_over_h = _weighted_median(ratio_w[alone], weight[alone])
        fill = _weighted_median(area[alone] / (width[alone] * height[alone]), weight[alone])
        h_ref = float(intercept + slope * self.ref_row)
        if h_ref <= 1.0:
            return None
        scale = self._scale(h_ref, slope, w_over_h, 1.0, fill)
        people = len(set(ids[alone].tolist()))
        share = float(weight[agree].sum() / weight.sum())
        return Estimate(scale, people, share)

    def _follow(self, blobs: list[Blob]) -> None:
        """Steady movers vote: whole blobs, and in an oblique view the legs at their feet."""
        whole = [b for b in blobs if b.whole]
        points = [(b.x, b.y, b.area, 0.75 * b.size) for b in whole]
        self._chains = self._link(self._chains, points)
        for chain, blob in zip(self._chains, whole, strict=True):
            if self._voting(chain, blob.size):
                sample = (blob.foot_row, blob.size, blob.width, blob.height, blob.area)
                self._vote(self._votes, self._order, chain.person, sample)
        if self.view != "oblique":
            return
        legs = [leg for b in blobs for leg in b.legs]
        points = [(x, foot, width, self.LEGS_REACH * width) for x, foot, width in legs]
        self._legs_chains = self._link(self._legs_chains, points)
        for chain, (_x, foot, width) in zip(self._legs_chains, legs, strict=True):
            if self._voting(chain, width):
                self._vote(self._legs, self._legs_order, chain.person, (foot, width))

    def _link(
        self, previous: list[_Chain], points: list[tuple[float, float, float, float]]
    ) -> list[_Chain]:
        """Link this frame's (x, y, measure, reach) to the last frame's chains by nearest
        position within reach; a chain goes on while its measure (area, width) stays steady."""
        claimed: dict[int, int] = {}
        best_for: list[tuple[int, float] | None] = []
        for x, y, _measure, reach in points:
            best, best_d = None, reach
            for k, chain in enumerate(previous):
                d = math.hypot(x - chain.x, y - chain.y)
                if d < best_d:
                    best, best_d = k, d
            best_for.append((best, best_d) if best is not None else None)
            if best is not None:
                claimed[best] = claimed.get(best, 0) + 1
        chains: list[_Chain] = []
        for (x, y, measure, _reach), match in zip(points, best_for, strict=True):
            chain: _Chain | None = None
            person = self._next_chain
            if match is not None and claimed[match[0]] == 1:
                old = previous[match[0]]
                ratio = measure / max(old.measure, 1e-6)
                if 1 / self.STEADY_RATIO <= ratio <= self.STEADY_RATIO:
                    chain = old
                    chain.steady += 1
                    chain.travelled += match[1]
                else:
                    person = old.person
            if chain is None:
                chain = _Chain(self._next_chain, x, y, measure, person=person)
                self._next_chain += 1
            chain.x, chain.y, chain.measure = x, y, measure
            chains.append(chain)
        return chains

    def _voting(self, chain: _Chain, size: float) -> bool:
        return chain.steady >= self.STEADY_FRAMES and chain.travelled >= self.MOVED * size

    def _vote(
        self,
        votes: dict[int, list[tuple[float, ...]]],
        order: deque[int],
        person: int,
        sample: tuple[float, ...],
    ) -> None:
        person_votes = votes.get(person)
        if person_votes is None:
            person_votes = votes[person] = []
            order.append(person)
            if len(order) > self.KEEP_CHAINS:
                votes.pop(order.popleft(), None)
        # Someone crossing slowly keeps a sample of their frames, not all.
        if len(person_votes) < 8:
            person_votes.append(sample)

    def _relearn_from_recent(self) -> None:
        keep = list(self._order)[-self.RECENT_CHAINS :]
        self._votes = {cid: self._votes[cid] for cid in keep if cid in self._votes}
        self._order = deque(keep)
        keep = list(self._legs_order)[-self.RECENT_CHAINS :]
        self._legs = {cid: self._legs[cid] for cid in keep if cid in self._legs}
        self._legs_order = deque(keep)


# The legs are measured where the rise above the feet is this many times their width: about
# knee height for anyone, whatever their size in pixels (legs are four to five of their widths
# long), below hands and bags and below where the people behind begin to overlap.
LEGS_RISE = 1.5


def legs_of(patch: np.ndarray, limit: int = 40) -> list[tuple[float, float, float]]:
    """The legs of each person standing in front in an oblique view's blob.

    Returns (centre column, foot row, width) per person, in patch pixels with edges at whole
    numbers. Nearer people stand lower in the picture and hide those behind them, so every
    dip of the blob's lower edge (its lowest point, and each lowest point between people
    standing abreast) is someone's feet, and their legs are whole however crowded the rest of
    the blob is. From the middle of the feet, walk up, following the run of pixels that
    holds the legs, until the rise is LEGS_RISE times the run's width. Feet whose column is
    empty just above (legs apart), whose run more than doubles on the way (it merged with
    someone else's) or that reach the blob's top first give nothing.
    """
    h, w = patch.shape
    rows = np.arange(h)[:, None]
    bottom = np.max(np.where(patch, rows, -1), axis=0)
    # Each pixel's run: the first and last column of the set pixels it belongs to, by row.
    cols = np.broadcast_to(np.arange(w), patch.shape)
    first = np.maximum.accumulate(np.where(patch, -1, cols), axis=1) + 1
    last = (np.minimum.accumulate(np.where(patch, w, cols)[:, ::-1], axis=1)[:, ::-1]) - 1
    free = bottom >= 0
    out: list[tuple[float, float, float]] = []
    for c in np.argsort(-bottom, kind="stable"):
        if len(out) >= limit or bottom[c] < 0:
            break
        if not free[c]:
            continue
        foot = int(bottom[c])
        a = b = int(c)
        while a > 0 and free[a - 1] and bottom[a - 1] >= foot - 1:
            a -= 1
        while b < w - 1 and free[b + 1] and bottom[b + 1] >= foot - 1:
            b += 1
        x = (a + b) // 2
        # The lower edge rising away on either side is these feet's own flank.
        lo, hi = a, b
        while lo > 0 and 0 <= bottom[lo - 1] <= bottom[lo]:
            lo -= 1
        while hi < w - 1 and 0 <= bottom[hi + 1] <= bottom[hi]:
            hi += 1
        free[lo : hi + 1] = False
        found = None
        widths = [0]
        for rise in range(1, foot + 1):
            r = foot - rise
            if not patch[r, x]:
                break
            left, right = int(first[r, x]), int(last[r, x])
            width = right - left + 1
            widths.append(width)
            # Legs widen from the feet up by less than a square root (as an ellipse's tip);
            # twice the width at half the rise, and two pixels more than rounding explains,
            # is someone beside or behind merging in.
            if width > 2 * widths[(rise + 1) // 2] + 2:
                break
            if rise >= LEGS_RISE * width:
                found = (left, right)
                break
            x = (left + right) // 2  # legs lean as people walk
        if found is not None:
            left, right = found
            out.append(((left + right + 1) / 2.0, foot + 1.0, float(right - left + 1)))
    return out


def _peak(values: np.ndarray, weight: np.ndarray, *, smallest: bool = False) -> float | None:
    """The most common value of a weighted sample (in log-size), or the smallest common one.

    A weighted histogram smoothed by a kernel about as wide as people differ (+-10 %). With
    ``smallest`` the first peak that holds at least half the best one's weight wins: for
    widths, where people side by side are as common as people alone and only ever wider.
    """
    if len(values) == 0 or weight.sum() <= 0:
        return None
    lo, hi = float(values.min()) - 0.3, float(values.max()) + 0.3
    step = 0.02
    bins = max(int((hi - lo) / step) + 1, 3)
    hist, edges = np.histogram(values, bins=bins, range=(lo, lo + bins * step), weights=weight)
    kernel = np.exp(-0.5 * (np.arange(-15, 16) * step / 0.1) ** 2)
    smooth = np.convolve(hist, kernel / kernel.sum(), mode="same")
    top = smooth.max()
    if top <= 0:
        return None
    centres = (edges[:-1] + edges[1:]) / 2
    if smallest:
        for k in range(1, len(smooth) - 1):
            if smooth[k] >= 0.5 * top and smooth[k] >= smooth[k - 1] and smooth[k] >= smooth[k + 1]:
                return float(centres[k])
    return float(centres[int(np.argmax(smooth))])


def _weighted_median(values: np.ndarray, weight: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weight[order])
    k = int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))
    return float(values[order][min(k, len(values) - 1)])


# -- what survives a restart ------------------------------------------------------------------


@dataclass
class SavedCalibration:
    """The learned scale and a tiny thumbnail of the empty floor it was learned on.

    The thumbnail (64 x 48 high-passed grey levels of the background model, which holds no
    people) lets
    the next start tell whether the camera still looks at the same floor.
    """

    scale: PersonScale
    people: int
    view: str
    frame: tuple[int, int]
    # float32, 64 x 48 values (a list of Python floats took sixteen times the memory)
    floor: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "scale": asdict(self.scale),
            "people": self.people,
            "view": self.view,
            "frame": list(self.frame),
            "floor": [round(float(v), 3) for v in self.floor],
        }
        replace_atomically(path, json.dumps(doc))  # never half a file behind a power cut

    @classmethod
    def read(cls, path: Path) -> SavedCalibration | None:
        try:
            doc = json.loads(path.read_text())
            return cls(
                PersonScale(**doc["scale"]),
                int(doc["people"]),
                str(doc["view"]),
                (int(doc["frame"][0]), int(doc["frame"][1])),
                np.asarray([float(v) for v in doc.get("floor", [])], dtype=np.float32),
            )
        except (OSError, ValueError, KeyError, TypeError):
            # Missing or unreadable: learn again, which costs a few minutes, not a wrong scale.
            return None


FLOOR_SIZE = (64, 48)


def floor_signature(background: np.ndarray) -> np.ndarray:
    """A 64 x 48 high-passed, normalised grey thumbnail of the floor.

    The same view gives the same signature under other light: a gain change is normalised
    away and a slow patch of sunlight is filtered out with the low frequencies; tiles,
    tape, fixtures and their positions remain.
    """
    import cv2

    # Shrunk first, then made float: no float copy of the whole image.
    small = cv2.resize(background, FLOOR_SIZE, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    small = small.astype(np.float32)
    small -= cv2.GaussianBlur(small, (0, 0), 4.0)
    small -= small.mean()
    norm = float(np.sqrt((small * small).sum()))
    return (small / norm).ravel() if norm > 1e-6 else np.zeros(0, np.float32)


def same_view(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> bool:
    """Whether two floor signatures show the same view (normalised correlation)."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.size == 0 or b.size == 0 or a.size != b.size:
        return False
    return float(np.dot(a, b)) >= threshold
