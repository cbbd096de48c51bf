"""The hub's long-running parts in one process: the aggregator, its alert monitor and, when
asked, the managers' web (HTTPS with the broker folder's web certificate, plain HTTP, or both:
then plain HTTP only redirects). ``peakend serve`` and ``peakend demo`` start it."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peakend.broker.hub.aggregator import Aggregator

log = logging.getLogger(__name__)


class ServeError(RuntimeError):
    """The hub cannot start as configured; the message says what to do."""


class Server:
    """The running aggregator and its web server(s); ``stop`` ends them all."""

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
    from peakend.broker.hub.aggregator import Aggregator

    aggregator = Aggregator(
        mqtt_url,
        db,
        registry_path=Path(broker_data) / "registry.json" if broker_data else None,
        client_id=client_id,
        shared_group=shared,
        ca_file=ca_file,
        quarantine=getattr(config, "quarantine", None),
    )
    aggregator.start()  # the writer process creates or migrates the database first
    if alerts:
        from peakend.broker.hub.reports.alerts import AlertMonitor

        aggregator.periodic = AlertMonitor(db, config).check
    webs: list[Any] = []
    if http or https:
        from peakend.broker.hub.web.app import create_app, create_redirect_app, redirect_host

        app = create_app(db, config, broker_data=broker_data)
        if https and tls:
            host, port = parse_address(https)
            webs.append(_run_web(app, host, port, tls))
            log.info("web on https://%s:%s/", host, port)
        if http:
            host, port = parse_address(http)
            if https:
                app = create_redirect_app(parse_address(https)[1], broker_data,
                                          redirect_host(config, https))
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
