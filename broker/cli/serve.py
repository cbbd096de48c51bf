"""`peakend serve`: the aggregator, and with --https/--http the managers' web, in one process.

With ``--https`` the web speaks TLS with the broker folder's web certificate (``tls/web.pem``,
made by ``peakend broker --tls``, see :mod:`peakend.broker.field.tls`), so managers' passwords and
the devices' install scripts never cross the store network in clear; ``--http`` then only
sends browsers on to HTTPS. ``--http`` alone serves the whole web unencrypted, as before.
What runs is :mod:`peakend.broker.hub.server`; this module reads the options and reports."""

from __future__ import annotations

import argparse
import signal
import threading

from peakend.broker.cli.errors import FAILED, USAGE, fail

HELP = "run the aggregator (MQTT -> SQLite or PostgreSQL, acks, alerts) and the web"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peakend serve", description=HELP)
    parser.add_argument("--config", help="hub.toml; options given here override it")
    parser.add_argument("--mqtt", help="aggregator's broker URL (see BROKER_DIR/aggregator.url)")
    parser.add_argument(
        "--db",
        help="hub database: a SQLite file (path or sqlite:///path, created if missing) or "
        "postgresql://user:password@host:port/dbname (schema created or migrated on start)",
    )
    parser.add_argument(
        "--https",
        help="serve the web over HTTPS on HOST:PORT, e.g. 0.0.0.0:8443, with the broker "
        "folder's tls/web.pem (needs --broker-data); --http then only redirects to it",
    )
    parser.add_argument(
        "--http",
        help="serve the web unencrypted on HOST:PORT, e.g. 0.0.0.0:8080 (with --https: "
        "redirects to HTTPS, and /time for peakend doctor)",
    )
    parser.add_argument(
        "--broker-data",
        help="broker folder: its registry.json is the device registry envelopes are checked "
        "against",
    )
    parser.add_argument("--ca-file", help="CA certificate for an mqtts:// broker with a private CA")
    parser.add_argument(
        "--client-id",
        help="MQTT client id, which the broker makes the account's name: one per worker, e.g. "
        "peakend-worker-1 (with --broker-data its account is made on first use; with --mqtt "
        "give that account's URL). Default: the account of the URL",
    )
    parser.add_argument(
        "--shared",
        metavar="GROUP",
        help="consume with an MQTT v5 shared subscription ($share/GROUP/...), for several workers "
        "into one PostgreSQL database",
    )
    parser.add_argument(
        "--no-alerts",
        action="store_true",
        help="do not evaluate alerts in this process (e.g. on all workers of a group but one)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from peakend.broker.device.config import ConfigError, load_config, parse_mqtt_url
    from peakend.broker.hub.aggregator import AggregatorError
    from peakend.broker.hub.db.store import parse_db
    from peakend.broker.hub.server import ServeError, parse_address, start

    config = None
    if args.config:
        try:
            from peakend.broker.hub.config import HubConfig

            config = load_config(args.config, HubConfig)
        except ConfigError as exc:
            return fail("serve", exc, USAGE)
    hub = getattr(config, "hub", None)
    mqtt_url = args.mqtt or getattr(hub, "mqtt_url", None)
    db = args.db or getattr(hub, "db", None)
    http = args.http or getattr(hub, "http", None)
    https = args.https or getattr(hub, "https", None)
    broker_data = args.broker_data or getattr(hub, "broker_data", None)
    if not mqtt_url and broker_data:
        # The broker names every connection by its account (use_username_as_clientid), so
        # a worker's client id is an account of its own, made here on first use.
        from peakend.broker.field.mosquitto import AGGREGATOR_USER, BrokerError, hub_account

        try:
            mqtt_url = hub_account(broker_data, args.client_id or AGGREGATOR_USER)
        except BrokerError as exc:
            return fail("serve", f"--client-id: {exc}", USAGE)
    if not mqtt_url or not db:
        return fail("serve", "no broker or database given; give --mqtt URL and --db PATH (or "
                    "a --config with [hub] mqtt_url and db)", USAGE)
    try:
        parse_db(db)
    except ValueError as exc:
        return fail("serve", f"--db: {exc}", USAGE, urls=[db])
    try:
        account = parse_mqtt_url(mqtt_url).username
    except ValueError as exc:
        return fail("serve", f"--mqtt: {exc}", USAGE, urls=[mqtt_url])
    if args.client_id and account and args.client_id != account:
        return fail("serve", f"--client-id {args.client_id} is not the account of --mqtt "
                    f"({account}): the broker names each connection by its account, so give "
                    "the worker's own account in --mqtt (or --broker-data, which makes it)",
                    USAGE, urls=[mqtt_url])
    for flag, value in (("--http", http), ("--https", https)):
        try:
            if value:
                parse_address(value)
        except ValueError as exc:
            return fail("serve", f"{flag}: {exc}", USAGE)
    if https and not broker_data:
        return fail("serve", "--https needs --broker-data DIR (or [hub] broker_data): its "
                    "tls/web.pem is the web's certificate", USAGE)
    try:
        server = start(
            mqtt_url=mqtt_url,
            db=db,
            http=http,
            https=https,
            broker_data=broker_data,
            config=config,
            client_id=account or args.client_id or "peakend-aggregator",
            shared=args.shared,
            ca_file=args.ca_file,
            alerts=not args.no_alerts,
        )
    except ServeError as exc:
        return fail("serve", exc, USAGE, urls=[mqtt_url, db])
    except AggregatorError as exc:
        return fail("serve", exc, FAILED, urls=[mqtt_url, db])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    code = 0
    try:
        while not stop.wait(1.0):
            if not server.aggregator.alive():
                # Exit so systemd restarts us; nothing un-stored was acked.
                reason = server.aggregator.last_error or "aggregator stopped"
                code = fail("serve", f"{reason}; nothing unstored was acked, start it again "
                            "(systemd does)", FAILED, urls=[mqtt_url, db])
                break
    except KeyboardInterrupt:
        pass
    server.stop()
    return code
