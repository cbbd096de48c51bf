"""A damaged outbox (a power cut on an SD card) is set aside with a clear message, whatever can
still be read is queued again, and the device runs on; through a real hub, the recovered
messages are stored once and the unreadable ones declared lost, so the ack moves past them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from peakend.broker.device.link import DeviceLink, LinkSettings
from peakend.broker.device.outbox import Outbox

PAGE = 4096


def set_aside_files(path: Path) -> list[Path]:
    # imported here, so that the end-to-end test runs (and fails) on code without salvage
    from peakend.broker.device.salvage import set_aside_files

    return set_aside_files(path)


def check_set_aside(path: Path, what: str):  # type: ignore[no-untyped-def]
    from peakend.broker.device.checks import check_set_aside

    return check_set_aside(path, what)


def box(path: Path) -> Outbox:
    return Outbox(path, device_id="kiosk-01", store_id="s001")


def filled(path: Path, count: int = 300, acked: int = 20) -> dict[int, bytes]:
    """A real outbox of ``count`` ratings with the first ``acked`` acked, closed (its WAL is
    in the file); returns the payload of each seq still in it."""
    b = box(path)
    for i in range(count):
        b.append("rating", {"score": 1 + i % 4, "reason": f"r{i:04d}" * 8}, zone_id="checkout")
    b.acknowledge(acked)
    payloads = {p.seq: p.payload for p in b.pending(0, count)}
    b.close()
    return payloads


def readable(path: Path, payloads: dict[int, bytes]) -> dict[int, bytes]:
    """What a plain look-up of each seq can still read from a damaged copy: the oracle for
    'nothing readable is lost'. The copy's header no longer claims a page count (bytes 28-31),
    so that a file cut short reads up to where it ends."""
    copy = path.with_name("oracle.sqlite")
    shutil.copy(path, copy)
    with open(copy, "r+b") as f:
        f.seek(28)
        f.write(bytes(4))
    out: dict[int, bytes] = {}
    try:
        db = sqlite3.connect(copy)
    except sqlite3.DatabaseError:
        return out
    for seq in payloads:
        try:
            row = db.execute("SELECT payload FROM outbox WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row and bytes(row[0]) == payloads[seq]:
            out[seq] = bytes(row[0])
    db.close()
    copy.unlink()
    return out


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def garbage_over(path: Path, marker: bytes) -> None:
    """Random bytes over the whole page that holds ``marker`` (a row's bytes)."""
    data = path.read_bytes()
    at = data.index(marker)
    with open(path, "r+b") as f:
        f.seek(at // PAGE * PAGE)
        f.write(os.urandom(PAGE))


def garbage_in_the_middle(path: Path) -> None:
    garbage_over(path, b'"seq":200,')


@pytest.mark.parametrize("damage", [truncate, random_bytes, garbage_in_the_middle])
def test_a_damaged_outbox_is_set_aside_and_what_can_be_read_is_queued_again(
    tmp_path, caplog, damage
):
    path = tmp_path / "outbox.sqlite"
    payloads = filled(path)
    damage(path)
    oracle = readable(path, payloads)
    with caplog.at_level(logging.ERROR):
        b = box(path)
    try:
        [aside] = set_aside_files(path)
        report = b.salvage_report or ""
        assert report in caplog.text
        assert "outbox.sqlite: the outbox file was damaged (" in report
        assert f"moved aside to {aside.name}" in report and "fresh outbox" in report
        pending = {p.seq: p.payload for p in b.pending(0, 10_000)}
        ratings = {s: p for s, p in pending.items() if b'"type":"rating"' in p}
        # every message that was still readable is queued again, unchanged
        assert ratings == {s: p for s, p in oracle.items() if s in payloads}
        said = f"Recovered {len(ratings)} unsent message(s)" if ratings else "No message in it"
        assert said in report
        # the device goes on: the next message follows the old history
        nxt = b.append("rating", {"score": 4}, zone_id="checkout")
        if "metadata could not be read" not in report:
            assert nxt.seq > 300
        else:  # as a fresh device: the hub's answer to its birth renumbers it
            assert not b.get_flag("hub_synced")
    finally:
        b.close()
    # the doctor says it, with what was saved and the fix
    check = check_set_aside(path, "outbox")
    assert check.status == "WARN" and aside.name in check.detail and report in check.detail
    assert "replace the card" in check.fix


def tear_first_page(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(os.urandom(PAGE))


def test_a_torn_first_page_loses_nothing_the_other_pages_hold(tmp_path):
    """SQLite cannot read a file whose first page (its header and schema) is torn, the page a
    power cut most often tears; the rows are read from the table pages themselves."""
    path = tmp_path / "outbox.sqlite"
    payloads = filled(path)
    tear_first_page(path)
    assert readable(path, payloads) == {}, "SQLite itself reads nothing"
    b = box(path)
    try:
        assert {p.seq: p.payload for p in b.pending(0, 10_000)} == payloads
        assert b.acked_seq == 20 and b.append("rating", {"score": 1}, zone_id="checkout").seq == 301
        assert "Recovered 280 unsent message(s) (seq 21-300)" in (b.salvage_report or "")
    finally:
        b.close()


def test_messages_longer_than_a_page_are_read_from_their_overflow_pages(tmp_path):
    path = tmp_path / "outbox.sqlite"
    b = box(path)
    for i in range(20):
        vitals = {f"v{k:03d}": "x" * 40 for k in range(74 + i % 3)}  # 3.9-4.09 KB envelopes
        b.append("health", {"fps": float(i), **vitals}, zone_id=None)
    payloads = {p.seq: p.payload for p in b.pending(0, 100)}
    b.close()
    assert max(len(p) for p in payloads.values()) > PAGE - 35, "some spill to overflow pages"
    tear_first_page(path)
    b = box(path)
    try:
        assert {p.seq: p.payload for p in b.pending(0, 100)} == payloads
    finally:
        b.close()


def test_rows_below_a_damaged_interior_page_are_recovered(tmp_path):
    """A damaged interior page of the b-tree hides every intact leaf below it from SQLite; the
    leaves are read directly."""
    path = tmp_path / "outbox.sqlite"
    payloads = filled(path)
    db = sqlite3.connect(path)
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'").fetchone()[0]
    db.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * PAGE)
        f.write(os.urandom(PAGE))
    assert readable(path, payloads) == {}, "SQLite itself reads no message"
    b = box(path)
    try:
        assert {p.seq: p.payload for p in b.pending(0, 10_000)} == payloads
        assert b.acked_seq == 20
    finally:
        b.close()


def test_rows_still_in_the_wal_when_the_power_went_are_recovered(tmp_path):
    live = tmp_path / "live.sqlite"
    b = box(live)
    for i in range(200):
        b.append("rating", {"score": 1 + i % 4, "reason": f"r{i:04d}" * 8}, zone_id="checkout")
    b.acknowledge(50)
    payloads = {p.seq: p.payload for p in b.pending(0, 1000)}
    # the power goes: the file and its WAL as they are on the card at this moment
    path = tmp_path / "outbox.sqlite"
    shutil.copy(live, path)
    shutil.copy(str(live) + "-wal", str(path) + "-wal")
    b.close()
    assert Path(str(path) + "-wal").stat().st_size > 100 * PAGE, "the rows are in the WAL"
    tear_first_page(path)
    b = box(path)
    try:
        assert {p.seq: p.payload for p in b.pending(0, 10_000)} == payloads
        assert b.acked_seq == 50
    finally:
        b.close()


def test_unreadable_messages_are_declared_lost_so_the_hubs_ack_can_pass_them(tmp_path):
    path = tmp_path / "outbox.sqlite"
    payloads = filled(path)
    garbage_in_the_middle(path)
    b = box(path)
    try:
        pending = b.pending(0, 10_000)
        notices = [p for p in pending if b'"skipped":' in p.payload]
        declared = {
            s
            for n in notices
            for a, z in json.loads(n.payload)["data"]["skipped"]
            for s in range(a, z + 1)
        }
        present = {p.seq for p in pending} - {n.seq for n in notices}
        assert declared, "the damage hit some messages"
        # every seq the hub has not acked is either queued again or declared lost, never both
        assert present | declared == set(payloads)
        assert not present & declared
        assert "declared lost to the hub" in (b.salvage_report or "")
    finally:
        b.close()


def test_a_sound_outbox_is_left_alone(tmp_path):
    path = tmp_path / "outbox.sqlite"
    payloads = filled(path, count=10, acked=0)
    b = box(path)
    try:
        assert b.salvage_report is None and set_aside_files(path) == []
        assert {p.seq: p.payload for p in b.pending(0, 100)} == payloads
    finally:
        b.close()
    assert check_set_aside(path, "outbox").status == "PASS"


def test_a_crash_between_the_renames_is_finished_at_the_next_start(tmp_path):
    path = tmp_path / "outbox.sqlite"
    filled(path, count=10, acked=0)
    random_bytes(path)
    box(path).close()
    # as if the power went between moving the damaged file aside and the fresh one in
    path.replace(path.with_name("outbox.sqlite.new"))
    b = box(path)
    try:
        assert b.salvage_report is None
        assert not path.with_name("outbox.sqlite.new").exists()
        assert b.append("rating", {"score": 2}, zone_id="checkout").seq >= 1
    finally:
        b.close()


def test_a_locked_or_unreachable_file_is_not_taken_for_a_damaged_one(tmp_path):
    """Only SQLite's 'damaged' answers set a file aside; a lock (another process) or a full
    disk is no reason to move the device's messages away."""
    path = tmp_path / "plain.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            sqlite3.connect(path, timeout=0).execute("SELECT * FROM t").fetchall()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    from peakend.broker.device.salvage import is_damage

    assert "locked" in str(locked.value) and not is_damage(locked.value)
    random_bytes(path)
    with pytest.raises(sqlite3.DatabaseError) as garbage:
        sqlite3.connect(path).execute("SELECT * FROM t").fetchall()
    assert is_damage(garbage.value)


def test_recovered_messages_reach_the_hub_once_and_the_ack_passes_the_lost(hub, tmp_path):
    """The power goes while the hub was away: part of the outbox had reached the broker, the
    rest never left; the file is damaged. After the restart nothing is stored twice, everything
    readable is stored, and the device's ack reaches its last seq."""
    url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
    path = tmp_path / "outbox.sqlite"

    def link() -> DeviceLink:
        return DeviceLink(LinkSettings(
            mqtt_url=url, device_id="kiosk-01", store_id="s001", zone_id="checkout",
            role="kiosk", outbox_path=path,
        ))

    first = link()
    first.start()
    try:
        for i in range(100):  # heard by the hub: acked, gone from the outbox
            first.send("rating", {"score": 1 + i % 4, "reason": f"r{i:04d}" * 8})
        assert first.wait_acked(timeout=30), first.stats()
        hub.stop_aggregator()
        # seqs 101-250 reach the broker, which keeps them for the stopped hub
        for i in range(100, 250):
            first.send("rating", {"score": 1 + i % 4, "reason": f"r{i:04d}" * 8})
        time.sleep(2.0)
    finally:
        first.stop()
    b = box(path)
    for i in range(250, 400):  # never left the device
        b.append("rating", {"score": 1 + i % 4, "reason": f"r{i:04d}" * 8}, zone_id="checkout")
    b.close()
    # as stored (a publication adds the event's age when the clock is not synchronised)
    db = sqlite3.connect(path)
    unacked = {seq: bytes(p) for seq, p in db.execute("SELECT seq, payload FROM outbox")}
    db.close()
    garbage_over(path, b'"seq":300,')  # a message that never left the device
    oracle = readable(path, unacked)
    hub.start_aggregator()
    second = link()
    assert second.outbox.salvage_report
    second.start()
    try:
        assert second.wait_acked(timeout=60), second.stats()
        last = second.stats().last_seq
    finally:
        second.stop()
    stored = hub.rows("SELECT seq, msg_id FROM ratings ORDER BY seq")
    seqs = [r["seq"] for r in stored]
    assert len(seqs) == len(set(seqs)) and len({r["msg_id"] for r in stored}) == len(stored)
    stored_ids = {r["msg_id"] for r in stored}
    # everything readable, and everything the broker held, is stored: once
    for seq, payload in oracle.items():
        assert json.loads(payload)["msg_id"] in stored_ids, seq
    assert set(range(1, 251)) <= set(seqs)
    lost = set(unacked) - set(oracle) - set(range(1, 251))
    assert lost, "the damage hit messages that never left the device"
    assert not lost & set(seqs)
    skipped = {seq for r in hub.rows(
        "SELECT first_seq, last_seq FROM skipped_ranges WHERE device_id = 'kiosk-01'")
        for seq in range(r["first_seq"], r["last_seq"] + 1)}
    assert lost <= skipped
    assert hub.scalar("SELECT acked_seq FROM devices WHERE device_id = 'kiosk-01'") == last
