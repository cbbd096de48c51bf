"""``peakend user``: managers' web accounts (add, list, remove, reset a password)."""

from __future__ import annotations

import argparse
import getpass
import sys

from peakend.broker.cli.errors import USAGE, fail
from peakend.broker.hub.i18n import LANGUAGES

HELP = "manage managers' web accounts"
DB_HELP = ("the hub's database: a SQLite file (path or sqlite:///path) or "
           "postgresql://user:password@host:port/dbname")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peakend user", description="Create, list and remove the "
                                "managers' web accounts, and replace a forgotten password.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", help="create a manager who may see the given stores",
                         description="Create a manager account for the web. A store must be "
                         "one the hub knows (in hub.toml's [[stores]], or one a device has sent "
                         "from), so a mistyped id is caught here.")
    add.add_argument("--db", required=True, help=DB_HELP)
    add.add_argument("--store", action="append", required=True,
                     help="a store id the manager may see; repeat for several")
    add.add_argument("name", help="the login name")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input "
                     "(otherwise it is asked for on the terminal)")
    add.add_argument("--admin", action="store_true",
                     help="may also add, remove and reset other accounts in the web")
    add.add_argument("--language", choices=sorted(LANGUAGES),
                     help="the language of the user's web pages (default: their browser's; "
                     "they can change it in the page header)")
    add.add_argument("--config", help="hub.toml, whose [[stores]] the hub knows")
    ls = sub.add_parser("list", help="list accounts and their stores",
                        description="List the managers' accounts.")
    ls.add_argument("--db", required=True, help=DB_HELP)
    rm = sub.add_parser("remove", help="delete an account and end its sessions",
                        description="Delete a manager account; its sessions end at once.")
    rm.add_argument("--db", required=True, help=DB_HELP)
    rm.add_argument("name", help="the login name")
    reset = sub.add_parser(
        "reset-password", help="print a one-time link that sets a new password",
        description="Print a link that lets the user set a new password, once, within "
        "--hours; using it logs the user out everywhere. Nothing is sent: pass the link on.")
    reset.add_argument("--db", required=True, help=DB_HELP)
    reset.add_argument("name", help="the login name")
    reset.add_argument("--url", default="https://HUB:8443",
                       help="the web's address as managers open it, e.g. https://hub.local:8443")
    reset.add_argument("--hours", type=float, default=24.0,
                       help="how long the link works (default 24)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.hub.reports.queries import ReportError, open_db
    from peakend.broker.hub.web.auth import UserError

    try:
        if args.command == "add":
            return _add(args)
        conn = open_db(args.db, must_exist=args.command == "list",
                       migrate=args.command != "list")
        try:
            if args.command == "list":
                from peakend.broker.hub.web.auth import list_users

                for user in list_users(conn):
                    role = "\tadmin" if user.admin else ""
                    print(f"{user.name}\t{','.join(user.stores)}{role}")
            elif args.command == "remove":
                from peakend.broker.hub.web.auth import remove_user

                remove_user(conn, args.name)
                print(f"removed {args.name}; their sessions have ended")
            else:
                from peakend.broker.hub.web.auth import start_reset

                if not 0 < args.hours <= 24 * 14:
                    raise UserError("--hours must be more than 0 and at most 336 (14 days)")
                token = start_reset(conn, args.name, args.hours)
                print(f"{args.url.rstrip('/')}/reset/{token}")
                print(f"(works once, for {args.hours:g} hours; pass it to {args.name} privately)",
                      file=sys.stderr)
        finally:
            conn.close()
    except (UserError, ReportError) as exc:
        return fail("user", exc, USAGE, urls=[args.db])
    return 0


def _add(args: argparse.Namespace) -> int:
    from peakend.broker.hub.reports.queries import open_db
    from peakend.broker.hub.web.auth import (
        UserError,
        add_user,
        stores_with_devices,
        unknown_stores,
    )

    known = set()
    if args.config:
        from peakend.broker.device.config import ConfigError, load_config
        from peakend.broker.hub.config import HubConfig

        try:
            known |= {s.id for s in load_config(args.config, HubConfig).stores}
        except ConfigError as exc:
            raise UserError(str(exc)) from None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UserError("the passwords differ")
    conn = open_db(args.db, must_exist=False)
    try:
        known |= stores_with_devices(conn)
        unknown = unknown_stores(args.store, known)
        if unknown:
            raise UserError(
                f"the hub knows no store {', '.join(map(repr, unknown))} (it knows "
                f"{', '.join(sorted(known))}): check the spelling, or add the store to "
                "hub.toml's [[stores]] and pass --config")
        user = add_user(conn, args.name, password, args.store, admin=args.admin,
                        language=args.language)
    finally:
        conn.close()
    role = " (admin)" if user.admin else ""
    print(f"created {user.name}{role} for store(s) {', '.join(user.stores)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
