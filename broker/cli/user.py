"""``peakend user``: managers' web accounts."""

from __future__ import annotations

import argparse
import getpass
import sys

from peakend.broker.cli.errors import USAGE, fail

HELP = "manage managers' web accounts"
DB_HELP = ("the hub's database: a SQLite file (path or sqlite:///path) or "
           "postgresql://user:password@host:port/dbname")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peakend user", description="Create and list the "
                                "managers' web accounts.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", help="create a manager who may see the given stores",
                         description="Create a manager account for the web.")
    add.add_argument("--db", required=True, help=DB_HELP)
    add.add_argument("--store", action="append", required=True,
                     help="a store id the manager may see; repeat for several")
    add.add_argument("name", help="the login name")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input "
                     "(otherwise it is asked for on the terminal)")
    ls = sub.add_parser("list", help="list accounts and their stores",
                        description="List the managers' accounts.")
    ls.add_argument("--db", required=True, help=DB_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.hub.reports.queries import ReportError, open_db
    from peakend.broker.hub.web.auth import UserError, add_user, list_users

    try:
        if args.command == "add":
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            else:
                password = getpass.getpass("Password: ")
                if getpass.getpass("Again: ") != password:
                    raise UserError("the passwords differ")
            conn = open_db(args.db, must_exist=False)
            try:
                user = add_user(conn, args.name, password, args.store)
            finally:
                conn.close()
            print(f"created {user.name} for store(s) {', '.join(user.stores)}")
        else:
            conn = open_db(args.db)
            try:
                for user in list_users(conn):
                    print(f"{user.name}\t{','.join(user.stores)}")
            finally:
                conn.close()
    except (UserError, ReportError) as exc:
        return fail("user", exc, USAGE, urls=[args.db])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
