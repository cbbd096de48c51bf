"""The delivery loop: claims due outbox rows, sends them, records the outcome.

``peakend serve`` runs it in a process of its own (:func:`run_delivery`), apart from ingest
and from the web: a mail server that takes 30 s to time out holds up nobody but this loop,
and a hub without a web still tells people. Several workers (a chain's PostgreSQL hubs) may
run side by side: each row is claimed by one of them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peakend.broker.hub.config import DEFAULT, EmailChannel, HubConfig
from peakend.broker.hub.db.database import HubDb, open_hub_db
from peakend.broker.hub.delivery import outbox
from peakend.broker.hub.delivery.rules import Channel, compose, compose_echo, next_attempt
from peakend.broker.hub.delivery.senders import SendError, mail_id, send, send_mail
from peakend.broker.hub.reports.digest import (
    DigestError,
    build_digest,
    chart_images,
    day_period,
    due_period,
    render_html,
    render_text,
    week_period,
)

log = logging.getLogger(__name__)

# A claim older than this is taken to be a dead worker's: longer than any one send may take
# (SMTP_TIMEOUT_S, a webhook's timeout_s), so a slow send is never doubled by a second worker.
LEASE_S = 180.0

Sender = Callable[[Channel, Any, int | str, int], None]


class DeliveryWorker:
    """Sends what the outbox holds. ``clock`` and ``sender`` are seams for tests."""

    def __init__(
        self,
        db: str | Path,
        config: HubConfig | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sender: Sender = send,
        lease_s: float = LEASE_S,
    ) -> None:
        self.config = config or DEFAULT
        self.conn: HubDb = open_hub_db(db)
        self.clock = clock
        self.sender = sender
        self.lease_s = lease_s

    def close(self) -> None:
        self.conn.close()

    def run_once(self) -> int:
        """Send every row due now (alerts, their echoes, then digests); returns how many were
        attempted."""
        now = self.clock()
        claimed = outbox.claim_due(self.conn, now, self.lease_s)
        for delivery in claimed:
            self._attempt(delivery, now)
        echoes = outbox.claim_echoes(self.conn, now, self.lease_s)
        for echo in echoes:
            self._echo(echo, now)
        return len(claimed) + len(echoes) + self._digests(now)

    def _digests(self, now: datetime) -> int:
        """Plan the scheduled digests owed now, then send those due (as alerts are sent:
        claimed, recorded after, retried, given up loudly)."""
        schedules = {f"{d.store}/{d.every}": d for d in self.config.digests}
        for name, d in schedules.items():
            period = due_period(d.every, d.at, self.config.timezone(d.store), now)
            if period is not None:
                outbox.plan_digest(self.conn, name, period.key, now)
        runs = outbox.claim(self.conn, "digest_runs", "name, period", now, self.lease_s)
        for run_id, name, period, attempts in runs:
            schedule = schedules.get(name)
            try:
                if schedule is None:
                    raise SendError(f"no [[digests]] {name} in hub.toml any more")
                self._send_digest(run_id, schedule, period)
            except (SendError, DigestError) as exc:
                retry_at = next_attempt(self.config.delivery, attempts, now)
                if retry_at is None or schedule is None:
                    outbox.mark_failed(self.conn, run_id, str(exc), "digest_runs")
                    log.error("digest %s %s: GAVE UP after %d attempts: %s", name, period,
                              attempts, exc)
                else:
                    outbox.mark_retry(self.conn, run_id, str(exc), retry_at, "digest_runs")
                    log.warning("digest %s %s failed (attempt %d): %s", name, period, attempts,
                                exc)
                continue
            outbox.mark_sent(self.conn, run_id, self.clock(), "digest_runs")
            log.info("digest %s %s sent", name, period)
        return len(runs)

    def _send_digest(self, run_id: int, schedule: Any, period_key: str) -> None:
        tz = self.config.timezone(schedule.store)
        period = (day_period if schedule.every == "day" else week_period)(period_key, tz)
        digest = build_digest(self.conn, self.config, schedule.store, period, schedule.language)
        channel = next(c for c in self.config.delivery.channels if c.name == schedule.channel)
        # one Message-ID per run: a resend after a crash is the same mail to a mail client
        send_mail(channel, digest.title, render_text(digest),
                  html=render_html(digest, cid=True), images=chart_images(digest),
                  to=schedule.to or None,
                  message_id=mail_id(f"digest-{run_id}"))

    def run(self, stop: threading.Event, poll_s: float = 2.0) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                # the database may be busy or gone for a moment; the rows wait in the outbox
                log.exception("alert delivery failed; trying again")
                busy = 0
            if not busy:
                stop.wait(poll_s)

    def _attempt(self, delivery: outbox.Delivery, now: datetime) -> None:
        channel = next((c for c in self.config.delivery.channels
                        if c.name == delivery.channel), None)
        if channel is None:
            outbox.mark_failed(self.conn, delivery.id,
                               f"no channel {delivery.channel!r} in hub.toml any more")
            log.error("alert %s: channel %s is no longer configured; not sent",
                      delivery.alert_id, delivery.channel)
            return
        alert = outbox.alert_row(self.conn, delivery.alert_id)
        store = self.config.store(alert["store_id"])
        message = compose(alert, delivery.opened_value, self.config.delivery.base_url,
                          store.label, self.config.timezone(alert["store_id"]))
        # a mail's Message-ID is recorded with the row: replies in its thread name it
        message_id = (mail_id(f"delivery-{delivery.id}") if isinstance(channel, EmailChannel)
                      else None)
        message = replace(message, message_id=message_id)
        try:
            # the receiver checks the signed timestamp against its own clock: the real one
            self.sender(channel, message, delivery.id, int(time.time()))
        except SendError as exc:
            self._failed("alert_deliveries", delivery.id, delivery.attempts,
                         f"alert {delivery.alert_id}", channel.name, str(exc), now)
            return
        outbox.mark_alert_sent(self.conn, delivery.id, self.clock(), message_id)
        log.info("alert %s sent to %s", delivery.alert_id, channel.name)

    def _echo(self, echo: outbox.Echo, now: datetime) -> None:
        """An acknowledgement or a comment, sent in the thread of the alert's message."""
        original = outbox.delivery_row(self.conn, echo.delivery_id)
        what = f"alert {original['alert_id']} {echo.event.split('-')[0]}"
        channel = next((c for c in self.config.delivery.channels
                        if c.name == original["channel"]), None)
        if original["state"] == "failed" or channel is None:
            why = ("the alert's own message was given up, so it has no thread to answer in"
                   if channel is not None else
                   f"no channel {original['channel']!r} in hub.toml any more")
            outbox.mark_failed(self.conn, echo.id, why, "alert_echoes")
            log.error("%s: not echoed to %s: %s", what, original["channel"], why)
            return
        alert = outbox.alert_row(self.conn, original["alert_id"])
        store_id = alert["store_id"]
        # A mail sent before Message-IDs were recorded carried the one made from its row.
        parent = original["message_id"] or mail_id(f"delivery-{original['delivery_id']}")
        message = compose_echo(
            alert, echo.event, echo.author, echo.text, echo.at, self.config.delivery.base_url,
            self.config.store(store_id).label, self.config.timezone(store_id),
            in_reply_to=parent if isinstance(channel, EmailChannel) else None,
            follows=original["delivery_id"])
        message = replace(message, message_id=mail_id(f"echo-{echo.id}"))
        try:
            self.sender(channel, message, f"echo-{echo.id}", int(time.time()))
        except SendError as exc:
            self._failed("alert_echoes", echo.id, echo.attempts, what, channel.name, str(exc),
                         now)
            return
        outbox.mark_sent(self.conn, echo.id, self.clock(), "alert_echoes")
        log.info("%s echoed to %s", what, channel.name)

    def _failed(self, table: str, row_id: int, attempts: int, what: str, channel: str,
                error: str, now: datetime) -> None:
        retry_at = next_attempt(self.config.delivery, attempts, now)
        if retry_at is None:
            outbox.mark_failed(self.conn, row_id, error, table)
            log.error("%s: GAVE UP on channel %s after %d attempts: %s",
                      what, channel, attempts, error)
            return
        outbox.mark_retry(self.conn, row_id, error, retry_at, table)
        log.warning("%s: channel %s failed (attempt %d): %s; next try at %s",
                    what, channel, attempts, error, retry_at.isoformat(timespec="seconds"))


@dataclass(frozen=True)
class DeliverySpec:
    """What the delivery process needs; it crosses into the process, so plain values only."""

    db: str
    config: Any
    lease_s: float = LEASE_S
    poll_s: float = 2.0


def run_delivery(spec: DeliverySpec, parent_pid: int) -> None:
    """The delivery process: the loop until SIGTERM or until ``serve`` is gone."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s peakend delivery: %(message)s")
    try:
        Path("/proc/self/comm").write_text("peakend-deliver")  # tells it apart in `ps`
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # serve decides when it stops
    # Sending takes little CPU, but a burst of retries must not take it from ingest on a
    # two-core hub; not the web's SCHED_IDLE, though: a busy hub still sends its alerts.
    os.nice(10)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_parent() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent_pid:
                stop.set()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    worker = DeliveryWorker(spec.db, spec.config, lease_s=spec.lease_s)
    try:
        worker.run(stop, spec.poll_s)
    finally:
        worker.close()
