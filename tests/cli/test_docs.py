"""The README's command table and the real commands agree, both ways.

Every command and subcommand that `peakend` accepts has a row in the README's table, and every
row names a command that exists. The commands' own parsers are the truth: each module's
``main`` is run until it asks argparse to parse, and the parser it built is taken from there,
so nothing here keeps a second list of commands.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from peakend.broker.cli import COMMANDS

README = Path(__file__).resolve().parents[2] / "README.md"


class _Built(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def command_parser(name: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Built(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    module = importlib.import_module(COMMANDS[name][0])
    try:
        module.main([])
    except _Built as built:
        return built.parser
    finally:
        monkeypatch.undo()
    raise AssertionError(f"peakend {name}: main() never parsed its arguments")


def paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The command itself and every subcommand below it, as word tuples."""
    found = {prefix}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.discard(prefix)  # a command with subcommands is documented by them
            for sub, subparser in action.choices.items():
                found |= paths(subparser, (*prefix, sub))
    return found


def real_commands(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for name in COMMANDS:
        found |= paths(command_parser(name, monkeypatch), (name,))
    return found


def documented(text: str) -> set[tuple[str, ...]]:
    """Command words of each row of the README's table: `peakend bridge centre\\|store ...`
    names `bridge centre` and `bridge store`."""
    rows = set()
    for cell in re.findall(r"^\| `peakend ([^`]*)`", text, flags=re.M):
        words: list[list[str]] = [[]]
        for word in cell.split():
            if not re.fullmatch(r"[a-z][a-z-]*(\\\|[a-z][a-z-]*)*", word):
                break
            words = [[*w, alt] for w in words for alt in word.split("\\|")]
        rows |= {tuple(w) for w in words if w}
    return rows


def test_every_command_has_a_row_in_the_readme(monkeypatch):
    missing = real_commands(monkeypatch) - documented(README.read_text())
    assert not missing, f"README's command table lacks: {sorted(' '.join(m) for m in missing)}"


def test_every_row_of_the_readme_is_a_real_command(monkeypatch):
    made_up = documented(README.read_text()) - real_commands(monkeypatch)
    assert not made_up, f"README documents no such command: {sorted(' '.join(m) for m in made_up)}"


def test_the_table_reader_splits_alternatives_and_stops_at_options():
    text = (
        "| `peakend bridge centre\\|store ...` | x |\n"
        "| `peakend report --db PATH` | y |\n"
        "| `peakend edge run --config edge.toml` | z |\n"
    )
    assert documented(text) == {("bridge", "centre"), ("bridge", "store"), ("report",),
                                ("edge", "run")}
