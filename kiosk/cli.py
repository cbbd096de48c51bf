"""`peakend kiosk`: the smiley touchscreen, or simulated shoppers without a screen."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from peakend.kiosk.settings import ConfigError, load_kiosk_config, state_path

log = logging.getLogger("peakend.kiosk")

HELP = "the smiley rating touchscreen (or simulated shoppers with --simulate)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peakend kiosk",
        description="Run the exit-rating kiosk: four smileys, an optional follow-up, a "
        "thank-you. Every press is on disk before the screen moves on and reaches the hub "
        "whenever the broker is reachable.",
    )
    parser.add_argument(
        "--config", required=True, type=Path, metavar="PATH",
        help="kiosk.toml (see deploy/examples/kiosk.toml); checked before anything starts",
    )
    parser.add_argument(
        "--check", action="store_true",
        help="only check the config file and exit (0 when it is usable)",
    )
    parser.add_argument(
        "--windowed", action="store_true",
        help="use a window of the configured size instead of full screen (to try it on a desktop)",
    )
    parser.add_argument(
        "--simulate", type=float, metavar="PER_MIN", default=None,
        help="no window: simulated shoppers press through the same flow and link at this many "
        "visits per minute, until Ctrl-C or --duration",
    )
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", default=None,
        help="with --simulate: stop after this many seconds",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_kiosk_config(args.config)
    except ConfigError as exc:
        print(f"peakend kiosk: the config cannot be used, so the kiosk will not start.\n{exc}",
              file=sys.stderr)
        return 2
    for advice in config.advice():
        print(f"warning: {args.config}: {advice}", file=sys.stderr)
    if args.check:
        print(f"{args.config}: ok (kiosk {config.device.id}, store {config.device.store}, "
              f"zone {config.device.zone})")
        return 0
    if args.simulate is not None:
        return _simulate(args, config)
    if args.windowed:
        config = config.model_copy(
            update={"screen": config.screen.model_copy(update={"fullscreen": False})}
        )
    # The kiosk speaks first: a tech reading the journal sees which kiosk started before
    # any line of the toolkit's.
    d = config.device
    log.info("kiosk %s starting (store %s, zone %s)", d.id, d.store, d.zone)
    from peakend.kiosk.display import prepare_kivy

    prepare_kivy(config.screen, state_path(args.config, ".kivy"))
    from peakend.kiosk.app import KioskApp
    from peakend.kiosk.station import Station

    app = KioskApp(Station.open(args.config, config))
    # systemd stops the kiosk with SIGTERM: leave through the app so a press waiting for its
    # reason is sent now (the journal would send it at the next start anyway).
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    try:
        app.run()
    except KeyboardInterrupt:
        app.stop()
    return 0


def _simulate(args: argparse.Namespace, config: object) -> int:
    from peakend.kiosk.simulate import run_simulated_shoppers

    if args.simulate <= 0:
        print("peakend kiosk: --simulate needs a rate above 0 visits per minute", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.duration:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    result = run_simulated_shoppers(args.config, stop, args.simulate, config=config)  # type: ignore[arg-type]
    print(f"simulated {result.presses} press(es); {result.delivered} rating(s) in the outbox")
    return 0
