"""What each chart shows, as data: the hub sends it with the page and the vendored Chart.js
(static/vendor/chartjs, drawn by static/charts.js) draws it with axes, legends and exact
values on hover or tap. The same data gives the table behind every chart, for screen readers
and copying. Pure: analytics results in, plain dicts out.

Waits and dwells (given in seconds) travel in minutes, so they get an axis of their own in
minutes, never the Happy Index's 0-100. Titles, labels and notes are in the language of the
request; the numbers the script plots are not. What a reader sees as a number (a tooltip,
the table) is written here once, from the exact value, by the same formatter as the rest of
the page: a value rounded for plotting and rounded again for show could read 89.3 in a
tooltip beside 89.2 in the page's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from peakend.broker.hub import i18n
from peakend.broker.hub.i18n import gettext as _
from peakend.broker.hub.reports.analytics import Band, PeakEndDay, TrendPoint, fmt_duration
from peakend.broker.hub.reports.today import DayLine
from peakend.broker.hub.reports.traffic import DwellPoint
from peakend.broker.hub.web.charts import happy_colour


def happy_axis() -> dict[str, Any]:
    return {"title": _("Happy Index"), "min": 0, "max": 100, "unit": "index"}


def minutes_axis() -> dict[str, Any]:
    return {"title": _("minutes"), "min": 0, "unit": "minutes"}


GREEN, VIOLET, RED, GREY, TEAL = "#2e7d32", "#7e57c2", "#e57373", "#90a4ae", "#00695c"


@dataclass
class Chart:
    """One chart: its x labels, its series and its axes; ``as_dict`` is what the page's
    script reads."""

    name: str  # what it shows, for its aria-label and the table's caption
    x_title: str
    labels: list[str]
    series: list[dict[str, Any]] = field(default_factory=list)
    axes: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = "line"

    def add(self, label: str, values: list[float | None], *, axis: str = "y", kind: str = "line",
            colour: str = GREEN, dashed: bool = False, notes: list[str] | None = None,
            colours: list[str] | None = None, points_only: bool = False) -> None:
        """One series of exact values: a Happy Index, or seconds on a minutes axis."""
        unit = self.axes[axis]["unit"]
        self.series.append({"label": label, "data": [_plotted(v, unit) for v in values],
                            "text": [_fmt(v, unit) for v in values], "axis": axis,
                            "type": kind, "colour": colour, "colours": colours,
                            "dashed": dashed, "notes": notes, "pointsOnly": points_only,
                            "unit": unit})

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "x": self.x_title, "labels": self.labels,
                "series": self.series, "axes": self.axes, "kind": self.kind}

    def table(self) -> tuple[list[str], list[list[str]]]:
        """The same numbers as a table: one row per x label, one column per series."""
        head = [self.x_title] + [
            f"{s['label']} ({'m:ss' if s['unit'] == 'minutes' else _(s['unit'])})"
            if s["unit"] != "index" else s["label"] for s in self.series]
        rows = []
        for i, x in enumerate(self.labels):
            row = [x]
            for s in self.series:
                cell = s["text"][i]
                if s["notes"] and s["data"][i] is not None:
                    cell += f" ({s['notes'][i]})"
                row.append(cell)
            rows.append(row)
        return head, rows


def wait_bands(bands: list[Band]) -> Chart:
    c = Chart(_("Happy Index by linked wait"), _("Linked wait (m:ss)"),
              [b.label for b in bands], axes={"y": happy_axis()}, kind="bar")
    c.add(_("Happy Index"), [b.happy_index for b in bands], kind="bar",
          colours=[happy_colour(b.happy_index) for b in bands],
          notes=[f"n={b.ratings}" for b in bands])
    return c


def trend(points: list[TrendPoint], by: str = "day") -> Chart:
    c = Chart(_("Happy Index and wait p90 per week") if by == "week" else
              _("Happy Index and wait p90 per day"), _("Week of") if by == "week" else _("Day"),
              [_day(p.start) for p in points], axes={"y": happy_axis(), "y2": minutes_axis()})
    c.add(_("Happy Index"), [p.happy_index for p in points], colour=GREEN,
          notes=[f"n={p.ratings}" for p in points])
    c.add(_("Wait p90"), [p.wait_p90_s for p in points], axis="y2", kind="bar",
          colour=VIOLET, notes=[_visits(p.visits) for p in points])
    return c


def peak_end(days: list[PeakEndDay]) -> Chart:
    c = Chart(_("Peak wait and end of each day"), _("Day"), [_day(d.day) for d in days],
              axes={"y": happy_axis(), "y2": minutes_axis()})
    c.add(_("Happy Index of the day's last hour"), [d.end_happy_index for d in days],
          colour=GREEN, points_only=True, notes=[f"n={d.end_ratings}" for d in days])
    c.add(_("Happy Index of the whole day"), [d.day_happy_index for d in days],
          colour=GREY, dashed=True, notes=[f"n={d.day_ratings}" for d in days])
    c.add(_("Peak wait (busiest quarter hour's median)"), [d.peak_wait_s for d in days],
          axis="y2", kind="bar", colour=RED)
    return c


def dwell(points: list[DwellPoint]) -> Chart:
    c = Chart(_("Dwell per day"), _("Day"), [_day(p.start) for p in points],
              axes={"y": minutes_axis()})
    c.add(_("Dwell p50"), [p.dwell_p50_s for p in points], colour=TEAL,
          notes=[_visits(p.visits) for p in points])
    c.add(_("Dwell p90"), [p.dwell_p90_s for p in points], colour="#004d40", dashed=True)
    return c


def day_lines(today: DayLine, usual: DayLine, metric: str, usual_label: str,
              now_hour: int) -> Chart:
    """Hour by hour: today up to the current hour (solid) and the usual day (dashed)."""
    happy = metric == "happy"
    title = (_("Happy Index by hour, today and %(usual)s") if happy else
             _("Wait p90 by hour, today and %(usual)s"))
    c = Chart(title % {"usual": usual_label}, _("Hour"), [f"{h:02d}:00" for h in range(24)],
              axes={"y": happy_axis() if happy else minutes_axis()})

    def values(line: DayLine, upto: int) -> list[float | None]:
        return [(h.happy_index if happy else h.wait_p90_s) if h.hour < upto else None
                for h in line.hours]

    def notes(line: DayLine) -> list[str]:
        return [f"n={h.ratings if happy else h.waits}" for h in line.hours]

    colour = GREEN if happy else VIOLET
    c.add(_("today"), values(today, now_hour + 1), colour=colour, notes=notes(today))
    c.add(usual_label, values(usual, 24), colour=GREY, dashed=True, notes=notes(usual))
    return c


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "minutes":
        return fmt_duration(v)  # from the seconds, as the page writes them
    if unit == "index":
        return i18n.fmt_index(v)
    return i18n.fmt_decimal(v, 2)


def _plotted(v: float | None, unit: str) -> float | None:
    """Enough digits to place a point to the pixel, fewer bytes on the wire."""
    if v is None:
        return None
    return round(v / 60, 4) if unit == "minutes" else round(v, 2)


def _day(d: date) -> str:
    return i18n.fmt_datetime(d, "MMMEd")


def _visits(n: int) -> str:
    return i18n.ngettext("%(num)d visit", "%(num)d visits", n) % {"num": n}
