"""Alerts reach real receivers on loopback: a webhook that checks the signature, an SMTP server
with STARTTLS and a login; a receiver down for ten minutes still gets the alert; one down for
good is given up loudly, and nothing is ever sent twice by one worker."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from receivers import WebhookReceiver, smtp_receiver

from peakend.broker.hub.delivery.outbox import failing_channels
from peakend.broker.hub.delivery.worker import DeliveryWorker
from peakend.broker.hub.reports.queries import open_db

from .conftest import hub_config, open_unhappy_alert, webhook


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def rows(db: Path) -> list[tuple]:
    conn = open_db(db)
    try:
        return conn.execute("SELECT id, channel, state, attempts, last_error FROM "
                            "alert_deliveries ORDER BY id").fetchall()
    finally:
        conn.close()


def test_webhook_gets_one_signed_message_with_cause_values_and_link(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()])
    opened = open_unhappy_alert(db, config)
    receiver.start()
    worker = DeliveryWorker(db, config, clock=Clock(opened + timedelta(seconds=2)))
    assert worker.run_once() == 1
    assert worker.run_once() == 0  # sent is sent: never again
    worker.close()
    [got] = receiver.received
    assert got.signed and receiver.refused == 0
    text = got.body["text"]
    assert "Market St / checkout: 3 unhappy in 10 min." in text
    # T0 08:03:30 UTC is 09:03 in Berlin; three presses then, three now
    assert "Opened 2026-03-02 09:03 (store time) at 3 unhappy presses; now 3 unhappy" in text
    assert "https://hub.shop.example/s/s001/z/checkout" in text
    [(row_id, channel, state, attempts, error)] = rows(db)
    assert (channel, state, attempts, error) == ("slack", "sent", 1, None)
    assert got.delivery == str(row_id)


def test_a_wrong_secret_is_refused_and_retried_without_showing_secrets(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()])
    opened = open_unhappy_alert(db, config)
    receiver.secret = b"the receiver expects another secret"
    receiver.start()
    worker = DeliveryWorker(db, config, clock=Clock(opened))
    worker.run_once()
    worker.close()
    [(_, _, state, attempts, error)] = rows(db)
    assert (state, attempts) == ("pending", 1) and receiver.refused == 1
    assert "HTTP 401" in error
    assert "T0SECRETPATH" not in error and "shared-hook-secret" not in error


def test_mail_goes_through_starttls_and_login(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "hub.sqlite"
    monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "mail-secret-42")
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        config = hub_config([{
            "type": "email", "name": "managers", "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port, "username": "peakend",
            "password_env": "PEAKEND_TEST_SMTP_PASSWORD", "ca_file": str(smtp.ca_file),
            "sender": "peakend@shop.example", "to": ["manager@shop.example"]}])
        opened = open_unhappy_alert(db, config)
        worker = DeliveryWorker(db, config, clock=Clock(opened))
        assert worker.run_once() == 1
        worker.close()
        [mail] = smtp.messages
    assert smtp.logins == ["peakend"]
    assert mail["Subject"] == "[peakend] Market St / checkout: unhappy shoppers"
    assert mail["To"] == "manager@shop.example"
    [(row_id, _, state, _, _)] = rows(db)
    assert state == "sent" and f"peakend-delivery-{row_id}@" in mail["Message-ID"]
    body = mail.get_payload(decode=True).decode()
    assert "3 unhappy in 10 min" in body and "https://hub.shop.example/s/s001/z/checkout" in body


def test_a_wrong_mail_password_is_retried_and_not_shown(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "hub.sqlite"
    monkeypatch.setenv("PEAKEND_TEST_SMTP_PASSWORD", "not-the-password")
    with smtp_receiver(tmp_path, "peakend", "mail-secret-42") as smtp:
        config = hub_config([{
            "type": "email", "name": "managers", "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port, "username": "peakend",
            "password_env": "PEAKEND_TEST_SMTP_PASSWORD", "ca_file": str(smtp.ca_file),
            "sender": "peakend@shop.example", "to": ["manager@shop.example"]}])
        opened = open_unhappy_alert(db, config)
        worker = DeliveryWorker(db, config, clock=Clock(opened))
        worker.run_once()
        worker.close()
        assert smtp.messages == []
    [(_, _, state, attempts, error)] = rows(db)
    assert (state, attempts) == ("pending", 1)
    assert "Authentication" in error and "not-the-password" not in error


def test_receiver_down_for_ten_minutes_then_gets_the_alert_once(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()], first_retry_s=10, max_retry_s=300, max_attempts=12)
    opened = open_unhappy_alert(db, config)
    clock = Clock(opened)
    worker = DeliveryWorker(db, config, clock=clock)
    # the receiver's port is closed for ten minutes of the hub's time
    while clock.now < opened + timedelta(minutes=10):
        worker.run_once()
        clock.now += timedelta(seconds=5)
    [(_, _, state, attempts, error)] = rows(db)
    assert state == "pending" and attempts >= 5 and "cannot reach" in error
    receiver.start()
    while clock.now < opened + timedelta(minutes=20) and not receiver.received:
        worker.run_once()
        clock.now += timedelta(seconds=5)
    for _ in range(10):  # and later checks send nothing more
        worker.run_once()
        clock.now += timedelta(minutes=1)
    worker.close()
    assert len(receiver.received) == 1
    [(_, _, state, final_attempts, _)] = rows(db)
    assert state == "sent" and final_attempts == attempts + 1


def test_a_receiver_down_for_good_is_given_up_loudly_and_shown(
        tmp_path: Path, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook("teams")], first_retry_s=10, max_retry_s=60, max_attempts=3)
    opened = open_unhappy_alert(db, config)
    receiver.status = 500
    receiver.start()
    clock = Clock(opened)
    worker = DeliveryWorker(db, config, clock=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(40):
            worker.run_once()
            clock.now += timedelta(seconds=5)
    worker.close()
    [(_, _, state, attempts, error)] = rows(db)
    assert (state, attempts) == ("failed", 3) and "HTTP 500" in error
    assert any("GAVE UP on channel teams after 3 attempts" in r.message for r in caplog.records)
    conn = open_db(db)
    try:
        [line] = failing_channels(conn, ["s001"], opened - timedelta(days=1))
        assert line["channel"] == "teams" and line["failed"] == 1
        assert failing_channels(conn, ["s002"], opened - timedelta(days=1)) == []
    finally:
        conn.close()


def test_alerts_in_quiet_hours_or_for_other_stores_get_no_message(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    # T0 is 09:00 in Berlin: inside 08:00-10:00
    config = hub_config([webhook("quiet", quiet_hours="08:00-10:00"),
                         webhook("other-store", stores=["s002"]), webhook("waits", kinds=["wait"]),
                         webhook("mine", stores=["s001"], kinds=["unhappy"])])
    open_unhappy_alert(db, config)
    assert [r[1] for r in rows(db)] == ["mine"]


def test_a_redirect_is_not_followed_and_counts_as_not_delivered(
        tmp_path: Path, receiver: WebhookReceiver) -> None:
    db = tmp_path / "hub.sqlite"
    config = hub_config([webhook()])
    opened = open_unhappy_alert(db, config)
    receiver.status = 302
    receiver.start()
    worker = DeliveryWorker(db, config, clock=Clock(opened))
    worker.run_once()
    worker.close()
    [(_, _, state, attempts, error)] = rows(db)
    assert (state, attempts) == ("pending", 1) and "HTTP 302" in error
