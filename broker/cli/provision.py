"""`peakend provision`: the options and what a tech reads; creating and revoking devices is
:mod:`peakend.broker.field.provision`."""

from __future__ import annotations

import argparse
from pathlib import Path

from peakend.broker.cli.errors import USAGE, fail
from peakend.broker.field import install
from peakend.broker.field.mosquitto import BrokerDir, BrokerError
from peakend.broker.field.provision import provision, revoke
from peakend.broker.wire.contract import ROLES

HELP = "create a device's credentials, registry entry and config file; prints its MQTT URL"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peakend provision",
        description=HELP + ". With --revoke ID: lock a device out at once.",
    )
    parser.add_argument("--data", required=True, help="the broker folder (as for `peakend broker`)")
    parser.add_argument("--id", help="device id, also its MQTT user, e.g. kiosk-01")
    parser.add_argument("--store", help="store id, e.g. s001")
    parser.add_argument(
        "--zone",
        action="append",
        default=[],
        help="zone id the device rates or watches; repeat (or comma-separate) for a camera",
    )
    parser.add_argument(
        "--new-zone",
        action="store_true",
        help="accept a zone no other device of the store has yet (otherwise refused as a "
        "likely typo once the store has zones)",
    )
    parser.add_argument("--role", choices=ROLES, help="kiosk or edge")
    parser.add_argument(
        "--host",
        default=None,
        help="host name or address devices use to reach the hub (default: this machine's name)",
    )
    parser.add_argument("--port", type=int, default=None, help="broker port (default: its own)")
    parser.add_argument(
        "--out", default=None, help="where to write the device config (default DIR/devices/ID.toml)"
    )
    parser.add_argument(
        "--web-url",
        default=None,
        help="the hub's web as the Pi reaches it, for the install command (default: "
        "https://HOST:PORT of the running `peakend serve --https`, else https://HOST:8443 when "
        "the folder has the web's certificate, else http://HOST:8080)",
    )
    parser.add_argument(
        "--install-minutes",
        type=float,
        default=install.DEFAULT_TTL_S / 60,
        help="how long the install command works (default 30 minutes; it works once)",
    )
    parser.add_argument(
        "--revoke",
        metavar="ID",
        help="lock device ID out now: remove its password, drop its connection, mark it revoked",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.revoke:
        try:
            result = revoke(BrokerDir(Path(args.data).resolve()), args.revoke)
        except (BrokerError, ValueError, OSError) as exc:
            return fail("provision", exc, USAGE)
        print(f"device {args.revoke} revoked: its password is gone and the registry marks it")
        if result.disconnected:
            print("its connection was dropped and its broker session deleted")
        else:
            print(f"note: could not reach the broker ({result.note}); it refuses the device once "
                  "it is (re)started")
        return 0
    missing = [f"--{name}" for name in ("id", "store", "role") if not getattr(args, name)]
    if missing:
        parser.error(f"give {', '.join(missing)} (or --revoke ID)")
    zones = [z.strip() for value in args.zone for z in value.split(",") if z.strip()]
    try:
        result = provision(
            Path(args.data),
            device_id=args.id,
            store=args.store,
            zones=zones,
            role=args.role,
            host=args.host,
            port=args.port,
            out=Path(args.out) if args.out else None,
            web_url=args.web_url,
            install_ttl_s=args.install_minutes * 60,
            new_zone=args.new_zone,
        )
    except (BrokerError, ValueError, OSError) as exc:
        return fail("provision", exc, USAGE)
    print(f"device {args.id} ({args.role}) registered for store {args.store}, "
          f"zones {', '.join(zones)}")
    print(f"config written to {result.config_path}")
    if result.ca_path:
        print(f"hub CA (for mqtts) written to {result.ca_path}")
    if not result.reloaded:
        print("note: no running broker for this folder was told; start it with `peakend broker`")
    if result.install:
        if result.install_command.startswith("curl -fsS http://"):
            print("note: the install command uses plain HTTP: anyone on the store network can "
                  "read the device's password in the script; serve the web with --https "
                  "(GUIDE.md, section A)")
        minutes = args.install_minutes
        print(f"on the Pi, paste this within {minutes:g} minutes (it works once):")
        print(f"  {result.install_command}")
    if result.technician_pin:
        print(f"technician PIN of {args.id}: {result.technician_pin}  (shown only now: note it "
              "for the store's techs; the kiosk keeps only its hash)")
    print(result.url)
    return 0
