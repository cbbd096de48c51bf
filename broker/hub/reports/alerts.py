"""Service-recovery alerts: a zone's wait or its unhappy presses cross a threshold.

The aggregator calls :meth:`AlertMonitor.check` every few seconds and publishes what it returns
on ``peakend/v1/{store}/alerts``. The monitor reads each zone's recent waits and presses and
carries out what the pure rules of :mod:`peakend.broker.hub.reports.alert_rules` decide (one
open alert per zone and cause, also a unique index; hysteresis; a cool-down). Alerts live in
the ``alerts`` table, where the web acknowledges and comments on them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from peakend.broker.hub.config import DEFAULT, AlertRule, HubConfig
from peakend.broker.hub.db.database import HubDb
from peakend.broker.hub.delivery.outbox import enqueue, enqueue_echoes
from peakend.broker.hub.delivery.rules import channels_for
from peakend.broker.hub.reports.alert_rules import (
    Action,
    Reading,
    decide,
    unhappy_reading,
    wait_reading,
)
from peakend.broker.hub.reports.queries import open_db, zones
from peakend.broker.wire.contract import format_ts, parse_ts

__all__ = ["AlertMonitor", "Reading", "acknowledge", "add_comment", "alert_payload",
           "store_alerts"]


class AlertMonitor:
    """Opens and closes alerts from the database; holds its own connection, which reads the
    zones and their readings and writes only the ``alerts`` table."""

    def __init__(self, db_path: str | Path, config: HubConfig | None = None) -> None:
        self.config = config or DEFAULT
        # the writer process made or migrated the database before the monitor starts
        self.conn = open_db(db_path)

    def close(self) -> None:
        self.conn.close()

    def check(self, now: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Evaluate every zone; returns (store_id, payload) for alerts opened or closed now."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        out: list[tuple[str, dict[str, Any]]] = []
        for store, zone, _ in zones(self.conn):
            rule, wait_on, unhappy_on = self.config.alert_rule(store, zone)
            readings = []
            wait = self._wait_reading(store, zone, rule, now)
            if wait_on:
                readings.append(wait)
            if unhappy_on:
                readings.append(self._unhappy_reading(store, zone, rule, now, wait))
            for r in readings:
                event = self._step(store, zone, rule, r, now)
                if event:
                    out.append((store, event))
        return out

    # -- readings ---------------------------------------------------------------------------

    def _wait_reading(self, store: str, zone: str, rule: AlertRule, now: datetime) -> Reading:
        since = now - timedelta(minutes=rule.wait_window_min)
        waits = [r[0] for r in self.conn.execute(
            "SELECT wait_s FROM dwells WHERE store_id = $1 AND zone_id = $2 AND exit > $3 "
            "AND exit <= $4 AND wait_s IS NOT NULL",
            (store, zone, format_ts(since), format_ts(now)))]
        return wait_reading(zone, waits, rule)

    def _unhappy_reading(
        self, store: str, zone: str, rule: AlertRule, now: datetime, wait: Reading
    ) -> Reading:
        since = now - timedelta(minutes=rule.unhappy_window_min)
        (count,) = self.conn.execute(
            "SELECT count(*) FROM ratings WHERE store_id = $1 AND zone_id = $2 AND at > $3 "
            "AND at <= $4 AND flagged = 0 AND score <= $5",
            (store, zone, format_ts(since), format_ts(now),
             self.config.analytics.unhappy_max_score)).fetchone()
        return unhappy_reading(zone, int(count), rule, wait)

    # -- state ------------------------------------------------------------------------------

    def _step(
        self, store: str, zone: str, rule: AlertRule, r: Reading, now: datetime
    ) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, opened_at FROM alerts WHERE store_id = $1 AND zone_id = $2 AND kind = $3 "
            "AND state = 'open'", (store, zone, r.kind)).fetchone()
        closed_recently = False
        if row is None and r.over:  # the cool-down only matters for an alert about to open
            closed_recently = self.conn.execute(
                "SELECT 1 FROM alerts WHERE store_id = $1 AND zone_id = $2 AND kind = $3 "
                "AND closed_at > $4",
                (store, zone, r.kind, format_ts(now - timedelta(minutes=rule.cooldown_min))),
            ).fetchone() is not None
        action = decide(r, rule, now, opened_at=parse_ts(row[1]) if row else None,
                        closed_recently=closed_recently)
        if action is Action.OPEN:
            # The alert and its messages to mail and webhooks commit together: a hub stopped
            # between the two would otherwise show an alert nobody is ever told of.
            channels = [c.name for c in channels_for(
                self.config.delivery, store, r.kind, now, self.config.timezone(store))]
            with self.conn.transaction():
                (alert_id,) = self.conn.execute(
                    "INSERT INTO alerts (store_id, zone_id, kind, state, opened_at, cause, "
                    "value, threshold, value_now) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, "
                    "$6) RETURNING id",
                    (store, zone, r.kind, format_ts(now), r.cause, r.value, r.threshold),
                ).fetchone()
                enqueue(self.conn, int(alert_id), channels, r.value, now)
            return self._payload(int(alert_id))
        if action is Action.CLOSE:
            self.conn.execute(
                "UPDATE alerts SET state = 'closed', closed_at = $1, value_now = $2 WHERE id = $3",
                (format_ts(now), r.value, row[0]))
            return self._payload(row[0])
        if action is Action.UPDATE:
            higher = self.conn.dialect.greatest("value", "$2")
            self.conn.execute(f"UPDATE alerts SET cause = $1, value = {higher}, value_now = $2 "
                              "WHERE id = $3", (r.cause, r.value, row[0]))
        elif row is not None:
            # below the threshold but not yet closed: a late message says where it stands now
            self.conn.execute("UPDATE alerts SET value_now = $1 WHERE id = $2 AND value_now "
                              "IS DISTINCT FROM $1", (r.value, row[0]))
        return None

    def _payload(self, alert_id: int) -> dict[str, Any]:
        return alert_payload(self.conn, alert_id)


def alert_payload(conn: HubDb, alert_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, store_id, zone_id, kind, state, opened_at, closed_at, cause, value, "
        "threshold, acked_at, acked_by FROM alerts WHERE id = $1", (alert_id,)).fetchone()
    keys = ("alert_id", "store_id", "zone_id", "kind", "state", "opened_at", "closed_at",
            "cause", "value", "threshold", "acked_at", "acked_by")
    return dict(zip(keys, row, strict=True))


def store_alerts(
    conn: HubDb, store: str, zone: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Open alerts first, then the most recent, with their comments."""
    sql = "SELECT id FROM alerts WHERE store_id = $1"
    args: list[Any] = [store]
    if zone:
        sql += " AND zone_id = $2"
        args.append(zone)
    sql += f" ORDER BY state = 'open' DESC, opened_at DESC LIMIT ${len(args) + 1}"
    out = []
    for (alert_id,) in conn.execute(sql, (*args, limit)).fetchall():
        a = alert_payload(conn, alert_id)
        a["comments"] = [
            {"at": at, "author": author, "text": text}
            for at, author, text in conn.execute(
                "SELECT at, author, text FROM alert_comments WHERE alert_id = $1 ORDER BY id",
                (alert_id,))
        ]
        out.append(a)
    return out


def acknowledge(conn: HubDb, alert_id: int, who: str, comment: str = "",
                now: datetime | None = None) -> None:
    """The first acknowledgement is kept (who, when) and echoed to the alert's channels with
    its comment; a later one only adds its comment (echoed as a comment)."""
    now = now or datetime.now(UTC)
    text = comment.strip()[:1000]
    with conn.transaction():
        first = conn.execute(
            "UPDATE alerts SET acked_at = $1, acked_by = $2 WHERE id = $3 AND acked_at IS NULL "
            "RETURNING id", (format_ts(now), who, alert_id)).fetchone() is not None
        comment_id = _insert_comment(conn, alert_id, who, text, now) if text else None
        if first:
            enqueue_echoes(conn, alert_id, "ack", who, text, now)
        elif comment_id is not None:
            enqueue_echoes(conn, alert_id, f"comment-{comment_id}", who, text, now)


def add_comment(conn: HubDb, alert_id: int, who: str, text: str,
                now: datetime | None = None) -> None:
    """A comment, echoed to the alert's channels with it (one transaction: an echo is never
    lost, nor sent for a comment that was not kept)."""
    now = now or datetime.now(UTC)
    text = text.strip()[:1000]
    with conn.transaction():
        comment_id = _insert_comment(conn, alert_id, who, text, now)
        enqueue_echoes(conn, alert_id, f"comment-{comment_id}", who, text, now)


def _insert_comment(conn: HubDb, alert_id: int, who: str, text: str, now: datetime) -> int:
    (comment_id,) = conn.execute(
        "INSERT INTO alert_comments (alert_id, at, author, text) VALUES ($1, $2, $3, $4) "
        "RETURNING id", (alert_id, format_ts(now), who, text)).fetchone()
    return int(comment_id)
