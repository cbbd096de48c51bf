"""`peakend provision`: give a new device an account, a registry entry and a ready config file.

The device's password is random (24 bytes, URL-safe) and shown once, inside its MQTT URL and
its config file; the broker keeps only a PBKDF2 hash. A running broker of the same folder is
told to re-read its password file, so the device can connect at once. When the broker runs with
``--tls`` the device gets an ``mqtts://`` URL and the hub's CA (``ca_file``).

A kiosk also gets a technician PIN of its own: random, shown once by the command, and written
into both config files only as a salted hash (``technician.pin_hash``).

Besides the config file it prints a one-line install command for the Pi: the hub's web hands
the device's install script out once, over HTTPS with the web certificate's public key pinned
in the command (see :mod:`peakend.broker.field.install`).

``--revoke ID`` locks a device out at once: its password is replaced by a throwaway one and the
broker reloaded, so the device cannot log in again; the hub then logs in to the device's own
account with the throwaway password and a clean session. The broker names connections by
their account (``use_username_as_clientid``), so that login takes over the device's client id:
it drops a connection a reload missed, deletes the device's stored session and marks its
retained status offline. Then the account is removed. The registry marks the device revoked,
so whatever it still had queued is quarantined, not stored.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from peakend.broker.device.pin import hash_pin, new_pin
from peakend.broker.field import install
from peakend.broker.field.bridge import BRIDGE_USER_PREFIX
from peakend.broker.field.mosquitto import (
    HUB_PREFIX,
    BrokerDir,
    BrokerError,
    aggregator_url,
    new_password,
    reload_running_broker,
    remove_user,
    set_password,
)
from peakend.broker.hub.registry import RegisteredDevice, edit_registry, load_registry
from peakend.broker.wire.contract import ROLES, is_slug, status_topic


class Provisioned:
    def __init__(
        self,
        url: str,
        config_path: Path,
        reloaded: bool,
        *,
        ca_path: Path | None = None,
        install: install.InstallScript | None = None,
        install_command: str = "",
        technician_pin: str | None = None,
    ) -> None:
        self.url = url
        # A kiosk's PIN in the clear, for the command to show once; the files hold its hash.
        self.technician_pin = technician_pin
        self.config_path = config_path
        self.reloaded = reloaded
        self.ca_path = ca_path
        self.install = install
        self.install_command = install_command


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
    web_url: str | None = None,
    install_ttl_s: float = install.DEFAULT_TTL_S,
    new_zone: bool = False,
) -> Provisioned:
    d = BrokerDir(data.resolve())
    if not d.conf.exists():
        raise BrokerError(
            f"{d.root} is not a broker folder: run `peakend broker --data {d.root}` first"
        )
    for label, value in [("id", device_id), ("store", store), *[("zone", z) for z in zones]]:
        if not is_slug(value):
            raise ValueError(
                f"--{label} {value!r}: use lowercase letters, digits and dashes (e.g. kiosk-01)"
            )
    if device_id.startswith((HUB_PREFIX, BRIDGE_USER_PREFIX)):
        # the broker names connections by account: these names are the hub's and the bridges'
        raise ValueError(f"--id {device_id!r}: ids starting with {HUB_PREFIX} or "
                         f"{BRIDGE_USER_PREFIX} are reserved for the hub and its bridges")
    if role not in ROLES:
        raise ValueError(f"--role must be one of {', '.join(ROLES)}")
    if not zones:
        raise ValueError("give at least one --zone (the zone the device rates or watches)")
    if role == "kiosk" and len(zones) != 1:
        raise ValueError("a kiosk rates exactly one zone: give one --zone")
    known = store_zones(d, store, but=device_id)
    unknown = [z for z in zones if known and z not in known]
    if unknown and not new_zone:
        raise ValueError(
            f"store {store} has no zone {', '.join(map(repr, unknown))} yet (its devices use "
            f"{', '.join(sorted(known))}): a typo? Give the zone as the store's other devices "
            "name it, or add --new-zone to start a new one"
        )

    reloaded = register_device(d, device_id=device_id, store=store, zones=zones, role=role)
    password = reloaded.password
    hub_host = host or socket.gethostname()
    tls_port = d.tls_port()
    tls = tls_port is not None and d.ca_file.exists()
    if tls:
        url = f"mqtts://{device_id}:{password}@{hub_host}:{port or tls_port}"
    else:
        broker_port = port or int(d.port_file.read_text().strip())
        url = f"mqtt://{device_id}:{password}@{hub_host}:{broker_port}"
    device = {"id": device_id, "store": store, "role": role, "zone": zones[0]}
    path = out or d.devices / f"{device_id}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    ca_path = None
    mqtt: dict[str, str] = {"url": url}
    if tls:
        ca_path = path.parent / "ca.pem"
        if ca_path.resolve() != d.ca_file.resolve():
            ca_path.write_bytes(d.ca_file.read_bytes())
        mqtt["ca_file"] = str(ca_path.resolve())
    pin = new_pin() if role == "kiosk" else None
    technician = {"pin_hash": hash_pin(pin)} if pin else {}
    if role == "edge":
        # The camera names its zones in [[zones]]; [device] zones lists those the hub accepts
        # from it, so `edge check` catches a name edited afterwards.
        device = {k: v for k, v in device.items() if k != "zone"}
        device["zones"] = zones  # type: ignore[assignment]
    text = fill_example(role, device=device, mqtt=mqtt, technician=technician)
    path.write_text(camera_zones(text, zones) if role == "edge" else text)
    path.chmod(0o600)

    # The Pi's copy: same identity, the Pi's own paths for the CA and the device's databases.
    pi_mqtt = {"url": url, **({"ca_file": f"{install.PI_CONFIG_DIR}/ca.pem"} if tls else {})}
    pi_sections: dict[str, dict[str, str]] = {
        "device": device,
        "mqtt": pi_mqtt,
        "outbox": {"path": f"{install.PI_STATE_DIR}/outbox.sqlite"},
    }
    if role == "kiosk":
        pi_sections["kiosk"] = {"journal": f"{install.PI_STATE_DIR}/presses.sqlite"}
        pi_sections["technician"] = technician
    script = install.create(
        d,
        device_id=device_id,
        role=role,
        config_text=(camera_zones(fill_toml(example_text(role), pi_sections), zones)
                     if role == "edge" else fill_toml(example_text(role), pi_sections)),
        ca_pem=d.ca_file.read_text() if tls else None,
        ttl_s=install_ttl_s,
    )
    web = web_url or default_web_url(d, hub_host)
    # Only the hub's own web is pinned: a --web-url (a proxy, say) has a certificate of its
    # own, which curl checks against the Pi's trusted CAs.
    web_key = web_pin(d) if web.startswith("https://") and not web_url else None
    return Provisioned(url, path, reloaded.broker_told, ca_path=ca_path, install=script,
                       install_command=script.command(web, web_key), technician_pin=pin)


def store_zones(d: BrokerDir, store: str, *, but: str | None = None) -> set[str]:
    """The zones the hub knows for a store: those its provisioned devices (other than
    ``but``, which is being provisioned again) rate or watch, revoked ones included."""
    return {z for device_id, entry in load_registry(d.registry).devices.items()
            if entry.store == store and device_id != but for z in entry.zones}


def camera_zones(text: str, zones: list[str]) -> str:
    """The camera example with one [[zones]] table per zone given, in order: the example's
    tables renamed (the first has an exit line, so the first zone is a queue), a plain
    rectangle for any further one. Their polygons are placeholders to redraw on a snapshot."""
    head, sep, tables = text.partition("\n[[zones]]\n")
    if not sep:
        return text
    bodies = tables.split("\n[[zones]]\n")
    out = [head]
    for i, zone in enumerate(zones):
        if i < len(bodies):
            body = re.sub(r'^name = ".*"$', f'name = "{zone}"', bodies[i].rstrip("\n"),
                          count=1, flags=re.M)
        else:
            x = 40 + 60 * (i % 8)
            body = (f'name = "{zone}"\n'
                    f"polygon = [[{x}, 40], [{x + 50}, 40], [{x + 50}, 200], [{x}, 200]]")
        out.append("\n[[zones]]\n" + "# redraw on a snapshot: peakend edge snapshot --draw\n"
                   + body + "\n")
    return "".join(out)


def default_web_url(d: BrokerDir, host: str) -> str:
    """The web the hub runs, as noted by ``peakend serve``; before it ever ran, the usual
    https port when the folder has the web's certificate, else plain HTTP."""
    from peakend.broker.field.tls import web_files

    served = install.recorded_web(d)
    if served and served["https_port"]:
        return f"https://{host}:{served['https_port']}"
    if served and served["http_port"]:
        return f"http://{host}:{served['http_port']}"
    return f"https://{host}:8443" if web_files(d).cert.exists() else f"http://{host}:8080"


def web_pin(d: BrokerDir) -> str | None:
    """The pin of the broker folder's web certificate; None when the web uses another one
    (e.g. behind a proxy with a certificate the Pi trusts already)."""
    from peakend.broker.field.tls import public_key_pin, web_files

    cert = web_files(d).cert
    return public_key_pin(cert) if cert.exists() else None


class Revoked:
    def __init__(self, reloaded: bool, disconnected: bool, note: str = "") -> None:
        self.reloaded = reloaded
        self.disconnected = disconnected
        self.note = note


def revoke(d: BrokerDir, device_id: str, *, timeout: float = 5.0) -> Revoked:
    """Lock a device out now; see the module's doc for how."""
    unknown = ValueError(f"{device_id!r} is not a provisioned device of {d.root}")
    if device_id not in load_registry(d.registry).devices:
        raise unknown  # also when d is no broker folder at all: nothing to lock there
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with edit_registry(d.registry) as registry:  # an exception here leaves the file as it was
        entry = registry.devices.get(device_id)
        if entry is None:
            raise unknown
        if device_id.startswith(HUB_PREFIX):
            raise ValueError(f"{device_id!r} is one of the hub's own accounts")
        throwaway = new_password()
        set_password(d, device_id, throwaway)
        entry.revoked, entry.revoked_at = True, now
    install.drop_device(d, device_id)
    reloaded = reload_running_broker(d)
    try:
        take_over_session(d, device_id, throwaway, store=entry.store, timeout=timeout)
    except (BrokerError, OSError) as exc:
        return Revoked(reloaded, False, str(exc))
    finally:
        remove_user(d, device_id)
        reload_running_broker(d)
    return Revoked(reloaded, True)


def take_over_session(
    d: BrokerDir, device_id: str, password: str, *, store: str | None, timeout: float
) -> None:
    """Log in to the device's account (``password``: the throwaway one just set) with a clean,
    non-persistent session.

    The connection gets the device's client id, so the broker drops any connection still
    using it (MQTT session takeover) and forgets the device's stored session. The retained
    status is set offline on the way out. The broker may still be re-reading its password
    file: a refused login is tried again until ``timeout``."""
    from peakend.broker.device.config import parse_mqtt_url
    from peakend.broker.device.mqtt import connect_properties, make_client

    # the hub's own listener, as the aggregator reaches it, with the device's account
    url = parse_mqtt_url(aggregator_url(d.root)).model_copy(
        update={"username": device_id, "password": password})
    ca = str(d.ca_file) if d.ca_file.exists() else None
    deadline = time.monotonic() + timeout
    while True:
        client, target = make_client(url, device_id, ca_file=ca)
        done = threading.Event()
        outcome: list[str] = []

        def on_connect(c, _u, _f, reason, _p, outcome=outcome, done=done) -> None:  # type: ignore[no-untyped-def]
            outcome.append("ok" if not reason.is_failure else str(reason))
            done.set()

        client.on_connect = on_connect
        client.connect(target.host, target.port, keepalive=10, clean_start=True,
                       properties=connect_properties(persistent=False))
        client.loop_start()
        try:
            if not done.wait(max(0.1, deadline - time.monotonic())):
                raise BrokerError(f"no answer from the broker at {target.redacted()}")
            if outcome[0] == "ok":
                if store:
                    offline = json.dumps({"state": "offline"})
                    info = client.publish(status_topic(store, device_id), offline, qos=1,
                                          retain=True)
                    info.wait_for_publish(timeout)
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"the broker refused the device's account: {outcome[0]} "
                                  "(is it running with this folder's password file?)")
        finally:
            client.disconnect()
            client.loop_stop()
        time.sleep(0.1)


class Registered:
    def __init__(self, password: str, broker_told: bool) -> None:
        self.password = password
        self.broker_told = broker_told


def register_device(
    d: BrokerDir, *, device_id: str, store: str, zones: list[str], role: str
) -> Registered:
    """A fresh random password (hashed into the broker's file) and the registry entry."""
    bad = [v for v in (device_id, store, *zones) if not is_slug(v)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a valid id: use lowercase letters, digits and "
                         "dashes (e.g. kiosk-01)")
    password = new_password()
    set_password(d, device_id, password)
    with edit_registry(d.registry) as registry:
        registry.devices[device_id] = RegisteredDevice(
            store=store,
            zones=zones,
            role=role,
            revoked=False,
            provisioned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
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
                    line = f"{key.group(2)} = {_toml_value(value)}"
                    done.add((current, key.group(2)))
        out.append(line)
    return "\n".join(out) + "\n"


def _toml_value(value: str | list[str]) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return f'"{value}"'
