"""`peakend demo`: the options; the store it runs is :mod:`peakend.broker.devtools.demo`."""

from __future__ import annotations

import argparse

from peakend.broker.cli.errors import USAGE, fail

HELP = "the whole store on one machine: broker, aggregator, web, kiosk and camera"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peakend demo", description=HELP)
    parser.add_argument("--data", default="demo-data", help="folder for the demo's files (kept)")
    parser.add_argument("--port", type=int, default=0, help="MQTT port (default: a free one)")
    parser.add_argument("--http", default="127.0.0.1:8080", help="web address (HOST:PORT)")
    parser.add_argument(
        "--duration", type=float, default=0, help="stop after S seconds (0: Ctrl-C)"
    )
    parser.add_argument(
        "--no-window", action="store_true", help="simulated shoppers, no kiosk window"
    )
    parser.add_argument("--history-days", type=int, default=14, help="days of history on first run")
    parser.add_argument("--shoppers-per-min", type=float, default=6.0, help="simulated presses/min")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.devtools.demo import Demo
    from peakend.broker.field.mosquitto import BrokerError

    try:
        return Demo(args).run()
    except BrokerError as exc:
        return fail("demo", exc, USAGE)
