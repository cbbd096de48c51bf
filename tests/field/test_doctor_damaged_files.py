"""`peakend doctor` on a device that set a damaged outbox and press journal aside: a warning
each, saying what happened and what was saved, with the fix."""

from __future__ import annotations

import json
import os

from peakend.broker.field.provision import provision
from peakend.kiosk.station import Station

from .conftest import run_peakend


def test_doctor_warns_of_each_damaged_file_set_aside(hub, tmp_path):
    config = tmp_path / "kiosk.toml"
    provision(hub.dir.root, device_id="kiosk-01", store="s001", zones=["checkout"],
              role="kiosk", host="127.0.0.1", out=config)
    for name in ("outbox.sqlite", "presses.sqlite"):
        (tmp_path / name).write_bytes(os.urandom(8 * 4096))
    Station.open(config).stop()  # the kiosk starts over them, as after a power cut
    hub.stop_broker()  # doctor then skips the broker's checks: quicker, and beside the point
    done = run_peakend("doctor", "--config", str(config), "--json")
    rows = {c["name"]: c for c in json.loads(done.stdout)}
    for name, what in (("outbox file", "outbox"), ("journal file", "press journal")):
        row = rows[name]
        assert row["status"] == "WARN", row
        assert f"the {what} file was damaged (file is not a database)" in row["detail"]
        assert ".corrupt-" in row["detail"] and "could be read" in row["detail"]
        assert "replace the card" in row["fix"]
    assert rows["outbox"]["status"] != "FAIL", "the fresh outbox is sound"
