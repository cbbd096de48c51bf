"""``peakend digest``: a store's day or week in one page, mailed or written to a file."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from peakend.broker.cli.errors import USAGE, fail

HELP = "a store's day or week in one page, mailed or written to a file"
DB_HELP = ("the hub's database: a SQLite file (path or sqlite:///path) or "
           "postgresql://user:password@host:port/dbname")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="peakend digest", description="A store's digest: per zone the Happy Index and "
        "its change on the period before, ratings, unhappy presses, waits and the alerts with "
        "their causes. Without --to or --out it prints the text version.")
    p.add_argument("--db", help=DB_HELP + " (default: hub.toml's [hub] db)")
    p.add_argument("--config", help="hub.toml: the store's time zone, the web's address for "
                   "links, and the mail channel for --to")
    p.add_argument("--store", required=True, help="the store id, e.g. s001")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", help="a store-local day, YYYY-MM-DD (default: yesterday)")
    when.add_argument("--week", help="an ISO week, YYYY-Www, e.g. 2026-W10 (Monday to Sunday)")
    p.add_argument("--to", action="append", metavar="ADDR",
                   help="mail it to this address (repeat for several), through hub.toml's "
                   "email channel")
    p.add_argument("--channel", help="which [[delivery.channels]] email channel sends it "
                   "(default: the first)")
    p.add_argument("--out", metavar="FILE.html", help="write the HTML version to this file")
    p.add_argument("--language", help="en or zh-Hans: the language it is written in "
                   "(default: the store's, hub.toml's [[stores]] language, else English)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.device.config import ConfigError, load_config
    from peakend.broker.hub.config import DEFAULT, EmailChannel, HubConfig
    from peakend.broker.hub.delivery.senders import SendError, send_mail
    from peakend.broker.hub.i18n import LANGUAGES
    from peakend.broker.hub.reports.digest import (
        DigestError,
        build_digest,
        chart_images,
        day_period,
        last_period,
        render_html,
        render_text,
        week_period,
    )
    from peakend.broker.hub.reports.queries import ReportError, open_db

    try:
        config = load_config(args.config, HubConfig) if args.config else DEFAULT
        db = args.db or (config.hub.db if args.config else None)
        if not db:
            raise DigestError("give --db, or a --config whose [hub] db names the database")
        if args.language is not None and args.language not in LANGUAGES:
            spoken = ", ".join(f"{tag} ({name})" for tag, name in LANGUAGES.items())
            raise DigestError(f"--language {args.language!r} is not a language the hub writes "
                              f"in; give one of {spoken}")
        tz = config.timezone(args.store)
        if args.day:
            period = day_period(args.day, tz)
        elif args.week:
            period = week_period(args.week, tz)
        else:
            period = last_period("day", tz, datetime.now(UTC))
        channel = None
        if args.to:
            mails = [c for c in config.delivery.channels if isinstance(c, EmailChannel)
                     and (args.channel is None or c.name == args.channel)]
            if not mails:
                raise DigestError(
                    f"--to needs an email channel{' named ' + args.channel if args.channel else ''}"
                    " in hub.toml's [[delivery.channels]]; give --config with one")
            channel = mails[0]
        conn = open_db(db)
        try:
            digest = build_digest(conn, config, args.store, period, args.language)
        finally:
            conn.close()
        if args.out:
            # charts as data: URIs, which a browser shows from a file
            Path(args.out).write_text(render_html(digest), encoding="utf-8")
            print(f"wrote {args.out}", file=sys.stderr)
        if channel is not None:
            send_mail(channel, digest.title, render_text(digest),
                      html=render_html(digest, cid=True), images=chart_images(digest), to=args.to,
                      message_id=f"<peakend-digest-{args.store}-{period.key}-"
                      f"{int(datetime.now(UTC).timestamp())}@peakend>")
            print(f"sent to {', '.join(args.to)} through {channel.name}", file=sys.stderr)
        if not args.out and channel is None:
            print(render_text(digest), end="")
    except (ConfigError, DigestError, ReportError, SendError) as exc:
        return fail("digest", exc, USAGE, urls=[args.db])
    return 0
