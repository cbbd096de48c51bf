"""Server-rendered SVG heat maps and the colours every chart shares. The line and bar charts
are drawn by the vendored Chart.js from :mod:`peakend.broker.hub.web.chartspec`; a heat map
stays SVG here, drawn on the hub, no CDN, so it works on a hub without internet.

Each function takes analytics results and returns SVG markup that scales to its container
(viewBox, width 100%). Colours go in attributes, never in ``style``, so a strict
Content-Security-Policy holds. Every mark has a <title>, which browsers show on hover or tap.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from peakend.broker.hub import i18n
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.analytics import (
    HeatMap,
    fmt_duration,
)

FONT = 'font-family="system-ui, sans-serif"'


def happy_colour(value: float | None) -> str:
    """Red (0) through amber (50) to green (100)."""
    if value is None:
        return "#eceff1"
    v = max(0.0, min(100.0, value)) / 100.0
    # two linear segments in RGB: red -> amber -> green
    if v < 0.5:
        a, b, f = (0xD3, 0x2F, 0x2F), (0xF9, 0xA8, 0x25), v / 0.5
    else:
        a, b, f = (0xF9, 0xA8, 0x25), (0x2E, 0x7D, 0x32), (v - 0.5) / 0.5
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def face_colour(score: int) -> str:
    """A face's colour: its place on the Happy Index scale (1 -> 0 ... 4 -> 100)."""
    return happy_colour((score - 1) * 100 / 3)


def wait_colour(value: float | None, top: float) -> str:
    """Pale to dark blue-violet as the wait grows to ``top``."""
    if value is None:
        return "#eceff1"
    f = max(0.0, min(1.0, value / top)) if top > 0 else 0.0
    a, b = (0xE3, 0xF2, 0xFD), (0x31, 0x1B, 0x92)
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def heatmap(hm: HeatMap, kind: str, tall: bool = False) -> Markup:
    """Weekday by local hour; ``kind`` is "happy" (0..100), "wait" (seconds) or "count".
    ``tall`` turns it a quarter (hours down, weekdays across) so a phone shows the whole day
    at a legible size. A legend under the grid says what the colours mean."""
    cw, ch = (40, 16) if tall else (22, 22)  # cell width and height
    left, top = (40, 18) if tall else (36, 18)
    cols, rows = (7, 24) if tall else (24, 7)
    legend_rows = 2 if tall else 1
    width = left + cols * cw + 4
    height = top + rows * ch + 8 + 22 * legend_rows
    values = [v for row in hm.cells for v in row if v is not None]
    vmax = max(values) if values else 0.0
    weekdays = _weekday_names()
    name = _("%(title)s by weekday and hour") % {"title": _(hm.title)}
    out = [f'<svg class="chart heat{" tall" if tall else " wide"}" viewBox="0 0 {width} '
           f'{height}" role="img" aria-label="{escape(name)}" {FONT} font-size="10">']
    if tall:
        for d in range(7):
            out.append(f'<text x="{left + d * cw + cw / 2}" y="12" text-anchor="middle" '
                       f'fill="#546e7a">{weekdays[d]}</text>')
        for h in range(0, 24, 2):
            out.append(f'<text x="{left - 6}" y="{top + h * ch + ch * 0.75}" text-anchor="end" '
                       f'fill="#546e7a">{h:02d}:00</text>')
    else:
        for h in range(0, 24, 3):
            out.append(f'<text x="{left + h * cw + cw / 2}" y="12" text-anchor="middle" '
                       f'fill="#546e7a">{h:02d}</text>')
        for d in range(7):
            out.append(f'<text x="{left - 6}" y="{top + d * ch + ch * 0.65}" '
                       f'text-anchor="end" fill="#546e7a">{weekdays[d]}</text>')
    for d in range(7):
        for h in range(24):
            v = hm.cells[d][h]
            n = hm.counts[d][h]
            colour = happy_colour(v) if kind == "happy" else wait_colour(v, vmax)
            label = _("no data") if v is None else _heat_label(v, kind)
            x, y = (left + d * cw, top + h * ch) if tall else (left + h * cw, top + d * ch)
            out.append(
                f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                f'rx="3" fill="{colour}" data-value="{"" if v is None else round(v, 1)}">'
                f"<title>{weekdays[d]} {h:02d}:00 - {escape(_(hm.title))} {label} (n={n})</title>"
                "</rect>")
    out += _heat_legend(kind, vmax, left, top + rows * ch + 8, per_row=3 if tall else 6)
    out.append("</svg>")
    return Markup("".join(out))


def heat_table(hm: HeatMap, kind: str) -> tuple[list[str], list[list[str]]]:
    """The table behind a heat map: one row per local hour that has data, one column per
    weekday, each cell its value and count."""
    head = [_("Hour"), *_weekday_names()]
    rows = []
    for h in range(24):
        if not any(hm.counts[d][h] for d in range(7)):
            continue
        rows.append([f"{h:02d}:00"] + [
            "-" if hm.cells[d][h] is None else
            f"{_heat_label(hm.cells[d][h], kind)} (n={hm.counts[d][h]})" for d in range(7)])
    return head, rows


def _weekday_names() -> list[str]:
    """Monday to Sunday, abbreviated as the reader's language does."""
    names = i18n.locale().days["format"]["abbreviated"]
    return [names[d] for d in range(7)]


def _heat_label(v: float, kind: str) -> str:
    if kind == "happy":
        return f"{v:.0f}"
    if kind == "count":
        return f"{v:.1f}"
    return fmt_duration(v)


def _heat_legend(kind: str, vmax: float, x: float, y: float, per_row: int = 6) -> list[str]:
    """Five swatches from the scale's bottom to its top, and the no-data grey."""
    out = ['<g class="legend" aria-label="colour legend">']
    swatches = []
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        v = 100 * f if kind == "happy" else vmax * f
        colour = happy_colour(v) if kind == "happy" else wait_colour(v, vmax)
        swatches.append((colour, _heat_label(v, kind)))
    swatches.append(("#eceff1", _("no data")))
    for i, (colour, text) in enumerate(swatches):
        sx, sy = x + (i % per_row) * 74, y + (i // per_row) * 22
        out.append(f'<rect x="{sx}" y="{sy}" width="14" height="14" rx="2" fill="{colour}"/>'
                   f'<text x="{sx + 18}" y="{sy + 11}" fill="#546e7a">{escape(text)}</text>')
    out.append("</g>")
    return out


