"""``peakend token``: personal access tokens of the read-only API (add, list, revoke)."""

from __future__ import annotations

import argparse
import sys

from peakend.broker.cli.errors import USAGE, fail

HELP = "personal access tokens for the read-only API"
DB_HELP = ("the hub's database: a SQLite file (path or sqlite:///path) or "
           "postgresql://user:password@host:port/dbname")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peakend token", description="Make, list and revoke a "
                                "web account's personal access tokens for the read-only API "
                                "(/api/v1). A token reads the account's stores only.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", help="make a token and print it (shown only this once)",
                         description="Make a token for USER's stores and print it; only its "
                         "hash is kept, so it cannot be shown again.")
    add.add_argument("--db", required=True, help=DB_HELP)
    add.add_argument("--user", required=True, help="the web account the token reads as")
    add.add_argument("--name", default="api", help="what the token is for, e.g. power-bi")
    ls = sub.add_parser("list", help="list an account's tokens",
                        description="List USER's tokens: id, name, first characters, made, "
                        "revoked.")
    ls.add_argument("--db", required=True, help=DB_HELP)
    ls.add_argument("--user", required=True, help="the web account")
    rm = sub.add_parser("revoke", help="revoke a token at once",
                        description="Revoke one of USER's tokens; it answers 401 from the next "
                        "request on.")
    rm.add_argument("--db", required=True, help=DB_HELP)
    rm.add_argument("--user", required=True, help="the web account")
    rm.add_argument("id", type=int, help="the token's id (peakend token list shows it)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.hub.reports.queries import ReportError, open_db
    from peakend.broker.hub.web.auth import UserError
    from peakend.broker.hub.web.tokens import create_token, list_tokens, revoke_token

    try:
        conn = open_db(args.db, must_exist=True, migrate=args.command != "list")
        try:
            if args.command == "add":
                info, secret = create_token(conn, args.user, args.name)
                print(secret)
                print(f"(token {info.id} of {args.user}; shown only this once)",
                      file=sys.stderr)
            elif args.command == "list":
                for t in list_tokens(conn, args.user):
                    state = f"revoked {t.revoked_at}" if t.revoked_at else "live"
                    print(f"{t.id}\t{t.name}\t{t.prefix}...\t{t.created_at}\t{state}")
            else:
                info = revoke_token(conn, args.user, args.id)
                print(f"revoked token {info.id} ({info.name}) of {args.user}")
        finally:
            conn.close()
    except (UserError, ReportError) as exc:
        return fail("token", exc, USAGE, urls=[args.db])
    return 0
