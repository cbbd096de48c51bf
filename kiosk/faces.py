"""The four faces, drawn with Kivy graphics rather than taken from an emoji font.

Shape carries the meaning as much as colour: the mouth bends from a deep frown to a wide open
smile and the brows tilt from worried to raised, so a shopper who cannot tell the colours
apart still reads the scale. The palette is Okabe-Ito (vermillion, orange, sky blue, bluish
green), chosen to stay distinct under the common colour-vision deficiencies.
"""

from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line, Mesh
from kivy.properties import BooleanProperty, NumericProperty
from kivy.uix.widget import Widget

COLOURS = {
    1: (0.835, 0.369, 0.0),
    2: (0.902, 0.624, 0.0),
    3: (0.337, 0.706, 0.914),
    4: (0.0, 0.620, 0.451),
}
INK = (0.13, 0.13, 0.16)
# Mouth bend: negative frowns, positive smiles.
BEND = {1: -1.0, 2: -0.45, 3: 0.5, 4: 1.0}


class Face(Widget):
    """A round face for one score.

    The drawing instructions are made once and only updated on a move, resize or score change:
    re-creating them (notably a wide Line circle) leaks memory in Kivy 2.3, and a kiosk redraws
    its faces every time the question screen comes back."""

    score = NumericProperty(4)
    pressed = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        with self.canvas:
            self._halo_colour = Color(*INK, 0)
            self._halo = Ellipse()
            Color(*INK)
            self._rim = Ellipse()
            self._skin_colour = Color(*COLOURS[4])
            self._skin = Ellipse()
            Color(*INK)
            self._eyes = [Ellipse(), Ellipse()]
            self._brows = [Line(cap="round"), Line(cap="round")]
            self._teeth_colour = Color(*INK, 0)
            self._open_mouth = Mesh(mode="triangle_fan")
            Color(*INK)
            self._mouth = Line(cap="round", joint="round")
        self.bind(pos=self._draw, size=self._draw, score=self._draw, pressed=self._draw)
        self._draw()

    def _draw(self, *_: object) -> None:
        score = int(self.score)
        cx, cy = self.center
        r = max(1.0, min(self.width, self.height)) / 2
        self._halo_colour.a = 0.35 if self.pressed else 0.0
        self._halo.pos, self._halo.size = (cx - r, cy - r), (2 * r, 2 * r)
        if self.pressed:
            r *= 0.94
        rim = max(1.0, r * 0.03)
        self._rim.pos, self._rim.size = (cx - r, cy - r), (2 * r, 2 * r)
        inner = r - rim
        self._skin_colour.rgb = COLOURS[score]
        self._skin.pos, self._skin.size = (cx - inner, cy - inner), (2 * inner, 2 * inner)
        eye = r * 0.14
        # Brows: inner ends up for worried faces, level for content ones, raised for delight.
        tilt = {1: 0.16, 2: 0.08, 3: 0.0, 4: 0.0}[score] * r
        for i, side in enumerate((-1, 1)):
            ex, ey = cx + side * r * 0.35, cy + r * 0.22
            self._eyes[i].pos = (ex - eye / 2, ey - eye * 0.7)
            self._eyes[i].size = (eye, eye * 1.4)
            by = ey + r * (0.28 if score == 4 else 0.22)
            self._brows[i].points = [
                ex - side * r * 0.15, by + tilt, ex + side * r * 0.15, by - tilt
            ]
            self._brows[i].width = max(1.0, r * 0.035)
        points = mouth_points(cx, cy, r, score)
        self._mouth.points = points
        self._mouth.width = max(1.5, r * 0.05)
        if score == 4:
            # An open smile: filled between the curve and the line joining its ends.
            vertices: list[float] = [cx, points[1], 0, 0]
            for i in range(0, len(points), 2):
                vertices += [points[i], points[i + 1], 0, 0]
            self._open_mouth.vertices = vertices
            self._open_mouth.indices = list(range(len(vertices) // 4))
            self._teeth_colour.a = 1
        else:
            self._teeth_colour.a = 0


def mouth_points(cx: float, cy: float, r: float, score: int, steps: int = 16) -> list[float]:
    """A parabola: its ends rise above the middle for a smile and fall below it for a frown."""
    bend = BEND[score]
    half = r * (0.42 if abs(bend) > 0.7 else 0.34)
    base = cy - r * 0.38 + (0.0 if bend > 0 else r * 0.05)
    lift = r * 0.3 * bend
    points: list[float] = []
    for i in range(steps + 1):
        t = -1 + 2 * i / steps
        points += [cx + t * half, base + lift * (t * t) - (lift * 0.5 if bend > 0 else 0.0)]
    return points
