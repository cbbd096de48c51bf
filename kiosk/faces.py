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
    """A round face for one score, redrawn whenever it moves or resizes."""

    score = NumericProperty(4)
    pressed = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._draw, size=self._draw, score=self._draw, pressed=self._draw)
        self._draw()

    def _draw(self, *_: object) -> None:
        score = int(self.score)
        d = max(1.0, min(self.width, self.height))
        cx, cy = self.center
        r = d / 2
        self.canvas.clear()
        with self.canvas:
            if self.pressed:
                Color(*INK, 0.35)
                Ellipse(pos=(cx - r, cy - r), size=(d, d))
                r *= 0.94
            Color(*COLOURS[score])
            Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
            Color(*INK)
            Line(circle=(cx, cy, r), width=max(1.0, r * 0.03))
            eye = r * 0.14
            for side in (-1, 1):
                ex, ey = cx + side * r * 0.35, cy + r * 0.22
                Ellipse(pos=(ex - eye / 2, ey - eye * 0.7), size=(eye, eye * 1.4))
                # Brows: inner ends up for worried faces, level and high for happy ones.
                tilt = {1: 0.16, 2: 0.08, 3: 0.0, 4: -0.04}[score] * r
                by = ey + r * 0.22
                Line(
                    points=[ex - side * r * 0.15, by + tilt, ex + side * r * 0.15, by - tilt],
                    width=max(1.0, r * 0.035),
                    cap="round",
                )
            self._mouth(cx, cy, r, score)

    def _mouth(self, cx: float, cy: float, r: float, score: int) -> None:
        bend = BEND[score]
        half = r * (0.42 if abs(bend) > 0.7 else 0.34)
        base = cy - r * 0.38 - (0.0 if bend > 0 else -r * 0.05)
        lift = r * 0.3 * bend
        points: list[float] = []
        steps = 16
        for i in range(steps + 1):
            t = -1 + 2 * i / steps
            # A smile's middle sits lowest: y rises with t**2 for positive bend.
            points += [cx + t * half, base + lift * (t * t) - lift * 0.5 * (1 if bend > 0 else 0)]
        if score == 4:
            # An open smile: fill between the curve and the straight line joining its ends.
            top_y = points[1]
            vertices: list[float] = [cx, top_y, 0, 0]
            for i in range(0, len(points), 2):
                vertices += [points[i], points[i + 1], 0, 0]
            Mesh(vertices=vertices, indices=list(range(len(vertices) // 4)), mode="triangle_fan")
            Line(points=[points[0], points[1], points[-2], points[-1]], width=max(1.0, r * 0.04))
        Line(points=points, width=max(1.5, r * 0.05), cap="round", joint="round")
