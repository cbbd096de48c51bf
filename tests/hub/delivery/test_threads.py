"""Acknowledging or commenting on an alert reaches the alert's thread on real receivers: a mail
reply whose In-Reply-To is the alert mail's Message-ID, and a signed webhook follow-up naming
the alert's delivery; each once, after a crash too, and only after the alert itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from receivers import WebhookReceiver, smtp_receiver

from peakend.broker.hub.delivery.outbox import claim_echoes, failing_channels
from peakend.broker.hub.delivery.worker import DeliveryWorker
from peakend.broker.hub.reports.alerts import acknowledge, add_comment
from peakend.broker.hub.reports.queries import open_db

from .conftest import hub_config, open_unhappy_alert, webhook
from .test_delivery import Clock


def echoes(db: Path) -> list[tuple]:
    conn = open_db(db)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT event, state, attempts FROM alert_echoes ORDER BY id").fetchall()]
    finally:
        conn.close()


def act(db: Path, at: datetime, fn: Callable[..., None], *args: str) -> None:
    """What the web's alert buttons call, on a connection of their own, at ``at``."""
    conn = open_db(db)
    try:
        (alert_id,) = conn.execute("SELECT id FROM alerts").fetchone()
        fn(conn, alert_id, *args, now=at)
    finally:
        conn.close()


def mail_channel(port: int, ca_file: Path) -> dict:
    return {"type": "email", "name": "managers", "smtp_host": "127.0.0.1", "smtp_port": port,
            "username": "peakend", "password_env": "PEAKEND_TEST_SMTP_PASSWORD",
            "ca_file": str(ca_file), "sender": "peakend@shop.example",
            "to": ["manager@shop.example"]}


def test_an_acknowledgement_is_a_reply_in_the_alert_mails_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "hub.sqlite"
    monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "mail-secret-42")
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        config = hub_config([mail_channel(smtp.port, smtp.ca_file)])
        opened = open_unhappy_alert(db, config)
        clock = Clock(opened)
        worker = DeliveryWorker(db, config, clock=clock)
        assert worker.run_once() == 1
        act(db, clock.now, acknowledge, "ana", "opened a second till")
        act(db, clock.now, add_comment, "ben", "queue gone")
        clock.now += timedelta(seconds=5)
        assert worker.run_once() == 2
        assert worker.run_once() == 0  # sent is sent
        worker.close()
        alert_mail, ack, comment = smtp.messages
    assert alert_mail["Message-ID"].startswith("<peakend-delivery-")
    for reply in (ack, comment):
        assert reply["In-Reply-To"] == alert_mail["Message-ID"]
        assert reply["References"] == alert_mail["Message-ID"]
        assert reply["Subject"] == "Re: [peakend] Market St / checkout: unhappy shoppers"
        assert reply["Message-ID"] != alert_mail["Message-ID"]
    ack_text = ack.get_payload(decode=True).decode()
    assert "ana acknowledged the alert at" in ack_text and "opened a second till" in ack_text
    assert "> Market St / checkout: 3 unhappy in 10 min" in ack_text
    assert "ben commented at" in comment.get_payload(decode=True).decode()
    conn = open_db(db)
    try:
        (recorded,) = conn.execute("SELECT message_id FROM alert_deliveries").fetchone()
    finally:
        conn.close()
    assert recorded == alert_mail["Message-ID"]
    assert [(e, s) for e, s, _ in echoes(db)] == [("ack", "sent"), ("comment-2", "sent")]


def test_a_webhook_gets_a_signed_follow_up_naming_the_alert(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()])
    opened = open_unhappy_alert(db, config)
    clock = Clock(opened)
    # acknowledged before the alert's own message went out: the echo waits for it
    act(db, clock.now, acknowledge, "ana", "")
    receiver.start()
    worker = DeliveryWorker(db, config, clock=clock)
    worker.run_once()
    worker.run_once()
    act(db, clock.now, acknowledge, "ben", "")  # a second one without a word: nothing new
    clock.now += timedelta(seconds=5)
    worker.run_once()
    worker.close()
    alert, follow_up = receiver.received
    assert alert.follows is None
    assert follow_up.signed and receiver.refused == 0
    assert follow_up.follows == alert.delivery
    assert follow_up.delivery.startswith("echo-")
    text = follow_up.body["text"]
    assert text.startswith("ana acknowledged the alert at") and text.endswith(
        "https://hub.shop.example/s/s001/z/checkout")
    assert "> Market St / checkout: 3 unhappy in 10 min (opened 2026-03-02 09:03)" in text
    assert echoes(db) == [("ack", "sent", 1)]


def test_an_echo_to_a_receiver_down_is_retried_then_sent_once(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()], first_retry_s=10, max_retry_s=60)
    opened = open_unhappy_alert(db, config)
    receiver.start()
    clock = Clock(opened)
    worker = DeliveryWorker(db, config, clock=clock)
    worker.run_once()
    receiver.stop()
    act(db, clock.now, add_comment, "ana", "on it")
    worker.run_once()
    [(event, state, attempts)] = echoes(db)
    assert (state, attempts) == ("pending", 1)
    receiver.start()
    for _ in range(30):
        clock.now += timedelta(seconds=5)
        worker.run_once()
    worker.close()
    assert [r.delivery.startswith("echo-") for r in receiver.received] == [False, True]
    assert echoes(db) == [(event, "sent", 2)]


def test_no_echo_where_the_alert_was_never_delivered(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()], first_retry_s=10, max_retry_s=10, max_attempts=1)
    opened = open_unhappy_alert(db, config)
    receiver.status = 500
    receiver.start()
    clock = Clock(opened)
    worker = DeliveryWorker(db, config, clock=clock)
    worker.run_once()  # given up at once
    act(db, clock.now, add_comment, "ana", "on it")  # no row: no thread to echo it to
    assert echoes(db) == []
    worker.close()


def test_an_echo_left_sending_by_a_crash_is_sent_again_under_the_same_id(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()])
    opened = open_unhappy_alert(db, config)
    receiver.start()
    clock = Clock(opened)
    worker = DeliveryWorker(db, config, clock=clock, lease_s=60)
    worker.run_once()
    act(db, clock.now, acknowledge, "ana", "")
    # a worker that claimed the echo and died before sending or recording it
    conn = open_db(db)
    try:
        [claimed] = claim_echoes(conn, clock.now, 60)
    finally:
        conn.close()
    worker.run_once()
    assert len(receiver.received) == 1  # still within the dead worker's lease
    clock.now += timedelta(seconds=61)
    worker.run_once()
    worker.run_once()
    worker.close()
    [_, follow_up] = receiver.received
    assert follow_up.delivery == f"echo-{claimed.id}"
    assert echoes(db) == [("ack", "sent", 2)]


def test_an_echo_given_up_is_loud_and_shows_as_a_failing_channel(
        tmp_path: Path, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook("teams")], first_retry_s=10, max_retry_s=10, max_attempts=2)
    opened = open_unhappy_alert(db, config)
    receiver.start()
    clock = Clock(opened)
    worker = DeliveryWorker(db, config, clock=clock)
    worker.run_once()
    receiver.status = 500
    act(db, clock.now, add_comment, "ana", "on it")
    with caplog.at_level(logging.ERROR):
        for _ in range(6):
            worker.run_once()
            clock.now += timedelta(seconds=11)
    worker.close()
    assert echoes(db) == [("comment-1", "failed", 2)]
    assert any("GAVE UP on channel teams after 2 attempts" in r.message
               for r in caplog.records)
    conn = open_db(db)
    try:
        [line] = failing_channels(conn, ["s001"], opened - timedelta(days=1))
    finally:
        conn.close()
    assert line == {"channel": "teams", "failed": 1, "retrying": 0,
                    "error": "the webhook answered HTTP 500 Internal Server Error"}
