"""Chart data: waits in minutes on their own axis, the table behind a chart holds its numbers."""

from __future__ import annotations

from datetime import date

from peakend.broker.hub import i18n
from peakend.broker.hub.reports.analytics import Band, TrendPoint, fmt_duration
from peakend.broker.hub.web import chartspec


def test_trend_puts_waits_in_minutes_on_their_own_axis() -> None:
    points = [TrendPoint(date(2026, 3, 2), 10, 75.0, 40, 311.0),
              TrendPoint(date(2026, 3, 3), 0, None, 12, None)]
    c = chartspec.trend(points).as_dict()
    happy, wait = c["series"]
    assert (happy["axis"], happy["unit"], happy["data"]) == ("y", "index", [75.0, None])
    assert (wait["axis"], wait["unit"], wait["type"]) == ("y2", "minutes", "bar")
    assert wait["data"] == [round(311 / 60, 4), None]
    assert c["axes"]["y"]["max"] == 100 and c["axes"]["y2"]["title"] == "minutes"
    assert c["labels"] == ["Mon 2 Mar", "Tue 3 Mar"]


def test_the_table_behind_a_chart_holds_its_numbers() -> None:
    bands = [Band(0, 60, 12, 80.5, 0.1), Band(60, None, 0, None, None)]
    head, rows = chartspec.wait_bands(bands).table()
    assert head == ["Linked wait (m:ss)", "Happy Index"]
    assert rows == [["0:00-1:00", "80.5 (n=12)"], [">= 1:00", "-"]]
    head, rows = chartspec.trend([TrendPoint(date(2026, 3, 2), 10, 75.0, 40, 311.0)]).table()
    assert head == ["Day", "Happy Index", "Wait p90 (m:ss)"]
    assert rows == [["Mon 2 Mar", "75.0 (n=10)", "5:11 (40 visits)"]]


def test_a_value_is_written_once_from_its_exact_value() -> None:
    # 89.2497 plotted as 89.25 and then written to one decimal read 89.3 in a tooltip, beside
    # 89.2 in the page's own figures: what is shown comes from the exact value
    bands = [Band(0, 60, 31, 89.2497, 0.1), Band(60, 120, 8, 89.25, 0.2)]
    series = chartspec.wait_bands(bands).as_dict()["series"][0]
    assert series["data"] == [89.25, 89.25]
    assert series["text"] == [i18n.fmt_index(89.2497), i18n.fmt_index(89.25)] == ["89.2", "89.2"]
    head, rows = chartspec.wait_bands(bands).table()
    assert [r[1] for r in rows] == ["89.2 (n=31)", "89.2 (n=8)"]
    # a wait reads as the page writes its seconds, however many digits the plot keeps (61.5
    # s in minutes and back is 61.4999...: the text is written from the seconds)
    for seconds in (311.4, 61.5, 240.5, 59.6, 60.5000004):
        wait = chartspec.trend([TrendPoint(date(2026, 3, 2), 0, None, 4, seconds)]).as_dict()
        assert wait["series"][1]["text"] == [fmt_duration(seconds)]
        assert wait["series"][0]["text"] == ["-"]
    assert [fmt_duration(s) for s in (61.5, 240.5, 59.6)] == ["1:02", "4:00", "1:00"]
