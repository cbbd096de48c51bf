"""The ``motion`` detector: foreground blobs against an empty-floor image, split by size.

For overhead cameras (and oblique ones, where upright people are found by their feet); needs no
model.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from peakend.edge.calibration import Blob, PersonScale, legs_of
from peakend.edge.detection import Detection
from peakend.edge.detectors.bands import people_in_row
from peakend.edge.detectors.foreground_age import MAX_AGE_S, ForegroundAge
from peakend.edge.detectors.settings import DetectorSettings


class MotionSettings(DetectorSettings):
    """[detector] with kind = "motion" (the default)."""

    kind: Literal["motion"] = Field(
        default="motion",
        title="Detector",
        description="motion: background subtraction, no model (default).",
    )
    threshold: int = Field(
        default=30,
        ge=1,
        le=255,
        title="Difference threshold",
        description="How far a pixel must differ from the background to be foreground.",
    )
    learn_rate: float = Field(
        default=0.02,
        gt=0,
        le=1,
        title="Background learning rate",
        description="How fast the empty-floor image follows light changes (per frame).",
    )
    absorb_s: float = Field(
        default=900.0,
        gt=0,
        le=MAX_AGE_S,
        title="Absorb after (s)",
        description="Foreground that has not moved for this long (a parked trolley) becomes "
        "background. Keep it longer than the longest wait; an hour at most.",
    )


class MotionDetector:
    """Foreground blobs against a slowly learnt empty-floor image, split into people by size.

    The background learns only where nothing is in front of it (selective update): a person
    standing still in a queue for minutes stays foreground, which a plain MOG2 model would
    absorb within seconds. Two ways out keep it from sticking: foreground unchanged for
    ``absorb_s`` is absorbed (a parked trolley), and a "ghost" — a blob whose outline has its
    edges in the background image instead of the frame, left where a person stood when the
    background was first taken — is absorbed at once.

    Every size follows the person scale in use (``use_scale``), which the camera learns itself
    (calibration.py): the working resolution, the smallest blob kept, how many people a blob
    holds, and how close two detections may be before they are one person. Told where the
    tracker has just seen people (``expect``), it keeps less than a person there: a head
    alone, the rest of them in the floor's colour.
    """

    name = "motion"
    WORK_PERSON_PX = 18.0  # people are detected on a frame scaled so one is about this wide
    # ... but never on more than 0.6 x 0.6 of the frame: the cost per frame stays what it was
    # under a usual ceiling when a high one makes people small.
    MAX_WORK_SCALE = 0.6
    NOISE_AREA = 20  # working pixels: smaller blobs are noise whatever the scale
    # A frame mostly foreground for this long is a new view (the camera was moved or
    # knocked), not a crowd: people never cover most of the floor.
    MOVED_SHARE = 0.6
    MOVED_S = 2.0
    # Foreground differs from the background by more than this share of its brightness
    # (a shadow darkens the floor by about 15 %), and by more than sensor noise ever does.
    CONTRAST = 0.19
    NOISE_DIFF = 12.0
    # Hysteresis (_grown), overhead: someone in clothes near the floor's colour shows in
    # flecks over the threshold, the rest of them a little under it. A piece too small to be
    # anyone takes in, within half a person, the pixels it joins that differ by GROW of the
    # threshold (and more than noise) in a colour of their own: not every channel by the
    # same share (within SHADOW_HUE), which a shadow, the pale patch under everyone, sun and
    # flicker do. Not where that joins a piece larger (someone whole keeps their size: what
    # they join is a neighbour as often as them), nor in an oblique view, where a small
    # piece is mostly a sliver of someone behind a nearer person (`oblique-crowd`, seed 1:
    # 316 to 294 of 710 promotion visits).
    GROW = 0.6
    # A shadow (_shadows): every channel at SHADOW_MIN to SHADOW_MAX of the floor's, all
    # within SHADOW_HUE of one another (what sensor noise leaves of one shade: at 0.08, with
    # every such pixel taken out, greyish shirts took 2 px off `staff`'s learned size).
    # A light low to one side leaves 0.3-0.5 of the light in a shadow (from 0.5, the lower
    # bound of OpenCV's MOG2 shadow test, such shadows made a person up to 60 % larger).
    # Ratios to the floor are worked in whole 128ths (8 bits hold up to twice its light),
    # so the bounds are 38, 121 and 5 of them.
    SHADOW_MIN = 0.3
    SHADOW_MAX = 0.95
    SHADOW_HUE = 0.04
    SHADOW_BROAD = 0.5  # below this share, only pieces wider than a few working pixels
    RATIO_ONE = 128
    # ... and taken out (_cast) where a piece of person at least SHADOW_CASTER of its area
    # casts it (or SHADOW_CASTER of a person, for a piece of up to SHADOW_LONG people per
    # such caster it touches: a long shadow, or the shadows of people in line; or
    # nothing in view, for a piece the picture's edge cuts), unless it encloses person, at
    # least SHADOW_CORE of its area (a shirt round a head encloses 0.6-0.8; a shadow beside
    # its person, nothing; a person between shadows, in a piece larger than a person's
    # area, is not counted).
    SHADOW_CASTER = 0.5
    SHADOW_LONG = 3.0
    SHADOW_CORE = 0.1
    # A ghost stays where it was left; a blob must have been foreground this long (most of
    # its pixels) before it may be taken for one. Someone in floor-coloured clothes crossing
    # lane tape shows as tape that vanished, which is what a ghost looks like, but moves.
    GHOST_STILL_S = 1.0
    # Most of a blob foreground for this long: people standing (a line), not walking past.
    STANDING_S = 1.0
    LEARN_BAND = 64  # working rows the background learns (and sets thresholds) at once
    PEEL_MAX = 40  # people taken out of one blob at most (an oblique view of a crowd)
    # Overhead, a blob under LEAST of a person's area is nobody new: a piece of someone, a
    # fleck of light. Down to WEAK it may still be someone the tracker follows, where it last
    # saw them (expect): someone in clothes of the floor's colour shows their head alone,
    # about a quarter of a person seen from above. Taken for floor, such a head was learnt
    # into the background within seconds of standing in line, and the person was gone. The
    # tracker lets such a weak detection only continue someone, never start anyone.
    LEAST = 0.3
    WEAK = 0.15
    # Two feet a tenth of a height above the ground span half a body's width or more.
    FEET_MIN = 0.3
    # Someone whose feet are hidden behind a nearer person counts from this share of a
    # person's area showing (a head and shoulders); the whole of a person is about 1.
    HIDDEN_MIN = 0.12
    # Overhead, two people in line (_two_in_line): a blob this many times as long as a lone
    # person is two, where lone people are at least ELONGATED times as long as their size.
    IN_LINE = 1.3
    ELONGATED = 1.15

    def __init__(
        self,
        settings: MotionSettings,
        *,
        view: str = "overhead",
        scale: PersonScale | None = None,
    ) -> None:
        self.settings = settings
        self.view = view
        self.frame_shape: tuple[int, int] | None = None
        self.person = scale or PersonScale(settings.person_px or 40.0)
        self.trusted = True
        self.scale = self._work_scale(self.person)
        self._background: np.ndarray | None = None
        self._fg_age: ForegroundAge | None = None
        self._mostly_fg_since: float | None = None
        self._threshold_map: np.ndarray | None = None
        self._threshold_at = 0.0
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        self._reach: np.ndarray | None = None  # half a person each way (_grown)
        self.last_mask: np.ndarray | None = None
        # Where the tracker last saw the people it follows (expect): a blob too small to be
        # someone new is still one of them there.
        self._expected: list[tuple[float, float]] = []
        self.blobs: list[Blob] = []  # this frame's blobs, for calibration
        self.view_changed = False  # set for one frame when the view was found to change

    def use_scale(self, person: PersonScale, *, trusted: bool = True) -> None:
        """Follow a new person scale; the background is resampled, not relearnt.

        An untrusted scale (a guess before anyone was seen) only sets the working size:
        every blob above noise then counts as one person, which with the few people of the
        first seconds is nearer the truth than splitting by a size that may be off twofold.
        """
        self.person = person
        self.trusted = trusted
        scale = self._work_scale(person)
        # Resampling the background blurs it: not for a change under 10 %. Before the first
        # frame nothing is resampled, and the size asked for is taken exactly (a person_px
        # not yet checked must leave no trace, not even in the working resolution).
        if self._background is not None and abs(scale / self.scale - 1.0) < 0.1:
            return
        self.scale = scale
        if self._background is not None and self.frame_shape is not None:
            h, w = self.frame_shape
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            self._background = cv2.resize(self._background, size, interpolation=cv2.INTER_AREA)
            self._fg_age = ForegroundAge(self._background.shape[:2])

    def background(self) -> np.ndarray | None:
        """The empty floor as learnt so far, at the working size (None before the first
        frame)."""
        return None if self._background is None else _plain(self._background)

    def detect(self, frame: np.ndarray, t: float) -> list[Detection]:
        self.frame_shape = frame.shape[:2]
        self.view_changed = False
        # For this frame only: told again before the next one, or nobody is expected.
        expected, self._expected = self._expected, []
        small = self._prepare(frame)
        if self._background is None or self._background.shape[:2] != small.shape[:2]:
            self._background = _fixed(small)
            self._fg_age = ForegroundAge(small.shape[:2])
            self.blobs = []
            return []
        plain = _plain(self._background)
        diff = cv2.absdiff(small, plain)
        if diff.ndim == 3:
            diff = np.max(diff, axis=2)
        mask = cv2.compare(diff, self._thresholds(t), cv2.CMP_GT)
        if small.ndim == 3:
            mask = self._grown(mask, diff, small, plain)
        # Each temporary is a working image, freed as soon as it is used; the most alive at
        # once are the hysteresis step's (_grown: two label images beside diff and mask).
        del diff
        candidates = self._shadows(small, plain, mask)
        del plain
        if small.ndim == 3:
            # Overexposed (sunlight on a light floor): the camera sees nothing there.
            burnt = cv2.inRange(small, (250, 250, 250), (255, 255, 255))
            mask = cv2.bitwise_and(mask, cv2.bitwise_not(burnt))
            del burnt
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        if self._moved(mask, t):
            self._background = _fixed(small)
            self._fg_age = ForegroundAge(small.shape[:2])
            self.view_changed = True
            self.blobs = []
            return []
        cast = None if candidates is None else self._cast(candidates, mask)
        del candidates
        if cast is not None:
            mask = cv2.bitwise_and(mask, cv2.bitwise_not(cast))
            # What the shadow joined comes apart (the next person in line), and no thin rim
            # of it is left along a person's side.
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        # 16-bit labels: after the opening a blob holds at least a few pixels, so a working
        # image (0.6 x 640 x 480 at most) never has anywhere near 65535 of them.
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=8, ltype=cv2.CV_16U
        )
        detections: list[Detection] = []
        ghosts = []
        blobs: list[Blob] = []
        inv = 1.0 / self.scale
        sh, sw = small.shape[:2]
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            patch = labels[y : y + h, x : x + w] == label
            row = (y + h) * inv if self.view == "oblique" else 0.0
            person_area = self.person.area_at(row) * self.scale * self.scale
            # Blobs for calibration: anything above noise; its size only when wholly inside
            # the frame (a person cut by the edge looks smaller than they are).
            whole = x > 0 and y > 0 and x + w < sw and y + h < sh
            legs: tuple[tuple[float, float, float], ...] = ()
            if self.view == "oblique" and area >= self.NOISE_AREA:
                # A crowd's blob may span the frame; the legs along its bottom are still whole.
                legs = tuple(
                    ((x + c) * inv, (y + foot) * inv, width * inv)
                    for c, foot, width in legs_of(patch)
                    if 0 < x + c - width / 2 < sw - width and y + foot < sh
                )
            if area >= 6 and (whole or legs):
                blobs.append(
                    Blob(
                        (x + w / 2) * inv,
                        (y + h / 2) * inv,
                        (x * inv, y * inv, (x + w) * inv, (y + h) * inv),
                        area * inv * inv,
                        legs,
                        whole,
                    )
                )
            weak = None
            if area < (self.LEAST * person_area if self.trusted else self.NOISE_AREA):
                weak = self._still_someone(patch, x, y, area, person_area, expected)
                if weak is None:
                    mask[y : y + h, x : x + w][patch] = 0  # learnt as floor
                    continue
            if self._is_ghost(small, patch, x, y, t):
                ghosts.append((x, y, patch))
                continue
            if weak is not None:
                cx, cy = weak
                detections.append(self._detection(cx, cy, x, y, x + w, y + h, inv, weak=True))
                continue
            for detection, part in self._split(patch, x, y, area, person_area, t):
                # A ghost touching the person who left it merges into one blob; the split
                # separates them, so each part of a multi-person blob is checked on its own.
                if part is not None and self._is_ghost(small, part[2], part[0], part[1], t):
                    ghosts.append(part)
                else:
                    detections.append(detection)
        del labels
        detections = self._merge_fragments(detections)
        self.blobs = blobs
        self.last_mask = mask
        self._learn(small, mask, ghosts, t, cast)
        return detections

    # -- helpers -------------------------------------------------------------------------

    def _thresholds(self, t: float) -> np.ndarray:
        """How far each pixel must differ from the background to be foreground.

        Light changes and shadows scale a pixel's brightness, so one fixed difference is too
        strict on a dark floor (black hair on dark tiles differs by about 30) and right on a
        light one: the threshold follows the background's brightness, up to the configured
        one, and stays above what sensor noise reaches. The background changes slowly, so
        the map is redone once a second.
        """
        assert self._background is not None
        shape = self._background.shape[:2]
        stale = t - self._threshold_at >= 1.0 or t < self._threshold_at
        if self._threshold_map is None or self._threshold_map.shape != shape or stale:
            bg = self._background
            thresholds = np.empty(shape, np.uint8)
            # A band of rows at a time: a float map of the whole frame was the detector's
            # largest allocation. Truncated, not rounded, as the map always was (one level
            # more moved the oblique crowd's counts by several points).
            gain = np.float32(self.CONTRAST / FIXED_ONE)
            for top in range(0, shape[0], self.LEARN_BAND):
                rows = slice(top, top + self.LEARN_BAND)
                level = (bg[rows].max(axis=2) if bg.ndim == 3 else bg[rows]) * gain
                np.clip(level, self.NOISE_DIFF, self.settings.threshold, out=level)
                thresholds[rows] = level
            self._threshold_map = thresholds
            self._threshold_at = t
        return self._threshold_map

    def _grown(
        self, mask: np.ndarray, diff: np.ndarray, small: np.ndarray, plain: np.ndarray
    ) -> np.ndarray:
        """The foreground, with each piece too small to be anyone grown by what joins it a
        little under the threshold in a colour of its own (hysteresis): see GROW."""
        if not self.trusted or self.view != "overhead":
            return mask
        # 16-bit labels where they hold every piece, as in _cast.
        ltype = cv2.CV_32S if mask.size > 4 * 65535 else cv2.CV_16U
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=8, ltype=ltype
        )
        if count <= 1:
            return mask
        # Above noise: a speck the opening would take out must not grow into someone.
        area = stats[:, cv2.CC_STAT_AREA]
        person_area = self.person.area_at(0.0) * self.scale**2
        large = area >= self.LEAST * person_area
        piece = ~large & (area >= self.NOISE_AREA)
        piece[0] = large[0] = False
        if not piece.any():
            return mask
        assert self._threshold_map is not None
        low = cv2.max(
            cv2.convertScaleAbs(self._threshold_map, alpha=self.GROW), self.NOISE_DIFF
        )
        weak = cv2.bitwise_and(cv2.compare(diff, low, cv2.CMP_GT), cv2.bitwise_not(mask))
        found = cv2.findNonZero(weak)
        if found is None:
            return mask
        xs, ys = found[:, 0, 0], found[:, 0, 1]
        # The colour test on those pixels only: a few thousand, not the whole image.
        now = small[ys, xs].astype(np.float32) + 0.5
        floor = plain[ys, xs].astype(np.float32) + 0.5
        ratio = now / floor
        light = ratio.max(axis=1) - ratio.min(axis=1) <= self.SHADOW_HUE
        weak[ys[light], xs[light]] = 0
        joined = cv2.bitwise_or(mask, weak)
        count2, union = cv2.connectedComponents(joined, connectivity=8, ltype=ltype)
        # Each joined piece grows where it holds a piece too small to be anyone and nothing
        # larger: someone whole is left as they are (their size is what calibration learns,
        # and what they join a little under the threshold is a neighbour as often as them).
        strong = mask > 0
        held = union[strong]
        kind = labels[strong]
        seeded = np.zeros(count2, bool)
        seeded[held[piece[kind]]] = True
        whole = np.zeros(count2, bool)
        whole[held[large[kind]]] = True  # not a speck under noise: that blocks nothing
        grow = seeded & ~whole
        grow[0] = False
        if not grow.any():
            return mask
        # ... by half a person at most: into their own clothes, not along whatever else
        # changed colour beside them.
        radius = max(1, int(0.5 * self.person.at(0.0) * self.scale))
        if self._reach is None or self._reach.shape[0] != 2 * radius + 1:
            self._reach = cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)
            )
        near = cv2.dilate((piece[labels] & grow[union]).astype(np.uint8), self._reach)
        added = cv2.bitwise_and(weak, (grow[union] & (near > 0)).astype(np.uint8) * 255)
        return cv2.bitwise_or(mask, added)

    def _shadows(
        self, small: np.ndarray, plain: np.ndarray, mask: np.ndarray
    ) -> np.ndarray | None:
        """Foreground pixels coloured as the floor in shadow (None in grey frames).

        A shadow darkens the floor it falls on and keeps its colour: every channel drops by
        the same share, down to 0.3 (a light low to one side; OpenCV's MOG2
        shadow test stops at half). A shirt or hair mostly has its own colour, or is
        darker still; _cast decides which of these pixels really are a shadow. Taken out, a
        shadow no longer joins people standing in line, and the size the camera learns is
        the person's, not person and shadow. Grey frames have no colour to tell a grey
        shirt from a shadow: nothing is taken out. Nor in an oblique view, where a shadow
        lies under the feet that place a person and people hide one another: in the
        oblique scenes, which draw no shadow, it only took pixels of people (the crowd's
        promotion dwell moved from -2.5 % to -17.1 %).
        """
        if small.ndim != 3 or self.view != "overhead":
            return None
        # Per channel with OpenCV: numpy's reductions over an axis of three are several
        # times slower than the whole rest of the detector.
        b, g, r = cv2.split(cv2.divide(small, plain, scale=float(self.RATIO_ONE)))
        lo = cv2.min(cv2.min(b, g), r)
        hi = cv2.max(cv2.max(b, g), r)
        del b, g, r
        spread = cv2.subtract(hi, lo)
        shadow = cv2.inRange(lo, int(self.SHADOW_MIN * self.RATIO_ONE), 255)
        shadow = cv2.bitwise_and(
            shadow, cv2.compare(hi, int(self.SHADOW_MAX * self.RATIO_ONE), cv2.CMP_LE)
        )
        shadow = cv2.bitwise_and(
            shadow, cv2.compare(spread, int(self.SHADOW_HUE * self.RATIO_ONE), cv2.CMP_LE)
        )
        # Below half the floor's light only where it is broad: a dark edge blended with the
        # light beside it (a trolley's frame round its grey body) is a thin band of such
        # pixels, and made body and frame one piece too large to be anyone's shadow.
        deep = cv2.bitwise_and(
            shadow, cv2.compare(lo, int(self.SHADOW_BROAD * self.RATIO_ONE), cv2.CMP_LT)
        )
        if cv2.countNonZero(deep):
            # what an opening takes away: the thin bands
            shadow = cv2.subtract(shadow, cv2.morphologyEx(deep, cv2.MORPH_TOPHAT, self._close))
        return cv2.bitwise_and(shadow, mask)

    def _cast(self, shadow: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """The shadow-coloured pieces that are cast shadows, to be taken out (None: none).

        A cast shadow lies beside whoever casts it. A shirt of the floor's colour, only
        darker, is shadow-coloured too, but it lies around its wearer's head: a piece that
        encloses person (at least SHADOW_CORE of its own area; less is a fleck of noise
        inside a shadow) is clothing, and stays. In a piece larger than one person's area,
        only what is less than a caster counts as enclosed: a head, not someone standing
        between their own shadow and their neighbours'. A piece is taken out only where
        the piece of person next to it, which casts it, is at least SHADOW_CASTER of its
        area, or of a person for a piece of up to SHADOW_LONG people for each caster it
        touches (a long shadow, or the shadows of people in line run into one): someone in
        shadow-coloured clothes and hair with a bag at their side is not a shadow cast by
        the bag. A piece the picture's edge cuts needs no such caster in view. Pieces under
        NOISE_AREA are left as they are: too small to
        join people or to change a size, and each would cost a look. What a piece encloses
        is read after closing gaps of a pixel or two, so a head must be wider than that:
        on the working image, where a person is about 18 px, a head is about 9.
        """
        shadow = cv2.bitwise_and(shadow, mask)  # what the cleaning left of it
        if cv2.countNonZero(shadow) < self.NOISE_AREA:
            return None
        # These masks are not opened, and noise may leave pieces of a pixel: at most one in
        # four pixels, apart. 16-bit labels hold that on a working image of up to 262,140
        # pixels (0.6 x 640 x 480 is 110,592); beyond, 32-bit ones, which cost more.
        wide = shadow.size > 4 * 65535
        ltype = cv2.CV_32S if wide else cv2.CV_16U
        count, parts, stats, _ = cv2.connectedComponentsWithStats(
            shadow, connectivity=8, ltype=ltype
        )
        if count <= 1:
            return None
        solid = cv2.bitwise_and(mask, cv2.bitwise_not(shadow))
        _, pieces, solid_stats, _ = cv2.connectedComponentsWithStats(
            solid, connectivity=8, ltype=ltype
        )
        # The largest piece of person touching each shadow-coloured piece: what casts it.
        # (32-bit labels as float32, which holds every one exactly: OpenCV dilates no 32-bit
        # integers)
        near = (
            cv2.dilate(parts.astype(np.float32), self._open).astype(np.int32)
            if wide
            else cv2.dilate(parts, self._open)
        )
        ys, xs = np.nonzero(cv2.bitwise_and(solid, cv2.compare(near, 0, cv2.CMP_GT)))
        # Each (shadow-coloured piece, piece of person) that touch, once.
        pairs = np.unique(near[ys, xs].astype(np.int64) * len(solid_stats) + pieces[ys, xs])
        del near
        owner, touching = np.divmod(pairs, len(solid_stats))
        sizes = solid_stats[touching, cv2.CC_STAT_AREA].astype(np.float64)
        caster = np.zeros(count)
        np.maximum.at(caster, owner, sizes)
        area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        # A light low to one side casts a shadow longer than its person: half a person casts
        # one up to SHADOW_LONG people (a bag is less than half a person), and the shadows
        # of people in line run into one piece, as long as theirs together: SHADOW_LONG
        # people for each caster it touches, or for each person's area of them where that
        # is more (people touching one another are one piece of person).
        # Only with a size checked against people seen: a guess too small would make a bag
        # a caster.
        needed = area
        person = np.inf  # no piece is more than a person's area until the size is known
        casters = np.zeros(len(solid_stats), bool)
        if self.trusted:
            person = self.person.area_at(0.0) * self.scale * self.scale
            casters = solid_stats[:, cv2.CC_STAT_AREA] >= self.SHADOW_CASTER * person
            big = casters[touching]
            touched = np.bincount(owner[big], minlength=count)
            people = np.bincount(owner[big], weights=sizes[big], minlength=count) / person
            longest = self.SHADOW_LONG * person * np.maximum(np.maximum(people, touched), 1)
            needed = np.where(area <= longest, np.minimum(area, person), area)
        # A piece the picture's edge cuts may be cast by someone outside it, or by someone
        # the edge cuts too: what casts it is not all in view. Sides: top, bottom, left, right.
        rows, cols = shadow.shape[:2]
        top, left = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_LEFT]
        edges = np.stack(
            (
                top == 0,
                top + stats[:, cv2.CC_STAT_HEIGHT] == rows,
                left == 0,
                left + stats[:, cv2.CC_STAT_WIDTH] == cols,
            ),
            axis=1,
        )
        cut = edges.any(axis=1)
        candidates = ((caster >= self.SHADOW_CASTER * needed) | cut) & (area >= self.NOISE_AREA)
        candidates[0] = False
        cast = np.zeros(count, bool)
        for label in np.nonzero(candidates)[0]:
            x, y, w, h = (int(v) for v in stats[label, :4])
            # The piece with a rim of floor, its gaps of a pixel or two closed (a shirt's
            # ring is that thin beside the head on a small working image), then what it
            # encloses: whatever the floor outside cannot reach.
            # A side the picture's edge cuts gets a rim of one pixel, which the closing seals
            # where the piece meets the edge: nothing is known beyond it, so a head in a
            # shirt the edge cuts is enclosed as much as one in the middle, while a piece
            # that meets the edge on one side of someone does not enclose them. The floor
            # outside is reached from the outer line of every other side (always free: the
            # closing reaches two of its three pixels).
            walls = edges[label]
            t, b, lf, r = (1 if wall else 3 for wall in walls)
            own = np.zeros((h + t + b, w + lf + r), np.uint8)
            own[t : t + h, lf : lf + w] = parts[y : y + h, x : x + w] == label
            own = cv2.morphologyEx(own, cv2.MORPH_CLOSE, self._close)
            outside = own.copy()
            last_row, last_col = own.shape[0] - 1, own.shape[1] - 1
            for wall, seed in zip(walls, ((0, 0), (0, last_row), (0, 0), (last_col, 0)),
                                  strict=True):
                if not wall and outside[seed[1], seed[0]] == 0:
                    cv2.floodFill(outside, None, seed, 1)
            held = np.zeros_like(own)
            held[t : t + h, lf : lf + w] = solid[y : y + h, x : x + w] > 0
            if area[label] > person:
                # More than one person's clothes: what it encloses may be a person standing
                # between the shadows of their neighbours and their own, not a head. (Two
                # heads pressed together inside their two shirts look the same: a known
                # limit. Asked to touch a second caster as well, this rule missed a third of
                # the shadows it is for.)
                held[t : t + h, lf : lf + w] &= ~casters[pieces[y : y + h, x : x + w]]
            inside = np.count_nonzero(held & (outside == 0))
            cast[label] = inside < self.SHADOW_CORE * area[label]
        del solid, pieces
        if not cast.any():
            return None
        out = np.zeros_like(shadow)
        for label in np.nonzero(cast)[0]:
            x, y, w, h = (int(v) for v in stats[label, :4])
            out[y : y + h, x : x + w][parts[y : y + h, x : x + w] == label] = 255
        return out

    def _work_scale(self, person: PersonScale) -> float:
        # One person about WORK_PERSON_PX wide at the middle row: enough pixels to split
        # blobs, few enough to run on a Pi (nearer people are larger, farther ones smaller).
        return min(self.MAX_WORK_SCALE, self.WORK_PERSON_PX / max(person.at(person.ref_row), 1.0))

    def _moved(self, mask: np.ndarray, t: float) -> bool:
        share = float(np.count_nonzero(mask)) / mask.size
        if share < self.MOVED_SHARE:
            self._mostly_fg_since = None
            return False
        if self._mostly_fg_since is None:
            self._mostly_fg_since = t
        if t - self._mostly_fg_since < self.MOVED_S:
            return False
        self._mostly_fg_since = None
        return True

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        # A light blur takes the sensor noise out before differencing (in place on the
        # resized copy: the caller's frame is left as it is).
        if self.scale >= 1.0:
            return cv2.blur(frame, (3, 3))
        small = cv2.resize(frame, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        return cv2.blur(small, (3, 3), dst=small)

    def _split(
        self, patch: np.ndarray, x: int, y: int, area: int, person_area: float, t: float
    ) -> list[tuple[Detection, tuple[int, int, np.ndarray] | None]]:
        """People in one blob, each with its own pixel patch when the blob held several."""
        h, w = patch.shape
        if self.view == "oblique" and self.trusted:
            return self._peel(patch, x, y)
        # Two people touching cover less than two people apart; round up from 0.6 past a whole.
        n = max(1, int(area / person_area + 0.4)) if self.trusted else 1
        inv = 1.0 / self.scale
        if n == 1 and self.trusted and area >= person_area and self._two_in_line(w, h):
            n = 2
        ys, xs = np.nonzero(patch)
        row = None
        if n > 1 and self._standing(patch, x, y, t):
            # A line of people waiting: the closing fills the gaps between them, so the area
            # counts one or two too many; the bumps along the line do not (bands.py). Only
            # ever fewer than by area: a size learned from heads (clothes of the floor's
            # colour) puts bumps inside one person. Walkers are left to the area: in a
            # passing crowd, people one behind the other overlap without a waist.
            row = people_in_row(xs, ys, self._width((y + h / 2) * inv) * self.scale)
            if row is not None and int(row.max()) + 1 <= n:
                n = int(row.max()) + 1
            else:
                row = None
        if n == 1:
            cx, cy = xs.mean() + x, ys.mean() + y
            return [(self._detection(cx, cy, x, y, x + w, y + h, inv), None)]
        points = np.column_stack([xs, ys]).astype(np.float32)
        if row is not None:
            assign = row
        else:
            n = min(n, len(points))
            # The centres from a sample of the blob's pixels are as good as from all of them,
            # and a crowd's blobs hold thousands; every pixel then goes to its nearest centre.
            sample = points[:: max(1, len(points) // 400)]
            n = min(n, len(sample))
            centres = _kmeans(sample, n)
            assign = np.argmin(
                ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1
            )
        out = []
        for k in range(n):
            member = points[assign.ravel() == k].astype(int)
            if len(member) == 0:
                continue
            x1, y1 = member.min(axis=0)
            x2, y2 = member.max(axis=0) + 1
            part = np.zeros((y2 - y1, x2 - x1), bool)
            part[member[:, 1] - y1, member[:, 0] - x1] = True
            cx, cy = member.mean(axis=0)
            detection = self._detection(cx + x, cy + y, x1 + x, y1 + y, x2 + x, y2 + y, inv)
            out.append((detection, (int(x1 + x), int(y1 + y), part)))
        return out

    def _two_in_line(self, w: int, h: int) -> bool:
        """Overhead: whether a blob of about one person's area is two people, one close
        behind the other, by its length against a lone person's.

        Two people walking in step overlap, so their blob may cover less than 1.6 people
        and the area counts one; but it is longer than anyone alone is (a lone person's
        longest side varies by about a tenth with pose and heading; two in line are half as
        long again). Only where the lone shape was measured as longer than wide, as a person
        seen whole from above is (the shoulders): a round lone shape is a head, in clothes
        of the floor's colour, and a whole person is longer than that without being two.
        """
        ratio = self.person.extent_ratio
        if ratio is None or ratio < self.ELONGATED:
            return False
        lone = ratio * self.person.at(0.0) * self.scale
        return max(w, h) > self.IN_LINE * lone

    def _standing(self, patch: np.ndarray, x: int, y: int, t: float) -> bool:
        assert self._fg_age is not None
        ages = self._fg_age.ages(t, x, y, patch)
        return ages.size > 0 and float(np.median(ages)) >= self.STANDING_S

    def _peel(
        self, patch: np.ndarray, x: int, y: int
    ) -> list[tuple[Detection, tuple[int, int, np.ndarray] | None]]:
        """Upright people in one blob, nearest first, each found by where their feet are.

        Seen from high on a wall, people nearer the camera stand lower in the picture and
        hide those behind them; a queue in front of a passing crowd is one blob. Whoever
        stands lowest is whole: their feet are the blob's lowest run of columns, their body
        the expected width and height at that row above it. Take them out and the next
        lowest feet belong to the next person, down to what is too small to be anyone.
        """
        inv = 1.0 / self.scale
        rest = patch.copy()
        h, w = rest.shape
        out: list[tuple[Detection, tuple[int, int, np.ndarray] | None]] = []
        rows = np.arange(h)[:, None]
        for _ in range(4 * self.PEEL_MAX):
            if len(out) >= self.PEEL_MAX:
                break
            filled = rest.any(axis=0)
            if not filled.any():
                break
            bottom = np.where(filled, np.max(np.where(rest, rows, -1), axis=0), -1)
            c = int(np.argmax(bottom))
            foot = int(bottom[c])
            row = (y + foot + 1) * inv
            height, width = self._upright_at(row)
            # Feet on the same row (within a tenth of a height): one person, or several
            # abreast when the run is wider. One person's feet and legs are narrower than
            # their shoulders, so a run up to 1.1 widths is one person, and each further
            # width one more (people abreast touch at the shoulders).
            near = bottom >= foot - max(1.0, 0.1 * height)
            a = c
            while a > 0 and near[a - 1]:
                a -= 1
            b = c
            while b < w - 1 and near[b + 1]:
                b += 1
            feet = foot
            if foot + 1 < h and 2 * np.count_nonzero(patch[foot + 1, a : b + 1]) > b - a + 1:
                # What is left stops on someone nearer, already taken out: the feet are
                # hidden behind them, lower than what shows. Seen from above head height,
                # the top of this person still shows, and their height at the row of their
                # feet puts the feet where they stand.
                feet = self._hidden_feet(rest, patch, a, b, foot, y)
                row = (y + feet + 1) * inv
                height, width = self._upright_at(row)
            hidden = feet > foot
            top = max(0, int(round(feet + 1 - height)))
            if b - a + 1 < self.FEET_MIN * width:
                # Too narrow for anyone's feet: the edge of someone nearer, already taken out,
                # a bag or an arm at their side; nobody stands there.
                rest[top : foot + 1, a : b + 1] = False
                continue
            k = max(1, int((b - a + 1) / width + 0.9))
            person_area = self.person.area_at(row) * self.scale**2
            for j in range(k):
                centre = a + (j + 0.5) * (b - a + 1) / k
                x1 = max(0, int(round(centre - width / 2)))
                x2 = min(w, max(x1 + 1, int(round(centre + width / 2))))
                body = np.zeros_like(rest)
                body[top : foot + 1, x1:x2] = rest[top : foot + 1, x1:x2]
                rest[top : foot + 1, x1:x2] = False
                # Someone partly hidden shows less of themselves: their head and shoulders
                # above the one in front are enough.
                least = self.HIDDEN_MIN if hidden else self.LEAST
                if int(body.sum()) < least * person_area:
                    continue  # a sliver left beside someone nearer: nobody
                ys, xs = np.nonzero(body)
                bx1, by1, bx2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1
                part = body[by1 : foot + 1, bx1:bx2]
                box = ((x + bx1) * inv, (y + by1) * inv, (x + bx2) * inv, (y + feet + 1) * inv)
                # The feet decide where the person stands, not the middle of what is left.
                # Only what shows down to its feet can be a ghost: a piece of someone
                # behind is cut by the one in front, an outline no background explains.
                pixels = None if hidden else (x + bx1, y + by1, part)
                out.append((Detection((x + centre) * inv, box[3], box), pixels))
            # Columns no body was taken from but whose feet were in the run: nobody there.
            rest[top : foot + 1, a : b + 1] = False
        return out

    def _upright_at(self, row: float) -> tuple[float, float]:
        """An upright person's height and width with their feet on ``row``, working pixels."""
        height = self.person.height_at(row) * self.scale
        return height, max(self.person.width_at(row) * self.scale, 1.0)

    def _hidden_feet(
        self, rest: np.ndarray, patch: np.ndarray, a: int, b: int, foot: int, y: int
    ) -> int:
        """The row of feet hidden below ``foot`` in columns ``a..b``, from the top of what
        shows above them.

        The feet lie between what shows and the nearer person's feet, a step behind them;
        the top of what shows, one height above the feet, says where. When that top belongs
        to someone farther still (heads stacked above one another), it says less than what
        shows, and what shows is kept.
        """
        inv = 1.0 / self.scale
        person = self.person
        if person.height_ratio * person.slope >= 0.8:
            return foot  # a camera near head height: the top does not tell the row
        columns = rest[:, a : b + 1]
        top = float(np.median(np.argmax(columns[:, columns.any(axis=0)], axis=0)))
        nearer = int(np.flatnonzero(patch[:, a : b + 1].any(axis=1))[-1])
        # Someone hidden stands at least a step behind: a tenth of a height, as for feet
        # taken to be on one row.
        step = max(1.0, 0.1 * person.height_at((y + nearer + 1) * inv) * self.scale)
        feet = float(foot)
        # feet = top + height(feet) - 1; the height grows by height_ratio * slope a row,
        # under 0.8, so a few steps settle it.
        for _ in range(12):
            feet = top - 1 + person.height_at((y + feet + 1) * inv) * self.scale
        return int(round(max(min(feet, nearer - step), foot)))

    def _merge_fragments(self, detections: list[Detection]) -> list[Detection]:
        # Two real people's floor points are never closer than about one body width; closer
        # detections are pieces of one person (a dark shirt splitting head from shoulders).
        merged = list(detections)
        changed = self.trusted
        while changed and len(merged) > 1:
            changed = False
            for i in range(len(merged)):
                for j in range(i + 1, len(merged)):
                    a, b = merged[i], merged[j]
                    limit = 0.6 * self._width(max(a.y, b.y))
                    if math.hypot(a.x - b.x, a.y - b.y) < limit:
                        box = (
                            min(a.box[0], b.box[0]),
                            min(a.box[1], b.box[1]),
                            max(a.box[2], b.box[2]),
                            max(a.box[3], b.box[3]),
                        )
                        if self.view == "overhead":
                            merged[i] = Detection(
                                (a.x + b.x) / 2, (a.y + b.y) / 2, box, weak=a.weak and b.weak
                            )
                        else:
                            merged[i] = Detection.from_box(*box, view=self.view)
                        del merged[j]
                        changed = True
                        break
                if changed:
                    break
        return merged

    def _width(self, row: float) -> float:
        if self.view == "oblique":
            return self.person.width_at(row)
        return self.person.at(row)

    def _detection(
        self,
        cx: float,
        cy: float,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        inv: float,
        *,
        weak: bool = False,
    ) -> Detection:
        box = (x1 * inv, y1 * inv, x2 * inv, y2 * inv)
        if self.view == "overhead":
            return Detection((cx + 0.5) * inv, (cy + 0.5) * inv, box, weak=weak)
        return Detection.from_box(*box, view=self.view)

    def expect(self, people: list[tuple[float, float]]) -> None:
        """Where the people followed were last seen (floor points, source-frame pixels), for
        the next ``detect`` only."""
        self._expected = people

    def _still_someone(
        self,
        patch: np.ndarray,
        x: int,
        y: int,
        area: int,
        person_area: float,
        expected: list[tuple[float, float]],
    ) -> tuple[float, float] | None:
        """Overhead: a blob too small to be someone new that is someone followed, last seen
        within half a person of its middle (and not too small for a head): its middle in
        working pixels, or None."""
        least = max(self.WEAK * person_area, self.NOISE_AREA)  # noise at any scale
        if not expected or self.view != "overhead" or not self.trusted or area < least:
            return None
        ys, xs = np.nonzero(patch)
        cx, cy = xs.mean() + x, ys.mean() + y
        inv = 1.0 / self.scale
        fx, fy = (cx + 0.5) * inv, (cy + 0.5) * inv  # the floor point, as _detection has it
        reach = 0.5 * self.person.at(fy)
        near = any(math.hypot(px - fx, py - fy) < reach for px, py in expected)
        return (float(cx), float(cy)) if near else None

    def _is_ghost(self, small: np.ndarray, patch: np.ndarray, x: int, y: int, t: float) -> bool:
        assert self._background is not None and self._fg_age is not None
        h, w = patch.shape
        ages = self._fg_age.ages(t, x, y, patch)
        if ages.size == 0 or float(np.median(ages)) < self.GHOST_STILL_S:
            return False
        pad = 2
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(small.shape[1], x + w + pad), min(small.shape[0], y + h + pad)
        blob = np.zeros((y1 - y0, x1 - x0), np.uint8)
        blob[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = patch
        outline = cv2.morphologyEx(blob, cv2.MORPH_GRADIENT, self._open).astype(bool)
        if outline.sum() < 8:
            return False
        frame = small[y0:y1, x0:x1]
        background = _plain(self._background[y0:y1, x0:x1])
        now = _edges(frame)
        then = _edges(background)
        if float(then[outline].mean()) <= 1.5 * float(now[outline].mean()) + 4.0:
            return False
        # Edges alone also fire on a person standing where someone else stood when the
        # background was taken (a queue that shuffles up: the outline follows the person
        # in the background). A ghost is floor in the frame: inside, the frame must look
        # like the floor around the blob, within what counts as foreground.
        return self._looks_like_floor(frame, background, blob.astype(bool))

    def _looks_like_floor(
        self, frame: np.ndarray, background: np.ndarray, blob: np.ndarray
    ) -> bool:
        near = cv2.dilate(blob.astype(np.uint8), self._grow).astype(bool) & ~blob
        diff = cv2.absdiff(frame, background)
        if diff.ndim == 3:
            diff = np.max(diff, axis=2)
        # Around the blob, only what still matches the background: floor, not a neighbour.
        near &= diff <= self.settings.threshold
        if near.sum() < 8:
            return True  # nothing to compare with: the outline's edges decide alone
        inside = np.median(frame[blob], axis=0).astype(np.float32)
        around = np.median(frame[near], axis=0).astype(np.float32)
        return float(np.max(np.abs(inside - around))) <= self.settings.threshold

    def _learn(
        self,
        small: np.ndarray,
        mask: np.ndarray,
        ghosts: list,
        t: float,
        cast: np.ndarray | None,
    ) -> None:
        assert self._background is not None and self._fg_age is not None
        # A shadow taken out of the blobs (_cast) is still foreground here: the floor is not
        # learnt under it (a queue's shadows stand as long as its people, and a floor learnt
        # dark there would show once they go), and it ages with whoever casts it, so a
        # parked trolley and its shadow are absorbed together.
        if cast is not None:
            mask = cv2.bitwise_or(mask, cast)
        free = cv2.bitwise_not(cv2.dilate(mask, self._grow))
        rate = self.settings.learn_rate
        # background += rate * (frame - background) where nothing is in front of it; a band
        # of rows at a time, so the update never needs a second background's memory.
        bg = self._background
        for top in range(0, bg.shape[0], self.LEARN_BAND):
            rows = slice(top, top + self.LEARN_BAND)
            learnt = cv2.addWeighted(
                bg[rows], 1.0 - rate, small[rows], rate * FIXED_ONE, 0.0, dtype=cv2.CV_16U
            )
            cv2.copyTo(learnt, free[rows], bg[rows])
        del free
        fg = mask > 0
        stale = self._fg_age.update(fg, t, self.settings.absorb_s)
        for x, y, patch in ghosts:
            h, w = patch.shape
            stale[y : y + h, x : x + w] |= patch
        if ghosts:
            # Absorb a rim too: the ghost's blurred edge would otherwise linger as noise.
            stale |= cv2.dilate(stale.astype(np.uint8), self._open).astype(bool) & fg
        if stale.any():
            self._background[stale] = _fixed(small[stale])
            self._fg_age.forget(stale)


# The background is kept in 8.8 fixed point: a learning rate of 0.02 moves it by a
# 256th of a level for a difference of a tenth, as a float would, in half a float's memory.
FIXED_ONE = 256


def _fixed(image: np.ndarray) -> np.ndarray:
    out = image.astype(np.uint16)
    out <<= 8
    return out


def _plain(background: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(background, alpha=1.0 / FIXED_ONE)


def _kmeans(points: np.ndarray, n: int) -> np.ndarray:
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    # k-means++ draws from OpenCV's one global generator: seeded per blob, the same frames
    # give the same people whatever else ran in the process before (reproducible figures).
    cv2.setRNGSeed(n)
    _, _, centres = cv2.kmeans(points, n, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def _edges(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)
