"""The chain simulator ends at once, naming the device, when one of its devices fails."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from peakend.broker.field.mosquitto import free_port


def test_a_failing_device_ends_the_run_at_once_with_its_reason(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens: the good device only queues in its outbox
    specs = [
        {"device": "kiosk-1", "store": "s001", "zone": "checkout", "role": "kiosk",
         "url": f"mqtt://kiosk-1:pw@127.0.0.1:{dead}"},
        {"device": "kiosk-2", "store": "s001", "zone": "Bad Zone", "role": "kiosk",
         "url": f"mqtt://kiosk-2:pw@127.0.0.1:{dead}"},
    ]
    (tmp_path / "devices.json").write_text(json.dumps(specs))
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "peakend.broker.devtools.simulate_chain", "--devices",
         str(tmp_path / "devices.json"), "--outbox-dir", str(tmp_path / "out"), "--count", "5",
         "--rate", "50", "--wait-acked", "120"],
        capture_output=True, text=True, timeout=100,
    )
    assert run.returncode == 2, run.stderr
    assert "kiosk-2" in run.stderr and "zone_id" in run.stderr
    assert "kiosk-1:" not in run.stderr
    # it did not wait out --wait-acked for acks that cannot come
    assert time.monotonic() - started < 60
