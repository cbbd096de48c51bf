"""`peakend serve`: the aggregator, and with --http the managers' web, in one process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from peakend.broker.aggregator import Aggregator, AggregatorError
from peakend.broker.config import ConfigError, load_config, parse_mqtt_url
from peakend.broker.store import parse_db

HELP = "run the aggregator (MQTT -> SQLite or PostgreSQL, acks, alerts) and the web"
log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peakend serve", description=HELP)
    parser.add_argument("--config", help="hub.toml; options given here override it")
    parser.add_argument("--mqtt", help="aggregator's broker URL (see BROKER_DIR/aggregator.url)")
    parser.add_argument(
        "--db",
        help="hub database: a SQLite file (path or sqlite:///path, created if missing) or "
        "postgresql://user:password@host:port/dbname (schema created or migrated on start)",
    )
    parser.add_argument("--http", help="serve the web on HOST:PORT, e.g. 0.0.0.0:8080")
    parser.add_argument(
        "--broker-data",
        help="broker folder: its registry.json is the device registry envelopes are checked "
        "against",
    )
    parser.add_argument("--ca-file", help="CA certificate for an mqtts:// broker with a private CA")
    parser.add_argument(
        "--client-id", default="peakend-aggregator", help="MQTT client id (one per worker)"
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
    args = parser.parse_args(argv)
    config = None
    if args.config:
        try:
            from peakend.broker.hub_config import HubConfig

            config = load_config(args.config, HubConfig)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    hub = getattr(config, "hub", None)
    mqtt_url = args.mqtt or getattr(hub, "mqtt_url", None)
    db = args.db or getattr(hub, "db", None)
    http = args.http or getattr(hub, "http", None)
    broker_data = args.broker_data or getattr(hub, "broker_data", None)
    if not mqtt_url and broker_data:
        mqtt_url = (Path(broker_data) / "aggregator.url").read_text().strip()
    if not mqtt_url or not db:
        print(
            "error: give --mqtt URL and --db PATH (or a --config with [hub] mqtt_url and db)",
            file=sys.stderr,
        )
        return 2
    try:
        parse_db(db)
    except ValueError as exc:
        print(f"error: --db: {exc}", file=sys.stderr)
        return 2
    try:
        parse_mqtt_url(mqtt_url)
    except ValueError as exc:
        print(f"error: --mqtt: {exc}", file=sys.stderr)
        return 2
    try:
        server = start(
            mqtt_url=mqtt_url,
            db=db,
            http=http,
            broker_data=broker_data,
            config=config,
            client_id=args.client_id,
            shared=args.shared,
            ca_file=args.ca_file,
            alerts=not args.no_alerts,
        )
    except AggregatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    code = 0
    try:
        while not stop.wait(1.0):
            if not server.aggregator.alive():
                # Exit so systemd restarts us; nothing un-stored was acked.
                reason = server.aggregator.last_error or "aggregator stopped"
                print(f"error: {reason}", file=sys.stderr)
                code = 1
                break
    except KeyboardInterrupt:
        pass
    server.stop()
    return code


class Server:
    def __init__(self, aggregator: Aggregator, web: Any | None) -> None:
        self.aggregator = aggregator
        self.web = web

    def stop(self) -> None:
        if self.web is not None:
            self.web.should_exit = True
        self.aggregator.stop()


def start(
    *,
    mqtt_url: str,
    db: str,
    http: str | None = None,
    broker_data: str | None = None,
    config: Any = None,
    client_id: str = "peakend-aggregator",
    shared: str | None = None,
    ca_file: str | None = None,
    alerts: bool = True,
) -> Server:
    aggregator = Aggregator(
        mqtt_url,
        db,
        registry_path=Path(broker_data) / "registry.json" if broker_data else None,
        client_id=client_id,
        shared_group=shared,
        ca_file=ca_file,
    )
    aggregator.start()  # the writer process creates or migrates the database first
    if alerts:
        from peakend.broker.alerts import AlertMonitor

        aggregator.periodic = AlertMonitor(db, config).check
    web = None
    if http:
        import uvicorn

        from peakend.broker.web import create_app

        host, _, port = http.rpartition(":")
        web = uvicorn.Server(
            uvicorn.Config(
                create_app(db, config, broker_data=broker_data),
                host=host or "127.0.0.1",
                port=int(port),
                log_level="warning",
            )
        )
        threading.Thread(target=web.run, name="web", daemon=True).start()
        log.info("web on http://%s:%s/", host or "127.0.0.1", port)
    return Server(aggregator, web)
