"""A chain's brokers: each store's mosquitto bridged to a central mosquitto.

The store side gets a bridge section (:func:`bridge_section`) that carries the store's device
traffic to the centre and the hub's acks and alerts back. The centre gets one account per
store bridge, whose ACL lets it write only its own stores' events, statuses and bridge state and
read only their acks and alerts (:func:`centre_acl`). Choices, and why:

- MQTT 3.1.1 with ``try_private`` between the two mosquittos, not MQTT 5: mosquitto's v5 bridge
  sends no session expiry, so the centre drops the bridge's session on every disconnect and the
  acks queued for a store during an outage are lost (eclipse-mosquitto issues 2424 and 2793).
  The workers at the centre still use MQTT 5 shared subscriptions: that is between them and
  the centre, whatever the bridge speaks. ``try_private`` also keeps the retain flag of the
  acks, so a device that reconnects to its store broker finds its ack retained there.
- ``cleansession false`` on both sides: while the link is down, the store broker queues what
  its devices publish (``max_queued_messages`` in the store's config is raised to a million)
  and the centre queues the acks for the store.
- Notifications: the bridge publishes ``1`` retained on ``peakend/v1/{name}/bridge/state`` when it
  connects and the centre publishes its last will ``0`` there when the link dies, so the centre
  knows which stores are online (``peakend bridge status --data CENTRE`` lists them; or
  subscribe to ``peakend/v1/+/bridge/state``).
- Topics name the store ids, not ``#``: the centre's ACL refuses anything else, and acks of other
  stores never travel down to a store.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from peakend.broker.field.mosquitto import (
    BrokerDir,
    BrokerError,
    acl_text,
    hub_users,
    new_password,
    set_password,
)
from peakend.broker.wire.contract import ROOT, is_slug

BRIDGE_USER_PREFIX = "bridge-"
BRIDGES_FILE = "bridges.json"  # in the centre's broker folder: bridge name -> store ids


@dataclass(frozen=True)
class Bridge:
    """One store broker's link to the centre."""

    name: str  # a slug; usually the store id
    stores: tuple[str, ...]  # store ids whose devices use this store broker

    def __post_init__(self) -> None:
        for value in (self.name, *self.stores):
            if not is_slug(value):
                raise ValueError(f"{value!r} is not a valid store or bridge name (a slug)")
        if not self.stores:
            raise ValueError("a bridge carries at least one store")

    @property
    def username(self) -> str:
        return BRIDGE_USER_PREFIX + self.name

    @property
    def state_topic(self) -> str:
        return f"{ROOT}/{self.name}/bridge/state"


def bridge_section(
    bridge: Bridge,
    *,
    address: str,
    password: str,
    cafile: str | None = None,
    restart_timeout: tuple[int, int] = (2, 30),
) -> str:
    """The ``connection`` section for the store broker's mosquitto.conf. ``address`` is the
    centre's host:port; with ``cafile`` the link uses TLS (port 8883 at the centre)."""
    lines = [
        f"# Bridge to the chain's central broker, written by peakend ({', '.join(bridge.stores)}).",
        f"connection peakend-{bridge.name}",
        f"address {address}",
        f"remote_clientid {bridge.username}",
        f"local_clientid local.{bridge.username}",
        f"remote_username {bridge.username}",
        f"remote_password {password}",
        "bridge_protocol_version mqttv311",
        "try_private true",
        "cleansession false",
        "local_cleansession false",
        "start_type automatic",
        f"restart_timeout {restart_timeout[0]} {restart_timeout[1]}",
        "keepalive_interval 30",
        "notifications true",
        "notifications_local_only false",
        f"notification_topic {bridge.state_topic}",
        "bridge_attempt_unsubscribe false",
        "bridge_max_packet_size 65536",
    ]
    if cafile:
        lines += [f"bridge_cafile {cafile}", "bridge_tls_version tlsv1.2", "bridge_insecure false"]
    for store in bridge.stores:
        lines += [
            f"topic {ROOT}/{store}/+/evt/+ out 1",
            f"topic {ROOT}/{store}/+/status out 1",
            f"topic {ROOT}/{store}/+/ack in 1",
            f"topic {ROOT}/{store}/alerts in 1",
        ]
    return "\n".join(lines) + "\n"


def centre_acl(bridges: list[Bridge], hub_users: list[str] | None = None) -> str:
    """The centre's ACL: the hub's own accounts (aggregator workers and tools read all, write
    acks and alerts), then one block per store bridge."""
    out = [acl_text(hub_users)]
    for b in sorted(bridges, key=lambda b: b.name):
        out += [f"# store bridge {b.name}", f"user {b.username}", f"topic write {b.state_topic}"]
        for store in b.stores:
            out += [
                f"topic write {ROOT}/{store}/+/evt/+",
                f"topic write {ROOT}/{store}/+/status",
                f"topic read {ROOT}/{store}/+/ack",
                f"topic read {ROOT}/{store}/alerts",
            ]
        out.append("")
    return "\n".join(out)


# -- broker folders ---------------------------------------------------------------------------


def add_store_bridge(centre: BrokerDir, bridge: Bridge) -> str:
    """Create or renew the bridge's account at the centre and rewrite its ACL; returns the
    password for the store's bridge section. ``peakend broker`` keeps these accounts in the
    centre's ACL whenever it prepares the folder again (it reads bridges.json)."""
    bridges = load_bridges(centre)
    bridges[bridge.name] = bridge
    (centre.root / BRIDGES_FILE).write_text(
        json.dumps({b.name: list(b.stores) for b in bridges.values()}, indent=2, sort_keys=True)
        + "\n"
    )
    password = new_password()
    centre.acl.write_text(centre_acl(list(bridges.values()), hub_users(centre)))
    set_password(centre, bridge.username, password)  # also hands passwd and acl to mosquitto
    return password


def load_bridges(centre: BrokerDir) -> dict[str, Bridge]:
    """The store bridges of a centre's broker folder (none in a store's own folder)."""
    path = centre.root / BRIDGES_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise BrokerError(
            f"{path} cannot be read ({exc}); restore it from a backup, or rebuild it with "
            "`peakend bridge centre` for each store bridge"
        ) from None
    try:
        return {name: Bridge(name, tuple(stores)) for name, stores in doc.items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise BrokerError(
            f"{path}: {exc}; it maps bridge names to lists of store ids, e.g. "
            '{"s001": ["s001"]}'
        ) from None


BRIDGE_CONF = "peakend-bridge.conf"  # in the store broker's conf.d
_LEGACY_MARKER = "# Bridge to the chain's central broker"


def attach_bridge(store_broker: BrokerDir, section: str) -> Path:
    """Write the bridge section to the store broker's conf.d, which its mosquitto.conf
    includes, so ``peakend broker`` can rewrite mosquitto.conf without losing the bridge. The
    section holds the bridge's password: the file is made private. Returns its path."""
    store_broker.conf_d.mkdir(parents=True, exist_ok=True)
    # Older versions appended the section to mosquitto.conf: two sections of one name would
    # stop mosquitto from starting.
    if store_broker.conf.exists():
        text = store_broker.conf.read_text()
        if _LEGACY_MARKER in text:
            store_broker.conf.write_text(text[: text.index(_LEGACY_MARKER)].rstrip("\n") + "\n")
    path = store_broker.conf_d / BRIDGE_CONF
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    path.write_text(section)
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("mosquitto")
        except KeyError:
            return path
        os.chown(path, 0, user.pw_gid)
    return path


# -- which stores are online, as the centre sees it --------------------------------------------


def link_states(centre: BrokerDir, *, timeout: float = 5.0) -> dict[str, str]:
    """Bridge name -> ``online``, ``offline`` or ``never connected``, from the bridges' retained
    notifications at the running central broker (read with the hub's account)."""
    import threading
    import uuid

    from peakend.broker.device.mqtt import make_client
    from peakend.broker.field.mosquitto import tools_url

    states: dict[str, str] = {}
    subscribed = threading.Event()
    # The tools' account: the broker names the connection by it (never the aggregator's).
    client, target = make_client(tools_url(centre.root), f"peakend-bridges-{uuid.uuid4()}")
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: object, _u: object, msg: object) -> None:
        name = msg.topic.split("/")[2]  # type: ignore[attr-defined]
        states[name] = "online" if msg.payload == b"1" else "offline"  # type: ignore[attr-defined]

    client.on_message = on_message
    refused: list[str] = []
    client.on_connect = lambda c, _u, _f, reason, _p: (
        refused.append(str(reason)) if reason.is_failure
        else c.subscribe(f"{ROOT}/+/bridge/state", qos=1))
    try:
        client.connect(target.host, target.port)
    except OSError as exc:
        msg = f"the central broker at {target.redacted()} does not answer: {exc}"
        raise ValueError(msg) from None
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            if refused:
                raise ValueError(f"the central broker refused the hub tools' account: {refused[0]}")
            raise ValueError(f"the central broker at {target.redacted()} did not answer in time")
        # mosquitto sends the retained notifications right after the SUBACK
        time.sleep(0.5)
    finally:
        client.disconnect()
        client.loop_stop()
    known = load_bridges(centre)
    return {name: states.get(name, "never connected") for name in sorted({*known, *states})}


# -- examples for deploy/bridge ---------------------------------------------------------------

EXAMPLE_BRIDGES = [Bridge("s001", ("s001",)), Bridge("s002", ("s002",))]
EXAMPLE_PASSWORD = "CHANGE-ME-printed-by-peakend-bridge-centre"


def examples() -> dict[str, str]:
    """File name -> text of the examples in deploy/bridge (a test keeps them in step)."""
    return {
        "store-s001-bridge.conf": bridge_section(
            EXAMPLE_BRIDGES[0],
            address="central.example.net:8883",
            password=EXAMPLE_PASSWORD,
            cafile="/etc/peakend/central-ca.crt",
        ),
        "centre-acl": centre_acl(EXAMPLE_BRIDGES),
    }
