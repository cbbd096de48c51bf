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
