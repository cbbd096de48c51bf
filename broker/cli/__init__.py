"""The one `peakend` command: hands each subcommand to its module, lazily, so a kiosk Pi never
imports OpenCV and the hub never imports Kivy. The hub's commands live here, one module each
(options, output, exit codes; errors through :mod:`.errors`), calling field/, hub/ and
devtools/; the kiosk and the camera keep their own cli modules."""

from __future__ import annotations

import importlib
import logging
import os
import sys

# name -> (module, one-line help). The help is repeated here so `peakend --help` imports nothing;
# a test keeps each line equal to its module's HELP.
KIOSK_HELP = "the smiley rating touchscreen (or simulated shoppers with --simulate)"
EDGE_HELP = "camera module: measure queue wait and zone dwell from a camera or a recording"

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "peakend.broker.cli.demo",
        "the whole store on one machine: broker, aggregator, web, kiosk and camera",
    ),
    "broker": (
        "peakend.broker.cli.broker",
        "prepare a broker folder and run mosquitto in the foreground",
    ),
    "serve": (
        "peakend.broker.cli.serve",
        "run the aggregator (MQTT -> SQLite or PostgreSQL, acks, alerts) and the web",
    ),
    "provision": (
        "peakend.broker.cli.provision",
        "create a device's credentials, registry entry and config file; prints its MQTT URL",
    ),
    "bridge": (
        "peakend.broker.cli.bridge",
        "bridge a store's mosquitto to a chain's central broker (config, accounts, examples)",
    ),
    "report": ("peakend.broker.cli.report", "zone report in the terminal (table, json or csv)"),
    "user": ("peakend.broker.cli.user", "manage managers' web accounts"),
    "token": ("peakend.broker.cli.token", "personal access tokens for the read-only API"),
    "digest": ("peakend.broker.cli.digest", "a store's day or week in one page, mailed or "
               "written to a file"),
    "channel": ("peakend.broker.cli.channel",
                "send a test message through an alert channel of hub.toml"),
    "contract": ("peakend.broker.cli.contract", "print the wire contract's JSON Schema"),
    "doctor": (
        "peakend.broker.cli.doctor",
        "check a device or hub set-up and say how to fix what fails",
    ),
    "kiosk": ("peakend.kiosk.cli", KIOSK_HELP),
    "edge": ("peakend.edge.cli", EDGE_HELP),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=os.environ.get("PEAKEND_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(version("peakend"))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"peakend: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 (the last line of defence: a sentence first)
        return _unexpected(name, exc)


def _unexpected(name: str, exc: Exception) -> int:
    """A failure no command foresaw: say so in a sentence a tech can act on, then give the
    details for a bug report, with any URL's password masked."""
    import traceback

    from peakend.broker.device.redaction import hide_url_passwords

    what = hide_url_passwords(f"{type(exc).__name__}: {exc}")
    print(
        f"peakend {name}: stopped on an unexpected error ({what}). Run `peakend doctor "
        "--config FILE` for this device or hub; if it finds nothing, report this with the "
        "details below.",
        file=sys.stderr,
    )
    print(hide_url_passwords("".join(traceback.format_exception(exc))), file=sys.stderr)
    return 1


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: peakend COMMAND [options]   (peakend COMMAND --help for its options)", ""]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)

