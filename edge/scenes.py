"""Realistic test scenes with exact ground truth.

A scene is an 8 x 6 m patch of shop floor, by default seen from the ceiling at 640x480 (80 px
per metre; scene_render.py draws it at any scale, or through a tilted camera):
an aisle along the top where real people walk and stand (measured trajectories from
pedestrian experiments, see trajectories/PROVENANCE.md), and a checkout lane along the bottom
with a simulated queue — random (Poisson) arrivals, random service times, people who give up
after their patience runs out and people who see a full lane and do not join. People are drawn
as seen from above (shoulders, head, a soft shadow) on a tiled floor with sensor noise and a
slow drift of the light, so they crowd, stand still and merge as they do in a shop.

Ground truth is exact: every person's floor point at every frame is known, and the reference
visits come from the same zone logic applied to those points (zones.visits_from_paths).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from peakend.edge.scene_render import Renderer, SceneCamera, floor_image, look

WIDTH, HEIGHT = 640, 480
PX_PER_M = 80.0
# Equivalent diameter of one person's blob (shoulders ~0.46 x 0.26 m, head, the edge of a
# soft shadow) at 80 px/m, for tests that draw a person by hand. The camera never reads it:
# it learns the size itself.
PERSON_PX = 31.0
# Where an overhead camera is centred on the floor plan (m): the middle of the plan, moved
# towards the checkout when a low ceiling shows less than the whole plan.
PLAN_CENTRE = (4.0, 3.0)

# The checkout lane (metres): people queue along y = LANE_Y towards the till on the right.
LANE_Y = 4.75
LANE_X0, LANE_X1 = 0.6, 6.2
SLOT_GAP = 0.62
SERVICE_SPOT = (6.75, 4.75)
TILL = (7.05, 3.95, 7.9, 5.6)


# Zones on the floor plan (m); Scene.zones() gives them in the camera's pixels.
ZONES_M: list[dict[str, Any]] = [
    {
        "name": "checkout",
        "polygon": [(LANE_X0, 4.05), (LANE_X1, 4.05), (LANE_X1, 5.45), (LANE_X0, 5.45)],
        "exit_line": [(LANE_X1, 4.05), (LANE_X1, 5.45)],
    },
    {
        "name": "promo",
        "polygon": [(0.6, 0.5), (3.6, 0.5), (3.6, 3.3), (0.6, 3.3)],
    },
]

CROWDS = {
    # file, transform to scene metres, keep-person filter
    "corridor_uni": ("corridor_uni.csv.gz", lambda x, y: (x + 4.0, 0.3 + (y - 0.2) * 0.73), None),
    "corridor_bi": ("corridor_bi.csv.gz", lambda x, y: (x + 4.0, 0.3 + y * 0.75), None),
    "hotel": (
        "hotel.csv.gz",
        lambda x, y: (y + 6.0, x + 2.3),
        lambda xs, ys: bool(np.all((xs >= -2.3) & (xs <= 1.4))),
    ),
}


@dataclass
class QueueSettings:
    """The simulated checkout."""

    arrival_s: float = 13.0  # mean time between shoppers heading for the till
    service_s: float = 12.0  # mean service time (lognormal, cv 0.4)
    patience_s: float = 240.0  # mean patience (exponential); beyond it a shopper gives up


@dataclass
class SceneSpec:
    name: str
    seconds: float = 120.0
    fps: float = 10.0
    crowd: str | None = "hotel"
    crowd_offset_s: float = 0.0
    queue: QueueSettings | None = field(default_factory=QueueSettings)
    seed: int = 1
    noise: float = 3.0
    initial_queue: int = 0
    # How the camera sees it (scene_render.py)
    view: str = "overhead"  # overhead | oblique
    px_per_m: float = PX_PER_M  # overhead
    size: tuple[int, int] = (WIDTH, HEIGHT)
    floor: str = "light"  # light | dark
    clothes: str = "any"  # any | floor (close to the floor's colour)
    light: str = "drift"  # drift | sun | flicker | shadows
    clutter: str | None = None  # trolley (parked) | staff (standing by the till throughout)
    jpeg: int | None = None  # JPEG quality every frame goes through (lossy video)
    slot_gap: float = 0.62  # metres between people queueing (0.45: shoulder to shoulder)
    # oblique: where the camera hangs (m: x, y behind the lane, height), the floor row (m)
    # it looks at, and its focal length (px)
    eye: tuple[float, float, float] = (4.0, 8.6, 3.0)
    look_at_y: float = 2.6
    focal: float = 430.0


SCENES = {
    "quiet": SceneSpec("quiet", crowd="hotel", crowd_offset_s=200.0),
    "crowded": SceneSpec("crowded", crowd="corridor_uni"),
    "crossing": SceneSpec("crossing", crowd="corridor_bi"),
    # Rush hour: shoppers come faster than the till serves; the lane fills, people give up.
    # The camera starts while five people already queue: they are in its first background.
    "warm-start": SceneSpec("warm-start", crowd="corridor_uni", initial_queue=5, seed=2),
    "rush": SceneSpec(
        "rush",
        crowd="corridor_bi",
        queue=QueueSettings(arrival_s=9.0, service_s=12.0, patience_s=150.0),
    ),
}


@dataclass
class Person:
    pid: int
    t: np.ndarray  # seconds
    x: np.ndarray  # metres
    y: np.ndarray
    look: tuple[Any, ...] = ()
    role: str = "crowd"  # crowd | queue


@dataclass
class QueueFacts:
    """What the simulated checkout did, for checks independent of the zone logic."""

    arrivals: list[float] = field(default_factory=list)  # heading for the lane
    served: list[tuple[float, float]] = field(default_factory=list)  # (joined lane, called)
    done: list[float] = field(default_factory=list)  # the till finished with someone
    reneged: int = 0
    balked: int = 0


@dataclass
class Scene:
    spec: SceneSpec
    people: list[Person]
    facts: QueueFacts
    camera: SceneCamera
    background: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 3), np.uint8))

    @property
    def fps(self) -> float:
        return self.spec.fps

    @property
    def frame_count(self) -> int:
        return int(round(self.spec.seconds * self.spec.fps))

    def zones(self) -> list[dict[str, Any]]:
        """The zones in this camera's pixels (cut to the frame where it shows less)."""
        w, h = self.camera.width, self.camera.height

        def px(points: list[tuple[float, float]]) -> list[list[float]]:
            out = []
            for x, y in points:
                u, v = self.camera.project(x, y)
                out.append(
                    [round(min(max(u, 1.0), w - 1.0), 1), round(min(max(v, 1.0), h - 1.0), 1)]
                )
            return out

        zones = []
        for zone in ZONES_M:
            item: dict[str, Any] = {"name": zone["name"], "polygon": px(zone["polygon"])}
            if "exit_line" in zone:
                item["exit_line"] = px(zone["exit_line"])
            zones.append(item)
        return zones

    def config(self, **overrides: Any) -> dict[str, Any]:
        """An edge config (as a dict) for this scene: its zones and view, all else default."""
        doc: dict[str, Any] = {
            "device": {"id": "cam-01", "store": "s001", "role": "edge"},
            "camera": {"source": "scene.avi", "fps": self.fps, "view": self.camera.view},
            "zones": self.zones(),
        }
        for key, value in overrides.items():
            doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
        return doc

    def paths_px(self) -> dict[int, list[tuple[float, float, float]]]:
        """Every person's floor point per frame, in pixels: the ground truth."""
        times = np.arange(self.frame_count) / self.fps
        out: dict[int, list[tuple[float, float, float]]] = {}
        for person in self.people:
            visible = (times >= person.t[0]) & (times <= person.t[-1])
            ts = times[visible]
            if len(ts) == 0:
                continue
            xs, ys = self.camera.project_many(
                np.interp(ts, person.t, person.x), np.interp(ts, person.t, person.y)
            )
            w, h = self.camera.width, self.camera.height
            inside = (xs > -10) & (xs < w + 10) & (ys > -10) & (ys < h + 10)
            path = [
                (float(t), float(x), float(y))
                for t, x, y, ok in zip(ts, xs, ys, inside, strict=True)
                if ok
            ]
            if path:
                out[person.pid] = path
        return out

    def frames(self) -> Iterator[np.ndarray]:
        renderer = Renderer(self)
        for index in range(self.frame_count):
            yield renderer.render(index / self.fps)


def build(spec: SceneSpec | str) -> Scene:
    """Simulate a scene (positions only; frames are drawn lazily by Scene.frames)."""
    if isinstance(spec, str):
        spec = SCENES[spec]
    rng = np.random.default_rng(spec.seed)
    people: list[Person] = []
    if spec.crowd:
        people += _crowd(spec, rng)
    facts = QueueFacts()
    if spec.queue is not None:
        people += _simulate_queue(spec, rng, facts, first_id=100_000)
    if spec.clutter == "staff":
        # Someone behind the till the whole time, shifting on their feet: a person, never
        # in a zone, standing still for longer than any shopper.
        times = np.arange(0.0, spec.seconds + 0.1, 0.1)
        sx, sy = _sway(times, rng, 0.04)
        people.append(Person(900_000, times, 7.45 + sx, 3.65 + sy, role="staff"))
    for person in people:
        person.look = look(rng, spec.clothes, spec.floor)
    scene = Scene(spec, people, facts, camera_for(spec))
    scene.background = floor_image(scene, np.random.default_rng(spec.seed + 7))
    return scene


def camera_for(spec: SceneSpec) -> SceneCamera:
    """The camera a scene is seen through."""
    width, height = spec.size
    if spec.view == "oblique":
        # Mounted high on the wall behind the lane, looking across the floor plan.
        target = (spec.eye[0], spec.look_at_y, 0.0)
        return SceneCamera.oblique(width, height, spec.eye, target, spec.focal)
    s = spec.px_per_m
    # Centre on the plan; a closer camera shows less, so slide towards the checkout while
    # keeping the lane and its exit line in view.
    cx = min(PLAN_CENTRE[0], max(0.3 + width / 2 / s, 6.9 - width / 2 / s))
    cy = max(PLAN_CENTRE[1], 5.75 - height / 2 / s)
    return SceneCamera.overhead(s, width, height, (cx, cy))


def random_mount(spec: SceneSpec, rng: np.random.Generator) -> SceneSpec:
    """An oblique camera hung as an installer might: on the wall behind the lane, 2.4-4.2 m
    up, 2.3-4.3 m behind it, up to 0.6 m off its middle, any tilt and lens that keep the
    lane's exit and the till in view."""
    width, height = spec.size
    exit_line = next(zone["exit_line"] for zone in ZONES_M if "exit_line" in zone)
    exit_and_till = [*exit_line, SERVICE_SPOT]
    while True:
        eye = (
            float(rng.uniform(3.4, 4.6)),
            float(rng.uniform(7.8, 9.8)),
            float(rng.uniform(2.4, 4.2)),
        )
        look_at_y, focal = float(rng.uniform(1.8, 3.2)), float(rng.uniform(340, 560))
        drawn = replace(spec, view="oblique", eye=eye, look_at_y=look_at_y, focal=focal)
        cam = camera_for(drawn)
        points = [cam.project(x, y) for x, y in exit_and_till]
        if all(10 < u < width - 10 and 10 < v < height - 10 for u, v in points):
            return drawn


def write_video(scene: Scene, path: str | Path) -> Path:
    """Encode the scene as Motion-JPEG AVI (decodes everywhere OpenCV does)."""
    size = (scene.camera.width, scene.camera.height)
    return write_frames(scene.frames(), scene.fps, size, path)


def write_frames(
    frames: Iterable[np.ndarray], fps: float, size: tuple[int, int], path: str | Path
) -> Path:
    """Encode frames already rendered (``size`` = width, height) as Motion-JPEG AVI."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def render_demo_scene(out_dir: str | Path, seconds: float = 90.0) -> tuple[Path, Path]:
    """Render the bundled demo scene and a matching edge.toml into ``out_dir``.

    Returns (video path, config path). The config has [device] cam-01 / s001 and no [mqtt]:
    pass a DeviceLink to runner.run, or add [mqtt] to publish from the command line.
    """
    out_dir = Path(out_dir)
    # A busy till (arrivals slightly faster than service) so waits build up within a minute.
    spec = SceneSpec(
        "demo",
        seconds=seconds,
        crowd="hotel",
        crowd_offset_s=200.0,
        seed=5,
        queue=QueueSettings(arrival_s=9.0, service_s=10.0, patience_s=120.0),
    )
    scene = build(spec)
    video = write_video(scene, out_dir / "demo-scene.avi")
    config = out_dir / "edge.toml"
    config.write_text(to_toml(scene.config(camera={"source": str(video.name)})))
    return video, config


def to_toml(doc: dict[str, Any]) -> str:
    """A small TOML writer for scene configs (tables, arrays of tables, numbers, strings)."""
    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_toml(v)}" for k, v in value.items()]
            lines.append("")
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {_toml(v)}" for k, v in item.items()]
                lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(type(value))


# -- real crowds ----------------------------------------------------------------------------


def load_trajectories(name: str) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A vendored recording as {person: (t, x, y)} in its own metres and seconds."""
    ref = resources.files("peakend.edge").joinpath("trajectories", name)
    with ref.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", skiprows=1)
    out = {}
    ids = table[:, 0].astype(int)
    for pid in np.unique(ids):
        rows = table[ids == pid]
        out[int(pid)] = (rows[:, 1], rows[:, 2], rows[:, 3])
    return out


def _crowd(spec: SceneSpec, rng: np.random.Generator) -> list[Person]:
    filename, transform, keep = CROWDS[spec.crowd]  # type: ignore[index]
    tracks = load_trajectories(filename)
    t_min = min(t[0] for t, _, _ in tracks.values())
    t_max = max(t[-1] for t, _, _ in tracks.values())
    period = t_max - t_min
    people: list[Person] = []
    loops = int(math.ceil((spec.seconds + spec.crowd_offset_s) / period)) + 1
    next_id = 1
    for loop in range(loops):
        shift = loop * period - t_min - spec.crowd_offset_s
        for _pid, (t, x, y) in sorted(tracks.items()):
            if keep is not None and not keep(x, y):
                continue
            ts = t + shift
            if ts[-1] < 0 or ts[0] > spec.seconds:
                continue
            wx, wy = transform(x, y)
            # Real people sway when standing; the hotel data is annotated at 2.5 fps, so
            # resample to 10 Hz before adding a little sway of our own.
            grid = np.arange(ts[0], ts[-1] + 1e-9, 0.1)
            gx, gy = np.interp(grid, ts, wx), np.interp(grid, ts, wy)
            sx, sy = _sway(grid, rng, 0.02)
            people.append(Person(next_id, grid, gx + sx, gy + sy, role="crowd"))
            next_id += 1
    return people


# -- the simulated checkout -----------------------------------------------------------------


@dataclass
class _Shopper:
    pid: int
    speed: float
    patience: float
    service: float
    x: float
    y: float
    state: str = "approach"  # approach -> queue -> called -> served -> leave | renege
    joined: float | None = None
    waypoints: list[tuple[float, float]] = field(default_factory=list)
    done_at: float | None = None
    path: list[tuple[float, float, float]] = field(default_factory=list)


def _simulate_queue(
    spec: SceneSpec, rng: np.random.Generator, facts: QueueFacts, first_id: int
) -> list[Person]:
    q = spec.queue
    assert q is not None
    dt = 1.0 / spec.fps
    steps = int(spec.seconds * spec.fps) + 1
    arrivals: list[float] = []
    t = float(rng.exponential(q.arrival_s)) * 0.3
    while t < spec.seconds:
        arrivals.append(t)
        t += float(rng.exponential(q.arrival_s))
    active: list[_Shopper] = []
    finished: list[_Shopper] = []
    lane: list[_Shopper] = []  # in queue order, head first
    serving: _Shopper | None = None
    next_pid = first_id

    def new_shopper(x: float, y: float) -> _Shopper:
        nonlocal next_pid
        service = float(rng.lognormal(math.log(q.service_s) - 0.08, 0.4))
        shopper = _Shopper(
            next_pid,
            float(rng.uniform(1.0, 1.35)),
            float(rng.exponential(q.patience_s)),
            service,
            x,
            y,
        )
        next_pid += 1
        return shopper

    for k in range(spec.initial_queue):
        shopper = new_shopper(*_slot(k, spec.slot_gap))
        shopper.state, shopper.joined = "queue", 0.0
        lane.append(shopper)
        active.append(shopper)
    # As many places as the lane holds at this spacing.
    slots = int((LANE_X1 - 0.35 - LANE_X0 - 0.3) / spec.slot_gap) + 1
    pending = list(arrivals)
    for step in range(steps):
        now = step * dt
        while pending and pending[0] <= now:
            pending.pop(0)
            facts.arrivals.append(now)
            waiting = [s for s in active if s.state in ("approach", "queue")]
            if len(waiting) >= slots:
                facts.balked += 1  # the lane is full: they do not join
                continue
            start_x = float(rng.uniform(0.5, 4.5))
            shopper = new_shopper(start_x, -0.4)
            active.append(shopper)
            lane.append(shopper)
        # Slots follow lane order; people shuffle up as the line moves.
        for k, shopper in enumerate(lane):
            target = _slot(k, spec.slot_gap)
            if shopper.state == "approach":
                entry = (target[0], 3.55)
                if not shopper.waypoints:
                    shopper.waypoints = [entry]
                if _walk(shopper, shopper.waypoints[0], dt, shopper.speed):
                    shopper.state = "queue"
                    shopper.waypoints = []
            elif shopper.state == "queue":
                _walk(shopper, target, dt, 0.8)
                if shopper.joined is None and shopper.y >= 4.05:
                    shopper.joined = now
        # Patience runs out: leave the lane sideways, back into the aisle.
        for shopper in list(lane):
            if (
                shopper.state == "queue"
                and shopper.joined is not None
                and now - shopper.joined > shopper.patience
                and lane.index(shopper) > 0
            ):
                lane.remove(shopper)
                shopper.state = "renege"
                shopper.waypoints = [(shopper.x, 3.4), (-0.6, float(rng.uniform(1.0, 3.0)))]
                facts.reneged += 1
        # The till calls the head of the line once it has reached its spot.
        if serving is None and lane and lane[0].state == "queue":
            head = lane[0]
            if math.hypot(head.x - _slot(0, spec.slot_gap)[0], head.y - LANE_Y) < 0.15:
                lane.pop(0)
                head.state = "called"
                serving = head
                facts.served.append((head.joined if head.joined is not None else now, now))
        if serving is not None:
            if serving.state == "called" and _walk(serving, SERVICE_SPOT, dt, 0.9):
                serving.state = "served"
                serving.done_at = now + serving.service
            elif (
                serving.state == "served" and serving.done_at is not None and now >= serving.done_at
            ):
                serving.state = "leave"
                facts.done.append(now)
                serving.waypoints = [(7.0, 3.3), (8.7, float(rng.uniform(1.5, 3.2)))]
                serving = None
        for shopper in active:
            if shopper.state in ("leave", "renege"):
                if _walk(shopper, shopper.waypoints[0], dt, shopper.speed):
                    shopper.waypoints.pop(0)
                    if not shopper.waypoints:
                        shopper.state = "gone"
            if shopper.state != "gone":
                shopper.path.append((now, shopper.x, shopper.y))
        finished += [s for s in active if s.state == "gone"]
        active = [s for s in active if s.state != "gone"]
    people = []
    for shopper in finished + active:
        if len(shopper.path) < 2:
            continue
        arr = np.array(shopper.path)
        sx, sy = _sway(arr[:, 0], rng, 0.025)
        people.append(Person(shopper.pid, arr[:, 0], arr[:, 1] + sx, arr[:, 2] + sy, role="queue"))
    return people


def _slot(k: int, gap: float = SLOT_GAP) -> tuple[float, float]:
    return (LANE_X1 - 0.35 - k * gap, LANE_Y)


def _walk(shopper: _Shopper, target: tuple[float, float], dt: float, speed: float) -> bool:
    dx, dy = target[0] - shopper.x, target[1] - shopper.y
    dist = math.hypot(dx, dy)
    step = speed * dt
    if dist <= step:
        shopper.x, shopper.y = target
        return True
    shopper.x += dx / dist * step
    shopper.y += dy / dist * step
    return False


def _sway(
    t: np.ndarray, rng: np.random.Generator, amplitude: float
) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for _ in range(2):
        freqs = rng.uniform(0.05, 0.4, 3)
        phases = rng.uniform(0, 2 * math.pi, 3)
        out.append(
            amplitude
            * sum(np.sin(2 * math.pi * f * t + p) for f, p in zip(freqs, phases, strict=True))
            / 3
        )
    return out[0], out[1]
