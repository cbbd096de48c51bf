"""Each extra installs alone and runs its commands: a Pi gets one of them, never all three.

The project is built once into a wheel; each extra then goes into a venv of its own (the
packages come from pip's cache after the first `make test`), and its commands run from that
venv as a tech or the hub's systemd unit would run them. An import that an extra forgot (the
server once missed numpy) fails here, not on a store's hub.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hubtools import stop_process, temp_hub, wait_until
from peakend.broker.field.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "deploy" / "examples"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the tree, so no build/ folder left from an older layout can slip
    # modules into the wheel that the sources no longer have.
    tree = tmp_path_factory.mktemp("tree") / "peakend"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "artifacts", "demo-data"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(tree)],
        check=True, capture_output=True, timeout=300,
    )
    (found,) = out.glob("peakend-*.whl")
    return found


@pytest.fixture(scope="module")
def venvs(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three venvs, installed side by side (pip spends most of its time waiting)."""
    root = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(3) as pool:
        jobs = {x: pool.submit(venv_with, x, wheel, root / x) for x in ("kiosk", "edge", "server")}
        return {extra: job.result() for extra, job in jobs.items()}


def venv_with(extra: str, wheel: Path, where: Path) -> Path:
    """A fresh venv holding the project with just this extra; returns its bin folder."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(where)], check=True, timeout=120)
    pip = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-compile",
         f"{wheel}[{extra}]"],
        capture_output=True, text=True, timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return where / "bin"


def run(bin_dir: Path, *args: str, cwd: Path | None = None, timeout: float = 120) -> str:
    env = {**os.environ, "KIVY_NO_ARGS": "1", "PEAKEND_LOG": "WARNING"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(bin_dir / "peakend"), *args], capture_output=True, text=True, timeout=timeout,
        env=env, cwd=cwd,
    )
    assert result.returncode == 0, f"peakend {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def installed(bin_dir: Path) -> set[str]:
    out = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {line.split("==")[0].lower() for line in out.splitlines()}


def test_kiosk_extra_alone_checks_its_config(venvs: dict[str, Path]):
    bin_dir = venvs["kiosk"]
    out = run(bin_dir, "kiosk", "--config", str(EXAMPLES / "kiosk.toml"), "--check")
    assert "ok" in out.lower()
    # a kiosk Pi carries no camera and no hub stack
    assert not {"opencv-python-headless", "starlette", "psycopg"} & installed(bin_dir)


def test_edge_extra_alone_checks_its_config(venvs: dict[str, Path]):
    bin_dir = venvs["edge"]
    out = run(bin_dir, "edge", "check", "--config", str(EXAMPLES / "edge.toml"))
    assert "ok" in out.lower()
    assert not {"kivy", "starlette", "psycopg"} & installed(bin_dir)


@pytest.fixture
def stopped_hub() -> Iterator:
    with temp_hub(start=False) as hub:
        hub.start_broker()
        yield hub


def test_server_extra_alone_serves_and_reports(venvs: dict[str, Path], tmp_path: Path,
                                               stopped_hub):
    bin_dir = venvs["server"]
    assert not {"kivy", "opencv-python-headless"} & installed(bin_dir)
    hub = stopped_hub
    port = free_port()
    env = {**os.environ, "PEAKEND_LOG": "WARNING"}
    env.pop("PYTHONPATH", None)
    serve = subprocess.Popen(
        [str(bin_dir / "peakend"), "serve", "--mqtt", hub.aggregator_url, "--db",
         str(hub.db_path), "--broker-data", str(hub.dir.root), "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "wb"), env=env,
    )
    try:
        def login_page() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    return r.status == 200 and b"password" in r.read().lower()
            except OSError:
                return False

        assert wait_until(login_page, 60), (tmp_path / "serve.log").read_text()[-3000:]
        url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
        assert url.startswith("mqtt://")
        out = run(bin_dir, "report", "--db", str(hub.db_path), "--format", "json")
        assert out.strip().startswith(("{", "["))
    finally:
        stop_process(serve)
