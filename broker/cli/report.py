"""``peakend report``: the zone report in the terminal, as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from peakend.broker.cli.errors import USAGE, fail

# The report's code (pydantic, numpy, the database layer) is imported once the options are
# read, so `peakend report --help` and a mistyped option answer at once.
if TYPE_CHECKING:
    from peakend.broker.hub.config import HubConfig
    from peakend.broker.hub.reports.queries import Period, ZoneLine, ZoneReport

HELP = "zone report in the terminal (table, json or csv)"

COLUMNS = [
    ("store", "store_id"),
    ("zone", "zone_id"),
    ("ratings", "ratings"),
    ("happy", "happy_index"),
    ("unhappy", "unhappy_share"),
    ("visits", "visits"),
    ("response", "response_rate"),
    ("wait p50", "wait_p50_s"),
    ("wait p90", "wait_p90_s"),
    ("dwell p50", "dwell_p50_s"),
    ("dwell p90", "dwell_p90_s"),
    ("per hour", "throughput_per_h"),
    ("last message", "last_message"),
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="peakend report",
        description="Ratings, Happy Index, waits and dwells per store and zone. Without "
        "--since/--until: the last 30 days. Dates and times "
        "without an offset are the store's local time (see [[stores]] in hub.toml).",
    )
    p.add_argument("--db", required=True, help="the hub database: a SQLite file or a "
                   "postgresql://user:password@host:port/dbname URL")
    p.add_argument("--store", help="only this store id")
    p.add_argument("--zone", help="only this zone id; with --store, adds the zone's wait bands, "
                   "tolerance point and peak-end days")
    p.add_argument("--since", help="start, e.g. 2026-11-01 or 2026-11-01T09:00 or ...Z for UTC")
    p.add_argument("--until", help="end (exclusive), same forms as --since; default now")
    p.add_argument("--period", help="instead of --since: hour, day, week, month (current, local "
                   "time) or 7d, 30d")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="output format (default table)")
    p.add_argument("--config", help="hub.toml, for store time zones and analytics settings")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.hub.reports.queries import ReportError, open_db, store_report, zone_report

    try:
        config = _hub_config(args.config)
        conn = open_db(args.db)
        try:
            period = _period(args, config)
            if args.store and args.zone:
                report = zone_report(conn, args.store, args.zone, period, config)
                sys.stdout.write(render_zone(report, args.format))
            else:
                lines = store_report(conn, period, store=args.store, zone=args.zone,
                                     config=config)
                sys.stdout.write(render_lines(lines, period, args.format))
        finally:
            conn.close()
    except ReportError as exc:
        return fail("report", exc, USAGE, urls=[args.db])
    return 0


def _hub_config(path: str | None) -> HubConfig:
    """hub.toml when given; the defaults (UTC, default analytics) otherwise, without loading
    the config file machinery, which is a good part of a short report's start-up."""
    from peakend.broker.hub.config import DEFAULT, HubConfig
    from peakend.broker.hub.reports.queries import ReportError

    if not path:
        return DEFAULT
    from peakend.broker.device.config import ConfigError, load_config

    try:
        return load_config(path, HubConfig)
    except ConfigError as exc:
        raise ReportError(str(exc)) from None


def _period(args: argparse.Namespace, config: HubConfig) -> Period:
    from zoneinfo import ZoneInfo

    from peakend.broker.hub.reports.queries import Period, ReportError, local_period, parse_moment

    tz = config.timezone(args.store) if args.store else ZoneInfo("UTC")
    now = datetime.now(UTC)
    until = parse_moment(args.until, tz) if args.until else now
    if args.period:
        if args.since:
            raise ReportError("give --since or --period, not both")
        period = local_period(args.period, tz, until)
    else:
        since = parse_moment(args.since, tz) if args.since else until - timedelta(days=30)
        period = Period(since.astimezone(UTC), until.astimezone(UTC))
    if period.until <= period.since:
        raise ReportError("--until must be after --since")
    return period


# -- rendering ------------------------------------------------------------------------------


def _cell(key: str, value: Any) -> str:
    from peakend.broker.hub.reports import summary as an

    if value is None:
        return "-"
    if key == "happy_index":
        return an.fmt_index(value)
    if key in ("unhappy_share", "response_rate"):
        return an.fmt_share(value)
    if key.endswith("_s"):
        return an.fmt_duration(value)
    if key == "throughput_per_h":
        return f"{value:.1f}"
    if key == "last_message":
        return value[:19].replace("T", " ") + "Z"
    return str(value)


def render_lines(lines: list[ZoneLine], period: Period, fmt: str) -> str:
    from peakend.broker.wire.forms import format_ts

    rows = [line.as_dict() for line in lines]
    if fmt == "json":
        return json.dumps({"since": format_ts(period.since), "until": format_ts(period.until),
                           "zones": rows}, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [c[1] for c in COLUMNS],
                           lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    head = f"period {period.label} (UTC); times m:ss; flagged presses left out\n"
    if not rows:
        return head + "no zones have sent anything yet\n"
    table = [[h for h, _ in COLUMNS]] + [[_cell(k, r[k]) for _, k in COLUMNS] for r in rows]
    return head + _table(table)


def _table(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = []
    for n, r in enumerate(table):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                 strict=True))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


def render_zone(report: ZoneReport, fmt: str) -> str:
    from peakend.broker.hub.reports import analytics as an

    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2) + "\n"
    if fmt == "csv":
        from peakend.broker.hub.reports.queries import linked_rows

        rows = linked_rows(report)
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        return buf.getvalue()
    s = report.summary
    d = s.as_dict()
    out = [
        f"{report.store_id} / {report.zone_id}   {report.period.label} (UTC; local days in "
        f"{report.timezone})",
        "",
    ]
    out += [f"  {h:<10} {_cell(k, d[k])}" for h, k in COLUMNS[2:-1]]
    out += ["", "Faces:"]
    table = [["face", "presses", "share"]] + [
        [f"{f.score} {f.label}", str(f.count), an.fmt_share(f.share)] for f in report.faces]
    out.append(_table(table))
    out += [f"  tolerance point: {report.tolerance.text()}", "", "Happy Index by linked wait:"]
    table = [["wait", "ratings", "happy", "unhappy"]] + [
        [b.label, str(b.ratings), an.fmt_index(b.happy_index), an.fmt_share(b.unhappy_share)]
        for b in report.bands
    ]
    out.append(_table(table))
    out += _why(report)
    out.append("Peak-end by day:")
    table = [["day", "peak wait", "end ratings", "end happy", "day ratings", "day happy"]] + [
        [p.day.isoformat(), an.fmt_duration(p.peak_wait_s), str(p.end_ratings),
         an.fmt_index(p.end_happy_index), str(p.day_ratings), an.fmt_index(p.day_happy_index)]
        for p in report.peak_end
    ]
    out.append(_table(table))
    return "\n".join(out)


def _why(report: ZoneReport) -> list[str]:
    """What went wrong and what went well, and the wait reason by measured wait."""
    from peakend.broker.hub.reports import analytics as an

    out = []
    for title, side in (("What went wrong (after a 1 or 2)", report.went_wrong),
                        ("What went well (after a 3 or 4)", report.went_well)):
        out.append(f"{title}: {side.answered} of {side.presses} presses gave a reason")
        if side.reasons:
            out.append(_table([["reason", "times", "share"]] + [
                [r.label, str(r.count), an.fmt_share(r.share)] for r in side.reasons]))
        else:
            out.append("")
    out.append(f"'{report.wait_reason_label}' by linked wait (perceived against measured):")
    out.append(_table([["wait", "ratings", "named", "share", "of complaints"]] + [
        [b.label, str(b.ratings), str(b.named), an.fmt_share(b.share),
         an.fmt_share(b.share_of_complaints)] for b in report.wait_reason_bands]))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
