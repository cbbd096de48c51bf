"""The outbox keeps each event's stamp on the boot clock and each publication says the event's
age (``age_s``) at that moment; rows from another boot, or from earlier versions, go without."""

from __future__ import annotations

import json
import sqlite3
import time

from peakend.broker.device import clock
from peakend.broker.device.clock import Stamp
from peakend.broker.device.outbox import Outbox


def box(tmp_path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite", device_id="kiosk-01", store_id="s001")


def test_each_publication_says_the_age_at_that_moment(tmp_path):
    b = box(tmp_path)
    ten_s_ago = Stamp(clock.boot_id(), clock.stamp().elapsed - 10.0)
    b.append("rating", {"score": 2}, zone_id="checkout", clock_synced=False, at=ten_s_ago)
    first = json.loads(b.pending(0, 10)[0].payload)
    time.sleep(0.3)
    again = json.loads(b.pending(0, 10)[0].payload)
    assert 10.0 <= first["age_s"] < 10.3
    assert again["age_s"] >= first["age_s"] + 0.29
    b.close()


def test_a_synchronised_clock_sends_no_age_and_the_envelope_is_unchanged(tmp_path):
    b = box(tmp_path)
    env = b.append("rating", {"score": 2}, zone_id="checkout", clock_synced=True)
    [row] = b.pending(0, 10)
    assert row.payload == env.to_json() and b"age_s" not in row.payload
    b.close()


def test_a_row_from_before_a_reboot_goes_out_without_an_age(tmp_path):
    """The boot clock started again at zero: how long the device was off is unknown, so the
    hub falls back to its receive time, as for devices that send no age."""
    b = box(tmp_path)
    before = Stamp("another-boot", 5.0)
    env = b.append("rating", {"score": 2}, zone_id="checkout", clock_synced=False, at=before)
    [row] = b.pending(0, 10)
    assert row.payload == env.to_json() and b"age_s" not in row.payload
    b.close()


def test_an_outbox_of_an_earlier_version_is_read_and_its_rows_go_out_without_an_age(tmp_path):
    path = tmp_path / "outbox.sqlite"
    b = box(tmp_path)
    env = b.append("rating", {"score": 4}, zone_id="checkout", clock_synced=False)
    b.close()
    # what an earlier version's file looks like: no stamp columns
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE old AS SELECT seq, type, topic, payload, created FROM outbox;"
        "DROP TABLE outbox; CREATE TABLE outbox (seq INTEGER PRIMARY KEY, type TEXT NOT NULL,"
        " topic TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL);"
        "INSERT INTO outbox SELECT * FROM old; DROP TABLE old;"
    )
    db.close()
    b = box(tmp_path)
    [row] = b.pending(0, 10)
    assert row.payload == env.to_json()
    later = b.append("rating", {"score": 1}, zone_id="checkout", clock_synced=False)
    assert [json.loads(p.payload).get("age_s") is not None for p in b.pending(0, 10)] == [
        False, True]
    assert later.seq == 2
    b.close()


def test_a_renumbered_outbox_keeps_each_events_age(tmp_path):
    b = box(tmp_path)
    ago = Stamp(clock.boot_id(), clock.stamp().elapsed - 60.0)
    b.append("rating", {"score": 2}, zone_id="checkout", clock_synced=False, at=ago)
    b.adopt_hub_seq(40, first_contact=True)
    [row] = b.pending(0, 10)
    doc = json.loads(row.payload)
    assert doc["seq"] == 41 and 60.0 <= doc["age_s"] < 61.0
    b.close()
