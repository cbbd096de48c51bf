"""The outbox's state machine on both engines: one worker wins each claim; a stale claim (a
dead worker's) is claimed again; sent rows are never claimed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peakend.broker.hub.db.database import open_hub_db
from peakend.broker.hub.delivery import outbox

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_claims_are_exclusive_stale_ones_return_and_sent_ones_stay_sent(db_url: str) -> None:
    a = open_hub_db(db_url, migrate=True)
    b = open_hub_db(db_url)
    try:
        (alert_id,) = a.execute(
            "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, value, "
            "threshold) VALUES ('s001', 'checkout', 'wait', 'open', '2026-03-02T08:00:00.000Z', "
            "'checkout p90 wait 7:00', 420, 300) RETURNING id").fetchone()
        with a.transaction():
            outbox.enqueue(a, alert_id, ["mail", "slack"], 420.0, NOW)
            outbox.enqueue(a, alert_id, ["mail"], 420.0, NOW)  # again: no second row
        first = outbox.claim_due(a, NOW, lease_s=60)
        assert sorted(d.channel for d in first) == ["mail", "slack"]
        assert outbox.claim_due(b, NOW + timedelta(seconds=30), lease_s=60) == []
        outbox.mark_sent(a, first[0].id, NOW)
        # a's claim on the other row went stale: b takes it over, as its second attempt
        [again] = outbox.claim_due(b, NOW + timedelta(seconds=61), lease_s=60)
        assert (again.id, again.attempts) == (first[1].id, 2)
        outbox.mark_retry(b, again.id, "HTTP 500", NOW + timedelta(seconds=120))
        assert outbox.claim_due(a, NOW + timedelta(seconds=119), lease_s=60) == []
        [third] = outbox.claim_due(a, NOW + timedelta(seconds=120), lease_s=60)
        outbox.mark_failed(a, third.id, "HTTP 500")
        assert outbox.claim_due(a, NOW + timedelta(days=1), lease_s=60) == []
        states = a.execute("SELECT channel, state, attempts FROM alert_deliveries "
                           "ORDER BY channel").fetchall()
        assert [tuple(r) for r in states] == [("mail", "sent", 1), ("slack", "failed", 3)]
    finally:
        a.close()
        b.close()


def test_an_alert_opens_with_its_messages_and_keeps_its_value_now(db_url: str) -> None:
    from datetime import timedelta as td

    from peakend.broker.hub.reports.alerts import AlertMonitor

    from .conftest import hub_config, open_unhappy_alert, webhook

    config = hub_config([webhook("a"), webhook("b", kinds=["wait"])])
    config = config.model_copy(update={"alerts": config.alerts.model_copy(update={
        "default": config.alerts.default.model_copy(update={"min_open_min": 10.0})})})
    opened = open_unhappy_alert(db_url, config)  # type: ignore[arg-type]
    monitor = AlertMonitor(db_url, config)
    conn = open_hub_db(db_url)
    try:
        rows = conn.execute("SELECT channel, state, opened_value FROM alert_deliveries").fetchall()
        assert [tuple(r) for r in rows] == [("a", "pending", 3.0)]
        # the presses leave the window one by one: within the minimum open time the alert
        # stays open and its value now follows; then it closes with its last value
        monitor.check(opened + td(minutes=7, seconds=45))
        assert tuple(conn.execute("SELECT state, value_now, value FROM alerts").fetchone()) == (
            "open", 2.0, 3.0)
        monitor.check(opened + td(minutes=10, seconds=30))
        assert tuple(conn.execute("SELECT state, value_now, value FROM alerts").fetchone()) == (
            "closed", 0.0, 3.0)
    finally:
        monitor.close()
        conn.close()


def test_echoes_wait_for_their_alert_message_and_are_claimed_once(db_url: str) -> None:
    from peakend.broker.hub.reports.alerts import acknowledge, add_comment

    a = open_hub_db(db_url, migrate=True)
    b = open_hub_db(db_url)
    try:
        (alert_id,) = a.execute(
            "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, value, "
            "threshold) VALUES ('s001', 'checkout', 'wait', 'open', '2026-03-02T08:00:00.000Z', "
            "'checkout p90 wait 7:00', 420, 300) RETURNING id").fetchone()
        with a.transaction():
            outbox.enqueue(a, alert_id, ["mail", "slack"], 420.0, NOW)
        acknowledge(a, alert_id, "ana", "on it", now=NOW)
        acknowledge(b, alert_id, "ben", "", now=NOW)  # a second one, no word: no echo
        add_comment(b, alert_id, "ben", "queue gone", now=NOW)
        # nothing of the thread goes before the alert's own messages
        assert outbox.claim_echoes(a, NOW, lease_s=60) == []
        mail, slack = sorted(outbox.claim_due(a, NOW, lease_s=60), key=lambda d: d.channel)
        outbox.mark_alert_sent(a, mail.id, NOW, "<peakend-delivery-1@hub>")
        outbox.mark_failed(a, slack.id, "HTTP 500")
        echoes = outbox.claim_echoes(a, NOW, lease_s=60)
        assert sorted((e.event, e.author, e.text) for e in echoes) == [
            ("ack", "ana", "on it"), ("ack", "ana", "on it"),
            ("comment-2", "ben", "queue gone"), ("comment-2", "ben", "queue gone")]
        assert outbox.claim_echoes(b, NOW + timedelta(seconds=30), lease_s=60) == []
        assert outbox.delivery_row(b, mail.id)["message_id"] == "<peakend-delivery-1@hub>"
    finally:
        a.close()
        b.close()
