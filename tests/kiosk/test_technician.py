"""The technician menu's rules without a window: the PIN, closing by itself, what the table and
the status line say. The window tests drive the same rules with real touches."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from peakend.broker.device.config import DeviceSection
from peakend.broker.device.link import LinkStats
from peakend.broker.device.pin import hash_pin, verify_pin
from peakend.kiosk.catalog import Catalog
from peakend.kiosk.technician import (
    CONNECT_GRACE_S,
    IDLE_S,
    ROWS,
    LinkWatch,
    PinVerdict,
    TechnicianMenu,
    link_problem,
    menu_rows,
)

CATALOG = Catalog(["en", "zh-Hans", "de"], "en", {})
PIN_HASH = hash_pin("4071")
NOON = datetime(2026, 12, 5, 12, 0).timestamp()  # local time, as the menu shows it
DEVICE = DeviceSection(id="kiosk-01", store="s001", zone="checkout", role="kiosk")


def stats(**over: object) -> LinkStats:
    values = dict(connected=False, outbox_depth=0, last_seq=0, acked_seq=0, acked_at=None,
                  last_error=None, broker="mqtt://kiosk-01:***@10.0.0.5:1883")
    return LinkStats(**{**values, **over})  # type: ignore[arg-type]


def test_the_right_pin_opens_the_menu_and_three_wrong_ones_lock_the_pad() -> None:
    menu = TechnicianMenu(PIN_HASH)
    menu.ask_pin(0.0)
    assert menu.enter_pin("9999", 1.0) is PinVerdict.WRONG
    assert menu.enter_pin("4071", 2.0) is PinVerdict.OPEN
    menu.ask_pin(3.0)  # a new visit starts with a full set of tries
    assert [menu.enter_pin("1", 4.0) for _ in range(3)] == [
        PinVerdict.WRONG, PinVerdict.WRONG, PinVerdict.LOCKED_OUT]
    assert menu.enter_pin("40710", 5.0) is not PinVerdict.OPEN
    assert menu.enter_pin("", 5.0) is not PinVerdict.OPEN


def test_the_menu_closes_itself_when_left_alone_and_each_touch_keeps_it_open() -> None:
    menu = TechnicianMenu(PIN_HASH)
    menu.ask_pin(100.0)
    assert not menu.expired(100.0 + IDLE_S)
    assert menu.expired(100.0 + IDLE_S + 0.1)
    menu.enter_pin("4071", 150.0)
    menu.test_queued(7, 200.0)
    assert not menu.expired(200.0 + IDLE_S)
    assert menu.expired(200.0 + IDLE_S + 0.1)


def test_the_status_line_follows_the_test_message_until_the_hub_confirms_it() -> None:
    menu = TechnicianMenu(PIN_HASH)
    assert menu.status(0, CATALOG) == ""
    menu.test_queued(12, 0.0)
    assert menu.status(11, CATALOG) == "Test message queued as seq 12"
    assert menu.status(12, CATALOG) == "Test message seq 12 confirmed by the hub"
    menu.enter_pin("4071", 1.0)  # the next visit starts without it
    assert menu.status(12, CATALOG) == ""


def test_the_table_shows_the_device_the_broker_without_password_and_the_first_error() -> None:
    rows = menu_rows(stats(outbox_depth=3, last_error="disconnected: Unspecified error"),
                     device=DEVICE, waiting_press=True, kiosk_error=None, version="1.2.3",
                     catalog=CATALOG, down_since=NOON, now=NOON + 600)
    assert tuple(rows) == ROWS
    assert rows["tech_device"] == "kiosk-01"
    assert rows["tech_store_zone"] == "s001 / checkout"
    assert rows["tech_broker"] == "not connected: 10.0.0.5:1883"
    assert rows["tech_outbox"] == "3" and rows["tech_journal"] == "1"
    assert rows["tech_last_ack"] == "never" and rows["tech_version"] == "1.2.3"
    assert rows["tech_last_error"] == (
        "cannot reach the hub at 10.0.0.5:1883 since 12:00; check the network cable or Wi-Fi, "
        "and that the hub is on")
    rows = menu_rows(stats(connected=True, acked_seq=9, acked_at=1_700_000_000.0),
                     device=DEVICE, waiting_press=False, kiosk_error="could not queue a rating",
                     version="1.2.3", catalog=CATALOG)
    assert rows["tech_broker"] == "connected: 10.0.0.5:1883"
    assert rows["tech_last_ack"].endswith("  (seq 9)") and rows["tech_journal"] == "0"
    assert rows["tech_last_error"] == "could not queue a rating"
    CATALOG.switch("zh-Hans")
    try:
        assert menu_rows(stats(), device=DEVICE, waiting_press=False, kiosk_error=None,
                         version="1", catalog=CATALOG)["tech_last_ack"] != "never"
    finally:
        CATALOG.reset()


def test_only_the_pin_the_hash_was_made_from_opens_the_menu() -> None:
    assert verify_pin("4071", PIN_HASH) and not verify_pin("4072", PIN_HASH)
    assert hash_pin("4071") != PIN_HASH, "salted: the same PIN hashes differently per kiosk"
    menu = TechnicianMenu(PIN_HASH)
    menu.ask_pin(0.0)
    assert menu.enter_pin(PIN_HASH, 1.0) is not PinVerdict.OPEN, "the hash is no PIN"
    assert menu.enter_pin("4071", 2.0) is PinVerdict.OPEN


def test_an_old_plain_pin_still_opens_and_no_pin_at_all_opens_nothing() -> None:
    old = TechnicianMenu(None, plain_pin="4071")
    old.ask_pin(0.0)
    assert old.enter_pin("4071", 1.0) is PinVerdict.OPEN
    locked = TechnicianMenu(None)
    locked.ask_pin(0.0)
    assert [locked.enter_pin(p, 1.0) for p in ("", "0000", "4071")] == [
        PinVerdict.WRONG, PinVerdict.WRONG, PinVerdict.LOCKED_OUT]


def test_provision_makes_a_pin_per_kiosk_prints_it_once_and_keeps_only_its_hash(
    bare_hub, tmp_path: Path, capsys
) -> None:
    from peakend.broker.cli.provision import main as provision_main
    from peakend.kiosk.settings import load_kiosk_config

    pins = []
    for device in ("kiosk-01", "kiosk-02"):
        out = tmp_path / f"{device}.toml"
        assert provision_main(["--data", str(bare_hub.dir.root), "--id", device,
                               "--store", "s001", "--zone", "checkout", "--role", "kiosk",
                               "--host", "127.0.0.1", "--out", str(out)]) == 0
        [line] = [ln for ln in capsys.readouterr().out.splitlines() if "technician PIN" in ln]
        pin = line.split(": ", 1)[1].split()[0]
        assert pin.isdigit() and len(pin) == 6
        pins.append(pin)
        config = load_kiosk_config(out)
        assert config.advice() == [] and config.technician.pin is None
        assert verify_pin(pin, config.technician.pin_hash or "")
        # The Pi's copy, inside the install script, carries the same hash and no PIN.
        scripts = [p.read_text() for p in (bare_hub.dir.root / "install").glob("*.sh")]
        assert any(f'pin_hash = "{config.technician.pin_hash}"' in t for t in scripts)
        for text in (out.read_text(), *scripts):
            assert f'"{pin}"' not in text and "\npin = " not in text
    assert pins[0] != pins[1], "each kiosk its own PIN (a one in a million clash aside)"


def test_a_camera_gets_no_pin(bare_hub, tmp_path: Path) -> None:
    from peakend.broker.field.provision import provision

    result = provision(bare_hub.dir.root, device_id="cam-01", store="s001",
                       zones=["checkout"], role="edge", host="127.0.0.1",
                       out=tmp_path / "edge.toml")
    assert result.technician_pin is None
    assert "pin_hash" not in (tmp_path / "edge.toml").read_text()


def test_an_outage_says_since_when_and_what_to_check_never_the_password() -> None:
    watch = LinkWatch()
    watch.observe(True, NOON - 60)
    assert watch.down_since is None
    watch.observe(False, NOON)
    watch.observe(False, NOON + 30)  # still down: the outage began at noon
    assert watch.down_since == NOON
    down = stats(last_error="disconnected: Unspecified error",
                 broker="mqtt://kiosk-01:***@hub.local:1883")
    text = link_problem(down, down_since=watch.down_since, now=NOON + 3600, catalog=CATALOG)
    assert text == ("cannot reach the hub at hub.local:1883 since 12:00; check the network "
                    "cable or Wi-Fi, and that the hub is on")
    assert "Unspecified" not in text and "***" not in text and "kiosk-01" not in text
    next_day = link_problem(down, down_since=NOON, now=NOON + 86400, catalog=CATALOG)
    assert next_day is not None and "since 2026-12-05 12:00" in next_day
    watch.observe(True, NOON + 4000)
    assert watch.down_since is None


def test_a_kiosk_still_connecting_is_no_error_until_the_grace_is_over() -> None:
    starting = stats(last_error=None)
    assert link_problem(starting, down_since=NOON, now=NOON + 2, catalog=CATALOG) is None
    late = link_problem(starting, down_since=NOON, now=NOON + CONNECT_GRACE_S, catalog=CATALOG)
    assert late is not None and late.startswith("cannot reach the hub at 10.0.0.5:1883")


def test_a_refused_kiosk_and_a_silent_hub_say_what_to_do() -> None:
    refused = link_problem(
        stats(last_error="broker refused the connection: Not authorized"),
        down_since=NOON, now=NOON + 5, catalog=CATALOG)
    assert refused == ("the hub at 10.0.0.5:1883 refused this kiosk (Not authorized); "
                       "provision the kiosk again and copy its new config")
    silent = link_problem(
        stats(connected=True, last_error="waiting for the hub to answer this device's birth"),
        down_since=None, now=NOON, catalog=CATALOG)
    assert silent is not None and "peakend serve" in silent
    assert link_problem(stats(connected=True), down_since=None, now=NOON,
                        catalog=CATALOG) is None
    CATALOG.switch("de")
    try:
        german = link_problem(stats(last_error="disconnected: x"), down_since=NOON,
                              now=NOON + 60, catalog=CATALOG)
        assert german is not None and "seit 12:00" in german and "10.0.0.5:1883" in german
    finally:
        CATALOG.reset()


def test_an_error_the_watch_has_not_seen_yet_is_dated_now_not_left_blank() -> None:
    text = link_problem(stats(last_error="disconnected: Unspecified error"), down_since=None,
                        now=NOON + 60, catalog=CATALOG)
    assert text is not None and "since 12:01;" in text
