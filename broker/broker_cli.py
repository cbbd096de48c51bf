"""`peakend broker`: prepare the broker folder on first run, then run mosquitto in the
foreground (for systemd), passing signals on and exiting with its code."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from peakend.broker.mosquitto import BrokerError, Mosquitto, prepare

HELP = "prepare a broker folder and run mosquitto in the foreground"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peakend broker", description=HELP)
    parser.add_argument("--data", required=True, help="broker folder (config, passwords, persistence)")
    parser.add_argument("--port", type=int, default=1883, help="MQTT port (default 1883)")
    parser.add_argument(
        "--bind", default="0.0.0.0", help="address to listen on (default all; 127.0.0.1 for local only)"
    )
    parser.add_argument("--prepare-only", action="store_true", help="write the folder and exit")
    args = parser.parse_args(argv)
    try:
        d = prepare(Path(args.data), port=args.port, bind=args.bind)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"broker folder ready: {d.root}")
    print(f"aggregator URL in {d.aggregator_url}")
    if args.prepare_only:
        return 0
    broker = Mosquitto(d, port=args.port, host="127.0.0.1" if args.bind in ("0.0.0.0", "::") else args.bind)
    try:
        broker.start(quiet=False)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"mosquitto listening on {args.bind}:{args.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: broker.stop())
    signal.signal(signal.SIGHUP, lambda *_: broker.reload())
    try:
        assert broker.proc is not None
        return broker.proc.wait()
    except KeyboardInterrupt:
        broker.stop()
        return 0
