"""`peakend serve`: the aggregator, and with --https/--http the managers' web, in one process.

With ``--https`` the web speaks TLS with the broker folder's web certificate (``tls/web.pem``,
made by ``peakend broker --tls``, see :mod:`peakend.broker.field.tls`), so managers' passwords and
the devices' install scripts never cross the store network in clear; ``--http`` then only
sends browsers on to HTTPS. ``--http`` alone serves the whole web unencrypted, as before."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from peakend.broker.device.config import ConfigError, load_config, parse_mqtt_url
from peakend.broker.hub.aggregator import Aggregator, AggregatorError
from peakend.broker.hub.db.store import parse_db

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
            from peakend.broker.hub.config import HubConfig

            config = load_config(args.config, HubConfig)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    hub = getattr(config, "hub", None)
    mqtt_url = args.mqtt or getattr(hub, "mqtt_url", None)
    db = args.db or getattr(hub, "db", None)
    http = args.http or getattr(hub, "http", None)
    https = args.https or getattr(hub, "https", None)
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
    for flag, value in (("--http", http), ("--https", https)):
        try:
            if value:
                parse_address(value)
        except ValueError as exc:
            print(f"error: {flag}: {exc}", file=sys.stderr)
            return 2
    if https and not broker_data:
        print("error: --https needs --broker-data DIR (or [hub] broker_data): its tls/web.pem "
              "is the web's certificate", file=sys.stderr)
        return 2
    try:
        server = start(
            mqtt_url=mqtt_url,
            db=db,
            http=http,
            https=https,
            broker_data=broker_data,
            config=config,
            client_id=args.client_id,
            shared=args.shared,
            ca_file=args.ca_file,
            alerts=not args.no_alerts,
        )
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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


class ServeError(RuntimeError):
    pass


class Server:
    def __init__(self, aggregator: Aggregator, webs: list[Any]) -> None:
        self.aggregator = aggregator
        self.webs = webs
        # the web with the pages (the HTTPS one when there are two)
        self.web = webs[0] if webs else None

    def stop(self) -> None:
        for web in self.webs:
            web.should_exit = True
        self.aggregator.stop()


def parse_address(value: str) -> tuple[str, int]:
    """HOST:PORT (HOST may be empty: loopback) as the web listens on it."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT, e.g. 0.0.0.0:8443")
    return host.strip("[]") or "127.0.0.1", int(port)


def web_certificate(broker_data: str | Path, host: str) -> tuple[Path, Path]:
    """The web's certificate and key from the broker folder, made if missing and this user
    may (the folder's owner; on a hub ``peakend broker --tls`` makes them as root)."""
    import ssl

    from peakend.broker.field.mosquitto import BrokerDir, BrokerError
    from peakend.broker.field.tls import ensure_web_cert, web_files

    d = BrokerDir(Path(broker_data).resolve())
    web = web_files(d)
    if not (web.cert.exists() and web.key.exists()):
        try:
            ensure_web_cert(d, [] if host in ("0.0.0.0", "::") else [host])
        except (BrokerError, OSError) as exc:
            raise ServeError(
                f"the web has no certificate in {d.tls_dir} and none can be made here ({exc}); "
                "start the broker with --tls once (GUIDE.md, section A), which makes it"
            ) from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(web.cert, web.key)
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(
            f"cannot use {web.cert} with {web.key}: {exc}; the key must be readable by the "
            "user the web runs as (`sudo systemctl restart peakend-broker` hands it to peakend)"
        ) from None
    return web.cert, web.key


def start(
    *,
    mqtt_url: str,
    db: str,
    http: str | None = None,
    https: str | None = None,
    broker_data: str | None = None,
    config: Any = None,
    client_id: str = "peakend-aggregator",
    shared: str | None = None,
    ca_file: str | None = None,
    alerts: bool = True,
) -> Server:
    tls: tuple[Path, Path] | None = None
    if https:
        if not broker_data:
            raise ServeError("--https needs the broker folder (--broker-data)")
        tls = web_certificate(broker_data, parse_address(https)[0])
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
        from peakend.broker.hub.reports.alerts import AlertMonitor

        aggregator.periodic = AlertMonitor(db, config).check
    webs: list[Any] = []
    if http or https:
        from peakend.broker.hub.web.app import create_app, create_redirect_app

        app = create_app(db, config, broker_data=broker_data)
        if https and tls:
            host, port = parse_address(https)
            webs.append(_run_web(app, host, port, tls))
            log.info("web on https://%s:%s/", host, port)
        if http:
            host, port = parse_address(http)
            if https:
                app = create_redirect_app(parse_address(https)[1], broker_data)
            webs.append(_run_web(app, host, port))
            log.info("web on http://%s:%s/%s", host, port, " (redirects to https)" if https else "")
        if broker_data:
            _record_web(broker_data, https, http)
    return Server(aggregator, webs)


def _run_web(app: Any, host: str, port: int, tls: tuple[Path, Path] | None = None) -> Any:
    import uvicorn

    ssl_files = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
    web = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", **ssl_files)
    )
    threading.Thread(target=web.run, name=f"web-{port}", daemon=True).start()
    return web


def _record_web(broker_data: str, https: str | None, http: str | None) -> None:
    from peakend.broker.field import install
    from peakend.broker.field.mosquitto import BrokerDir

    try:
        install.record_web(
            BrokerDir(Path(broker_data).resolve()),
            https_port=parse_address(https)[1] if https else None,
            http_port=parse_address(http)[1] if http else None,
        )
    except OSError as exc:
        # Only the default of provision's install command depends on it.
        log.warning("could not note the web's ports in %s: %s", broker_data, exc)
