"""The kiosk's first start on a fresh Pi: its own message first, and no toolkit warnings.

A warning on every first start teaches techs to ignore warnings; Kivy's "Older configuration
version detected ... Upgrading configuration" was one, printed before the kiosk said anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_a_first_start_prints_no_kivy_warning_and_the_kiosk_speaks_first(
    write_config, tmp_path: Path
) -> None:
    config = write_config()
    assert not (tmp_path / ".kivy").exists(), "a first start: no Kivy home yet"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "KCFG_"))}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["SDL_VIDEODRIVER"] = "offscreen"
    proc = subprocess.Popen(
        [sys.executable, "-m", "peakend.broker.cli", "kiosk", "--config", str(config),
         "--windowed"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "Start application main loop" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
        lines += rest.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert any("Start application main loop" in line for line in lines), "\n".join(lines)
    assert "kiosk kiosk-01 starting" in lines[0], lines[:3]
    warnings = [line for line in lines if " WARNING kivy" in line or " ERROR kivy" in line]
    assert warnings == [], "\n".join(warnings)
    assert proc.returncode == 0, "\n".join(lines[-20:])
