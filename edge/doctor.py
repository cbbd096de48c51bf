"""The camera's part of ``peakend doctor --config edge.toml``: its config read with its own
model, and the camera giving frames. The checks every device shares (broker, account, clock,
disk, outbox) are :mod:`peakend.broker.field.doctor`'s."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from peakend.broker.device.checks import Check


def load_config(path: Path) -> Any:
    """edge.toml through the edge's model; raises ConfigError with the field and the fix."""
    from peakend.edge.config import load

    return load(path)[0]


def role_checks(cfg: Any, path: Path, *, camera: bool = True) -> list[Check]:
    return [
        check_camera(cfg, path) if camera else Check("camera", "SKIP", "--no-camera given"),
        check_scale(cfg, path),
        check_pace(cfg, path),
    ]


def check_scale(cfg: Any, config_path: Path) -> Check:
    """What the camera learned of a person's size, from the state file it keeps between
    restarts. Not learned yet is a warning, not a failure: a camera calibrates itself within
    minutes of people walking by."""
    from peakend.broker.device.config import resolve
    from peakend.edge.calibration import SavedCalibration

    state = resolve(config_path.parent, cfg.calibration.path)
    saved = SavedCalibration.read(state)
    override = getattr(cfg.detector, "person_px", None)
    if saved is None:
        how = f"person_px = {override:g} set by hand" if override else "nothing learned yet"
        return Check("person size", "WARN", f"{how}; no state file at {state}",
                     "let people walk through the view for a few minutes, or run "
                     "`peakend edge calibrate --config FILE --write` to see and keep it")
    s = saved.scale
    slope = f", {s.slope:+.3f} px per row from row {s.ref_row:.0f}" if s.slope else ""
    text = f"{s.size_px:.0f} px{slope}, learned from {saved.people} people ({saved.view})"
    if saved.people < cfg.calibration.min_people:
        return Check("person size", "WARN", text + " - still calibrating",
                     "let more people walk through the view")
    if override and abs(override - s.size_px) > 0.2 * s.size_px:
        return Check("person size", "WARN",
                     f"{text}; person_px = {override:g} in the config disagrees",
                     "remove person_px from [detector], or run `peakend edge calibrate "
                     "--config FILE --write`")
    return Check("person size", "PASS", text)


# When the camera first writes the pace file: the quickest walk is kept from the first
# shopper measured through the lane, the gaps from the first two served back to back.
PACE_KEPT_WHEN = "kept once a shopper has gone through the lane"


def check_pace(cfg: Any, config_path: Path) -> Check:
    """The till's pace kept between restarts, per queue. None kept yet is normal; a file the
    camera cannot read is a warning: the pace is learned again after each start until the
    file is replaced."""
    from peakend.broker.device.config import resolve
    from peakend.edge.till_pace import SavedPace

    queues = [z.name for z in cfg.zones if z.is_queue]
    if not queues:
        return Check("till pace", "SKIP", "no zone has an exit line")
    state = resolve(config_path.parent, cfg.queue.pace_path)
    if not state.exists():
        return Check("till pace", "PASS", f"none kept yet at {state}: {PACE_KEPT_WHEN}")
    saved = SavedPace.read(state)
    if saved is None:
        return Check("till pace", "WARN", f"{state} is damaged or holds no usable pace",
                     f"delete it: the camera writes a new one, {PACE_KEPT_WHEN}")
    parts = []
    for name in queues:
        pace = saved.zones.get(name)
        if pace is None:
            parts.append(f"{name}: none kept")
            continue
        gaps = pace.gaps
        median = (f"median {statistics.median(gaps):.1f} s over {len(gaps)} services" if gaps
                  else "no service yet")
        walk = "" if pace.walk_s is None else f", walk {pace.walk_s:.1f} s"
        parts.append(f"{name}: {median}{walk}")
    return Check("till pace", "PASS", "; ".join(parts))


def _camera_fix(spec: str, config_path: Path) -> str:
    """What to check, by the kind of source: a cable is no help with a missing file."""
    if spec == "picamera2":
        return ("check the camera's ribbon cable and that `rpicam-hello --list-cameras` lists "
                "it; stop the camera service first (`sudo systemctl stop peakend-edge`)")
    if spec.isdigit():
        return ("stop the camera service first (`sudo systemctl stop peakend-edge`), check the "
                f"USB cable and `ls /dev/video*` (the config names /dev/video{spec})")
    if "://" in spec:
        return "check the stream's URL, user and password, and that the camera is on the network"
    return (f"[camera] source names a video file: check its path (a relative path starts at "
            f"{config_path.parent}) or set source to the camera, e.g. \"0\" for /dev/video0")


def check_camera(cfg: Any, config_path: Path, frames: int = 5, timeout: float = 10.0) -> Check:
    from peakend.broker.device.config import ConfigError

    try:
        from peakend.edge.sources import open_source
    except ImportError as exc:  # OpenCV is in the edge extra: a kiosk image lacks it
        return Check("camera", "FAIL", f"edge module not installed ({exc})",
                     "pip install 'peakend[edge]'")
    from peakend.broker.device.redaction import hide_url_passwords

    spec = cfg.camera.source
    fix = _camera_fix(spec, config_path)
    try:
        source = open_source(spec, cfg.camera, base_dir=config_path.parent)
    except (ConfigError, RuntimeError, OSError) as exc:
        return Check("camera", "FAIL", hide_url_passwords(str(exc)), fix)
    spec = hide_url_passwords(spec)  # an rtsp:// URL may carry the camera's password
    got, started = 0, time.monotonic()
    shape = None
    try:
        for frame in source.frames():
            got += 1
            shape = getattr(frame.image, "shape", None)
            if got >= frames or time.monotonic() - started > timeout:
                break
    except Exception as exc:  # a driver error of any kind is the finding
        return Check("camera", "FAIL", hide_url_passwords(f"{spec}: {exc}"), fix)
    finally:
        source.close()
    if got == 0:
        return Check("camera", "FAIL", f"{spec} opened but sent no frame",
                     fix + "; another program may hold the camera")
    rate = got / max(time.monotonic() - started, 1e-6)
    size = f"{shape[1]}x{shape[0]}" if shape else "?"
    return Check("camera", "PASS", f"{spec}: {got} frames ({size}) at {rate:.1f}/s")
