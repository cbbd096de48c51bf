"""The hub's long-running parts: the aggregator and its alert monitor in this process and,
when asked, the managers' web (HTTPS with the broker folder's web certificate, plain HTTP, or
both: then plain HTTP only redirects) in a process of its own. ``peakend serve`` and
``peakend demo`` start them.

The web runs apart from ingest because a page is CPU work in Python: in the aggregator's
process a heavy zone page held the interpreter lock for seconds and devices waited that long
for their acks. Its own process also means a page can only read: it opens the database
read-only, except for logging in and out and acting on an alert. If the web process dies it
is started again; if ``serve`` stops, the web stops with it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peakend.broker.hub.aggregator import Aggregator

log = logging.getLogger(__name__)


class ServeError(RuntimeError):
    """The hub cannot start as configured; the message says what to do."""


class Server:
    """The running aggregator and the web's process; ``stop`` ends them all."""

    def __init__(self, aggregator: Aggregator, web: WebProcess | None) -> None:
        self.aggregator = aggregator
        self.web = web

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        self.aggregator.stop()


@dataclass(frozen=True)
class WebSpec:
    """What the web's process serves; it crosses into the process, so plain values only."""

    db: str
    config: Any
    broker_data: str | None
    https: tuple[str, int] | None
    http: tuple[str, int] | None
    tls: tuple[str, str] | None


class WebProcess:
    """The managers' web in a process of its own (spawned: no state of the aggregator's threads
    is copied into it), started again whenever it exits while ``serve`` runs."""

    RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

    def __init__(self, spec: WebSpec) -> None:
        self.spec = spec
        self.restarts = 0
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._spawned_at = 0.0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, name="web-supervisor",
                                            daemon=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        self._spawn()
        self._supervisor.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is None:
            return
        if proc.is_alive():
            proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
            proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout)

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._proc = self._ctx.Process(target=run_web, args=(self.spec, os.getpid()),
                                           name="peakend-web", daemon=True)
            self._proc.start()
            self._spawned_at = time.monotonic()

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.wait(0.2):
            proc = self._proc
            if proc is None or proc.is_alive():
                continue
            if self._stopping.is_set():
                return
            # A web that ran a while before it died gets a quick restart; one that keeps dying
            # at start (its port taken, say) backs off so the log is not flooded.
            failures = failures + 1 if time.monotonic() - self._spawned_at < 10 else 1
            delay = self.RESTART_DELAYS_S[min(failures, len(self.RESTART_DELAYS_S)) - 1]
            log.warning("the web process exited with code %s; starting it again in %.1f s",
                        proc.exitcode, delay)
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            self._spawn()


def run_web(spec: WebSpec, parent_pid: int) -> None:
    """The web process: uvicorn for each address, until SIGTERM or until ``serve`` is gone."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s peakend web: %(message)s")
    try:
        # so `ps` and `top` tell the web from the aggregator's writer (Linux; else no matter)
        Path("/proc/self/comm").write_text("peakend-web")
    except OSError:
        pass
    _yield_cpu_to_ingest()
    # Ctrl-C in a terminal reaches the whole process group; ``serve`` decides when the web
    # stops, after the aggregator has had its say.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    from peakend.broker.hub.web.app import create_app, create_redirect_app, redirect_host

    app = create_app(spec.db, spec.config, broker_data=spec.broker_data)
    servers = []
    if spec.https and spec.tls:
        servers.append(_uvicorn(app, *spec.https, spec.tls))
    if spec.http:
        plain = app if not spec.https else create_redirect_app(
            spec.https[1], spec.broker_data,
            redirect_host(spec.config, f"{spec.https[0]}:{spec.https[1]}"))
        servers.append(_uvicorn(plain, *spec.http))
    threads = [threading.Thread(target=web.run, name="web", daemon=True) for web in servers]
    for thread in threads:
        thread.start()
    code = 0
    while not stop.wait(0.5):
        if os.getppid() != parent_pid:
            break  # serve was killed: a web left behind would hold the ports of the next one
        if not all(thread.is_alive() for thread in threads):
            code = 1  # uvicorn gave up (e.g. the port is taken): serve starts us again
            break
    for web in servers:
        web.should_exit = True
    for thread in threads:
        thread.join(10)
    sys.exit(code)


def _yield_cpu_to_ingest() -> None:
    """A hub has two cores or so: when ingest and a page want the CPU at once, acks go first.
    Linux's SCHED_IDLE runs the web only on CPU time nothing else wants; a lower nice value
    was not enough (a page polled every second still doubled the ack p99 at nice 10). A page
    takes longer on a busy hub; a device waiting for its ack is what fills outboxes."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)  # elsewhere: the lowest priority there is


def _uvicorn(app: Any, host: str, port: int, tls: tuple[str, str] | None = None) -> Any:
    import uvicorn

    ssl_files = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    return uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", **ssl_files)
    )


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
    web = None
    if http or https:
        web = WebProcess(WebSpec(
            db=str(db),
            config=config,
            broker_data=str(broker_data) if broker_data else None,
            https=parse_address(https) if https else None,
            http=parse_address(http) if http else None,
            tls=(str(tls[0]), str(tls[1])) if tls else None,
        ))
        web.start()
        for scheme, address in (("https", https), ("http", http)):
            if address:
                host, port = parse_address(address)
                log.info("web on %s://%s:%s/%s", scheme, host, port,
                         " (redirects to https)" if scheme == "http" and https else "")
        if broker_data:
            _record_web(broker_data, https, http)
    return Server(aggregator, web)


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
