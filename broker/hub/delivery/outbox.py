"""The delivery outbox in the hub database: one row per (alert, channel).

States: pending -> sending -> sent, or back to pending with a later ``next_attempt_at`` after a
failed attempt, or failed once the attempts run out. A row is claimed (pending -> sending) in
one statement that only one worker can win, and it is recorded sent only after the receiver
took it. A worker that dies between the two leaves the row in sending; once its claim is older
than the lease another (or the restarted) worker sends it again: delivered at least once,
recorded once. Receivers can drop the repeat by the delivery id each message carries.

Acknowledgements and comments are echoed to the alert's thread through ``alert_echoes``, one
row per event and channel that carried the alert, in the same states; an echo waits until
its alert's own message is sent (a reply before the mail it answers helps nobody, and a mail
reply needs that mail's Message-ID).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from peakend.broker.hub.db.database import HubDb
from peakend.broker.wire.contract import format_ts

STATES = ("pending", "sending", "sent", "failed")


@dataclass(frozen=True)
class Delivery:
    """One claimed row: the attempt now being made."""

    id: int
    alert_id: int
    channel: str
    opened_value: float | None
    attempts: int  # including this one


def enqueue(
    conn: HubDb, alert_id: int, channels: list[str], opened_value: float | None, now: datetime
) -> None:
    """Rows for a new alert; run in the transaction that inserts the alert. Idempotent."""
    stamp = format_ts(now)
    for name in channels:
        conn.execute(
            "INSERT INTO alert_deliveries (alert_id, channel, state, opened_value, created_at, "
            "next_attempt_at) VALUES ($1, $2, 'pending', $3, $4, $4) "
            "ON CONFLICT (alert_id, channel) DO NOTHING",
            (alert_id, name, opened_value, stamp))


def claim_due(conn: HubDb, now: datetime, lease_s: float, limit: int = 20) -> list[Delivery]:
    """Claim the alert messages due now (see :func:`claim`)."""
    return [Delivery(int(r[0]), int(r[1]), r[2], r[3], int(r[4])) for r in claim(
        conn, "alert_deliveries", "alert_id, channel, opened_value", now, lease_s, limit)]


def claim(conn: HubDb, table: str, columns: str, now: datetime, lease_s: float,
          limit: int = 20, ready: str = "") -> list[tuple]:
    """Claim the rows of ``table`` (alert_deliveries, alert_echoes, digest_runs) due now:
    pending ones whose time has come and sending ones whose claim went stale (their worker
    died mid-send); ``ready``, an SQL condition, holds back rows that must wait for something
    else. Each row is claimed by a conditional update, so two workers never both win it.
    Returns (id, ``columns``..., attempts) per row claimed."""
    stamp, stale = format_ts(now), format_ts(now - timedelta(seconds=lease_s))
    due = [row[0] for row in conn.execute(
        f"SELECT id FROM {table} WHERE ((state = 'pending' AND next_attempt_at <= $1) "
        f"OR (state = 'sending' AND claimed_at <= $2)){' AND ' + ready if ready else ''} "
        "ORDER BY id LIMIT $3",
        (stamp, stale, limit))]
    claimed = []
    for row_id in due:
        row = conn.execute(
            f"UPDATE {table} SET state = 'sending', claimed_at = $1, "
            "attempts = attempts + 1 WHERE id = $2 AND ((state = 'pending' AND "
            "next_attempt_at <= $1) OR (state = 'sending' AND claimed_at <= $3)) "
            f"RETURNING id, {columns}, attempts",
            (stamp, row_id, stale)).fetchone()
        if row is not None:
            claimed.append(tuple(row))
    return claimed


def mark_sent(conn: HubDb, row_id: int, now: datetime, table: str = "alert_deliveries") -> None:
    conn.execute(f"UPDATE {table} SET state = 'sent', sent_at = $1, last_error = NULL "
                 "WHERE id = $2", (format_ts(now), row_id))


def mark_alert_sent(conn: HubDb, row_id: int, now: datetime, message_id: str | None) -> None:
    """An alert's message taken by its receiver, with the Message-ID its mail went out with
    (None for a webhook): replies in its thread name it."""
    conn.execute("UPDATE alert_deliveries SET state = 'sent', sent_at = $1, last_error = NULL, "
                 "message_id = $2 WHERE id = $3", (format_ts(now), message_id, row_id))


def mark_retry(conn: HubDb, row_id: int, error: str, retry_at: datetime,
               table: str = "alert_deliveries") -> None:
    conn.execute(f"UPDATE {table} SET state = 'pending', next_attempt_at = $1, "
                 "last_error = $2 WHERE id = $3", (format_ts(retry_at), error[:500], row_id))


def mark_failed(conn: HubDb, row_id: int, error: str, table: str = "alert_deliveries") -> None:
    conn.execute(f"UPDATE {table} SET state = 'failed', last_error = $1 WHERE id = $2",
                 (error[:500], row_id))


@dataclass(frozen=True)
class Echo:
    """One claimed echo of an acknowledgement or a comment, with the alert message it
    follows."""

    id: int
    delivery_id: int
    event: str  # "ack" or "comment-<id>"
    author: str
    text: str
    at: str
    attempts: int  # including this one


def enqueue_echoes(conn: HubDb, alert_id: int, event: str, author: str, text: str,
                   now: datetime) -> None:
    """Rows echoing ``event`` to every channel the alert went to or is on its way to (not to
    one that gave it up: it has no thread); run in the transaction that records the event.
    Idempotent per event and channel."""
    stamp = format_ts(now)
    conn.execute(
        "INSERT INTO alert_echoes (delivery_id, event, author, text, at, state, created_at, "
        "next_attempt_at) SELECT id, $1, $2, $3, $4, 'pending', $4, $4 FROM alert_deliveries "
        "WHERE alert_id = $5 AND state <> 'failed' ON CONFLICT (delivery_id, event) DO NOTHING",
        (event, author, text, stamp, alert_id))


def claim_echoes(conn: HubDb, now: datetime, lease_s: float, limit: int = 20) -> list[Echo]:
    """Claim the echoes due now whose alert message is settled (sent, or given up)."""
    settled = ("EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.id = alert_echoes.delivery_id "
               "AND d.state IN ('sent', 'failed'))")
    return [Echo(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], int(r[6])) for r in claim(
        conn, "alert_echoes", "delivery_id, event, author, text, at", now, lease_s, limit,
        ready=settled)]


def delivery_row(conn: HubDb, delivery_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, alert_id, channel, state, opened_value, message_id FROM alert_deliveries "
        "WHERE id = $1", (delivery_id,)).fetchone()
    keys = ("delivery_id", "alert_id", "channel", "state", "opened_value", "message_id")
    return dict(zip(keys, row, strict=True))


def plan_digest(conn: HubDb, name: str, period: str, now: datetime) -> None:
    """A row for a scheduled digest's period; idempotent, so every loop may ask."""
    stamp = format_ts(now)
    conn.execute(
        "INSERT INTO digest_runs (name, period, state, created_at, next_attempt_at) "
        "VALUES ($1, $2, 'pending', $3, $3) ON CONFLICT (name, period) DO NOTHING",
        (name, period, stamp))


def alert_row(conn: HubDb, alert_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, store_id, zone_id, kind, state, opened_at, closed_at, cause, value, "
        "threshold, value_now FROM alerts WHERE id = $1", (alert_id,)).fetchone()
    keys = ("alert_id", "store_id", "zone_id", "kind", "state", "opened_at", "closed_at",
            "cause", "value", "threshold", "value_now")
    return dict(zip(keys, row, strict=True))


def failing_channels(conn: HubDb, stores: list[str] | tuple[str, ...], since: datetime
                     ) -> list[dict[str, Any]]:
    """Per channel, of the alerts of ``stores`` and their echoes (acknowledgements,
    comments): messages given up since ``since`` and messages being retried after a failed
    attempt, with the latest error; only channels with either (a message merely in flight is
    no failure)."""
    if not stores:
        return []
    marks = conn.dialect.params(2, len(stores))
    out: dict[str, dict[str, Any]] = {}
    # the echoes first, so an alert's own error, the more telling, is the one kept
    for table, join in (
            ("alert_echoes", "JOIN alert_deliveries o ON o.id = d.delivery_id "
             "JOIN alerts a ON a.id = o.alert_id"),
            ("alert_deliveries", "JOIN alerts a ON a.id = d.alert_id")):
        channel = "o.channel" if table == "alert_echoes" else "d.channel"
        rows = conn.execute(
            f"SELECT {channel}, sum(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN d.state IN ('pending', 'sending') AND d.last_error IS NOT NULL "
            f"THEN 1 ELSE 0 END), max(d.id) FROM {table} d {join} "
            f"WHERE d.created_at > {conn.dialect.param(1)} AND a.store_id IN ({marks}) "
            "AND (d.state = 'failed' OR d.last_error IS NOT NULL) AND d.state <> 'sent' "
            f"GROUP BY {channel}",
            (format_ts(since), *stores)).fetchall()
        for name, failed, retrying, last_id in rows:
            (error,) = conn.execute(f"SELECT last_error FROM {table} WHERE id = $1",
                                    (last_id,)).fetchone()
            line = out.setdefault(name, {"channel": name, "failed": 0, "retrying": 0,
                                         "error": ""})
            line["failed"] += int(failed or 0)
            line["retrying"] += int(retrying or 0)
            line["error"] = error or line["error"]
    return [out[name] for name in sorted(out)]
