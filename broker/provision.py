"""`peakend provision`: give a new device an account, a registry entry and a ready config file.

The device's password is random (24 bytes, URL-safe) and shown once, inside its MQTT URL and
its config file; the broker keeps only a PBKDF2 hash. A running broker of the same folder is
told to re-read its password file, so the device can connect at once.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from peakend.broker.contract import ROLES, is_slug
from peakend.broker.mosquitto import (
    AGGREGATOR_USER,
    BrokerDir,
    BrokerError,
    load_registry,
    new_password,
    reload_running_broker,
    save_registry,
    set_password,
)

HELP = "create a device's credentials, registry entry and config file; prints its MQTT URL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peakend provision", description=HELP)
    parser.add_argument("--data", required=True, help="the broker folder (as for `peakend broker`)")
    parser.add_argument("--id", required=True, help="device id, also its MQTT user, e.g. kiosk-01")
    parser.add_argument("--store", required=True, help="store id, e.g. s001")
    parser.add_argument(
        "--zone",
        action="append",
        default=[],
        help="zone id the device rates or watches; repeat (or comma-separate) for a camera",
    )
    parser.add_argument("--role", required=True, choices=ROLES, help="kiosk or edge")
    parser.add_argument(
        "--host",
        default=None,
        help="host name or address devices use to reach the hub (default: this machine's name)",
    )
    parser.add_argument("--port", type=int, default=None, help="broker port (default: its own)")
    parser.add_argument(
        "--out", default=None, help="where to write the device config (default DIR/devices/ID.toml)"
    )
    args = parser.parse_args(argv)
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
        )
    except (BrokerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"device {args.id} ({args.role}) registered for store {args.store}, zones {', '.join(zones)}")
    print(f"config written to {result.config_path}")
    if not result.reloaded:
        print("note: no running broker for this folder was told; start it with `peakend broker`")
    print(result.url)
    return 0


class Provisioned:
    def __init__(self, url: str, config_path: Path, reloaded: bool) -> None:
        self.url = url
        self.config_path = config_path
        self.reloaded = reloaded


def provision(
    data: Path,
    *,
    device_id: str,
    store: str,
    zones: list[str],
    role: str,
    host: str | None = None,
    port: int | None = None,
    out: Path | None = None,
) -> Provisioned:
    d = BrokerDir(data.resolve())
    if not d.conf.exists():
        raise BrokerError(f"{d.root} is not a broker folder: run `peakend broker --data {d.root}` first")
    for label, value in [("id", device_id), ("store", store), *[("zone", z) for z in zones]]:
        if not is_slug(value):
            raise ValueError(
                f"--{label} {value!r}: use lowercase letters, digits and dashes (e.g. kiosk-01)"
            )
    if device_id == AGGREGATOR_USER:
        raise ValueError(f"--id {device_id!r} is reserved for the hub")
    if role not in ROLES:
        raise ValueError(f"--role must be one of {', '.join(ROLES)}")
    if not zones:
        raise ValueError("give at least one --zone (the zone the device rates or watches)")
    if role == "kiosk" and len(zones) != 1:
        raise ValueError("a kiosk rates exactly one zone: give one --zone")

    reloaded = register_device(d, device_id=device_id, store=store, zones=zones, role=role)
    password = reloaded.password
    broker_port = port or int(d.port_file.read_text().strip())
    url = f"mqtt://{device_id}:{password}@{host or socket.gethostname()}:{broker_port}"
    config = fill_example(
        role,
        device={"id": device_id, "store": store, "role": role, "zone": zones[0]},
        mqtt={"url": url},
    )
    path = out or d.devices / f"{device_id}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    path.chmod(0o600)
    return Provisioned(url, path, reloaded.broker_told)


class Registered:
    def __init__(self, password: str, broker_told: bool) -> None:
        self.password = password
        self.broker_told = broker_told


def register_device(d: BrokerDir, *, device_id: str, store: str, zones: list[str], role: str) -> Registered:
    """A fresh random password (hashed into the broker's file) and the registry entry."""
    password = new_password()
    set_password(d, device_id, password)
    registry = load_registry(d.registry)
    registry[device_id] = {
        "store": store,
        "zones": zones,
        "role": role,
        "revoked": False,
        "provisioned_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_registry(d.registry, registry)
    return Registered(password, reload_running_broker(d))


def example_text(role: str) -> str:
    return resources.files("peakend.deploy").joinpath("examples", f"{role}.toml").read_text()


def fill_example(role: str, **sections: dict[str, str]) -> str:
    """The role's documented example with the given keys of the given sections filled in."""
    return fill_toml(example_text(role), sections)


_HEADER = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$")
_KEY = re.compile(r"^(\s*#?\s*)([A-Za-z0-9_]+)(\s*=\s*)(.*)$")


def fill_toml(text: str, sections: dict[str, dict[str, str]]) -> str:
    """Replace (or uncomment) ``key = ...`` lines inside ``[section]`` blocks, keeping comments."""
    out, current, done = [], None, set()
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(1)
        else:
            key = _KEY.match(line)
            wanted = sections.get(current or "", {})
            if key and key.group(2) in wanted and (current, key.group(2)) not in done:
                commented = "#" in key.group(1)
                # Only a commented line that looks like a setting, not prose that contains "=".
                if not commented or key.group(1).strip() == "#":
                    value = wanted[key.group(2)]
                    line = f'{key.group(2)} = "{value}"'
                    done.add((current, key.group(2)))
        out.append(line)
    return "\n".join(out) + "\n"
