"""Zone membership with inertia, direction-aware exit lines, relinking, one visit per person."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from peakend.broker.wire.contract import new_envelope
from peakend.edge import geometry
from peakend.edge.config import ZoneSection
from peakend.edge.messages import dwell_payload
from peakend.edge.tracker import Lost, Observation
from peakend.edge.zones import Arrival, Crossing, Visit, ZoneWatcher, visits_from_paths

QUEUE = ZoneSection(
    name="checkout",
    polygon=[(100, 100), (400, 100), (400, 200), (100, 200)],
    exit_line=((400, 100), (400, 200)),
)


def walk(watcher: ZoneWatcher, track: int, points: list[tuple[float, float, float]]) -> list:
    events = []
    for t, x, y in points:
        events += watcher.observe(Observation(track, t, x, y))
    return events


def line(
    t0: float, t1: float, p0: tuple[float, float], p1: tuple[float, float], fps: float = 10
) -> list:
    n = int(round((t1 - t0) * fps))
    return [
        (t0 + i / fps, p0[0] + (p1[0] - p0[0]) * i / n, p0[1] + (p1[1] - p0[1]) * i / n)
        for i in range(n + 1)
    ]


def test_feet_point_membership_even_odd() -> None:
    poly = [(0, 0), (10, 0), (10, 10), (5, 5), (0, 10)]  # a notch at the top middle
    got = geometry.inside(np.array([[2, 2], [5, 8], [11, 5], [8, 6]]), poly)
    assert got.tolist() == [True, False, False, True]


def test_queue_visit_reports_wait_at_exit_line_crossing() -> None:
    w = ZoneWatcher(QUEUE)
    path = (
        line(0, 2, (53, 150), (153, 150))
        + line(2.1, 30, (153, 150), (380, 150))
        + line(30.1, 33, (380, 150), (470, 150))
    )
    events = walk(w, 7, path)
    crossings = [e for e in events if isinstance(e, Crossing)]
    visits = [e for e in events if isinstance(e, Visit)]
    assert [type(e) for e in events].count(Arrival) == 1
    assert len(crossings) == 1 and len(visits) == 1
    enter = next(t for t, x, _ in path if x > 100)
    crossed = next(t for t, x, _ in path if x > 400)
    assert abs(visits[0].enter - enter) < 1e-9
    assert crossed - 0.1 <= crossings[0].t <= crossed
    assert abs(visits[0].wait_s - (crossings[0].t - enter)) < 1e-9
    assert visits[0].track == 7 and visits[0].intact


def test_leaving_backwards_is_a_visit_without_wait() -> None:
    w = ZoneWatcher(QUEUE)
    path = line(0, 3, (50, 150), (200, 150)) + line(3.1, 8, (200, 150), (10, 150))
    events = walk(w, 1, path)
    visits = [e for e in events if isinstance(e, Visit)]
    assert len(visits) == 1 and visits[0].wait_s is None
    assert not any(isinstance(e, Crossing) for e in events)


def test_crossing_the_line_inwards_is_not_a_departure() -> None:
    w = ZoneWatcher(QUEUE)
    events = walk(w, 1, line(0, 4, (480, 150), (300, 150)))
    assert not any(isinstance(e, Crossing) for e in events)


def test_a_flicker_out_of_the_zone_does_not_split_the_visit() -> None:
    w = ZoneWatcher(QUEUE)
    path = line(0, 5, (200, 150), (200, 150))
    path += [(5.1, 200, 230), (5.2, 200, 230), (5.3, 200, 230)]  # 0.3 s outside: a jitter
    path += line(5.4, 10, (200, 150), (200, 150)) + line(10.1, 13, (200, 150), (200, 260))
    events = walk(w, 3, path)
    visits = [e for e in events if isinstance(e, Visit)]
    assert len(visits) == 1
    assert abs(visits[0].exit - next(t for t, _, y in path if t > 10 and y > 200)) < 1e-9


def test_lost_track_relinked_nearby_continues_the_visit() -> None:
    w = ZoneWatcher(QUEUE, relink_s=10, relink_px=60)
    walk(w, 1, line(0, 5, (50, 150), (250, 150)))
    assert w.lost(Lost(1, 5.0, 250, 150)) == []
    assert w.occupancy == 1  # still counted while it may come back
    events = walk(w, 2, line(8, 20, (255, 152), (470, 152)))
    visits = [e for e in events if isinstance(e, Visit)]
    assert len(visits) == 1 and visits[0].track == 1
    assert visits[0].enter < 5 and visits[0].wait_s is not None and visits[0].intact
    assert not any(isinstance(e, Arrival) for e in events)


def test_lost_track_not_found_again_ends_where_it_was_last_seen() -> None:
    w = ZoneWatcher(QUEUE, relink_s=5, relink_px=60)
    walk(w, 1, line(0, 5, (50, 150), (250, 150)))
    w.lost(Lost(1, 5.0, 250, 150))
    assert w.tick(9.0) == []
    visits = [e for e in w.tick(10.5) if isinstance(e, Visit)]
    assert len(visits) == 1 and visits[0].exit == 5.0
    # Someone appearing later is a new visitor, not the lost one back.
    events = walk(w, 9, line(11, 12, (390, 190), (390, 190)))
    assert [type(e) for e in events] == [Arrival]


def test_track_born_inside_gives_a_visit_marked_not_intact() -> None:
    w = ZoneWatcher(QUEUE)
    events = walk(w, 4, line(0, 10, (300, 150), (470, 150)))
    crossing = next(e for e in events if isinstance(e, Crossing))
    assert not crossing.intact


def test_the_wait_of_a_track_born_inside_goes_out_marked_as_a_floor() -> None:
    w = ZoneWatcher(QUEUE)
    born_inside = [e for e in walk(w, 4, line(0, 10, (300, 150), (470, 150)))
                   if isinstance(e, Visit)]
    walked_in = [e for e in walk(w, 5, line(20, 40, (50, 150), (470, 150)))
                 if isinstance(e, Visit)]
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    floor, whole = dwell_payload(born_inside[0], start), dwell_payload(walked_in[0], start)
    assert floor["wait_s"] > 0 and floor["wait_floor"] is True
    assert whole["wait_s"] > 0 and "wait_floor" not in whole
    sent = new_envelope(device_id="cam-01", store_id="s001", zone_id="checkout", seq=1,
                        event_type="dwell", data=floor)
    assert b'"wait_floor":true' in sent.to_json()


def test_short_visits_are_dropped_and_truth_helper_agrees() -> None:
    zone = ZoneSection(
        name="promo", polygon=[(0, 0), (100, 0), (100, 100), (0, 100)], min_visit_s=2.0
    )
    paths = {
        1: line(0, 3, (-50, 50), (150, 50)),  # crosses in ~1.5 s: too short
        2: line(0, 10, (-50, 50), (150, 50)),  # ~5 s inside
    }
    visits, crossings, arrivals = visits_from_paths(paths, zone)
    assert [v.track for v in visits] == [2]
    assert 4.9 <= visits[0].dwell_s <= 5.1
    assert len(arrivals) == 2 and crossings == []


def test_new_track_born_just_before_the_old_one_is_lost_takes_over_the_visit() -> None:
    # The tracker switched ids: track 2 appears where track 1 stands, then 1 is lost.
    w = ZoneWatcher(QUEUE, relink_s=10, relink_px=60)
    walk(w, 1, line(0, 20, (50, 150), (250, 150)))
    walk(w, 2, line(20.1, 21, (252, 150), (255, 150)))
    assert w.lost(Lost(1, 20.0, 250, 150)) == []
    events = walk(w, 2, line(21.1, 40, (255, 150), (470, 150)))
    visits = [e for e in events if isinstance(e, Visit)]
    assert len(visits) == 1 and visits[0].track == 1 and visits[0].intact
    crossed = next(e for e in events if isinstance(e, Crossing))
    assert visits[0].wait_s == pytest.approx(crossed.t - visits[0].enter)
    assert visits[0].enter == pytest.approx(5.0, abs=0.11)  # when track 1 walked in


def test_a_new_id_born_places_away_in_a_stepping_queue_takes_over_a_lost_visit() -> None:
    # The line stepped up and the tracker lost track 1 at the back while a new id appeared
    # two places further on: one person, one visit, in a queue and only from a tracker.
    w = ZoneWatcher(QUEUE, relink_s=10, relink_px=60, tracked=True)
    walk(w, 1, line(0, 20, (50, 150), (200, 150)))
    walk(w, 2, line(20.1, 21, (300, 150), (300, 150)))
    assert w.lost(Lost(1, 20.0, 200, 150)) == []
    visits = [e for e in walk(w, 2, line(21.1, 30, (300, 150), (470, 150))) if isinstance(e, Visit)]
    visits += [e for e in w.close(30.0) if isinstance(e, Visit)]
    assert len(visits) == 1 and visits[0].track == 1
    # Exact paths keep their own ids: the reference counts the two as they came.
    ref = ZoneWatcher(QUEUE, relink_s=10, relink_px=60)
    walk(ref, 1, line(0, 20, (50, 150), (200, 150)))
    walk(ref, 2, line(20.1, 21, (300, 150), (300, 150)))
    ref.lost(Lost(1, 20.0, 200, 150))
    events = walk(ref, 2, line(21.1, 30, (300, 150), (470, 150))) + ref.tick(40.0)
    assert len([e for e in events + ref.close(40.0) if isinstance(e, Visit)]) == 2


def test_the_first_to_cross_the_exit_line_had_the_longest_wait() -> None:
    # Ids swapped in the line: track 2 (joined at 10 s) holds the person who joined first.
    w = ZoneWatcher(QUEUE, tracked=True)
    walk(w, 1, line(0, 5, (50, 150), (300, 150)))
    walk(w, 2, line(10, 15, (50, 170), (250, 170)))
    events = walk(w, 2, line(15.1, 20, (250, 170), (470, 170)))
    crossing = next(e for e in events if isinstance(e, Crossing))
    assert crossing.wait_s == pytest.approx(crossing.t - 1.0, abs=0.11)  # entered at x=100


def test_a_track_that_walked_out_of_the_picture_ends_its_visit_there() -> None:
    # The zone reaches the picture's edge: whoever is lost there walking out has left, and
    # the next person to come in beside them is a visitor of their own.
    w = ZoneWatcher(QUEUE, relink_s=10, relink_px=60)
    walk(w, 1, line(0, 5, (350, 150), (110, 150)))
    events = w.lost(Lost(1, 5.0, 110, 150, left_frame=True))
    visits = [e for e in events if isinstance(e, Visit)]
    assert len(visits) == 1 and visits[0].exit == 5.0
    assert w.occupancy == 0
    events = walk(w, 2, line(5.5, 8, (112, 130), (250, 130)))
    assert [type(e) for e in events] == [Arrival]


def test_whoever_crossed_the_exit_line_no_longer_waits_though_still_counted_inside() -> None:
    w = ZoneWatcher(QUEUE)
    walk(w, 1, line(0, 3, (53, 150), (380, 150)))  # at the head of the line
    walk(w, 2, line(0, 3, (53, 170), (300, 170)))  # behind them
    assert w.occupancy == 2 and w.waiting == 2
    events = walk(w, 1, line(3.1, 3.5, (380, 150), (420, 150)))  # called: over the line
    assert any(isinstance(e, Crossing) for e in events)
    # The zone holds them a moment to be sure they left; the line ahead of a newcomer is one.
    assert w.occupancy == 2 and w.waiting == 1
