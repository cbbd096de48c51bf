"""`peakend channel test NAME`: a test message through a channel of hub.toml, to a real SMTP
server and a real webhook receiver; a receiver that refuses it is a clear error without the
secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from receivers import WebhookReceiver, smtp_receiver

from peakend.broker.cli.channel import main as channel_main

from .conftest import HOOK_ENV

HUB_TOML = """
[delivery]
base_url = "https://hub.shop.example"

[[delivery.channels]]
type = "webhook"
name = "floor-chat"
url_env = "PEAKEND_TEST_HOOK_URL"
secret_env = "PEAKEND_TEST_HOOK_SECRET"
quiet_hours = "21:00-07:00"
"""

MAIL_TOML = """
[[delivery.channels]]
type = "email"
name = "managers-mail"
smtp_host = "127.0.0.1"
smtp_port = {port}
username = "peakend"
password_env = "PEAKEND_TEST_SMTP_PASSWORD"
ca_file = "{ca_file}"
sender = "peakend@shop.example"
to = ["manager@shop.example"]
stores = ["s001"]
kinds = ["wait"]
"""


def test_a_webhook_channel_gets_a_signed_test_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    receiver = WebhookReceiver(HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"].encode())
    monkeypatch.setenv("PEAKEND_TEST_HOOK_URL", receiver.url)
    monkeypatch.setenv("PEAKEND_TEST_HOOK_SECRET", HOOK_ENV["PEAKEND_TEST_HOOK_SECRET"])
    toml = tmp_path / "hub.toml"
    toml.write_text(HUB_TOML)
    receiver.start()
    try:
        assert channel_main(["test", "--config", str(toml), "floor-chat"]) == 0
        assert "floor-chat: the receiver took the test message" in capsys.readouterr().out
        [got] = receiver.received
        assert got.signed and got.delivery.startswith("test-")
        assert "wait and unhappy alerts of every store reach you here" in got.body["text"]
        assert "Quiet hours (store time): 21:00-07:00" in got.body["text"]
        receiver.secret = b"the receiver expects another secret"
        assert channel_main(["test", "--config", str(toml), "floor-chat"]) == 1
        err = capsys.readouterr().err
        assert "floor-chat: not delivered: the webhook answered HTTP 401" in err
        assert "T0SECRETPATH" not in err and "shared-hook-secret" not in err
    finally:
        receiver.stop()
    assert channel_main(["test", "--config", str(toml), "floor-chat"]) == 1
    assert "cannot reach the webhook" in capsys.readouterr().err
    assert channel_main(["test", "--config", str(toml), "nope"]) == 2
    assert "has no channel 'nope' in [[delivery.channels]] (it has: floor-chat)" in (
        capsys.readouterr().err)


def test_a_mail_channel_gets_a_test_mail_and_a_wrong_password_is_not_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        toml = tmp_path / "hub.toml"
        toml.write_text(MAIL_TOML.format(port=smtp.port, ca_file=smtp.ca_file))
        monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "mail-secret-42")
        assert channel_main(["test", "--config", str(toml), "managers-mail"]) == 0
        assert "mail to manager@shop.example through 127.0.0.1" in capsys.readouterr().out
        [mail] = smtp.messages
        assert mail["Subject"] == "[peakend] test of channel managers-mail"
        assert "wait alerts of s001 reach you here" in mail.get_payload(decode=True).decode()
        monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "not-the-password")
        assert channel_main(["test", "--config", str(toml), "managers-mail"]) == 1
        err = capsys.readouterr().err
        assert "managers-mail: not delivered" in err and "Authentication" in err
        assert "not-the-password" not in err
        monkeypatch.delenv("PEAKEND_TEST_SMTP_PASSWORD")
        assert channel_main(["test", "--config", str(toml), "managers-mail"]) == 1
        assert "PEAKEND_TEST_SMTP_PASSWORD is not set" in capsys.readouterr().err
