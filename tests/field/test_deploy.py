"""deploy/: the units start commands that exist, the scripts parse, the watchdog restarts a
hung device program."""

from __future__ import annotations

import configparser
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import run_peakend

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(path)
    return parser


def test_there_are_units_for_broker_serve_kiosk_and_edge():
    assert {p.stem for p in UNITS} == {"peakend-broker", "peakend-serve", "peakend-kiosk",
                                       "peakend-edge"}
    for path in UNITS:
        service = unit(path)["Service"]
        assert service.get("Restart") in ("always", "on-failure"), path.name
    assert unit(DEPLOY / "systemd/peakend-edge.service")["Service"]["WatchdogSec"]
    kiosk = unit(DEPLOY / "systemd/peakend-kiosk.service")["Service"]
    assert "--blank 0" in kiosk["ExecStartPre"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.stem)
def test_every_unit_starts_a_peakend_command_with_options_that_exist(path):
    words = shlex.split(unit(path)["Service"]["ExecStart"].replace("$PEAKEND_BROKER_ARGS", ""))
    if "--" in words:  # the watchdog wrapper: check the command it runs
        assert words[1:3] == ["-m", "peakend.deploy.watchdog"]
        words = words[words.index("--") + 1:]
    assert words[0] == "/opt/peakend/bin/peakend"
    args = words[1:]
    options = [a for a in args if a.startswith("--")]
    command = [a for a in args if not a.startswith("-") and not a.startswith("/")][:2]
    command = command[:2] if command[:1] == ["edge"] else command[:1]
    helped = run_peakend(*command, "--help")
    assert helped.returncode == 0, helped.stderr
    for option in options:
        assert option in helped.stdout, f"{path.name}: {' '.join(command)} has no {option}"


def test_the_setup_scripts_parse():
    for script in ("pi-setup.sh", "install-deps.sh"):
        done = subprocess.run(["bash", "-n", str(DEPLOY / script)], capture_output=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(["bash", str(DEPLOY / "pi-setup.sh"), "toaster"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "usage" in done.stderr


def outbox(path: Path, next_seq: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (next_seq,))
    conn.commit()
    conn.close()


def test_the_watchdog_pings_systemd_while_the_outbox_moves_and_restarts_when_it_stops(tmp_path):
    box = tmp_path / "outbox.sqlite"
    outbox(box, 1)
    notify_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(0.1)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "peakend.deploy.watchdog", "--outbox", str(box), "--stale", "1.5",
         "--grace", "0", "--interval", "0.2", "--", "sleep", "60"],
        env={**os.environ, "NOTIFY_SOCKET": str(notify_path)}, stderr=subprocess.PIPE, text=True,
    )
    got: list[str] = []
    try:
        for seq in range(2, 12):  # the "device" writes a message every 0.25 s
            outbox(box, seq)
            deadline = time.monotonic() + 0.25
            while time.monotonic() < deadline:
                try:
                    got.append(sock.recv(100).decode())
                except TimeoutError:
                    pass
        assert proc.poll() is None, "restarted although messages kept coming"
        code = proc.wait(timeout=10)  # now the outbox stands still
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert code == 3
    assert "no new outbox message" in proc.stderr.read()
    assert got[0] == "READY=1" and got.count("WATCHDOG=1") >= 5
    assert time.monotonic() - started < 15



def can_connect(port: int, user: str, password: str) -> bool:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    result: list[bool] = []
    client.on_connect = lambda c, u, f, reason, p: result.append(not reason.is_failure)
    try:
        client.connect("127.0.0.1", port, keepalive=5)
    except OSError:
        return False
    deadline = time.monotonic() + 3
    while not result and time.monotonic() < deadline:
        client.loop(0.05)
    client.disconnect()
    return bool(result and result[0])


def test_peakend_broker_reloads_on_hup_and_stops_promptly_on_term():
    """What peakend-broker.service relies on: `systemctl reload` and `systemctl stop`."""
    import shutil
    import signal

    from hubtools import broker_root, wait_until
    from peakend.broker.field.mosquitto import BrokerDir, free_port, new_password, set_password

    root = broker_root()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "peakend.broker.cli", "broker", "--data", str(root / "b"),
         "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        while "mosquitto listening" not in (line := proc.stdout.readline()):
            assert line, "the broker did not start"
        d = BrokerDir(root / "b")
        mosquitto_pid = int(d.pid_file.read_text())
        password = new_password()
        set_password(d, "kiosk-01", password)  # written, but the broker not told
        assert not can_connect(port, "kiosk-01", password)
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: can_connect(port, "kiosk-01", password), 5)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not Path(f"/proc/{mosquitto_pid}").exists() or \
            "zombie" in Path(f"/proc/{mosquitto_pid}/status").read_text()
        assert not d.pid_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
