"""Run a device command under systemd's watchdog, judged by what it writes to its outbox.

A camera pipeline can hang without dying (a stuck V4L2 read, a wedged driver): systemd's
``Restart=`` never sees that. The edge writes a health message into its outbox every
``[health] interval_s``, so a growing outbox sequence is proof of life that needs no change to
the program itself. This wrapper starts the command, pings systemd (``WATCHDOG=1`` on
``$NOTIFY_SOCKET``) while the outbox's sequence moves, and when it has not moved for
``--stale`` seconds stops the command and exits non-zero, so systemd restarts the service.
If the wrapper itself hangs, the missing pings make systemd kill it (``WatchdogSec=``).

    python -m peakend.deploy.watchdog --outbox /var/lib/peakend/outbox.sqlite --stale 300 -- \
        /opt/peakend/bin/peakend edge run --config /etc/peakend/edge.toml
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

STALE_EXIT = 3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m peakend.deploy.watchdog", description=__doc__)
    p.add_argument("--outbox", type=Path, required=True, help="the device's outbox.sqlite")
    p.add_argument("--stale", type=float, default=300.0,
                   help="seconds without a new outbox message before a restart (default 300)")
    p.add_argument("--grace", type=float, default=120.0,
                   help="seconds after start before staleness counts (default 120)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between looks")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command to run after --")
    child = subprocess.Popen(command)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    notify("READY=1")
    started = last_change = time.monotonic()
    last_seq = outbox_seq(args.outbox)
    while True:
        try:
            code = child.wait(timeout=args.interval)
            return code
        except subprocess.TimeoutExpired:
            pass
        seq = outbox_seq(args.outbox)
        now = time.monotonic()
        if seq != last_seq:
            last_seq, last_change = seq, now
        fresh = now - started < args.grace or now - last_change < args.stale
        if fresh:
            notify("WATCHDOG=1")
            continue
        print(f"watchdog: no new outbox message for {now - last_change:.0f}s "
              f"(last seq {last_seq}); restarting", file=sys.stderr, flush=True)
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return STALE_EXIT


def outbox_seq(path: Path) -> int | None:
    """The next sequence number the device will use (it grows with every message)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


def notify(state: str) -> None:
    """sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, if systemd set it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
