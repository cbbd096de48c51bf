"""The `peakend` command: every subcommand documented; the hub's commands as a tech runs them."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import tomllib

import pytest

from hubtools import PEAKEND
from peakend.broker.cli import COMMANDS


def run(*args: str, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PEAKEND, *args], capture_output=True, text=True, timeout=timeout, input=input
    )


def test_top_level_help_lists_every_command():
    out = run("--help").stdout
    for name, (_, text) in COMMANDS.items():
        assert name in out and text in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_matching_its_module(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert module.HELP == COMMANDS[name][1]
    result = run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout.lower()
    assert options_without_help(result.stdout) == []


def options_without_help(text: str) -> list[str]:
    """Option lines of argparse help with no help text: argparse puts the help after a gap of
    two spaces on the option's line, or on the next line, indented deeper."""
    lines = text.splitlines()
    missing = []
    for i, line in enumerate(lines):
        if not line.startswith("  -"):
            continue
        if re.search(r"\S  +\S", line.strip()):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if following.startswith(" " * 6) and not following.lstrip().startswith("-"):
            continue
        missing.append(line.strip())
    return missing


def test_the_help_check_catches_an_option_without_help():
    import argparse

    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--documented", help="does a thing")
    parser.add_argument("--bare")
    parser.add_argument("--a-very-long-option-name-indeed", help="help on the next line")
    assert options_without_help(parser.format_help()) == ["--bare BARE"]


def test_unknown_command_says_so_and_fails():
    result = run("frobnicate")
    assert result.returncode == 2 and "unknown command" in result.stderr


def test_contract_schema_is_valid_json_with_the_envelope():
    doc = json.loads(run("contract", "schema").stdout)
    assert doc["envelope"]["title"] == "Envelope"
    assert doc["max_payload_bytes"] == 4096


def test_broker_folder_and_provisioning_from_the_command_line(bare_hub, tmp_path):
    data = bare_hub.root / "cli-broker"
    prep = run("broker", "--data", str(data), "--port", "18999", "--prepare-only")
    assert prep.returncode == 0, prep.stderr
    conf = (data / "mosquitto.conf").read_text()
    assert "max_queued_messages 1000000" in conf and "autosave_interval 1" in conf
    assert "allow_anonymous false" in conf
    assert (data / "aggregator.url").read_text().startswith("mqtt://peakend-aggregator:")

    out = tmp_path / "cam.toml"
    result = run(
        "provision",
        "--data",
        str(data),
        "--id",
        "cam-07",
        "--store",
        "s001",
        "--zone",
        "checkout,promo",
        "--role",
        "edge",
        "--host",
        "hub.local",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("mqtt://cam-07:") and url.endswith("@hub.local:18999")
    doc = tomllib.loads(out.read_text())
    assert doc["device"]["id"] == "cam-07" and doc["mqtt"]["url"] == url
    registry = json.loads((data / "registry.json").read_text())["devices"]
    assert registry["cam-07"]["zones"] == ["checkout", "promo"]
    # The broker keeps a hash, never the password itself.
    password = url.split(":")[2].split("@")[0]
    assert len(password) >= 32 and password not in (data / "passwd").read_text()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--id", "Kiosk 1"], "--id"),
        (["--zone", "a", "--zone", "b"], "exactly one zone"),
        (["--id", "peakend-aggregator"], "reserved"),
    ],
)
def test_provision_refuses_bad_input_with_the_fix(bare_hub, args, words):
    data = bare_hub.dir.root
    base = {"--id": "kiosk-05", "--store": "s001", "--role": "kiosk"}
    argv = ["provision", "--data", str(data)]
    given = dict(zip(args[::2], args[1::2], strict=True))
    for key, value in base.items():
        argv += [key, given.get(key, value)]
    zones = [v for k, v in zip(args[::2], args[1::2], strict=True) if k == "--zone"] or ["checkout"]
    for z in zones:
        argv += ["--zone", z]
    result = run(*argv)
    assert result.returncode == 2
    assert words in result.stderr


SECRET = "s3cret-never-shown"


@pytest.mark.parametrize(
    "name, args, code, words",
    [
        ("broker", ["--data", "{tmp}/b", "--ca", "ca.pem", "--prepare-only"], 2, "need --tls"),
        ("serve", [], 2, "give --mqtt URL and --db PATH"),
        ("serve", ["--mqtt", f"mqtt://agg:{SECRET}@hub:port", "--db", "{tmp}/h.sqlite"], 2,
         "--mqtt:"),
        ("serve", ["--mqtt", "mqtt://a:b@h:1", "--db", f"mysql://hub:{SECRET}@db/peakend"], 2,
         "--db:"),
        ("provision", ["--data", "{tmp}/none", "--revoke", "kiosk-77"], 2, "kiosk-77"),
        ("bridge", ["centre", "--data", "{tmp}/c", "--name", "Bad Name"], 2, "slug"),
        ("report", ["--db", "{tmp}/none.sqlite"], 2, "no such database"),
        ("user", ["list", "--db", "{tmp}/none.sqlite"], 2, "no such database"),
    ],
)
def test_every_command_reports_an_error_as_command_what_and_fix(name, args, code, words,
                                                                 tmp_path):
    result = run(name, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == code, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"peakend {name}: ") and words in line, result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("argv", [["report", "--help"], ["serve", "--help"], ["--help"]])
def test_help_answers_without_loading_the_report_or_web_stack(argv):
    """`peakend report --help` and the like load none of the heavy packages."""
    import sys

    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "peakend.broker.cli",
                             *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
              if line.startswith("import time:")}
    heavy = {"numpy", "pydantic", "sqlite_utils", "starlette", "jinja2", "psycopg", "uvicorn",
             "paho", "cv2", "kivy"}
    assert loaded & heavy == set()


def test_an_unforeseen_failure_starts_with_a_sentence_and_hides_passwords(monkeypatch, capsys):
    """A traceback never reaches a tech without a sentence first, nor with a password."""
    import types

    import peakend.broker.cli as cli

    crash = types.ModuleType("peakend_test_crash")

    def main(argv):
        raise RuntimeError("lost mqtts://kiosk-01:Zq7pw-secret@hub.local:8883 mid-write")

    crash.main = main
    monkeypatch.setitem(sys.modules, "peakend_test_crash", crash)
    monkeypatch.setitem(cli.COMMANDS, "crash", ("peakend_test_crash", "crashes"))
    assert cli.main(["crash"]) == 1
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("peakend crash: stopped on an unexpected error (RuntimeError: lost ")
    assert "peakend doctor" in first and "Traceback" in err
    assert "Zq7pw-secret" not in err and "mqtts://kiosk-01:***@hub.local:8883" in err
