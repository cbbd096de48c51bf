"""Drawing test scenes: where the camera is, and what its frames look like.

Everything in a scene lives in metres on the shop floor; a ``SceneCamera`` turns metres into
pixels, either straight down from the ceiling (``overhead``, any pixels per metre, the frame
centred on the floor plan) or through a tilted pinhole (``oblique``: people upright, larger
nearer the camera, hiding one another). The renderer then paints the floor, people, light and
the camera's own faults (noise, compression) so the detector meets the conditions of a real
installation, none of them chosen to suit it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from peakend.edge.scenes import Scene


@dataclass(frozen=True)
class SceneCamera:
    """Metres on the floor (x right, y down the plan, z up) to pixels of the frame."""

    view: str
    width: int
    height: int
    px_per_m: float  # overhead: everywhere; oblique: at the middle of the frame
    origin: tuple[float, float] = (0.0, 0.0)  # overhead: floor point at pixel (0, 0)
    # oblique: camera centre (m), the floor point it looks at (m), focal length (px)
    eye: tuple[float, float, float] = (0.0, 0.0, 0.0)
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    focal: float = 0.0

    @classmethod
    def overhead(
        cls, px_per_m: float, width: int, height: int, centre: tuple[float, float]
    ) -> SceneCamera:
        origin = (centre[0] - width / 2 / px_per_m, centre[1] - height / 2 / px_per_m)
        return cls("overhead", width, height, px_per_m, origin)

    @classmethod
    def oblique(
        cls,
        width: int,
        height: int,
        eye: tuple[float, float, float],
        target: tuple[float, float, float],
        focal: float,
    ) -> SceneCamera:
        cam = cls("oblique", width, height, 0.0, (0.0, 0.0), eye, target, focal)
        # Pixels per metre on the floor at the middle of the frame, for drawing only.
        ground = cam.floor_at(width / 2, height / 2)
        a = cam.project(ground[0] - 0.5, ground[1])
        b = cam.project(ground[0] + 0.5, ground[1])
        return cls("oblique", width, height, abs(b[0] - a[0]), (0.0, 0.0), eye, target, focal)

    # -- geometry ---------------------------------------------------------------------------

    def project(self, x: float, y: float, z: float = 0.0) -> tuple[float, float]:
        if self.view == "overhead":
            return ((x - self.origin[0]) * self.px_per_m, (y - self.origin[1]) * self.px_per_m)
        right, down, forward = self._axes()
        rel = np.array([x, y, z]) - np.array(self.eye)
        depth = float(rel @ forward)
        depth = max(depth, 1e-3)
        u = self.width / 2 + self.focal * float(rel @ right) / depth
        v = self.height / 2 + self.focal * float(rel @ down) / depth
        return u, v

    def project_many(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.view == "overhead":
            return (xs - self.origin[0]) * self.px_per_m, (ys - self.origin[1]) * self.px_per_m
        right, down, forward = self._axes()
        rel = np.stack([xs - self.eye[0], ys - self.eye[1], -self.eye[2] + 0 * xs], axis=-1)
        depth = np.maximum(rel @ forward, 1e-3)
        return (
            self.width / 2 + self.focal * (rel @ right) / depth,
            self.height / 2 + self.focal * (rel @ down) / depth,
        )

    def floor_at(self, u: float, v: float) -> tuple[float, float]:
        xs, ys = self.floor_grid(np.array([[u]]), np.array([[v]]))
        return float(xs[0, 0]), float(ys[0, 0])

    def floor_grid(self, us: np.ndarray, vs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Floor metres seen at each pixel (NaN above the horizon)."""
        if self.view == "overhead":
            return us / self.px_per_m + self.origin[0], vs / self.px_per_m + self.origin[1]
        right, down, forward = self._axes()
        rays = (
            forward[None, None, :]
            + ((us - self.width / 2) / self.focal)[..., None] * right[None, None, :]
            + ((vs - self.height / 2) / self.focal)[..., None] * down[None, None, :]
        )
        rz = rays[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(rz < -1e-6, -self.eye[2] / rz, np.nan)
        return self.eye[0] + k * rays[..., 0], self.eye[1] + k * rays[..., 1]

    def metres_to_px(self, x: float, y: float, z: float = 0.0) -> float:
        """Pixels one metre spans across the view at this point."""
        if self.view == "overhead":
            return self.px_per_m
        a = self.project(x - 0.5, y, z)
        b = self.project(x + 0.5, y, z)
        return math.hypot(b[0] - a[0], b[1] - a[1])

    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        forward = np.array(self.target, float) - np.array(self.eye, float)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return right, down, forward


# -- floors and people ------------------------------------------------------------------------

FLOORS = {
    "light": (188.0, 192.0, 196.0),
    "dark": (58.0, 56.0, 54.0),
}


@dataclass(frozen=True)
class _Cast:
    gains: tuple[float, float, float]  # per channel (B, G, R), the light left in shadow
    angle: float  # degrees, the direction it is cast in
    distance: float  # m on the floor, from the person to the shadow's centre
    stretch: float  # its length along that direction, against the 0.45 m patch overhead
    soft_m: float  # the blur of its edge


def _cast_shadows(frame: np.ndarray, cam: SceneCamera, cast: _Cast, bodies: list) -> None:
    if not bodies:
        return
    s = cam.px_per_m
    dx = cast.distance * math.cos(math.radians(cast.angle))
    dy = cast.distance * math.sin(math.radians(cast.angle))
    mask = np.zeros(frame.shape[:2], np.uint8)
    for _person, x, y, _h in bodies:
        u, v = cam.project(x + dx, y + dy)
        axes = (max(1, int(0.225 * cast.stretch * s)), max(1, int(0.2 * s)))
        cv2.ellipse(mask, (int(u), int(v)), axes, cast.angle, 0, 360, 255, -1, cv2.LINE_AA)
    sigma = max(0.5, cast.soft_m * s)
    # Only around the shadows (the blur reaches 3 sigma): a whole frame costs 5 ms.
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0:
        return
    pad = int(math.ceil(4 * sigma)) + 1
    x0, y0 = max(0, bx - pad), max(0, by - pad)
    x1, y1 = min(mask.shape[1], bx + bw + pad), min(mask.shape[0], by + bh + pad)
    soft = cv2.GaussianBlur(mask[y0:y1, x0:x1], (0, 0), sigma)
    loss = (1.0 - np.array(cast.gains, np.float32)) / 255.0
    part = frame[y0:y1, x0:x1]
    part[:] = np.clip(part * (1.0 - soft.astype(np.float32)[..., None] * loss), 0, 255).astype(
        np.uint8
    )


def floor_image(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """The empty shop floor: tiles with grout lines, lane tape, the till, a shelf end."""
    from peakend.edge import scenes as plan

    cam = scene.camera
    us, vs = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
    xs, ys = cam.floor_grid(us, vs)
    sky = np.isnan(xs)
    xs, ys = np.nan_to_num(xs), np.nan_to_num(ys)
    base = np.array(FLOORS[scene.spec.floor], np.float32)
    tile = 0.6
    ix, iy = np.floor(xs / tile).astype(int), np.floor(ys / tile).astype(int)
    shade = rng.normal(0, 4, (64, 64)).astype(np.float32)
    image = base[None, None, :] + shade[ix % 64, iy % 64][..., None]
    grout = np.zeros(xs.shape, bool)
    grout[:, 1:] |= ix[:, 1:] != ix[:, :-1]
    grout[1:, :] |= iy[1:, :] != iy[:-1, :]
    image[grout] *= 0.85
    tape = np.array((40, 170, 210), np.float32)
    width = 0.05
    for lane_y in (4.05, 5.45):
        on = (np.abs(ys - lane_y) < width / 2) & (xs > plan.LANE_X0) & (xs < plan.LANE_X1)
        image[on] = tape
    x1, y1, x2, y2 = plan.TILL
    image[(xs > x1) & (xs < x2) & (ys > y1) & (ys < y2)] = (70, 62, 58)
    image[(xs > x1 + 0.1) & (xs < x1 + 0.5) & (ys > y1 + 0.25) & (ys < y1 + 0.6)] = (30, 30, 30)
    image[ys < 0.25] = (120, 130, 150)
    image[sky] = (150, 155, 160)  # the far wall of an oblique view
    image += rng.normal(0, 3, image.shape).astype(np.float32)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    return np.clip(image, 0, 255).astype(np.uint8)


def look(rng: np.random.Generator, clothes: str, floor: str) -> tuple[Any, ...]:
    """Shirt, trousers, hair and build of one person."""
    if clothes == "floor":
        # Clothes close to the floor's own colour (grey on grey, black on a dark floor).
        shirt = tuple(int(np.clip(c + rng.normal(0, 14), 0, 255)) for c in FLOORS[floor])
    else:
        hue = int(rng.integers(0, 180))
        sat = int(rng.integers(40, 200))
        val = int(rng.choice([int(rng.integers(30, 110)), int(rng.integers(120, 240))]))
        hsv = np.uint8([[[hue, sat, val]]])  # type: ignore[list-item]
        shirt = tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].tolist())
    trousers = [(50, 40, 35), (90, 60, 30), (40, 40, 40), (120, 110, 100)][int(rng.integers(0, 4))]
    hair = [(25, 25, 30), (30, 50, 90), (60, 110, 170), (150, 150, 150), (20, 30, 60)][
        int(rng.integers(0, 5))
    ]
    width = float(rng.uniform(0.42, 0.5))
    depth = float(rng.uniform(0.24, 0.29))
    stature = float(rng.uniform(1.55, 1.9))
    return shirt, hair, width, depth, trousers, stature


class Renderer:
    """Frames of a scene: floor, shadows, people, trolley, light, noise and compression."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        spec = scene.spec
        cam = scene.camera
        rng = np.random.default_rng(spec.seed + 11)
        sigma = spec.noise
        shape = (cam.height, cam.width, 3)
        self.noise = [
            (
                np.clip(rng.normal(0, sigma, shape), 0, 255).astype(np.uint8),
                np.clip(-rng.normal(0, sigma, shape), 0, 255).astype(np.uint8),
            )
            for _ in range(6)
        ]
        self.flicker = rng.uniform(-1, 1, 997)
        self.heading: dict[int, float] = {}
        floor = FLOORS[spec.floor]
        # Diffuse shop light leaves a pale patch of the floor's colour under everyone ...
        self.shadow = tuple(int(0.86 * c) for c in floor)
        # ... except in light == "shadows": cast shadows, each scene its own. The share of
        # light left in shadow and its colour (the light that fills a shadow is not the
        # lamp's), the direction and distance they are cast, their length against a person's
        # width, how soft their edge is. A shadow darkens the floor it falls on: tiles, tape,
        # the till (people and the trolley are drawn over it).
        self.cast: _Cast | None = None
        if spec.light == "shadows":
            srng = np.random.default_rng(spec.seed + 23)
            gain = float(srng.uniform(0.35, 0.75))
            gains = np.clip(gain * (1.0 + srng.uniform(-0.03, 0.03, 3)), 0.0, 1.0)
            self.cast = _Cast(
                (float(gains[0]), float(gains[1]), float(gains[2])),
                float(srng.uniform(0.0, 360.0)),
                float(srng.uniform(0.15, 0.4)),
                float(srng.uniform(1.0, 1.4)),
                float(srng.uniform(0.02, 0.07)),
            )
        if spec.light == "sun":
            us, vs = np.meshgrid(np.arange(cam.width) + 0.5, np.arange(cam.height) + 0.5)
            self._floor_xy = cam.floor_grid(us, vs)
        self.trolley_at = (2.2, 2.1)

    def render(self, t: float) -> np.ndarray:
        spec = self.scene.spec
        cam = self.scene.camera
        frame = self.scene.background.copy()
        bodies = []
        for person in self.scene.people:
            if t < person.t[0] or t > person.t[-1]:
                continue
            x = float(np.interp(t, person.t, person.x))
            y = float(np.interp(t, person.t, person.y))
            x2 = float(np.interp(t + 0.3, person.t, person.x))
            y2 = float(np.interp(t + 0.3, person.t, person.y))
            if math.hypot(x2 - x, y2 - y) > 0.05:
                self.heading[person.pid] = math.atan2(y2 - y, x2 - x)
            bodies.append((person, x, y, self.heading.get(person.pid, 0.0)))
        trolley = spec.clutter == "trolley" and t >= spec.seconds * 0.15
        if cam.view == "overhead":
            self._overhead(frame, bodies, trolley)
        else:
            self._oblique(frame, bodies, trolley)
        frame = self._light(frame, t)
        plus, minus = self.noise[int(round(t * spec.fps)) % len(self.noise)]
        frame = cv2.subtract(cv2.add(frame, plus), minus)
        if spec.jpeg is not None:
            ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg])
            if ok:
                frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return frame

    # -- helpers ----------------------------------------------------------------------------

    def _overhead(self, frame: np.ndarray, bodies: list, trolley: bool) -> None:
        cam = self.scene.camera
        s = cam.px_per_m
        if self.cast is not None:
            _cast_shadows(frame, cam, self.cast, bodies)
        else:
            for _person, x, y, _h in bodies:
                u, v = cam.project(x + 0.06, y + 0.08)
                cv2.ellipse(
                    frame,
                    (int(u), int(v)),
                    (max(1, int(0.225 * s)), max(1, int(0.2 * s))),
                    0,
                    0,
                    360,
                    self.shadow,
                    -1,
                    cv2.LINE_AA,
                )
        if trolley:
            tx, ty = self.trolley_at
            box = np.array(
                [
                    cam.project(tx + dx, ty + dy)
                    for dx, dy in ((0, 0), (0.55, 0), (0.55, 0.9), (0, 0.9))
                ],
                np.int32,
            )
            cv2.fillConvexPoly(frame, box, (150, 150, 155), cv2.LINE_AA)
            cv2.polylines(frame, [box], True, (60, 60, 70), max(1, int(0.04 * s)), cv2.LINE_AA)
        for person, x, y, heading in bodies:
            shirt, hair, width, depth, _trousers, _stature = person.look
            u, v = cam.project(x, y)
            angle = math.degrees(heading) + 90.0  # shoulders lie across the walking direction
            axes = (max(1, int(width * s / 2)), max(1, int(depth * s / 2)))
            cv2.ellipse(
                frame, (int(round(u)), int(round(v))), axes, angle, 0, 360, shirt, -1, cv2.LINE_AA
            )
            hu, hv = cam.project(x + 0.03 * math.cos(heading), y + 0.03 * math.sin(heading))
            cv2.circle(
                frame,
                (int(round(hu)), int(round(hv))),
                max(1, int(0.095 * s)),
                hair,
                -1,
                cv2.LINE_AA,
            )

    def _oblique(self, frame: np.ndarray, bodies: list, trolley: bool) -> None:
        cam = self.scene.camera
        # Painter's order: farthest first, so nearer people hide those behind them.
        items = [(y, "person", b) for b in bodies for y in [b[2]]]
        if trolley:
            items.append((self.trolley_at[1] + 0.45, "trolley", None))
        for _depth, kind, body in sorted(items, key=lambda i: i[0]):
            if kind == "trolley":
                tx, ty = self.trolley_at
                corners = [
                    cam.project(tx + dx, ty + dy, dz)
                    for dx, dy, dz in (
                        (0, 0, 1.0),
                        (0.55, 0, 1.0),
                        (0.55, 0.9, 1.0),
                        (0, 0.9, 1.0),
                        (0, 0.9, 0.1),
                        (0.55, 0.9, 0.1),
                    )
                ]
                hull = cv2.convexHull(np.array(corners, np.float32)).astype(np.int32)
                cv2.fillConvexPoly(frame, hull, (150, 150, 155), cv2.LINE_AA)
                continue
            person, x, y, _heading = body
            shirt, hair, width, _depth, trousers, stature = person.look
            fu, fv = cam.project(x, y, 0.0)
            _, hip = cam.project(x, y, 0.48 * stature)
            _, shoulder = cam.project(x, y, 0.86 * stature)
            hu, hv = cam.project(x, y, 0.9 * stature)
            m = cam.metres_to_px(x, y, 0.5 * stature)
            half = max(1, int(width * m / 2))
            cv2.ellipse(
                frame,
                (int(fu), int((fv + hip) / 2)),
                (max(1, int(0.7 * half)), max(1, int((fv - hip) / 2))),
                0,
                0,
                360,
                trousers,
                -1,
                cv2.LINE_AA,
            )
            cv2.ellipse(
                frame,
                (int(fu), int((hip + shoulder) / 2)),
                (half, max(1, int((hip - shoulder) / 2) + 2)),
                0,
                0,
                360,
                shirt,
                -1,
                cv2.LINE_AA,
            )
            cv2.circle(frame, (int(hu), int(hv)), max(1, int(0.11 * m)), hair, -1, cv2.LINE_AA)

    def _light(self, frame: np.ndarray, t: float) -> np.ndarray:
        spec = self.scene.spec
        gain = 1.0 + 0.03 * math.sin(2 * math.pi * t / 90.0)
        if spec.light == "flicker":
            # Mains flicker beating with an unsynchronised shutter: a few % per frame.
            gain += 0.05 * float(self.flicker[int(round(t * spec.fps)) % len(self.flicker)])
        if spec.light == "sun":
            # A patch of sunlight from a window, drifting across the floor over the scene.
            xs, ys = self._floor_xy
            cx = -1.0 + 10.0 * t / max(spec.seconds, 1.0)
            d2 = ((np.nan_to_num(xs) - cx) / 1.4) ** 2 + ((np.nan_to_num(ys) - 2.5) / 1.0) ** 2
            patch = 1.0 + 0.35 * np.exp(-(np.maximum(d2, 0) ** 2))
            return np.clip(frame.astype(np.float32) * (gain * patch)[..., None], 0, 255).astype(
                np.uint8
            )
        if abs(gain - 1.0) > 1e-3:
            return cv2.convertScaleAbs(frame, alpha=gain)
        return frame
