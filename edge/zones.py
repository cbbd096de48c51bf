"""Zone membership with inertia, exit-line crossings, and one visit per person per zone.

A person is inside when their floor point is inside the polygon. Membership changes only after
the new state has held for ``enter_s``/``exit_s`` and is back-dated to when it began, so a
missed detection or a step along the edge never splits one visit into two (Frigate users'
most common complaint). A track lost inside a zone leaves its visit open for ``relink_s``: a
new track born near the same spot takes the visit over, because a person standing still in a
queue who fades out of the detector for a moment has not left. A track that walked out of the
picture (``Lost.left_frame``) has left: its visit ends where it was last seen.

The same code turns simulated ground-truth paths into the reference visits the accuracy
benchmark compares against, so "a visit" means exactly one thing on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from peakend.edge import geometry
from peakend.edge.config import ZoneSection
from peakend.edge.tracker import Lost, Observation


@dataclass(frozen=True)
class Arrival:
    zone: str
    t: float


@dataclass(frozen=True)
class Crossing:
    """Someone crossed the exit line out of the zone: a departure with its measured wait."""

    zone: str
    t: float
    wait_s: float
    intact: bool  # False when the visit began mid-zone (a track born there): wait is a floor


@dataclass(frozen=True)
class Visit:
    zone: str
    track: int
    enter: float
    exit: float
    wait_s: float | None
    intact: bool

    @property
    def dwell_s(self) -> float:
        return self.exit - self.enter

    @property
    def wait_floor(self) -> bool:
        """A wait known only as a lower bound: first seen inside the zone, so when the person
        joined is unknown."""
        return self.wait_s is not None and not self.intact


Event = Arrival | Crossing | Visit


@dataclass
class _OpenVisit:
    track: int
    enter: float
    intact: bool
    crossed_at: float | None = None


@dataclass
class _State:
    inside: bool = False
    pending_since: float | None = None
    last: tuple[float, float, float] | None = None
    visit: _OpenVisit | None = None
    born_inside: bool = False
    born: tuple[float, float, float] | None = None  # first (t, x, y) of a track born inside


@dataclass
class _Orphan:
    visit: _OpenVisit
    lost_at: float
    x: float
    y: float


class ZoneWatcher:
    """Follows every track through one zone and reports arrivals, crossings and visits."""

    JOIN_ORDER_S = 5.0

    def __init__(
        self,
        zone: ZoneSection,
        *,
        relink_s: float = 10.0,
        relink_px: float | Callable[[float], float] = 90.0,
        tracked: bool = False,
    ):
        self.zone = zone
        # Observations from a tracker, whose ids may switch between people standing close
        # in a queue; exact paths (the reference) keep theirs and are left as they are.
        self.tracked = tracked
        self.name = zone.name
        self.polygon = [(float(x), float(y)) for x, y in zone.polygon]
        self.relink_s = relink_s
        # How far a newcomer may stand from a lost track to take its visit over; it may depend
        # on the image row (the person scale of an oblique view).
        self.relink_at: Callable[[float], float] = (
            relink_px if callable(relink_px) else lambda _row: relink_px
        )
        self.line = zone.exit_line
        if self.line is not None:
            cx, cy = geometry.polygon_centroid(self.polygon)
            # The side of the line the zone lies on; crossings from it outwards are exits.
            self._inner_positive = geometry.side((cx, cy), *self.line) >= 0
        self.states: dict[int, _State] = {}
        self.orphans: list[_Orphan] = []

    @property
    def occupancy(self) -> int:
        """People counted inside right now (coasting tracks and pending relinks included)."""
        return sum(1 for s in self.states.values() if s.inside) + len(self.orphans)

    @property
    def waiting(self) -> int:
        """People inside who have not crossed the exit line: the queue ahead of a newcomer.

        Whoever crossed stays inside for a moment while the zone makes sure they left; they
        are at the till, not in the line.
        """
        inside = sum(
            1
            for s in self.states.values()
            if s.inside and (s.visit is None or s.visit.crossed_at is None)
        )
        return inside + sum(1 for o in self.orphans if o.visit.crossed_at is None)

    def observe(self, obs: Observation) -> list[Event]:
        events: list[Event] = []
        raw = bool(geometry.inside(np.array([[obs.x, obs.y]]), self.polygon)[0])
        state = self.states.get(obs.track)
        if state is None:
            state = self.states[obs.track] = _State(
                born_inside=raw, born=(obs.t, obs.x, obs.y) if raw else None
            )
            if raw and self._relink(state, obs):
                state.last = (obs.t, obs.x, obs.y)
                return events
        if self.line is not None and state.last is not None and state.visit is not None:
            self._check_crossing(state, obs, events)
        if raw != state.inside:
            if state.pending_since is None:
                state.pending_since = obs.t
            hold = self.zone.enter_s if raw else self.zone.exit_s
            if obs.t - state.pending_since >= hold - 1e-9:
                if raw:
                    state.visit = _OpenVisit(
                        obs.track, state.pending_since, intact=not state.born_inside
                    )
                    events.append(Arrival(self.name, state.pending_since))
                else:
                    events += self._finish(state.visit, state.pending_since)
                    state.visit = None
                state.inside = raw
                state.pending_since = None
        else:
            state.pending_since = None
        state.last = (obs.t, obs.x, obs.y)
        return events

    def lost(self, lost: Lost) -> list[Event]:
        state = self.states.pop(lost.track, None)
        if state is None or state.visit is None:
            return []
        if state.inside and state.pending_since is None and not lost.left_frame:
            if self._hand_over(state.visit, lost):
                return []
            self.orphans.append(_Orphan(state.visit, lost.last_seen, lost.x, lost.y))
            return []
        end = state.pending_since if state.pending_since is not None else lost.last_seen
        return self._finish(state.visit, end)

    def tick(self, t: float) -> list[Event]:
        """Close visits whose lost track nobody took over in time."""
        events: list[Event] = []
        keep = []
        for orphan in self.orphans:
            if t - orphan.lost_at > self.relink_s:
                events += self._finish(orphan.visit, orphan.lost_at)
            else:
                keep.append(orphan)
        self.orphans = keep
        return events

    def close(self, t: float) -> list[Event]:
        """End every open visit (the recording or the service stopped)."""
        events: list[Event] = []
        for state in self.states.values():
            if state.visit is not None:
                last = state.last[0] if state.last else t
                end = state.pending_since if state.pending_since is not None else last
                events += self._finish(state.visit, end)
        for orphan in self.orphans:
            events += self._finish(orphan.visit, orphan.lost_at)
        self.states.clear()
        self.orphans = []
        return events

    # -- helpers -------------------------------------------------------------------------

    def _relink(self, state: _State, obs: Observation) -> bool:
        best, best_d = None, self.relink_at(obs.y)
        for orphan in self.orphans:
            d = math.hypot(orphan.x - obs.x, orphan.y - obs.y)
            if obs.t - orphan.lost_at <= self.relink_s and d <= best_d:
                best, best_d = orphan, d
        if best is None:
            return False
        self.orphans.remove(best)
        state.visit = best.visit
        state.inside = True
        state.born_inside = False
        return True

    def _hand_over(self, visit: _OpenVisit, lost: Lost) -> bool:
        """A track born inside just before this one was lost, where it was lost, is the same
        person under a new id (the tracker switched): give the newcomer the older visit."""
        # In a queue nobody appears out of nothing mid-line, and when the line steps up
        # the new id can be born a few places from where the old one was lost: any
        # newcomer born inside the lane may take the visit over, the nearest first.
        queue = self.tracked and self.line is not None
        best, best_d = None, math.inf if queue else self.relink_at(lost.y)
        for state in self.states.values():
            if state.born is None or not state.born_inside:
                continue
            if state.visit is None and state.pending_since is None:
                continue  # already left the zone again
            t, x, y = state.born
            d = math.hypot(x - lost.x, y - lost.y)
            if visit.enter <= t and lost.last_seen - t <= self.relink_s and d <= best_d:
                best, best_d = state, d
        if best is None:
            return False
        crossed = best.visit.crossed_at if best.visit is not None else None
        visit.crossed_at = crossed if crossed is not None else visit.crossed_at
        best.visit = visit
        best.inside = True
        best.pending_since = None
        best.born_inside = False
        best.born = None
        return True

    def _check_crossing(self, state: _State, obs: Observation, events: list[Event]) -> None:
        assert self.line is not None and state.last is not None and state.visit is not None
        t0, x0, y0 = state.last
        frac = geometry.crossing_fraction((x0, y0), (obs.x, obs.y), *self.line)
        if frac is None:
            return
        outward = (geometry.side((x0, y0), *self.line) > 0) == self._inner_positive
        visit = state.visit
        if outward and visit.crossed_at is None:
            if self.tracked:
                self._first_in_first_out(visit)
            visit.crossed_at = t0 + frac * (obs.t - t0)
            wait = max(0.0, visit.crossed_at - visit.enter)
            events.append(Crossing(self.name, visit.crossed_at, wait, visit.intact))
        elif not outward:
            visit.crossed_at = None  # stepped back into the queue: the wait goes on

    def _first_in_first_out(self, visit: _OpenVisit) -> None:
        """Whoever crosses the exit line first is the one who has waited longest.

        A line serves in order. The tracker's ids do not keep it: when everyone steps up
        one place at once, an id may stay on a spot and pass to the person behind. So the
        crossing visit takes the earliest start among those still waiting, and gives its own
        to that visit; counts are untouched, the wait follows the line's order.
        """
        waiting = [s.visit for s in self.states.values() if s.visit is not None and s.inside]
        waiting += [o.visit for o in self.orphans]
        waiting = [v for v in waiting if v is not visit and v.crossed_at is None]
        if not waiting:
            return
        oldest = min(waiting, key=lambda v: v.enter)
        # People who reach the line within a few seconds of each other may take their
        # places in either order (they walk in from different sides); only a start older
        # by more than that says the ids slipped.
        if oldest.enter < visit.enter - self.JOIN_ORDER_S:
            oldest.enter, visit.enter = visit.enter, oldest.enter
            oldest.intact, visit.intact = visit.intact, oldest.intact

    def _finish(self, visit: _OpenVisit | None, end: float) -> list[Event]:
        if visit is None:
            return []
        end = max(end, visit.enter)
        if end - visit.enter < self.zone.min_visit_s:
            return []
        wait = None
        if self.line is not None and visit.crossed_at is not None:
            wait = max(0.0, visit.crossed_at - visit.enter)
        return [Visit(self.name, visit.track, visit.enter, end, wait, visit.intact)]


def visits_from_paths(
    paths: dict[int, list[tuple[float, float, float]]],
    zone: ZoneSection,
) -> tuple[list[Visit], list[Crossing], list[Arrival]]:
    """Reference visits for exact paths {person: [(t, x, y), ...]} (ground truth)."""
    watcher = ZoneWatcher(zone, relink_s=0.0, relink_px=0.0)
    events: list[Event] = []
    for pid, path in paths.items():
        for t, x, y in path:
            events += watcher.observe(Observation(pid, t, x, y))
        if path:
            t, x, y = path[-1]
            events += watcher.lost(Lost(pid, t, x, y))
    events += watcher.tick(float("inf"))
    visits = [e for e in events if isinstance(e, Visit)]
    crossings = [e for e in events if isinstance(e, Crossing)]
    arrivals = [e for e in events if isinstance(e, Arrival)]
    return visits, crossings, arrivals
