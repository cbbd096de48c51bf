"""An id is a whole slug: one with a trailing newline (which re.match with "$" lets through)
is refused everywhere, and refusing it changes no file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import redirect_stderr
from io import StringIO

import pytest

from hubtools import broker_root
from peakend.broker.cli import provision as provision_cli
from peakend.broker.field.mosquitto import BrokerDir, free_port, prepare, set_password
from peakend.broker.wire.contract import ContractError, event_topic, is_slug, parse_topic


@pytest.mark.parametrize("value", ["kz\n", "kz\r\n", "\nkz", "k z", "Kz", ""])
def test_an_id_is_a_whole_slug(value: str) -> None:
    assert not is_slug(value)
    with pytest.raises(ContractError):
        parse_topic(f"peakend/v1/s001/{value}/evt/rating")
    with pytest.raises(ValueError):
        event_topic("s001", value, "rating")


@pytest.fixture
def broker_dir() -> Iterator[BrokerDir]:
    root = broker_root()
    try:
        yield prepare(root / "broker", port=free_port())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_provision_refuses_an_id_with_a_trailing_newline_and_writes_nothing(
    broker_dir: BrokerDir,
) -> None:
    d = broker_dir
    before = {p.name: p.read_bytes() for p in d.root.iterdir() if p.is_file()}
    err = StringIO()
    with redirect_stderr(err):
        code = provision_cli.main(["--data", str(d.root), "--id", "kz\n", "--store", "s001",
                                   "--zone", "checkout", "--role", "kiosk"])
    assert code == 2
    assert "--id 'kz\\n'" in err.getvalue(), err.getvalue()
    after = {p.name: p.read_bytes() for p in d.root.iterdir() if p.is_file()}
    assert after == before
    assert not any((d.root / "devices").iterdir())
    # and whoever else writes the password file cannot break a line of it either
    with pytest.raises(ValueError, match="cannot be an account name"):
        set_password(d, "kz\n", "secret")
    assert d.passwd.read_bytes() == before["passwd"]
