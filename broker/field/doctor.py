"""The checks of `peakend doctor`: a device or hub set-up, and how to fix what fails.

On a device (``--config kiosk.toml`` or ``edge.toml``): the config is valid, the broker is
reachable (and, for mqtts, proves who it is with the configured CA), the credentials are
accepted, the ACL lets the device write its own topics and nothing else and read its ack, the
clock agrees with the hub's, there is disk space, the camera gives frames (edge) or a display
and a touch screen are there (kiosk), and the outbox is draining. On the hub (``--hub DIR``):
the broker folder, the broker and the aggregator's account, TLS certificate expiry, the
database, the web, disk and clock.

Every check is one row: PASS, WARN, FAIL or SKIP, what was found, and for anything but PASS
the fix (:mod:`peakend.broker.cli.doctor` prints them; its exit code is 1 when something
failed). The kiosk and the camera add their own rows (``peakend.kiosk.doctor``,
``peakend.edge.doctor``), which the command hands in: this module never imports them.

The clock is compared with the hub's web (``/time``, or the HTTP Date header of any page),
which works in a store without internet, where NTP servers may be out of reach. An https hub
web is verified against the hub's CA (the device's ``ca_file``, the hub's ``tls/ca.pem``); its
plain HTTP port keeps answering ``/time``, so the default http://HUB:8080 works either way.
The check probes the device's account with the client id ``ID-doctor`` and a clean session, so
the running device service is not disconnected.
"""

from __future__ import annotations

import email.utils
import json
import os
import shutil
import socket
import sqlite3
import ssl
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from peakend.broker.device.checks import Check, check_set_aside

MAX_SKEW_S = 2.0
DISK_FAIL_MB = 200
DISK_WARN_MB = 1000
OUTBOX_WARN = 1000
ACK_STALE_S = 600
CONNECT_TIMEOUT_S = 5.0
# Only the clock check reads this: tests use it to pretend this machine's clock is off.
CLOCK_OFFSET_ENV = "PEAKEND_DOCTOR_CLOCK_OFFSET_S"


class DeviceRole(Protocol):
    """What a device package adds (``peakend.kiosk.doctor``, ``peakend.edge.doctor``): its
    config read with its own model, and the checks only that role needs."""

    def load_config(self, path: Path) -> Any: ...

    def role_checks(self, cfg: Any, path: Path, *, camera: bool = True) -> list[Check]: ...


# Which role's checks to run, by the [device] role of the file; the caller imports them, so
# the hub's tools never import kiosk or edge code.
RoleFinder = Callable[[str], DeviceRole | None]


# -- device -----------------------------------------------------------------------------------


def check_device(path: Path, roles: RoleFinder, *, hub_web: str | None = None,
                 camera: bool = True) -> list[Check]:
    checks: list[Check] = []
    loaded = _load_device_config(path, roles)
    checks.append(loaded[0])
    cfg, role = loaded[1], loaded[2]
    if cfg is None or role is None:
        return checks
    device, mqtt_section = cfg.device, cfg.mqtt
    from peakend.broker.device.config import parse_mqtt_url

    target = parse_mqtt_url(mqtt_section.url)
    reach = check_reachable(target.host, target.port, tls=target.tls, ca_file=mqtt_section.ca_file)
    checks.append(reach)
    if reach.status == "FAIL":
        checks.append(Check("credentials", "SKIP", "broker not reachable"))
        checks.append(Check("acl", "SKIP", "broker not reachable"))
        hub_ack = None
    else:
        probe = probe_account(mqtt_section.url, device.id, device.store, mqtt_section.ca_file)
        checks += probe.checks
        hub_ack = probe.ack_seq
    checks.append(check_clock(hub_web or f"http://{target.host}:8080",
                              ca_file=mqtt_section.ca_file))
    outbox = _outbox_path(path, cfg)
    checks.append(check_disk(outbox.parent))
    checks.append(check_outbox(outbox, hub_ack))
    checks.append(check_set_aside(outbox, "outbox"))
    checks += role.role_checks(cfg, path, camera=camera)
    return checks


def _load_device_config(path: Path, roles: RoleFinder) -> tuple[Check, Any, DeviceRole | None]:
    from peakend.broker.device.config import ConfigError

    try:
        role = tomllib.loads(path.read_text("utf-8")).get("device", {}).get("role")
    except FileNotFoundError:
        return Check("config", "FAIL", f"{path}: no such file",
                     "paste the install command `peakend provision` printed, or copy the "
                     "file from the hub's BROKER_DIR/devices/"), None, None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        return Check("config", "FAIL", f"{path}: not valid TOML ({exc})",
                     "fix the syntax at that spot"), None, None
    found_role = roles(role) if isinstance(role, str) else None
    if found_role is None:
        return Check("config", "FAIL", f"{path}: [device] role is {role!r}",
                     'set role = "kiosk" or role = "edge" in [device]'), None, None
    try:
        cfg = found_role.load_config(path)
    except ConfigError as exc:
        return Check("config", "FAIL", str(exc).replace("\n", " "),
                     "edit the file as said; compare with deploy/examples/"
                     f"{role}.toml"), None, None
    if getattr(cfg, "mqtt", None) is None:
        return Check("config", "FAIL", f"{path}: no [mqtt] section",
                     "add [mqtt] url = ... as `peakend provision` printed it"), None, None
    found = f"{path} ({role} {cfg.device.id}, store {cfg.device.store})"
    return Check("config", "PASS", found), cfg, found_role


def check_reachable(host: str, port: int, *, tls: bool, ca_file: str | None) -> Check:
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except socket.gaierror:
        return Check("broker", "FAIL", f"cannot resolve {host}",
                     "check the host in [mqtt] url; use the hub's IP address if its name "
                     "does not resolve on this network")
    except OSError as exc:
        return Check("broker", "FAIL", f"nothing answers on {where} ({exc.strerror or exc})",
                     "on the hub: `sudo systemctl start peakend-broker` (see `systemctl status "
                     "peakend-broker`); check host and port in [mqtt] url and the network")
    with sock:
        if not tls:
            return Check("broker", "PASS", f"{where} accepts connections (plain mqtt)")
        if ca_file and not Path(ca_file).is_file():
            return Check("broker", "FAIL", f"ca_file {ca_file} does not exist",
                         "copy the hub's BROKER_DIR/tls/ca.pem there (the install command "
                         "does it)")
        context = ssl.create_default_context(cafile=ca_file)
        try:
            with context.wrap_socket(sock, server_hostname=host) as tls_sock:
                version = tls_sock.version()
        except ssl.SSLCertVerificationError as exc:
            return Check("broker", "FAIL", f"{where}: the broker's certificate is not trusted "
                         f"({exc.verify_message})",
                         "set [mqtt] ca_file to the hub's CA (BROKER_DIR/tls/ca.pem); if the "
                         "host name is not in the certificate, restart the broker with "
                         f"--tls-host {host}")
        except (ssl.SSLError, OSError) as exc:
            return Check("broker", "FAIL", f"{where}: TLS handshake failed ({exc})",
                         "is this the broker's TLS port (--tls-port, default 8883)?")
    return Check("broker", "PASS", f"{where} accepts connections ({version}, certificate "
                 "verified)")


@dataclass
class Probe:
    checks: list[Check]
    ack_seq: int | None


def probe_account(url: str, device_id: str, store: str, ca_file: str | None) -> Probe:
    """Log in as the device, try its topics and another device's.

    The broker names every connection by its account, so this login takes the device's own
    connection over if its link runs: the link comes back by itself a second later (and
    takes the connection back), and the probe ends early with what it has seen by then."""
    from paho.mqtt.client import MQTT_ERR_SUCCESS

    from peakend.broker.device.mqtt import connect_properties, make_client
    from peakend.broker.wire.contract import ack_topic, status_topic

    client, target = make_client(url, f"{device_id}-doctor", ca_file=ca_file)
    state: dict[str, Any] = {"acks": [], "foreign": [], "pubacks": {}}
    connected = threading.Event()
    lock = threading.Condition()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        state["reason"] = reason
        connected.set()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        with lock:
            key = "acks" if msg.topic == ack_topic(store, device_id) else "foreign"
            state[key].append((msg.topic, msg.payload))
            lock.notify_all()

    def on_publish(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with lock:
            state["pubacks"][mid] = reason
            lock.notify_all()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with lock:
            state["disconnected"] = reason
            lock.notify_all()

    client.on_connect, client.on_message = on_connect, on_message
    client.on_publish, client.on_disconnect = on_publish, on_disconnect
    try:
        client.connect(target.host, target.port, keepalive=10, clean_start=True,
                       properties=connect_properties(persistent=False))
    except (OSError, ssl.SSLError) as exc:
        return Probe([Check("credentials", "FAIL", f"cannot connect: {exc}", "see `broker`"),
                      Check("acl", "SKIP", "not connected")], None)
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT_S):
            return Probe([Check("credentials", "FAIL", "the broker did not answer the login",
                                "check [mqtt] url's port: is it the broker's?"),
                          Check("acl", "SKIP", "not connected")], None)
        reason = state["reason"]
        if reason.is_failure:
            return Probe([Check("credentials", "FAIL",
                                f"the broker refused user {target.username}: {reason}",
                                "the password is wrong or the device was revoked: on the hub "
                                f"run `peakend provision --data DIR --id {device_id} ...` again "
                                "and paste the new install command here"),
                          Check("acl", "SKIP", "not logged in")], None)
        checks = [Check("credentials", "PASS", f"user {target.username} logged in")]
        client.subscribe([(ack_topic(store, device_id), 1), ("peakend/v1/+/+/status", 1),
                          ("peakend/v1/+/+/ack", 1)])
        # An empty, not retained message on the status topic: the hub ignores it and it does
        # not replace the device's retained status, but the broker still applies the ACL.
        own = client.publish(status_topic(store, device_id), b"", qos=1)
        other = client.publish(status_topic(store, f"{device_id}-doctor-probe"), b"", qos=1)
        deadline = time.monotonic() + 2.0
        with lock:
            while time.monotonic() < deadline and "disconnected" not in state:
                lock.wait(0.1)
        if "disconnected" in state:
            checks[0] = Check("credentials", "PASS", f"user {target.username} logged in; the "
                              "device's running link then took its connection back (one "
                              "connection per account)")
        pub_own = state["pubacks"].get(own.mid)
        pub_other = state["pubacks"].get(other.mid)
        if "disconnected" in state and (pub_own is None or pub_other is None):
            checks.append(Check("acl", "WARN", "not probed: the device's running link took its "
                                "connection back before the broker answered",
                                "stop the device's service for a moment and run doctor again"))
            return Probe(checks, None)
        problems, fixes = [], []
        own_ok = own.rc == MQTT_ERR_SUCCESS and pub_own is not None and not pub_own.is_failure
        if not own_ok:
            problems.append(f"may not write its own topics ({pub_own or 'no answer'})")
            fixes.append(f"the store in [device] must be the one registered for {device_id} "
                         "on the hub; on the hub re-run `peakend broker` to rewrite the ACL")
        too_open = []
        if pub_other is not None and not pub_other.is_failure:
            too_open.append("may write another device's topic")
        if state["foreign"]:
            too_open.append(f"can read other devices' messages ({state['foreign'][0][0]})")
        if too_open:
            problems += too_open
            fixes.append("the hub's ACL is too open: re-run `peakend broker` on the hub, which "
                         "rewrites BROKER_DIR/acl")
        ack_seq = None
        if state["acks"]:
            try:
                ack_seq = int(json.loads(state["acks"][-1][1])["seq"])
            except (ValueError, KeyError, TypeError):
                ack_seq = None
        if problems:
            checks.append(Check("acl", "FAIL", "; ".join(problems), "; ".join(fixes)))
        else:
            seen = f"reads its ack (seq {ack_seq})" if ack_seq is not None else \
                "no ack retained yet (nothing acked so far)"
            checks.append(Check("acl", "PASS", f"writes only its own topics, {seen}, sees no "
                                "other device"))
        return Probe(checks, ack_seq)
    finally:
        client.disconnect()
        client.loop_stop()


def web_opener(ca_file: str | Path | None = None) -> urllib.request.OpenerDirector:
    """urllib that trusts the hub's CA too, also after a redirect from http to https."""
    context = ssl.create_default_context()
    if ca_file and Path(ca_file).exists():
        context.load_verify_locations(cafile=str(ca_file))
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))


def hub_time(web: str, timeout: float = 3.0,
             ca_file: str | Path | None = None) -> tuple[float, float]:
    """(hub's clock, uncertainty in s), from the hub's /time or else any page's Date header."""
    base = web.rstrip("/")
    opener = web_opener(ca_file)
    started = time.time()
    try:
        with opener.open(f"{base}/time", timeout=timeout) as resp:
            doc = json.loads(resp.read())
        rtt = time.time() - started
        return float(doc["unix"]) + rtt / 2, rtt / 2
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        pass
    started = time.time()
    try:
        with opener.open(f"{base}/healthz", timeout=timeout) as resp:
            date = resp.headers.get("Date")
    except urllib.error.HTTPError as exc:
        date = exc.headers.get("Date")
    rtt = time.time() - started
    if not date:
        raise OSError("the hub's web sent no time")
    # Date has whole seconds: the hub's clock was somewhere in [Date, Date + 1).
    return email.utils.parsedate_to_datetime(date).timestamp() + 0.5 + rtt / 2, 0.5 + rtt / 2


def local_time() -> float:
    return time.time() + float(os.environ.get(CLOCK_OFFSET_ENV, "0") or 0)


def check_clock(web: str, ca_file: str | Path | None = None) -> Check:
    from peakend.broker.device.clock import clock_synced

    synced = clock_synced()
    try:
        hub, uncertainty = hub_time(web, ca_file=ca_file)
    except (OSError, ValueError) as exc:
        status = "PASS" if synced else "WARN"
        return Check("clock", status, f"hub web {web} not reachable ({exc}); the kernel says the "
                     f"clock is {'' if synced else 'NOT '}synchronised",
                     "give --hub-web http://HUB:8080, and `sudo timedatectl set-ntp true`")
    skew = local_time() - hub
    detail = f"{skew:+.2f} s against the hub (±{uncertainty:.2f} s)"
    if abs(skew) > MAX_SKEW_S + uncertainty:
        return Check("clock", "WARN", detail + f", beyond {MAX_SKEW_S:g} s",
                     "`sudo timedatectl set-ntp true`; without internet, point "
                     "/etc/systemd/timesyncd.conf NTP= at the hub (its chrony serves the store)")
    if not synced:
        return Check("clock", "WARN", detail + "; the kernel says NTP is not synchronised",
                     "`sudo timedatectl set-ntp true` and check `timedatectl`")
    return Check("clock", "PASS", detail)


def check_disk(folder: Path) -> Check:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_mb = usage.free / 1e6
    detail = f"{free_mb:,.0f} MB free on the disk of {folder}"
    if free_mb < DISK_FAIL_MB:
        return Check("disk", "FAIL", detail, "free space: `sudo journalctl --vacuum-size=100M`, "
                     "remove old recordings; the outbox needs room to hold messages")
    if free_mb < DISK_WARN_MB:
        return Check("disk", "WARN", detail, "free some space soon (journalctl --vacuum-size)")
    return Check("disk", "PASS", detail)


def check_outbox(path: Path, hub_ack: int | None) -> Check:
    if not path.exists():
        return Check("outbox", "PASS", f"{path} not created yet (the service has not run)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            depth = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("outbox", "FAIL", f"{path}: {exc}",
                     "restart the service: on a damaged file it sets the file aside, queues "
                     "again what it can still read and says what it saved")
    acked = int(meta.get("acked_seq") or 0)
    last = int(meta.get("next_seq") or 1) - 1
    acked_at = float(meta["acked_at"]) if meta.get("acked_at") else None
    age = f"{time.time() - acked_at:.0f} s ago" if acked_at else "never"
    detail = f"{depth} waiting, last seq {last}, acked {acked} ({age})"
    if hub_ack is not None:
        detail += f", hub's ack {hub_ack}"
    if depth > 0 and (acked_at is None or time.time() - acked_at > ACK_STALE_S):
        return Check("outbox", "WARN", detail, "the hub has not confirmed for a while: check the "
                     "broker and `peakend serve` on the hub (fleet page: ack lag)")
    if depth > OUTBOX_WARN:
        return Check("outbox", "WARN", detail, "it is draining slowly: check the network")
    return Check("outbox", "PASS", detail)


def _outbox_path(config_path: Path, cfg: Any) -> Path:
    from peakend.broker.device.config import resolve

    return resolve(config_path.parent, cfg.outbox.path)


# -- hub --------------------------------------------------------------------------------------


def check_hub(root: Path, *, db: Path | None = None, web: str | None = None) -> list[Check]:
    from peakend.broker.field.mosquitto import BrokerDir
    from peakend.broker.hub.registry import RegistryError, load_registry

    d = BrokerDir(root.resolve())
    checks: list[Check] = []
    missing = [p.name for p in (d.conf, d.passwd, d.acl, d.aggregator_url) if not p.exists()]
    if missing:
        checks.append(Check("broker folder", "FAIL", f"{d.root}: missing {', '.join(missing)}",
                            f"run `peakend broker --data {d.root} --prepare-only`"))
        return checks
    try:
        registry = load_registry(d.registry).devices
    except RegistryError as exc:
        checks.append(Check("broker folder", "FAIL", exc.what, exc.fix))
        return checks
    revoked = sum(1 for e in registry.values() if e.revoked)
    checks.append(Check("broker folder", "PASS",
                        f"{d.root}: {len(registry) - revoked} device(s), {revoked} revoked"))
    from peakend.broker.device.config import parse_mqtt_url

    agg = d.aggregator_url.read_text().strip()
    target = parse_mqtt_url(agg)
    reach = check_reachable(target.host, target.port, tls=target.tls,
                            ca_file=str(d.ca_file) if d.ca_file.exists() else None)
    checks.append(reach)
    if reach.status == "PASS":
        checks.append(_login(agg, d))
        if d.tools_url.exists():
            checks.append(_login(d.tools_url.read_text().strip(), d, "tools login"))
    if d.tls_port() is not None:
        checks.append(_tls_expiry(d))
    if (d.tls_dir / "web.pem").exists():
        checks.append(_tls_expiry(d, "web.pem"))
    if db is not None:
        checks.append(_database(db))
        if db.exists():
            checks.append(_refused(db))
    if web:
        ca = d.ca_file if d.ca_file.exists() else None
        checks.append(_web(web, ca))
        checks.append(check_clock(web, ca_file=ca))
    checks.append(check_disk(d.root))
    from peakend.broker.device.clock import clock_synced

    if not web:
        synced = clock_synced()
        checks.append(Check("clock", "PASS" if synced else "WARN",
                            f"kernel says {'' if synced else 'NOT '}synchronised",
                            "`sudo timedatectl set-ntp true`"))
    return checks


def _login(url: str, d: Any, row: str = "aggregator login") -> Check:
    """The aggregator's password is checked against the broker's password file, not by
    logging in: the broker names a connection by its account, so a login would knock the
    running aggregator off. The tools' account is checked by a real login."""
    from peakend.broker.device.config import parse_mqtt_url
    from peakend.broker.device.mqtt import connect_properties, make_client
    from peakend.broker.field.mosquitto import password_matches

    url_file = d.aggregator_url if row == "aggregator login" else d.tools_url
    fix = (f"the password in {url_file} does not match BROKER_DIR/passwd: delete {url_file} "
           "and re-run `peakend broker`, then restart peakend-serve")
    if row == "aggregator login":
        target = parse_mqtt_url(url)
        if password_matches(d, target.username or "", target.password or ""):
            return Check(row, "PASS", f"{target.username}: password matches the broker's file")
        return Check(row, "FAIL", "refused: its password is not the broker's", fix)
    client, target = make_client(url, "peakend-doctor",
                                 ca_file=str(d.ca_file) if d.ca_file.exists() else None)
    done, result = threading.Event(), []

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result.append(reason)
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(target.host, target.port, keepalive=10, clean_start=True,
                       properties=connect_properties(persistent=False))
    except OSError as exc:
        return Check(row, "FAIL", str(exc), "see `broker`")
    client.loop_start()
    try:
        if not done.wait(CONNECT_TIMEOUT_S) or result[0].is_failure:
            why = result[0] if result else "no answer"
            return Check(row, "FAIL", f"refused: {why}", fix)
        return Check(row, "PASS", f"{target.username} logged in")
    finally:
        client.disconnect()
        client.loop_stop()


def _tls_expiry(d: Any, name: str = "server.pem") -> Check:
    from datetime import UTC, datetime

    from peakend.broker.field.tls import cert_expiry

    row, what = ("tls", "server certificate") if name == "server.pem" else \
        ("web tls", "web certificate")
    # the web loads its certificate when it starts: after a re-issue it needs a restart too
    fix = "restart `peakend broker --tls`: it re-issues it" + (
        "; then restart peakend-serve" if name != "server.pem" else "")
    cert = d.tls_dir / name
    try:
        left = (cert_expiry(cert) - datetime.now(UTC)).days
    except Exception as exc:  # openssl missing or a damaged file: both are findings
        return Check(row, "FAIL", f"{cert}: {exc}", "re-run `peakend broker --tls`")
    if left < 30:
        return Check(row, "WARN" if left > 0 else "FAIL", f"{what} expires in {left} days", fix)
    return Check(row, "PASS", f"{what} valid for {left} more days")


def _refused(db: Path) -> Check:
    """Devices whose messages the hub quarantined in the last day: they look fine from the
    device's side, and their data never reaches a report."""
    from datetime import UTC, datetime

    from peakend.broker.hub.reports.queries import ReportError, open_db
    from peakend.broker.hub.reports.refused import refused_by_device

    try:
        conn = open_db(db, migrate=False, read_only=True)
    except ReportError as exc:
        return Check("refused", "SKIP", str(exc))
    try:
        refused = refused_by_device(conn, datetime.now(UTC))
    finally:
        conn.close()
    if not refused:
        return Check("refused", "PASS", "no device had a message refused in the last 24 h")
    worst = sorted(refused.values(), key=lambda r: -r.messages)
    detail = "; ".join(f"{r.device_id}: {r.messages} ({r.reason[:120]})" for r in worst[:5])
    return Check("refused", "FAIL", f"the hub refused messages in the last 24 h from {detail}",
                 "fix what each reason names on that device (often a zone or store id that "
                 "differs from what `peakend provision` registered), then `peakend doctor "
                 "--config` on it")


def _database(db: Path) -> Check:
    if not db.exists():
        return Check("database", "FAIL", f"{db}: no such file",
                     "check --db; `peakend serve` creates it on first start")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            devices = conn.execute("SELECT count(*) FROM devices").fetchone()[0]
            online = conn.execute(
                "SELECT count(*) FROM devices WHERE state = 'online'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("database", "FAIL", f"{db}: {exc}", "is it the hub's database?")
    return Check("database", "PASS", f"{db}: {devices} device(s) seen, {online} online")


def _web(web: str, ca_file: Path | None = None) -> Check:
    try:
        with web_opener(ca_file).open(f"{web.rstrip('/')}/healthz", timeout=5) as resp:
            ok = resp.status == 200
    except (urllib.error.URLError, OSError) as exc:
        return Check("web", "FAIL", f"{web}: {exc}",
                     "`sudo systemctl status peakend-serve`; is [hub] https (or http) set?")
    return Check("web", "PASS" if ok else "FAIL", f"{web} answers", "see the serve log")

