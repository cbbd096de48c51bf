"""`peakend bridge`: the options and what a tech reads; the bridges themselves are
:mod:`peakend.broker.field.bridge`."""

from __future__ import annotations

import argparse
from pathlib import Path

from peakend.broker.cli.errors import USAGE, fail
from peakend.broker.device.config import parse_mqtt_url
from peakend.broker.field.bridge import (
    Bridge,
    add_store_bridge,
    attach_bridge,
    bridge_section,
    examples,
    link_states,
    load_bridges,
)
from peakend.broker.field.mosquitto import BrokerDir, BrokerError, hub_account

HELP = "bridge a store's mosquitto to a chain's central broker (config, accounts, examples)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peakend bridge", description=HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("centre", help="add (or renew) a store bridge's account at the centre")
    c.add_argument("--data", required=True, help="the central broker's folder")
    c.add_argument("--name", required=True, help="bridge name, usually the store id")
    c.add_argument("--store", action="append", help="store id carried (default: the name)")
    s = sub.add_parser("store", help="write the bridge section into a store broker's conf.d")
    s.add_argument("--data", required=True, help="the store broker's folder")
    s.add_argument("--name", required=True, help="bridge name, as given at the centre")
    s.add_argument("--store", action="append", help="store id carried (default: the name)")
    s.add_argument("--centre", required=True, help="the central broker's HOST:PORT")
    s.add_argument("--password", required=True, help="printed by `peakend bridge centre`")
    s.add_argument("--cafile", help="CA of the centre's TLS certificate (then use its TLS port)")
    t = sub.add_parser("status", help="which store bridges are online, as the centre sees it")
    t.add_argument("--data", required=True, help="the central broker's folder")
    w = sub.add_parser("worker", help="an aggregator worker's own account at the centre "
                       "(made once); prints its MQTT URL for `peakend serve --mqtt`")
    w.add_argument("--data", required=True, help="the central broker's folder")
    w.add_argument("--name", required=True, help="the worker's client id and account, "
                   "e.g. peakend-worker-3")
    w.add_argument("--centre", help="the centre as the worker reaches it, e.g. "
                   "mqtts://central.example.net:8883 (default: the hub's own listener, for a "
                   "worker on the centre's machine)")
    e = sub.add_parser("examples", help="write the example files of deploy/bridge")
    e.add_argument("--out", required=True, help="folder to write them to")
    args = parser.parse_args(argv)
    try:
        if args.command == "examples":
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for name, text in examples().items():
                (out / name).write_text(text)
            return 0
        if args.command == "status":
            centre = BrokerDir(Path(args.data).resolve())
            bridges = load_bridges(centre)
            if not bridges:
                print(f"no store bridges at {centre.root} (add one with `peakend bridge centre`)")
                return 1
            states = link_states(centre)
            for name, state in states.items():
                stores = ", ".join(bridges[name].stores) if name in bridges else "(unknown)"
                print(f"{name:<16} {state:<16} {stores}")
            return 0 if all(v == "online" for v in states.values()) else 1
        if args.command == "worker":
            url = parse_mqtt_url(hub_account(args.data, args.name))
            if args.centre:
                centre = parse_mqtt_url(args.centre)
                url = url.model_copy(update={"tls": centre.tls, "host": centre.host,
                                             "port": centre.port})
            scheme = "mqtts" if url.tls else "mqtt"
            # the URL holds the password: it goes to stdout only, for the worker's config
            print(f"{scheme}://{url.username}:{url.password}@{url.host}:{url.port}")
            return 0
        bridge = Bridge(args.name, tuple(args.store or [args.name]))
        if args.command == "centre":
            password = add_store_bridge(BrokerDir(Path(args.data).resolve()), bridge)
            print(password)
            return 0
        section = bridge_section(
            bridge, address=args.centre, password=args.password, cafile=args.cafile
        )
        path = attach_bridge(BrokerDir(Path(args.data).resolve()), section)
        print(f"bridge {bridge.name} written to {path}; restart the store broker "
              "(bridges do not reload)")
        return 0
    except (ValueError, OSError, BrokerError) as exc:
        return fail("bridge", exc, USAGE)
