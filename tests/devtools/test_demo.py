"""`peakend demo` brings the whole store up through the real parts and says where to look."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from hubtools import PEAKEND


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_runs_the_store_and_fills_the_reports():
    data = Path(tempfile.mkdtemp(prefix="peakend-demo-test-"))
    data.chmod(0o755)
    proc = subprocess.Popen(
        [
            *PEAKEND,
            "demo",
            "--data",
            str(data),
            "--duration",
            "45",
            "--no-window",
            "--history-days",
            "1",
            "--http",
            "127.0.0.1:0",
            "--shoppers-per-min",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if found and url is None:
            url = found.group(1)
        if "running for" in line:
            break
    assert url, "".join(lines)
    page = urllib.request.urlopen(url + "login", timeout=10).read().decode()
    assert "password" in page.lower()
    rest, _ = proc.communicate(timeout=200)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert re.search(r"own broker on 127\.0\.0\.1:(\d+)", out)
    assert "1883" not in re.search(r"own broker on (\S+)", out).group(1)

    db = sqlite3.connect(data / "hub.sqlite")
    # Live devices, not only the history sent at start: presses and replayed camera visits
    # stamped after the history was done.
    history_done = (data / ".history-sent").read_text().strip()
    since = history_done[:23] + "Z"
    live_presses = db.execute(
        "SELECT count(*) FROM ratings WHERE device_id = 'kiosk-01' AND ts > ?", (since,)
    ).fetchone()[0]
    camera_visits = db.execute(
        "SELECT count(*) FROM dwells WHERE device_id = 'cam-01' AND ts > ?", (since,)
    ).fetchone()[0]
    assert live_presses > 0 and camera_visits > 0, out
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] >= 1, out
    assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0, out
