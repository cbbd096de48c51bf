"""The tracker keeps people through missed detections and does not invent newcomers."""

from __future__ import annotations

import numpy as np
import pytest

from peakend.edge.detection import Detection
from peakend.edge.tracker import Tracker


def det(x: float, y: float) -> Detection:
    return Detection(x, y, (x - 10, y - 10, x + 10, y + 10))


def test_standing_person_survives_seconds_of_missed_detections() -> None:
    tracker = Tracker(40, max_missed_s=6, min_hits=3)
    ids = set()
    for i in range(100):
        t = i / 10
        seen = not (20 <= i < 70)  # 5 s without a detection
        update = tracker.update([det(200, 200)] if seen else [], t)
        ids |= {o.track for o in update.observations}
        assert update.lost == []
    assert ids == {1}


def test_track_is_lost_after_the_coast_time() -> None:
    tracker = Tracker(40, max_missed_s=2, min_hits=1)
    tracker.update([det(10, 10)], 0.0)
    lost = []
    for i in range(1, 40):
        lost += tracker.update([], i / 10).lost
    assert [(lo.track, lo.last_seen) for lo in lost] == [(1, 0.0)]


def test_two_walkers_passing_keep_their_ids() -> None:
    tracker = Tracker(40, max_missed_s=3, min_hits=3)
    seen: dict[int, list[float]] = {}
    for i in range(60):
        t = i / 10
        a = det(100 + 8 * i, 200)  # walking right
        b = det(580 - 8 * i, 230)  # walking left, 30 px apart when passing
        for obs in tracker.update([a, b], t).observations:
            seen.setdefault(obs.track, []).append(obs.x)
    assert len(seen) == 2
    for xs in seen.values():
        steps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
        assert all(s > 0 for s in steps) or all(s < 0 for s in steps)


def test_flicker_needs_min_hits_and_confirmed_backlog_is_replayed() -> None:
    tracker = Tracker(40, max_missed_s=3, min_hits=3)
    assert tracker.update([det(50, 50), det(300, 300)], 0.0).observations == []
    update = tracker.update([det(52, 50)], 0.1)
    assert update.observations == []
    update = tracker.update([det(54, 50)], 0.2)
    assert [(o.t, o.x) for o in update.observations] == [(0.0, 50), (0.1, 52), (0.2, 54)]


def test_a_fragment_on_top_of_a_tracked_person_is_not_a_newcomer() -> None:
    tracker = Tracker(40, max_missed_s=3, min_hits=1)
    tracker.update([det(100, 100)], 0.0)
    update = tracker.update([det(101, 100), det(110, 104)], 0.1)
    assert {o.track for o in update.observations} == {1}
    update = tracker.update([det(101, 100), det(160, 100)], 0.2)
    assert {o.track for o in update.observations} == {1, 2}


def weak(x: float, y: float) -> Detection:
    return Detection(x, y, (x - 5, y - 5, x + 5, y + 5), weak=True)


def test_a_weak_detection_continues_someone_followed_and_starts_nobody() -> None:
    tracker = Tracker(40, max_missed_s=2, min_hits=3)
    for i in range(5):
        tracker.update([det(200, 200)], i / 10)
    ids = set()
    for i in range(5, 100):  # ten seconds of a head alone, longer than the coast
        update = tracker.update([weak(201, 200), weak(400, 400)], i / 10)
        assert update.lost == []
        ids |= {o.track for o in update.observations}
    assert ids == {1}
    assert [(tr.id, tr.x) for tr in tracker.tracks] == [(1, 201)]


def test_a_whole_detection_wins_over_a_weak_one_nearer_the_track() -> None:
    tracker = Tracker(40, max_missed_s=2, min_hits=1)
    tracker.update([det(200, 200)], 0.0)
    # A piece of someone's shadow right on the spot, the person themselves a step on.
    update = tracker.update([weak(200, 200), det(215, 200)], 0.1)
    assert [(o.track, o.x) for o in update.observations] == [(1, 215)]
    assert len(tracker.tracks) == 1


def test_a_weak_detection_never_keeps_a_flicker_that_was_not_yet_someone() -> None:
    tracker = Tracker(40, max_missed_s=2, min_hits=3)
    tracker.update([det(200, 200)], 0.0)
    seen = []
    for i in range(1, 20):
        update = tracker.update([weak(200, 200)], i / 10)
        seen += update.observations
    assert seen == [] and tracker.tracks == []


def test_someone_kept_by_their_head_alone_does_not_take_a_neighbours_place() -> None:
    # A queue: A shows only their head, N stands a step behind; N is missed for one frame.
    tracker = Tracker(45, max_missed_s=3, min_hits=1)
    tracker.update([det(200, 200), det(230, 200)], 0.0)
    tracker.update([weak(200, 200), det(230, 200)], 0.1)
    tracker.update([weak(200, 200)], 0.2)
    update = tracker.update([weak(200, 200), det(230, 200)], 0.3)
    assert sorted((o.track, o.x) for o in update.observations) == [(1, 200), (2, 230)]


def test_a_person_seen_last_frame_is_matched_before_a_coasting_track() -> None:
    # Track 1 stands at x=130; track 2 walked past beside it and was lost, so its coast
    # still glides on. When track 1's person steps forward, the coast's guess is nearer to
    # them than their own track's, but a guess is not a sighting.
    tracker = Tracker(40, max_missed_s=6, min_hits=1)
    for i in range(11):
        tracker.update([det(130, 100), det(60 + 6 * i, 110)], i / 10)
    for i in range(11, 15):
        tracker.update([det(130, 100)], i / 10)
    update = tracker.update([det(145, 100)], 1.5)
    assert [o.track for o in update.observations] == [1]


def edge_tracker() -> Tracker:
    """A tracker that knows the picture (640 x 480) and that a person is 30 px across."""
    tracker = Tracker(45, max_missed_s=6, min_hits=3, person=lambda _row: 30.0)
    tracker.frame = (640, 480)
    return tracker


@pytest.mark.parametrize("fps", [10.0, 25.0])
@pytest.mark.parametrize("between", ["one piece", "nothing"])
def test_someone_walking_out_of_the_picture_is_not_the_next_person_walking_in(
    fps: float, between: str
) -> None:
    # At the edge, the one leaving and the one coming in are both cut by it and show as one
    # piece between them for a moment, or nobody is seen for a moment; then the newcomer,
    # walking in, 40 px from where the other one left.
    step = 100 / fps  # 100 px a second, about three people
    tracker = edge_tracker()
    tracks: dict[int, list[tuple[float, float]]] = {}
    lost = []
    frames = [[det(150 - step * i, 60)] for i in range(int(140 / step) + 1)]
    frames += [[det(4, 40)] if between == "one piece" else []] * int(fps * 0.3)
    frames += [[det(8 + step * i, 20)] for i in range(int(1.5 * fps))]
    for i, dets in enumerate(frames):
        update = tracker.update(dets, i / fps)
        lost += update.lost
        for o in update.observations:
            tracks.setdefault(o.track, []).append((o.x, o.y))
    leaving = [k for k, pts in tracks.items() if pts[0][0] > 100]
    coming = [k for k, pts in tracks.items() if pts[-1][0] > 100 and pts[-1][1] == 20]
    assert leaving and coming and set(leaving).isdisjoint(coming)
    assert [lo.left_frame for lo in lost if lo.track in leaving] == [True]


@pytest.mark.parametrize("fps", [5.0, 10.0, 25.0])
@pytest.mark.parametrize("path", ["standing", "along"])
def test_someone_at_the_edge_who_does_not_walk_out_keeps_their_track(
    path: str, fps: float
) -> None:
    # Cut by the edge, their centre jitters by up to a fifth of a person from frame to frame.
    rng = np.random.default_rng(int(fps))
    tracker = edge_tracker()
    ids = set()
    for i in range(int(6 * fps)):
        jitter = float(rng.uniform(-6, 6))
        if path == "standing":
            x, y = 8 + jitter, 200 + jitter / 2
        else:  # walking down the picture along its left edge, not out of its bottom
            x, y = 8 + jitter, 60 + 60 * i / fps
        update = tracker.update([det(x, y)], i / fps)
        assert update.lost == []
        ids |= {o.track for o in update.observations}
    assert len(ids) == 1


def test_someone_walking_out_of_the_picture_is_followed_to_their_last_sighting() -> None:
    # An exit line may lie a few pixels from the edge: the track must cross it with them, and
    # end only once they are gone (no coast at the edge).
    tracker = edge_tracker()
    xs, lost = [], []
    frames = [[det(500 + 10 * i, 300)] for i in range(14)] + [[]] * 3  # last seen at 630
    for i, dets in enumerate(frames):
        update = tracker.update(dets, i / 10)
        xs += [o.x for o in update.observations]
        lost += update.lost
    assert max(xs) == 630
    assert [(lo.last_seen, lo.left_frame) for lo in lost] == [(1.3, True)]
