"""Turn per-frame detections into people with stable ids.

Our own small tracker rather than norfair or supervision's ByteTrack: those match boxes by IoU
and retire a track after a few missed frames, tuned for cars and oblique views; an overhead
queue camera needs the opposite — a point-based match on the floor point and a long coast
(seconds), because a person standing still in a queue fades into the motion detector's
background or merges with a neighbour and must neither vanish nor re-enter. It is ~150 lines
of numpy-free Python, adds no dependency to a Pi image, and is tested on its own.

A track whose person walks out of the picture ends there (``Lost.left_frame``): coasting on
at the edge, it would go on as the next person to walk in beside where they left.

Matching is greedy on distance between each track's predicted floor point and each detection,
within a gate; with a handful of people per frame this gives the same pairs as the Hungarian
method except in contrived ties, at a fraction of the code. Tracks seen in the last frame go
first (a cascade), and a *weak* detection (a head alone, too little of a person to be someone
new) may only continue a confirmed person, never start one (as ByteTrack uses low-score boxes),
and counts as half a gate farther than it is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from peakend.edge.detection import Detection


@dataclass
class Track:
    id: int
    x: float
    y: float
    vx: float = 0.0
    vy: float = 0.0
    hits: int = 1
    first_seen: float = 0.0
    last_seen: float = 0.0
    confirmed: bool = False
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    # Last matched to a whole detection (not a weak one): how long a head alone has kept them.
    last_whole: float = 0.0
    # The sightings (t, x, y) of the last moments: whether they were walking out of the
    # picture.
    recent: deque[tuple[float, float, float]] = field(default_factory=deque)
    # Floor points seen before the track was confirmed, handed over on confirmation so the
    # zone logic sees when the person really arrived.
    backlog: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Observation:
    track: int
    t: float
    x: float
    y: float


@dataclass(frozen=True)
class Lost:
    track: int
    last_seen: float
    x: float
    y: float
    # Walked out of the picture: gone for good, not a person faded or hidden for a while.
    left_frame: bool = False


@dataclass
class TrackUpdate:
    observations: list[Observation]
    lost: list[Lost]
    active: list[Track]


class Tracker:
    """Point tracker with constant-velocity prediction and a long coast for still people."""

    # Velocity is forgotten over this time while a person is unseen: people in queues stop,
    # and a coasting track that kept walking would drift out of its zone.
    VELOCITY_DECAY_S = 0.5
    # Someone last seen within EDGE_PERSONS of a person of the picture's edge, having come
    # OUT_PERSONS nearer to it over the last OUT_SPAN_S or more, is walking out of it: seen
    # no more, they are gone (see _leaving, _back_in).
    EDGE_PERSONS = 0.5
    OUT_PERSONS = 0.5
    OUT_SPAN_S = 0.4
    # A sighting this far back inside of the last one is not the person walking out.
    BACK_PERSONS = 0.1
    # A weak detection (too little of a person to start one) is matched as if it were this
    # many gates farther than it is.
    WEAK_GATES = 0.5

    def __init__(
        self,
        max_distance_px: float | Callable[[float], float],
        max_missed_s: float,
        min_hits: int,
        person: Callable[[float], float] | None = None,
    ) -> None:
        # The gate may depend on the image row (people nearer an oblique camera are larger
        # and cover more pixels per step); a number is the same gate everywhere.
        self.gate: Callable[[float], float] = (
            max_distance_px if callable(max_distance_px) else lambda _row: max_distance_px
        )
        self.max_missed_s = max_missed_s
        self.min_hits = min_hits
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_t: float | None = None
        # One person's size at an image row, and the picture's (width, height) once known:
        # with both, tracks that walk out of the picture end there.
        self.person = person
        self.frame: tuple[int, int] | None = None

    def update(self, detections: list[Detection], t: float) -> TrackUpdate:
        observations: list[Observation] = []
        lost: list[Lost] = []
        predicted = [self._predict(track, t) for track in self.tracks]
        leaving = [self._leaving(track) if track.confirmed else None for track in self.tracks]
        pairs = []
        for ti, (px, py) in enumerate(predicted):
            gate = self.gate(py)
            for di, det in enumerate(detections):
                if det.weak and not self.tracks[ti].confirmed:
                    continue
                d = math.hypot(det.x - px, det.y - py)
                if d <= gate and not self._back_in(self.tracks[ti], leaving[ti], det):
                    track = self.tracks[ti]
                    # Tracks seen in the last frame are matched before coasting ones (the
                    # matching cascade of DeepSORT): a coast's guess is older than a step,
                    # and in a queue stepping up it would take the person who just walked
                    # in, leaving its own track on the empty spot.
                    coasting = self._last_t is not None and track.last_seen < self._last_t
                    # Confirmed tracks win ties, so a flicker never steals a real person.
                    # A weak detection counts half a gate farther than it is: a whole
                    # one a little farther on is the person, the weak one a piece left
                    # behind. Not last of all: a person kept by their head alone would
                    # then take a neighbour's whole detection whenever the neighbour's
                    # own track coasted for a frame.
                    bonus = 0.5 if track.confirmed else 0.0
                    weak = self.WEAK_GATES * gate if det.weak else 0.0
                    pairs.append((coasting, d - bonus + weak, ti, di))
        pairs.sort()
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            track, det = self.tracks[ti], detections[di]
            dt = max(t - track.last_seen, 1e-3)
            # Blend the measured step into the velocity: detections jitter by a few pixels.
            track.vx = 0.5 * track.vx + 0.5 * (det.x - track.x) / dt
            track.vy = 0.5 * track.vy + 0.5 * (det.y - track.y) / dt
            track.x, track.y, track.box = det.x, det.y, det.box
            track.recent.append((t, det.x, det.y))
            while t - track.recent[0][0] > 2 * self.OUT_SPAN_S:
                track.recent.popleft()
            track.hits += 1
            track.last_seen = t
            if not det.weak:
                track.last_whole = t
            if track.confirmed:
                observations.append(Observation(track.id, t, det.x, det.y))
            else:
                track.backlog.append((t, det.x, det.y))
                if track.hits >= self.min_hits:
                    track.confirmed = True
                    track.id = self._take_id()
                    observations += [Observation(track.id, *p) for p in track.backlog]
                    track.backlog = []
        kept: list[Track] = []
        for ti, track in enumerate(self.tracks):
            if ti not in used_t and leaving[ti] is not None:
                # Seen walking out at the edge and not seen since: gone, not hidden. Kept
                # coasting, the track would go on as the next person to come in beside
                # where they left.
                lost.append(Lost(track.id, track.last_seen, track.x, track.y, left_frame=True))
                continue
            if ti in used_t:
                kept.append(track)
                continue
            unseen = t - track.last_seen
            # Unconfirmed tracks get one frame of grace; confirmed people coast for seconds.
            limit = self.max_missed_s if track.confirmed else 0.35
            if unseen > limit:
                if track.confirmed:
                    lost.append(Lost(track.id, track.last_seen, track.x, track.y))
                continue
            kept.append(track)
        taken = [self.tracks[ti] for ti in used_t if self.tracks[ti].confirmed]
        for di, det in enumerate(detections):
            # A weak detection is too little of a person to be a newcomer.
            if di not in used_d and not det.weak:
                # A second detection right on top of a person already matched is a fragment
                # of them, not a newcomer: newcomers arrive from an edge or out of a crowd.
                if any(
                    math.hypot(det.x - tr.x, det.y - tr.y) < 0.5 * self.gate(tr.y)
                    for tr in taken
                ):
                    continue
                track = Track(
                    id=0,
                    x=det.x,
                    y=det.y,
                    first_seen=t,
                    last_seen=t,
                    last_whole=t,
                    box=det.box,
                    backlog=[(t, det.x, det.y)],
                    recent=deque([(t, det.x, det.y)]),
                )
                if self.min_hits <= 1:
                    track.confirmed = True
                    track.id = self._take_id()
                    observations.append(Observation(track.id, t, det.x, det.y))
                    track.backlog = []
                kept.append(track)
        self.tracks = kept
        self._last_t = t
        return TrackUpdate(observations, lost, [tr for tr in kept if tr.confirmed])

    def close(self) -> list[Lost]:
        """End every confirmed track (end of a replay)."""
        lost = [Lost(tr.id, tr.last_seen, tr.x, tr.y) for tr in self.tracks if tr.confirmed]
        self.tracks = []
        return lost

    def _leaving(self, track: Track) -> tuple[int, int] | None:
        """The edge this track's person was last seen walking out of, as the (axis, sign) a
        step out of it takes (x: 0, y: 1; -1 towards 0); None if they were not.

        Last seen within EDGE_PERSONS of a person of the edge, having come OUT_PERSONS nearer
        to it over the last OUT_SPAN_S or more. Over a span, not one step: the centre of
        someone standing at the edge, cut by it, jitters.
        """
        if self.frame is None or self.person is None or not track.recent:
            return None
        t, x, y = track.recent[-1]
        earlier = [s for s in track.recent if t - s[0] >= self.OUT_SPAN_S - 1e-9]
        if not earlier:
            return None
        _, x0, y0 = earlier[-1]
        width, height = self.frame
        person = self.person(y)
        near, out = self.EDGE_PERSONS * person, self.OUT_PERSONS * person
        if x < near and x0 - x >= out:
            return (0, -1)
        if x > width - near and x - x0 >= out:
            return (0, 1)
        if y < near and y0 - y >= out:
            return (1, -1)
        if y > height - near and y - y0 >= out:
            return (1, 1)
        return None

    def _back_in(self, track: Track, leaving: tuple[int, int] | None, det: Detection) -> bool:
        """Whether ``det`` is back inside of where someone walking out was last seen: not
        them (they walk on out, or are gone), but the next person coming in beside them. At
        the edge the two are both cut by it and may show as one piece for a moment."""
        if leaving is None or self.person is None:
            return False
        axis, sign = leaving
        step = (det.x - track.x, det.y - track.y)[axis] * sign
        return step <= -self.BACK_PERSONS * self.person(track.y)

    def _predict(self, track: Track, t: float) -> tuple[float, float]:
        dt = t - track.last_seen
        # Integral of an exponentially decaying velocity: moves at most VELOCITY_DECAY_S * v.
        tau = self.VELOCITY_DECAY_S
        reach = tau * (1 - math.exp(-dt / tau)) if dt > 0 else 0.0
        return track.x + track.vx * reach, track.y + track.vy * reach

    def _take_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value
