"""Edge pipeline speed at 640x480 on one core: milliseconds per stage and real-time factor.

    python bench/edge_speed.py [--seconds 60] [--model person.onnx]

Targets: the motion pipeline at 100 fps or more here, calibration at most 10 % of it (the
``motion-old`` row is the same detector with the fixed sizes it had before it calibrated
itself, measured in the same run); the dnn pipeline within 15% of the bare detector's
inference time measured in the same run. Without --model the dnn rows are skipped (make one with
`peakend edge model --out person.onnx`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
from environment import versions
from fixed_scale import OLD_DETECTOR, OLD_TRACKER, FixedScalePipeline

from peakend.edge import scenes
from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.pipeline import Pipeline

CAMERA_FPS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="scene length (10 fps)")
    parser.add_argument("--model", type=Path, help="ONNX person detector for the dnn rows")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    scene = scenes.build(scenes.SceneSpec("speed", seconds=args.seconds, crowd="corridor_uni"))
    frames = list(scene.frames())
    print(f"{len(frames)} frames 640x480 of a crowded scene, one core (cv2.setNumThreads(1))")
    print(f"{versions()}\n")
    base = scene.config()
    rows = [("motion", EdgeConfig.model_validate(base))]
    # The same detector before self-calibration (its old fixed defaults), as the baseline.
    old = scene.config(detector=OLD_DETECTOR, tracker=OLD_TRACKER)
    rows.append(("motion-old", EdgeConfig.model_validate(old)))
    rows.append(
        (
            "hog",
            EdgeConfig.model_validate(
                scene.config(detector={"kind": "hog"}, camera={"view": "oblique"})
            ),
        )
    )
    if args.model:
        cfg = EdgeConfig.model_validate(
            scene.config(detector={"kind": "dnn", "model": str(args.model.resolve())})
        )
        rows.append(("dnn", cfg))
    heads = ["detect", "calibrate", "track", "zones", "total ms", "fps", "x real time"]
    print(f"{'pipeline':10} " + " ".join(f"{h:>11}" for h in heads))
    for name, cfg in rows:
        use = frames if name != "hog" else frames[: min(len(frames), 100)]
        kind = FixedScalePipeline if name == "motion-old" else Pipeline
        pipeline = kind(cfg, make_detector(cfg.detector, view=cfg.camera.view))
        began = time.perf_counter()
        for i, frame in enumerate(use):
            pipeline.process(frame, i / scene.fps)
        wall = time.perf_counter() - began
        ms = pipeline.times.per_frame_ms()
        fps = len(use) / wall
        cells = [ms["detect"], ms["calibrate"], ms["track"], ms["zones"], 1000 * wall / len(use)]
        cells += [fps, fps / CAMERA_FPS]
        print(f"{name:10} " + " ".join(f"{c:11.2f}" for c in cells))
        if name == "motion":
            share = 100 * ms["calibrate"] / ms["total"]
            print(f"  calibration: {ms['calibrate']:.2f} ms/frame, {share:.1f}% (target <= 10%)")
        if name == "dnn":
            detector = pipeline.detector
            blobs = [detector.preprocess(f) for f in use[:200]]
            began = time.perf_counter()
            for blob in blobs:
                detector.infer(blob)
            bare = 1000 * (time.perf_counter() - began) / len(blobs)
            total = 1000 * wall / len(use)
            overhead = 100 * (total / bare - 1)
            print(f"  bare dnn inference: {bare:.2f} ms/frame; dnn pipeline {total:.2f} ms/frame")
            print(f"  pipeline overhead over bare inference: {overhead:+.1f}% (target <= +15%)")
    motion_fps = None
    print()
    for _name, cfg in rows[:1]:
        pipeline = Pipeline(cfg, make_detector(cfg.detector, view=cfg.camera.view))
        began = time.perf_counter()
        for i, frame in enumerate(frames):
            pipeline.process(frame, i / scene.fps)
        motion_fps = len(frames) / (time.perf_counter() - began)
    verdict = "ok" if motion_fps >= 100 else "BELOW TARGET"
    print(f"motion pipeline: {motion_fps:.1f} fps (target >= 100): {verdict}")


if __name__ == "__main__":
    main()
