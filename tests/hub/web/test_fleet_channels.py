"""The fleet page says when an alert channel is failing, for the stores the reader looks
after only, with the error (never a secret) and what to check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from peakend.broker.devtools.web_server import serve_in_thread
from peakend.broker.hub.config import HubConfig
from peakend.broker.hub.delivery import outbox
from peakend.broker.hub.reports.queries import open_db
from peakend.broker.hub.web.app import create_app
from peakend.broker.hub.web.auth import add_user

from .http_client import Client

PASSWORD = "tech password"


def test_failing_channel_shows_a_banner_to_the_stores_it_failed_for(tmp_path: Path) -> None:
    db = tmp_path / "hub.sqlite"
    conn = open_db(db, must_exist=False)
    add_user(conn, "tech-s001", PASSWORD, ["s001"])
    add_user(conn, "tech-s002", PASSWORD, ["s002"])
    now = datetime.now(UTC)
    (alert_id,) = conn.execute(
        "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, value, "
        "threshold) VALUES ('s001', 'checkout', 'wait', 'open', $1, 'checkout p90 wait 7:00', "
        "420, 300) RETURNING id", (now.isoformat(),)).fetchone()
    outbox.enqueue(conn, alert_id, ["teams", "mail"], 420.0, now)
    [teams, mail] = outbox.claim_due(conn, now, lease_s=60)
    outbox.mark_failed(conn, teams.id, "the webhook answered HTTP 500 <Server Error>")
    outbox.mark_retry(conn, mail.id, "SMTPAuthenticationError: (535, b'...')", now)
    for name in ("s001/day", "s002/week"):
        outbox.plan_digest(conn, name, "2026-03-02", now)
    for row_id, *_ in outbox.claim(conn, "digest_runs", "name", now, lease_s=60):
        outbox.mark_failed(conn, row_id, "SMTPServerDisconnected", "digest_runs")
    conn.close()
    config = HubConfig.model_validate({"stores": [{"id": "s001"}, {"id": "s002"}]})
    with serve_in_thread(create_app(db, config)) as base:
        tech = Client(base)
        assert tech.login("tech-s001", PASSWORD) == 303
        status, _, page = tech.request("GET", "/fleet")
        assert status == 200
        assert ("Alert channel teams is failing: 1 alert given up (last error: the webhook "
                "answered HTTP 500 &lt;Server Error&gt;)") in page
        assert "Alert channel mail is failing: 1 being retried (last error: SMTP" in page
        assert "Digest s001/day of 2026-03-02 was given up" in page
        assert "s002/week" not in page
        other = Client(base)
        assert other.login("tech-s002", PASSWORD) == 303
        _, _, page = other.request("GET", "/fleet")
        assert "Alert channel" not in page
