"""Imports point one way, so a folder tells a newcomer what may import what.

- kiosk and edge (what runs on a Pi) import only ``broker.wire`` and ``broker.device``;
- ``broker.wire`` (the contract) imports nothing else of the project;
- ``broker.device`` never imports the hub, the field tools, the CLI or the devtools;
- ``broker.hub`` and ``broker.field`` never import kiosk, edge, the CLI or the devtools.

``broker.cli`` loads a command's module only when it runs, and ``broker.devtools`` (demo,
simulators) may use everything. Imports inside functions count: hiding one there does not
make a dependency go away.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = {"broker": "peakend.broker", "kiosk": "peakend.kiosk", "edge": "peakend.edge"}

# layer -> the prefixes it may import from the project (its own prefix is always allowed)
ALLOWED: dict[str, tuple[str, ...]] = {
    "peakend.kiosk": ("peakend.broker.wire", "peakend.broker.device"),
    "peakend.edge": ("peakend.broker.wire", "peakend.broker.device"),
    "peakend.broker.wire": (),
    "peakend.broker.device": ("peakend.broker.wire",),
    "peakend.broker.hub": ("peakend.broker.wire", "peakend.broker.device", "peakend.broker.field"),
    "peakend.broker.field": ("peakend.broker.wire", "peakend.broker.device", "peakend.broker.hub"),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([TOP[parts[0]], *parts[1:]])


def imported(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every project module a source imports, relative imports resolved, with its line."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from peakend.broker import hub" imports peakend.broker.hub
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("peakend.")]


def layer_of(module: str) -> str | None:
    return max((layer for layer in ALLOWED if in_prefix(module, layer)), key=len, default=None)


def in_prefix(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    layer = layer_of(module)
    if layer is None:
        return []
    allowed = (layer, *ALLOWED[layer])
    bad = []
    for line, name in imported(source, module, is_package):
        # "from peakend.broker.device import link" names peakend.broker.device.link; a name
        # that is a parent of an allowed layer (peakend.broker) carries nothing across.
        if any(in_prefix(name, ok) or in_prefix(ok, name) for ok in allowed):
            continue
        bad.append(f"{module}:{line} imports {name} (layer {layer} may import {allowed})")
    return bad


def sources() -> list[Path]:
    return sorted(p for top in TOP for p in (ROOT / top).rglob("*.py"))


def test_no_module_imports_across_its_layer():
    bad = []
    for path in sources():
        bad += violations(module_name(path), path.read_text(), path.name == "__init__.py")
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("peakend.kiosk.app", "from peakend.broker.hub.db import store\n"),
        ("peakend.edge.runner", "def f():\n    import peakend.broker.field.mosquitto\n"),
        ("peakend.edge.runner", "from peakend.kiosk import flow\n"),
        ("peakend.broker.device.link", "from peakend.broker import hub\n"),
        ("peakend.broker.device.link", "from ..hub.writer import Ingest\n"),
        ("peakend.broker.hub.writer", "from peakend.edge.config import load\n"),
        ("peakend.broker.hub.web.app", "from peakend.broker.devtools import demo\n"),
        ("peakend.broker.field.doctor", "def f():\n    from peakend.kiosk.settings import x\n"),
        ("peakend.broker.wire.contract", "from peakend.broker.device import config\n"),
    ],
)
def test_the_check_catches_a_crossing_import(module, source):
    assert violations(module, source)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("peakend.kiosk.app", "from peakend.broker.device.link import DeviceLink\n"),
        ("peakend.edge.messages", "from peakend.broker.wire.contract import new_envelope\n"),
        ("peakend.broker.hub.writer", "from .registry import Registry\n"),
        ("peakend.broker.cli.demo", "from peakend.kiosk import simulate\n"),
    ],
)
def test_the_check_lets_a_permitted_import_pass(module, source):
    assert violations(module, source) == []
