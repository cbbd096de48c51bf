"""A status (birth or last will) is held to an event's limits: at most 4 KiB, and the store
and zone its device is registered for; what fails is quarantined and changes nothing else."""

from __future__ import annotations

import json
import time
from pathlib import Path

from peakend.broker.hub.registry import RegisteredDevice, RegistryFile, save_registry
from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import status_topic

TOPIC = status_topic("s001", "kiosk-01")


def ingest(tmp_path: Path) -> Ingest:
    registry = tmp_path / "registry.json"
    save_registry(registry, RegistryFile(devices={
        "kiosk-01": RegisteredDevice(store="s001", zones=["checkout"], role="kiosk"),
    }))
    return Ingest(tmp_path / "hub.sqlite", registry)


def birth(**over: object) -> bytes:
    doc = {"state": "online", "boot_id": "b1", "role": "kiosk", "zone_id": "checkout",
           "version": "1.0.0", "config_hash": "abc", **over}
    return json.dumps(doc).encode()


def device_row(hub: Ingest) -> tuple | None:
    return hub.store.db.execute(
        "SELECT zone_id, version, boot_id FROM devices WHERE device_id = 'kiosk-01'"
    ).fetchone()


def reasons(hub: Ingest) -> list[str]:
    return [r[0] for r in hub.store.db.execute("SELECT reason FROM quarantine ORDER BY id")]


def test_a_status_over_the_size_limit_or_with_a_long_field_is_quarantined(tmp_path: Path) -> None:
    hub = ingest(tmp_path)
    try:
        good = hub.handle([(TOPIC, birth(), time.time())])
        assert good.counters.statuses == 1 and good.births == {"kiosk-01": "b1"}
        huge = birth(boot_id="b2", version="9" * 60_000)
        long = birth(boot_id="b3", version="9" * 200)
        result = hub.handle([(TOPIC, huge, time.time()), (TOPIC, long, time.time())])
        assert result.counters.quarantined == 2 and result.counters.statuses == 0
        assert result.births == {}, "a refused birth is not answered"
        assert device_row(hub) == ("checkout", "1.0.0", "b1"), "nothing else changed"
        first, second = reasons(hub)
        assert first.startswith("bad status: payload is ") and "limit is 4096" in first
        assert second.startswith("bad status: version: ")
    finally:
        hub.close()


def test_a_status_naming_a_zone_not_registered_is_quarantined(tmp_path: Path) -> None:
    hub = ingest(tmp_path)
    try:
        hub.handle([(TOPIC, birth(), time.time())])
        result = hub.handle([(TOPIC, birth(boot_id="b2", zone_id="entrance"), time.time())])
        assert result.counters.quarantined == 1 and result.counters.statuses == 0
        assert result.births == {}
        assert device_row(hub) == ("checkout", "1.0.0", "b1")
        assert reasons(hub) == [
            "zone 'entrance' is not a zone registered for kiosk-01 (checkout)"
        ]
        # the last will names no zone, and is recorded
        will = hub.handle([(TOPIC, b'{"state": "offline"}', time.time())])
        assert will.counters.statuses == 1
    finally:
        hub.close()
