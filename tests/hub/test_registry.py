"""The device registry file: same format on disk, clear errors, and no lost writes when
several provisions run at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from peakend.broker.field.mosquitto import BrokerDir
from peakend.broker.hub.registry import (
    RegisteredDevice,
    RegistryError,
    edit_registry,
    load_registry,
    save_registry,
)

# As the first release wrote it: json.dumps({"devices": ...}, indent=2, sort_keys=True).
FIRST_RELEASE = {
    "devices": {
        "cam-01": {"provisioned_at": "2026-11-20T08:00:00+00:00", "revoked": False,
                   "role": "edge", "store": "s001", "zones": ["checkout", "promo"]},
        "kiosk-01": {"provisioned_at": "2026-11-20T08:01:00+00:00", "revoked": True,
                     "revoked_at": "2026-11-21T10:00:00+00:00", "role": "kiosk",
                     "store": "s001", "zones": ["checkout"]},
    }
}


def test_a_file_of_the_first_release_is_read_and_written_back_byte_for_byte(tmp_path: Path):
    path = tmp_path / "registry.json"
    text = json.dumps(FIRST_RELEASE, indent=2, sort_keys=True) + "\n"
    path.write_text(text)
    registry = load_registry(path)
    assert registry.devices["kiosk-01"].revoked and registry.devices["cam-01"].zones[1] == "promo"
    save_registry(path, registry)
    assert path.read_text() == text


def test_keys_a_newer_version_adds_survive_an_edit(tmp_path: Path):
    path = tmp_path / "registry.json"
    doc = {"devices": {"kiosk-01": {"store": "s001", "zones": ["checkout"], "label": "till 3",
                                    "moved_at": None}},
           "generation": 7}
    path.write_text(json.dumps(doc))
    with edit_registry(path) as registry:
        registry.devices["kiosk-02"] = RegisteredDevice(store="s001", zones=["checkout"])
    saved = json.loads(path.read_text())
    assert saved["generation"] == 7 and saved["devices"]["kiosk-01"]["label"] == "till 3"
    assert saved["devices"]["kiosk-01"]["moved_at"] is None
    assert saved["devices"]["kiosk-02"]["store"] == "s001"


def test_a_missing_file_is_an_empty_registry_and_a_damaged_one_names_file_and_fix(tmp_path):
    path = tmp_path / "registry.json"
    assert load_registry(path).devices == {}
    path.write_text('{"devices": {"kiosk-01": {"zones": "checkout"')
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert str(path) in str(err.value) and "restore it from a backup" in str(err.value)
    path.write_text('{"devices": {"kiosk-01": {"zones": ["checkout"]}}}')
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert "devices.kiosk-01.store" in str(err.value)


def test_an_edit_that_fails_leaves_the_file_as_it_was(tmp_path: Path):
    path = tmp_path / "registry.json"
    save_registry(path, load_registry(path))
    before = path.read_text()
    with pytest.raises(ValueError), edit_registry(path) as registry:
        registry.devices["kiosk-01"] = RegisteredDevice(store="s001")
        raise ValueError("refused halfway")
    assert path.read_text() == before


PROVISIONER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from peakend.broker.field.mosquitto import BrokerDir
    from peakend.broker.field.provision import register_device

    root, prefix, count, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    while not Path(start).exists():  # both processes begin at the same moment
        pass
    d = BrokerDir(root)
    for i in range(count):
        register_device(d, device_id=f"{prefix}-{i:02d}", store="s001", zones=["checkout"],
                        role="kiosk")
""")


def test_two_processes_provisioning_at_once_lose_no_device(bare_hub):
    d: BrokerDir = bare_hub.dir
    start = bare_hub.root / "go"
    count = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", PROVISIONER, str(d.root), prefix, str(count),
                          str(start)])
        for prefix in ("kiosk", "till")
    ]
    start.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    devices = load_registry(d.registry).devices
    wanted = {f"{prefix}-{i:02d}" for prefix in ("kiosk", "till") for i in range(count)}
    assert set(devices) == wanted
    # Every device's account made it into the broker's password file too.
    accounts = {line.split(":", 1)[0] for line in d.passwd.read_text().splitlines()}
    assert wanted <= accounts
