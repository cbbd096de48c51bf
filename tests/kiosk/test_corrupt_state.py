"""A press journal or an outbox damaged by a power cut: the kiosk starts, says what it found
and saved, sends the presses still readable once, and keeps taking ratings (in its window, and
as the `peakend kiosk` process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kiosk_drive import assert_drawn, frames, screenshot, tap, until

from peakend.broker.device.outbox import Outbox
from peakend.kiosk.doctor import role_checks
from peakend.kiosk.journal import PressJournal
from peakend.kiosk.settings import load_kiosk_config
from peakend.kiosk.station import Station

PAGE = 4096


def garbage_over(path: Path, marker: bytes) -> None:
    """Random bytes over the whole page that holds ``marker`` (a row's bytes)."""
    data = path.read_bytes()
    at = data.index(marker)
    with open(path, "r+b") as f:
        f.seek(at // PAGE * PAGE)
        f.write(os.urandom(PAGE))


def ratings(station: Station) -> list[dict]:
    docs = [json.loads(r.payload) for r in station.link.outbox.pending(0, 10_000)]
    return [d for d in docs if d["type"] == "rating"]


def test_a_damaged_journal_is_set_aside_and_its_unsent_presses_go_out_once(
    write_config, caplog
) -> None:
    path = write_config()
    station = Station.open(path)
    journal_path = station.journal.path
    # 400 presses: the first 300 reached the outbox (and the last 100 of them were never
    # marked sent: the power went in between), the last 100 still waited for their reasons
    presses = [station.journal.record(1 + i % 4, ()) for i in range(400)]
    for press in presses[:300]:
        envelope = station.link.send("rating", {"score": press.score}, ts=press.pressed_at,
                                     msg_id=press.msg_id)
        if press.id <= 200:
            station.journal.mark_sent(press, None, envelope.seq)
    station.link.outbox.close()
    station.journal.close()
    # the page of the table (not of its msg_id index) that holds an unsent press
    garbage_over(journal_path, presses[300].pressed_at.isoformat().encode())

    station = Station.open(path)
    try:
        report = station.journal.salvage_report or ""
        from peakend.broker.device.salvage import set_aside_files

        [aside] = set_aside_files(journal_path)
        assert "presses.sqlite: the press journal file was damaged (" in report
        assert aside.name in report and "Recovered" in report
        unsent = station.journal.unsent()
        assert 0 < len(unsent) < 200, "some presses were readable, some were not"
        station.start()
        sent = ratings(station)
        ids = [d["msg_id"] for d in sent]
        assert len(ids) == len(set(ids)), "no press is in the outbox twice"
        assert {str(p.msg_id) for p in unsent} <= set(ids)
        assert set(ids) <= {str(p.msg_id) for p in presses}
        assert station.journal.unsent() == []
    finally:
        station.stop()
    [journal] = [c for c in role_checks(load_kiosk_config(path), path) if "journal" in c.name]
    assert journal.status == "WARN" and aside.name in journal.detail


@pytest.fixture
def damaged_files(write_config) -> Path:
    """A kiosk config whose outbox and journal are random bytes, as after a bad power cut."""
    path = write_config(thanks_s="0.5", repeat_interval_s="0.0")
    station = Station.open(path)
    outbox, journal = station.link.settings.outbox_path, station.journal.path
    for _ in range(30):
        station.touchpoint.press(4)
    station.stop()
    for file in (outbox, journal):
        file.write_bytes(os.urandom(max(file.stat().st_size, 8 * PAGE)))
    return path


def test_the_window_starts_over_damaged_files_and_takes_ratings(
    window, damaged_files, artifacts
) -> None:
    from peakend.kiosk.app import KioskApp

    station = Station.open(damaged_files)
    app = KioskApp(station)
    app._run_prepare()
    try:
        frames(3)
        assert station.link.outbox.salvage_report and station.journal.salvage_report
        assert_drawn(screenshot(artifacts / "question-after-damaged-files.png"))
        tap(app.question.smileys[4])
        assert app.current == "reason"
        until(lambda: False, 0.45)  # past the same-finger guard
        tap(app.reason.buttons["fast"])
        assert app.current == "thanks"
        [sent] = ratings(station)
        assert sent["data"] == {"score": 4, "reason": "fast", "flags": []}
    finally:
        app.dispatch("on_stop")
        for child in window.children[:]:
            window.remove_widget(child)


def test_the_kiosk_process_starts_over_damaged_files_without_a_traceback(damaged_files) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "peakend.broker.cli", "kiosk", "--config", str(damaged_files),
         "--simulate", "600", "--duration", "3"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "the outbox file was damaged" in result.stderr
    assert "the press journal file was damaged" in result.stderr
    assert "simulated" in result.stdout and "0 press(es)" not in result.stdout
    outbox = Outbox(Path(damaged_files).parent / "outbox.sqlite", device_id="kiosk-01",
                    store_id="s001")
    try:
        assert outbox.salvage_report is None, "the fresh outbox is sound"
        assert outbox.depth > 0
    finally:
        outbox.close()


def test_a_journal_with_a_torn_first_page_keeps_every_press(tmp_path) -> None:
    """The first page (header and schema) is the one a power cut most often tears; the presses
    are read from the table's own pages."""
    path = tmp_path / "presses.sqlite"
    journal = PressJournal(path)
    presses = [journal.record(1 + i % 4, ("repeat",) if i % 7 == 0 else ()) for i in range(120)]
    for press in presses[:80]:
        journal.mark_sent(press, "wait", press.id)
    journal.close()
    with open(path, "r+b") as f:
        f.write(os.urandom(PAGE))
    journal = PressJournal(path)
    try:
        assert "Recovered 120 press(es); the 40 not yet sent" in (journal.salvage_report or "")
        assert journal.unsent() == presses[80:]
        assert journal.count() == 120
    finally:
        journal.close()
