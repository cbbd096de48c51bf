"""`peakend doctor`: the options, the table a tech reads (or JSON) and the exit code: 1 when a
check failed. The checks are :mod:`peakend.broker.field.doctor`'s; a device's own (display
and touch, camera frames) come from its package, imported here only for its role."""

from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peakend.broker.device.checks import Check
    from peakend.broker.field.doctor import DeviceRole

HELP = "check a device or hub set-up and say how to fix what fails"

# [device] role -> the module with that role's own checks.
ROLE_CHECKS = {"kiosk": "peakend.kiosk.doctor", "edge": "peakend.edge.doctor"}
DEFAULT_CONFIGS = (Path("/etc/peakend/kiosk.toml"), Path("/etc/peakend/edge.toml"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="peakend doctor", description=HELP)
    p.add_argument("--config", type=Path, help="a device's kiosk.toml or edge.toml")
    p.add_argument("--hub", type=Path, metavar="DIR", help="check a hub: its broker folder")
    p.add_argument("--db", type=Path, help="with --hub: the hub database to check")
    p.add_argument(
        "--hub-web",
        help="the hub's web for the clock check, e.g. http://hub.local:8080 or "
        "https://hub.local:8443 (default: the broker's host, port 8080)",
    )
    p.add_argument("--no-camera", action="store_true", help="edge: skip opening the camera")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.config and not args.hub:
        default = next((p for p in DEFAULT_CONFIGS if p.exists()), None)
        if default is None:
            parser.error("give --config FILE (a device) or --hub DIR (the hub)")
        args.config = default
    from peakend.broker.field.doctor import check_device, check_hub

    if args.config:
        checks = check_device(args.config, role_checks, hub_web=args.hub_web,
                              camera=not args.no_camera)
    else:
        checks = check_hub(args.hub, db=args.db, web=args.hub_web)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(render(checks))
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def role_checks(role: str) -> DeviceRole | None:
    """The role's own checks, imported only now: a kiosk never loads the camera's code."""
    name = ROLE_CHECKS.get(role)
    return importlib.import_module(name) if name else None  # type: ignore[return-value]


def render(checks: list[Check]) -> str:
    """A plain table: check, result, what was found; fixes below their row."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'CHECK'.ljust(width)}  RESULT  DETAIL", f"{'-' * width}  ------  ------"]
    for c in checks:
        lines.append(f"{c.name.ljust(width)}  {c.status.ljust(6)}  {c.detail}")
        if c.fix and c.status in ("FAIL", "WARN"):
            lines.append(f"{' ' * width}          fix: {c.fix}")
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    lines.append("")
    lines.append("all good" if not failed and not warned
                 else f"{failed} failed, {warned} warning(s)")
    return "\n".join(lines)
