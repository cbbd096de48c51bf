"""Server-rendered SVG charts: no JavaScript, no CDN, so they work on a hub without internet.

Each function takes analytics results and returns SVG markup that scales to its container
(viewBox, width 100%). Colours go in attributes, never in ``style``, so a strict
Content-Security-Policy holds. Every mark has a <title>, which browsers show on hover or tap.
"""

from __future__ import annotations

import math
from datetime import date
from html import escape

from markupsafe import Markup

from peakend.broker.hub.reports.analytics import (
    WEEKDAYS,
    Band,
    HeatMap,
    PeakEndDay,
    TrendPoint,
    fmt_duration,
)
from peakend.broker.hub.reports.today import DayLine, HourOfDay
from peakend.broker.hub.reports.traffic import DwellPoint

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


def heatmap(hm: HeatMap, kind: str) -> Markup:
    """Weekday by local hour; ``kind`` is "happy" (0..100), "wait" (seconds) or "count".
    A legend under the grid says what the colours mean."""
    cell, left, top = 22, 36, 18
    width, height = left + 24 * cell + 4, top + 7 * cell + 4 + 26
    values = [v for row in hm.cells for v in row if v is not None]
    vmax = max(values) if values else 0.0
    out = [f'<svg class="chart heat" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(hm.title)} by weekday and hour" {FONT} font-size="10">']
    for h in range(0, 24, 3):
        out.append(f'<text x="{left + h * cell + cell / 2}" y="12" text-anchor="middle" '
                   f'fill="#546e7a">{h:02d}</text>')
    for d in range(7):
        y = top + d * cell
        out.append(f'<text x="{left - 6}" y="{y + cell * 0.65}" text-anchor="end" '
                   f'fill="#546e7a">{WEEKDAYS[d]}</text>')
        for h in range(24):
            v = hm.cells[d][h]
            n = hm.counts[d][h]
            colour = happy_colour(v) if kind == "happy" else wait_colour(v, vmax)
            label = "no data" if v is None else _heat_label(v, kind)
            out.append(
                f'<rect x="{left + h * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'rx="3" fill="{colour}" data-value="{"" if v is None else round(v, 1)}">'
                f"<title>{WEEKDAYS[d]} {h:02d}:00 - {escape(hm.title)} {label} (n={n})</title>"
                "</rect>")
    out += _heat_legend(kind, vmax, left, top + 7 * cell + 8)
    out.append("</svg>")
    return Markup("".join(out))


def _heat_label(v: float, kind: str) -> str:
    if kind == "happy":
        return f"{v:.0f}"
    if kind == "count":
        return f"{v:.1f}"
    return fmt_duration(v)


def _heat_legend(kind: str, vmax: float, x: float, y: float) -> list[str]:
    """Five swatches from the scale's bottom to its top, and the no-data grey."""
    out = ['<g class="legend" aria-label="colour legend">']
    steps = [i / 4 for i in range(5)]
    for i, f in enumerate(steps):
        v = 100 * f if kind == "happy" else vmax * f
        colour = happy_colour(v) if kind == "happy" else wait_colour(v, vmax)
        sx = x + i * 74
        out.append(f'<rect x="{sx}" y="{y}" width="14" height="14" rx="2" fill="{colour}"/>'
                   f'<text x="{sx + 18}" y="{y + 11}" fill="#546e7a">{_heat_label(v, kind)}'
                   "</text>")
    sx = x + 5 * 74
    out.append(f'<rect x="{sx}" y="{y}" width="14" height="14" rx="2" fill="#eceff1"/>'
               f'<text x="{sx + 18}" y="{y + 11}" fill="#546e7a">no data</text></g>')
    return out


def dwell(points: list[DwellPoint]) -> Markup:
    """Dwell p50 (solid) and p90 (dashed) per day, on an axis in minutes, with a legend."""
    width, height, left, right, bottom, top = 560, 240, 44, 12, 30, 30
    plot_w, plot_h = width - left - right, height - bottom - top
    out = [f'<svg class="chart dwell" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="Dwell p50 and p90 per day" {FONT} font-size="11">']
    values = [v for p in points for v in (p.dwell_p50_s, p.dwell_p90_s) if v is not None]
    if not values:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
                   'fill="#78909c">no visits in this period</text></svg>')
        return Markup("".join(out))
    step_min = _nice_step(max(values) / 60 / 4)
    top_min = step_min * max(1, math.ceil(max(values) / 60 / step_min))
    for k in range(int(round(top_min / step_min)) + 1):
        m = k * step_min
        y = top + plot_h * (1 - m / top_min)
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="#eceff1"/><text class="tick" x="{left - 6}" '
                   f'y="{y + 4:.1f}" text-anchor="end" fill="#546e7a">{m:g}</text>')
    out.append(f'<text class="axis-title" x="{left - 30}" y="{top - 12}" fill="#546e7a">'
               "minutes</text>")
    n = len(points)
    step = plot_w / n
    for key, dash, colour, name in (("dwell_p50_s", "", "#00695c", "dwell p50"),
                                    ("dwell_p90_s", ' stroke-dasharray="5 3"', "#004d40",
                                     "dwell p90")):
        pts = [(left + i * step + step / 2, top + plot_h * (1 - getattr(p, key) / 60 / top_min),
                p) for i, p in enumerate(points) if getattr(p, key) is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        for x, y, p in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                       f"{p.start} {name} {fmt_duration(getattr(p, key))} ({p.visits} visits)"
                       "</title></circle>")
    lx = left + plot_w - 180
    out.append(f'<g class="legend"><line x1="{lx}" x2="{lx + 20}" y1="{top - 16}" '
               f'y2="{top - 16}" stroke="#00695c" stroke-width="2"/><text x="{lx + 24}" '
               f'y="{top - 12}" fill="#263238">dwell p50</text><line x1="{lx + 90}" '
               f'x2="{lx + 110}" y1="{top - 16}" y2="{top - 16}" stroke="#004d40" '
               f'stroke-width="2" stroke-dasharray="5 3"/><text x="{lx + 114}" y="{top - 12}" '
               'fill="#263238">dwell p90</text></g>')
    for i in _label_steps(n):
        x = left + i * step + step / 2
        out.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" '
                   f'fill="#546e7a">{_short(points[i].start)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def day_lines(today: DayLine, usual: DayLine, metric: str, usual_label: str,
              now_hour: int) -> Markup:
    """Hour by hour, today (solid, up to the current hour) over the usual day (dashed, all
    day): ``metric`` "happy" (Happy Index, 0..100) or "wait" (wait p90, in minutes)."""
    width, height, left, right, bottom, top = 560, 230, 44, 12, 28, 32
    plot_w, plot_h = width - left - right, height - bottom - top
    key = "happy_index" if metric == "happy" else "wait_p90_s"
    name = "Happy Index" if metric == "happy" else "Wait p90"
    out = [f'<svg class="chart day {metric}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{name} by hour, today and {escape(usual_label)}" {FONT} '
           'font-size="11">']
    if metric == "happy":
        ticks, top_v, unit = [0.0, 25.0, 50.0, 75.0, 100.0], 100.0, "Happy Index"
    else:
        values = [getattr(h, key) / 60 for line in (today, usual) for h in line.hours
                  if getattr(h, key) is not None]
        step = _nice_step(max(values + [1.0]) / 4)
        top_v = step * max(1, math.ceil(max(values + [1.0]) / step))
        ticks, unit = [k * step for k in range(int(round(top_v / step)) + 1)], "minutes"
    for v in ticks:
        y = top + plot_h * (1 - v / top_v)
        out.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="#eceff1"/><text class="tick" x="{left - 6}" '
                   f'y="{y + 4:.1f}" text-anchor="end" fill="#546e7a">{v:g}</text>')
    out.append(f'<text class="axis-title" x="{left - 38}" y="{top - 14}" fill="#546e7a">'
               f"{unit}</text>")
    slot = plot_w / 24
    for h in range(0, 25, 3):
        out.append(f'<text class="tick" x="{left + h * slot:.1f}" y="{height - 8}" '
                   f'text-anchor="middle" fill="#546e7a">{h:02d}</text>')
    colour = "#2e7d32" if metric == "happy" else "#5e35b1"
    for line, label, dash, upto in ((usual, usual_label, ' stroke-dasharray="5 3"', 24),
                                    (today, "today", "", now_hour + 1)):
        pts = []
        for hr in line.hours[:upto]:
            v = getattr(hr, key)
            if v is None:
                continue
            shown = v if metric == "happy" else v / 60
            pts.append((left + (hr.hour + 0.5) * slot, top + plot_h * (1 - shown / top_v), hr,
                        v))
        stroke = colour if line is today else "#90a4ae"
        # one polyline per run of consecutive hours: an hour without data is a gap, not a
        # straight line across it
        runs: list[list[tuple[float, float, HourOfDay, float]]] = []
        for p in pts:
            if runs and runs[-1][-1][2].hour == p[2].hour - 1:
                runs[-1].append(p)
            else:
                runs.append([p])
        for run in runs:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in run)
            out.append(f'<polyline class="{"today" if line is today else "usual"}" '
                       f'points="{path}" fill="none" stroke="{stroke}" stroke-width="2"{dash}/>')
        for x, y, hr, v in pts:
            text = f"{v:.1f}" if metric == "happy" else fmt_duration(v)
            n = hr.ratings if metric == "happy" else hr.waits
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{stroke}"><title>'
                       f"{escape(label)} {hr.hour:02d}:00-{(hr.hour + 1) % 24:02d}:00: {name} "
                       f"{text} (n={n})</title></circle>")
    lx = left + plot_w - 250
    out.append(f'<g class="legend"><line x1="{lx}" x2="{lx + 20}" y1="{top - 18}" '
               f'y2="{top - 18}" stroke="{colour}" stroke-width="2"/><text x="{lx + 24}" '
               f'y="{top - 14}" fill="#263238">today</text><line x1="{lx + 80}" '
               f'x2="{lx + 100}" y1="{top - 18}" y2="{top - 18}" stroke="#90a4ae" '
               f'stroke-width="2" stroke-dasharray="5 3"/><text x="{lx + 104}" y="{top - 14}" '
               f'fill="#263238">{escape(usual_label)}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least ``raw`` (at least half a minute)."""
    raw = max(raw, 0.5)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def wait_bands(bands: list[Band], tolerance_s: float | None) -> Markup:
    """Happy Index by linked wait band: one bar per band, its height the Happy Index."""
    width, height, left, bottom, top = 520, 220, 40, 40, 14
    plot_h = height - bottom - top
    n = len(bands)
    slot = (width - left - 10) / max(n, 1)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="Happy Index by wait" {FONT} font-size="11">']
    for v in (0, 50, 100):
        y = top + plot_h * (1 - v / 100)
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y}" y2="{y}" stroke="#cfd8dc"/>'
                   f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" fill="#546e7a">{v}</text>')
    for i, b in enumerate(bands):
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        if b.happy_index is not None:
            h = plot_h * b.happy_index / 100
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{w:.1f}" '
                f'height="{max(h, 1):.1f}" rx="2" fill="{happy_colour(b.happy_index)}">'
                f"<title>wait {escape(b.label)}: Happy Index {b.happy_index:.1f}, "
                f"{b.ratings} ratings</title></rect>")
        out.append(f'<text x="{x + w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                   f'fill="#263238">{escape(b.label)}</text>'
                   f'<text x="{x + w / 2:.1f}" y="{height - bottom + 30}" text-anchor="middle" '
                   f'fill="#78909c">n={b.ratings}</text>')
    if tolerance_s is not None:
        # place the marker inside the band that holds the tolerance point, proportionally
        for i, b in enumerate(bands):
            hi = b.high_s if b.high_s is not None else b.low_s * 2 or 1
            if b.low_s <= tolerance_s < hi or b.high_s is None:
                x = left + i * slot + slot * (tolerance_s - b.low_s) / (hi - b.low_s)
                x = min(x, width - 12)
                out.append(
                    f'<line class="tolerance" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" '
                    f'y2="{top + plot_h}" stroke="#263238" stroke-dasharray="4 3"/>'
                    f'<text x="{x + 4:.1f}" y="{top + 10}" fill="#263238">tolerance '
                    f"{fmt_duration(tolerance_s)}</text>")
                break
    out.append("</svg>")
    return Markup("".join(out))


def _wait_over_happy_frame(
    label: str, width: int, height: int, left: int, top: int, plot_w: int, plot_h: int,
    wmax: float | None, wait_colour: str,
) -> list[str]:
    """The frame both time charts share: a 0..100 Happy Index grid on the left and the wait
    scale's top on the right; with no data (wmax None), a closed chart that says so."""
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{label}" {FONT} font-size="11">']
    if wmax is None:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
                   'fill="#78909c">no data in this period</text></svg>')
        return out
    for v in (0, 50, 100):
        y = top + plot_h * (1 - v / 100)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" stroke="#eceff1"/>'
                   f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" fill="#546e7a">{v}</text>')
    out.append(f'<text x="{left + plot_w + 6}" y="{top + 4}" fill="{wait_colour}">'
               f"{fmt_duration(wmax)}</text>")
    return out


def trend(points: list[TrendPoint]) -> Markup:
    """Happy Index per day (line, left axis 0..100) over wait p90 per day (bars, right axis)."""
    width, height, left, right, bottom, top = 560, 220, 40, 50, 30, 14
    plot_w, plot_h = width - left - right, height - bottom - top
    wmax = max([p.wait_p90_s or 0 for p in points] + [60.0])
    out = _wait_over_happy_frame("Trend", width, height, left, top, plot_w, plot_h,
                                 wmax if points else None, "#5e35b1")
    if not points:
        return Markup("".join(out))
    n = len(points)
    step = plot_w / n
    pts = []
    for i, p in enumerate(points):
        x = left + i * step + step / 2
        if p.wait_p90_s is not None:
            h = plot_h * p.wait_p90_s / wmax
            out.append(f'<rect x="{x - step * 0.3:.1f}" y="{top + plot_h - h:.1f}" '
                       f'width="{step * 0.6:.1f}" height="{h:.1f}" fill="#d1c4e9">'
                       f"<title>{p.start} wait p90 {fmt_duration(p.wait_p90_s)}</title></rect>")
        if p.happy_index is not None:
            y = top + plot_h * (1 - p.happy_index / 100)
            pts.append((x, y, p))
    if pts:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="#2e7d32" stroke-width="2"/>')
        for x, y, p in pts:
            colour = happy_colour(p.happy_index)
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"'
                       f' stroke="#263238" stroke-width="0.5"><title>{p.start}: Happy Index '
                       f"{p.happy_index:.1f} ({p.ratings} ratings)</title></circle>")
    for i in _label_steps(n):
        x = left + i * step + step / 2
        out.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" '
                   f'fill="#546e7a">{_short(points[i].start)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def peak_end(days: list[PeakEndDay]) -> Markup:
    """Each day: its peak wait (bar, right axis) and the Happy Index of its end (dot)."""
    width, height, left, right, bottom, top = 1000, 240, 40, 50, 30, 14
    plot_w, plot_h = width - left - right, height - bottom - top
    wmax = max([d.peak_wait_s or 0 for d in days] + [60.0])
    out = _wait_over_happy_frame("Peak and end of each day", width, height, left, top, plot_w,
                                 plot_h, wmax if days else None, "#c62828")
    if not days:
        return Markup("".join(out))
    n = len(days)
    step = plot_w / n
    for i, d in enumerate(days):
        x = left + i * step + step / 2
        if d.peak_wait_s is not None:
            h = plot_h * d.peak_wait_s / wmax
            out.append(f'<rect class="peak" x="{x - step * 0.3:.1f}" y="{top + plot_h - h:.1f}" '
                       f'width="{step * 0.6:.1f}" height="{h:.1f}" fill="#ef9a9a">'
                       f"<title>{d.day} peak wait {fmt_duration(d.peak_wait_s)}</title></rect>")
        if d.end_happy_index is not None:
            y = top + plot_h * (1 - d.end_happy_index / 100)
            out.append(f'<circle class="end" cx="{x:.1f}" cy="{y:.1f}" r="4.5" '
                       f'fill="{happy_colour(d.end_happy_index)}" stroke="#263238">'
                       f"<title>{d.day} end Happy Index {d.end_happy_index:.1f} "
                       f"({d.end_ratings} ratings; whole day "
                       f"{'-' if d.day_happy_index is None else f'{d.day_happy_index:.1f}'})"
                       "</title></circle>")
    for i in _label_steps(n):
        x = left + i * step + step / 2
        out.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" '
                   f'fill="#546e7a">{_short(days[i].day)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _label_steps(n: int) -> range:
    return range(0, n, max(1, n // 8))


def _short(d: date) -> str:
    return d.strftime("%d %b")
