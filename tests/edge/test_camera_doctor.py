"""`peakend doctor` on a camera whose source cannot be opened: the project's own sentence
comes first (no raw OpenCV warnings), and the fix fits the kind of source."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hubtools import PEAKEND

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "edge.toml"


def doctor(tmp_path: Path, source: str) -> tuple[dict, str]:
    config = tmp_path / "edge.toml"
    config.write_text(EXAMPLE.read_text().replace('source = "0"', f'source = "{source}"'))
    done = subprocess.run([*PEAKEND, "doctor", "--config", str(config), "--json"],
                          capture_output=True, text=True, timeout=120)
    rows = {c["name"]: c for c in json.loads(done.stdout)}
    return rows["camera"], done.stderr


@pytest.mark.parametrize("source, says, not_says", [
    ("97", ["/dev/video97", "USB cable"], ["path"]),
    ("missing.mp4", ["missing.mp4 does not exist", "check its path"], ["cable"]),
    ("rtsp://cam:Zq7secret@127.0.0.1:1/stream", ["URL, user and password"], ["Zq7secret"]),
])
def test_a_source_that_cannot_open_gets_a_fix_for_its_kind(tmp_path, source, says, not_says):
    row, stderr = doctor(tmp_path, source)
    assert row["status"] == "FAIL"
    text = row["detail"] + " " + row.get("fix", "")
    for word in says:
        assert word in text, text
    for word in not_says:
        assert word not in text, text
    assert "[ WARN" not in stderr and "global cap_" not in stderr, stderr
