"""`peakend contract schema`: the wire contract for people writing their own devices."""

from __future__ import annotations

import argparse
import json

from peakend.broker.wire.contract import json_schema

HELP = "print the wire contract's JSON Schema"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peakend contract", description=HELP)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("schema", help="print the JSON Schema of envelope, status and ack")
    parser.parse_args(argv)
    print(json.dumps(json_schema(), indent=2))
    return 0
