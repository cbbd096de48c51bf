"""The kiosk's part of ``peakend doctor --config kiosk.toml``: its config read with its own
model, a display and a touch screen being there, and no damaged press journal set aside. The
checks every device shares (broker, account, clock, disk, outbox and a damaged outbox set
aside) are :mod:`peakend.broker.field.doctor`'s."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peakend.broker.device.checks import Check, check_set_aside


def load_config(path: Path) -> Any:
    """kiosk.toml through the kiosk's model; raises ConfigError with the field and the fix."""
    from peakend.kiosk.settings import load_kiosk_config

    return load_kiosk_config(path)


def role_checks(cfg: Any, path: Path, *, camera: bool = True) -> list[Check]:
    """What only a kiosk needs (``camera`` is the edge's option and means nothing here)."""
    from peakend.kiosk.settings import state_path

    journal = check_set_aside(state_path(path, cfg.kiosk.journal), "journal")
    return [check_technician_pin(cfg), *check_display_and_touch(), journal]


def check_technician_pin(cfg: Any) -> Check:
    """A kiosk provisioned by an earlier release keeps its PIN in plain text; one never
    provisioned has none, and its menu cannot be opened."""
    advice = cfg.advice()
    if advice:
        return Check("technician PIN", "WARN", advice[0],
                     "peakend provision --data DIR --id ID --store S --zone Z --role kiosk, "
                     "then copy the new config (it prints the PIN once)")
    return Check("technician PIN", "PASS", "set by provisioning, kept as a salted hash")


def check_display_and_touch(
    dri: Path = Path("/dev/dri"), input_devices: Path = Path("/proc/bus/input/devices")
) -> list[Check]:
    cards = sorted(p.name for p in dri.glob("card*")) if dri.exists() else []
    session = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    if cards or session:
        display = Check("display", "PASS", ", ".join(cards) or f"display {session}")
    else:
        display = Check("display", "FAIL", "no /dev/dri/card* and no DISPLAY",
                        "connect the screen before power-on; on a Pi enable KMS "
                        "(dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt) and reboot")
    names = touch_devices(input_devices)
    if names:
        touch = Check("touch", "PASS", ", ".join(names))
    else:
        touch = Check("touch", "FAIL", "no touch input device found",
                      "check the touch cable/USB; `cat /proc/bus/input/devices` should list it")
    return [display, touch]


def touch_devices(
    path: Path = Path("/proc/bus/input/devices"), word_bits: int | None = None
) -> list[str]:
    """Input devices that report touches (BTN_TOUCH in their key bitmap).

    The kernel prints the bitmap in words of its ``long``: 64 bits on a 64-bit OS, 32 on
    32-bit Raspberry Pi OS."""
    import ctypes

    word_bits = word_bits or ctypes.sizeof(ctypes.c_long) * 8
    btn_touch = 0x14A
    try:
        blocks = path.read_text().split("\n\n")
    except OSError:
        return []
    found = []
    for block in blocks:
        name, keys = "", ""
        for line in block.splitlines():
            if line.startswith("N: Name="):
                name = line.split("=", 1)[1].strip('"')
            elif line.startswith("B: KEY="):
                keys = line.split("=", 1)[1]
        if keys:
            words = keys.split()
            bits = 0
            for word in words:  # most significant word first
                bits = (bits << word_bits) | int(word, 16)
            if bits >> btn_touch & 1:
                found.append(name or "touch device")
    return found
