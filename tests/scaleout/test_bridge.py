"""The store-to-centre bridge: the deploy examples are what the code writes, and two real
mosquittos carry events up, retained acks down, and announce the link's state at the centre."""

from __future__ import annotations

import io
import json
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hubtools import broker_root
from peakend.broker.cli.bridge import main
from peakend.broker.field.bridge import (
    Bridge,
    add_store_bridge,
    attach_bridge,
    bridge_section,
    centre_acl,
    examples,
)
from peakend.broker.field.mosquitto import BrokerDir, Mosquitto, free_port, prepare

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "bridge"


def test_deploy_examples_are_what_the_code_writes() -> None:
    for name, text in examples().items():
        assert (DEPLOY / name).read_text() == text, f"regenerate deploy/bridge/{name}"


def test_bridge_carries_only_its_stores_with_a_persistent_session() -> None:
    text = bridge_section(Bridge("s001", ("s001",)), address="centre:1883", password="pw")
    lines = set(text.splitlines())
    assert {"cleansession false", "bridge_protocol_version mqttv311", "try_private true",
            "notifications true", "notification_topic peakend/v1/s001/bridge/state",
            "topic peakend/v1/s001/+/evt/+ out 1", "topic peakend/v1/s001/+/ack in 1",
            "topic peakend/v1/s001/alerts in 1"} <= lines
    assert not any(line.startswith("topic peakend/v1/#") for line in lines)
    acl = centre_acl([Bridge("s001", ("s001",))])
    block = acl[acl.index("user bridge-s001"):]
    assert "topic write peakend/v1/s001/+/evt/+" in block
    assert "topic read peakend/v1/s001/+/ack" in block
    assert "s002" not in block
    with pytest.raises(ValueError, match="not a valid store"):
        Bridge("S 1", ("s001",))


def test_bridge_cli_writes_the_examples(tmp_path: Path) -> None:
    assert main(["examples", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(examples())


def test_preparing_the_brokers_again_keeps_the_bridge_and_its_account() -> None:
    tmp = broker_root()
    try:
        check_bridge_survives_prepare(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_bridge_survives_prepare(tmp: Path) -> None:
    centre = prepare(tmp / "centre", port=1884)
    store = prepare(tmp / "store", port=1885)
    # a store folder from an older version, with the section appended to mosquitto.conf
    with store.conf.open("a") as f:
        f.write("\n# Bridge to the chain's central broker, old\nconnection peakend-old\n")
    password = add_store_bridge(centre, Bridge("s001", ("s001",)))
    section = bridge_section(Bridge("s001", ("s001",)), address="c:1", password=password)
    path = attach_bridge(store, section)
    assert "connection peakend-old" not in store.conf.read_text()
    assert path.stat().st_mode & 0o077 == 0o040  # holds a password
    # `peakend broker` prepares both folders again on every start
    centre, store = prepare(centre.root, port=1884), prepare(store.root, port=1885)
    assert f"include_dir {store.conf_d}" in store.conf.read_text().splitlines()
    assert path.read_text() == section
    assert "user bridge-s001" in centre.acl.read_text().splitlines()
    assert BrokerDir(centre.root).acl.read_text() == centre_acl([Bridge("s001", ("s001",))])


def test_events_go_up_acks_come_down_retained_and_the_centre_sees_the_link(chain_factory):
    chain = chain_factory(["s001", "s002"])
    device = chain.provision("kiosk-01", "s001", "checkout", "kiosk")
    chain.publish_registry()
    # as `peakend broker` does on every start: the bridge and its account must survive it
    prepare(chain.centre_dir.root, port=chain.centre_port)
    prepare(chain.store_dir.root, port=chain.store_port)
    chain.centre.start()
    chain.store.start()
    state = chain.retained(chain.centre_port, "peakend/v1/lab/bridge/state", timeout=8)
    assert state == {"peakend/v1/lab/bridge/state": b"1"}
    assert bridge_status(chain) == (0, ["lab online s001, s002"])

    # a device publishes at its store broker; a worker at the centre stores it and acks
    chain.start_worker("w1")
    chain.wait_worker("w1")
    received: list[dict] = []
    dev = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-01",
                      protocol=mqtt.MQTTv5)
    dev.username_pw_set("kiosk-01", device["url"].split(":")[2].split("@")[0])
    dev.on_connect = lambda c, *_: c.subscribe("peakend/v1/s001/kiosk-01/ack", qos=1)
    dev.on_message = lambda c, u, m: received.append(json.loads(m.payload))
    dev.connect("127.0.0.1", chain.store_port)
    dev.loop_start()
    from peakend.broker.wire.contract import event_topic, new_envelope

    for seq in (1, 2, 3):
        e = new_envelope(device_id="kiosk-01", store_id="s001", zone_id="checkout", seq=seq,
                         event_type="rating", data={"score": 4})
        dev.publish(event_topic("s001", "kiosk-01", "rating"), e.to_json(), qos=1)
    deadline = time.monotonic() + 30
    while not (received and received[-1]["seq"] == 3) and time.monotonic() < deadline:
        time.sleep(0.1)
    dev.disconnect()
    dev.loop_stop()
    assert received and received[-1] == {"seq": 3}
    # the ack is retained at the store broker too: a device that comes back finds it there
    assert chain.retained(chain.store_port, "peakend/v1/s001/+/ack") == {
        "peakend/v1/s001/kiosk-01/ack": b'{"seq": 3}'}

    # the store broker goes away: the centre announces the link down (the bridge's will)
    chain.store.stop()
    assert chain.retained(chain.centre_port, "peakend/v1/lab/bridge/state") == {
        "peakend/v1/lab/bridge/state": b"0"}
    assert bridge_status(chain) == (1, ["lab offline s001, s002"])


def bridge_status(chain) -> tuple[int, list[str]]:
    """`peakend bridge status` at the centre: exit code and its lines, spaces squeezed."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["status", "--data", str(chain.centre_dir.root)])
    return code, [" ".join(line.split()) for line in out.getvalue().splitlines()]


def test_bridge_status_names_a_bridge_that_never_connected_and_a_dead_centre(tmp_path) -> None:
    root = broker_root()
    try:
        centre = prepare(root / "centre", port=free_port())
        add_store_bridge(centre, Bridge("s009", ("s009",)))
        # the centre is not running: a clear error, not a traceback
        err = io.StringIO()
        with redirect_stderr(err):
            assert main(["status", "--data", str(centre.root)]) == 2
        assert "does not answer" in err.getvalue()
        broker = Mosquitto(centre, port=int(centre.port_file.read_text()))
        broker.start()
        try:
            out = io.StringIO()
            with redirect_stdout(out):
                assert main(["status", "--data", str(centre.root)]) == 1
            assert out.getvalue().split() == ["s009", "never", "connected", "s009"]
        finally:
            broker.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_broken_bridges_file_is_named_with_its_fix() -> None:
    from peakend.broker.field.mosquitto import BrokerError

    root = broker_root()
    try:
        centre = prepare(root / "centre", port=free_port())
        (centre.root / "bridges.json").write_text('{"s001": "s001"')
        with pytest.raises(BrokerError, match="bridges.json cannot be read"):
            prepare(centre.root, port=free_port())
        (centre.root / "bridges.json").write_text('{"s001": 7}')
        with pytest.raises(BrokerError, match="maps bridge names to lists of store ids"):
            prepare(centre.root, port=free_port())
        (centre.root / "bridges.json").write_text("{}")
        out = io.StringIO()
        with redirect_stdout(out):
            assert main(["status", "--data", str(centre.root)]) == 1
        assert "no store bridges" in out.getvalue()
    finally:
        shutil.rmtree(root, ignore_errors=True)
