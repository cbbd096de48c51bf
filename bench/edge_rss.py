"""One edge process's peak resident memory over a recorded video, as a device would run it.

    python bench/edge_rss.py {frames,old,default} VIDEO < edge-config.json

Prints the process's peak resident set size in KiB. ``frames`` only decodes the video (the
libraries and the decoder, what every variant pays); ``old`` runs the fixed-size pipeline of
bench/fixed_scale.py; ``default`` the shipped one. Only what a device imports is loaded, so
the figures are the device's, not the benchmark's (bench/edge_robustness.py calls this once
per variant, each in a fresh process).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
from fixed_scale import FixedScalePipeline

from peakend.edge.config import EdgeConfig
from peakend.edge.detectors import make_detector
from peakend.edge.pipeline import Pipeline
from peakend.edge.sources import FileSource

VARIANTS = ("frames", "old", "default")


def main() -> None:
    variant, video = sys.argv[1], Path(sys.argv[2])
    if variant not in VARIANTS:
        raise SystemExit(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    cv2.setNumThreads(1)  # as the edge runner does
    config = EdgeConfig.model_validate(json.loads(sys.stdin.read()))
    source = FileSource(video, default_fps=config.camera.fps)
    pipeline = None
    if variant != "frames":
        kind = FixedScalePipeline if variant == "old" else Pipeline
        pipeline = kind(config, make_detector(config.detector, view=config.camera.view))
    frames = 0
    for frame in source.frames():
        if pipeline is not None:
            pipeline.process(frame.image, frame.t)
        frames += 1
    source.close()
    if frames == 0:
        raise SystemExit(f"{video}: no frames decoded")
    print(peak_rss_kib())


def peak_rss_kib() -> int:
    # VmHWM: this address space's high-water mark. getrusage's ru_maxrss would not do: Linux
    # carries it over fork and exec, so a child would report its parent's peak.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/self/status (Linux only)")


if __name__ == "__main__":
    main()
