"""Which channels take an alert, when a failed message is tried again, what a message says.

Pure: no database, no sockets, no clock of its own (every time is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from peakend.broker.hub.config import DeliverySection, EmailChannel, WebhookChannel
from peakend.broker.hub.reports.analytics import fmt_duration

Channel = EmailChannel | WebhookChannel

SIGNATURE_HEADER = "X-Peakend-Signature"
TIMESTAMP_HEADER = "X-Peakend-Timestamp"
DELIVERY_HEADER = "X-Peakend-Delivery"
FOLLOWS_HEADER = "X-Peakend-Follows"


def channels_for(
    delivery: DeliverySection, store: str, kind: str, at: datetime, tz: ZoneInfo
) -> list[Channel]:
    """The channels that take an alert of ``kind`` for ``store`` opening at ``at``."""
    local = at.astimezone(tz).time()
    return [
        c for c in delivery.channels
        if (not c.stores or store in c.stores)
        and kind in c.kinds
        and not in_quiet_hours(c.quiet_hours, local)
    ]


def in_quiet_hours(quiet: str | None, local: time) -> bool:
    """``quiet`` is "HH:MM-HH:MM", store-local; a span past midnight (21:00-07:00) wraps. The
    start is inside, the end is not."""
    if not quiet:
        return False
    start, end = (time.fromisoformat(part) for part in quiet.split("-"))
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def next_attempt(delivery: DeliverySection, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None: give up. The wait doubles
    from ``first_retry_s`` up to ``max_retry_s``, so a receiver down for minutes is reached
    soon after it is back, and one down for a day is not hammered."""
    if attempts >= delivery.max_attempts:
        return None
    wait = min(delivery.first_retry_s * 2 ** max(0, attempts - 1), delivery.max_retry_s)
    return now + timedelta(seconds=wait)


@dataclass(frozen=True)
class Message:
    """One alert, or a word on one, as a person reads it in a mail or a chat."""

    subject: str
    text: str
    link: str
    # The mail's own Message-ID when the sender must know it beforehand (it is recorded, and
    # a resend after a crash must carry the same one); None: made from the delivery id.
    message_id: str | None = None
    # A follow-up's place in the alert's thread: the alert mail's Message-ID (In-Reply-To,
    # References) and the alert message's delivery id (a webhook receiver's thread key).
    in_reply_to: str | None = None
    follows: int | None = None


def compose(
    alert: dict[str, Any], opened_value: float | None, base_url: str, store_label: str,
    tz: ZoneInfo,
) -> Message:
    """What triggered the alert, its value when it opened and now, and its zone's page."""
    zone, kind = alert["zone_id"], alert["kind"]
    link = f"{base_url.rstrip('/')}/s/{alert['store_id']}/z/{zone}"
    what = "long wait" if kind == "wait" else "unhappy shoppers"
    subject = f"[peakend] {store_label} / {zone}: {what}"
    opened = datetime.fromisoformat(alert["opened_at"].replace("Z", "+00:00")).astimezone(tz)
    lines = [
        f"{store_label} / {zone}: {alert['cause']}.",
        f"Opened {opened:%Y-%m-%d %H:%M} (store time) at {_value(kind, opened_value)}; "
        + (f"now {_value(kind, alert.get('value_now'))}."
           if alert["state"] == "open" else "closed since."),
        f"Threshold: {_value(kind, alert.get('threshold'))}.",
        f"Zone page: {link}",
    ]
    return Message(subject, "\n".join(lines), link)


def compose_echo(
    alert: dict[str, Any], event: str, author: str, text: str, at: str, base_url: str,
    store_label: str, tz: ZoneInfo, *, in_reply_to: str | None, follows: int,
) -> Message:
    """An acknowledgement or a comment, as a follow-up to the alert's message: the mail's
    subject with "Re:", who did what when, and the alert quoted (chat webhooks have no
    threads, so the follow-up must say which alert it is about on its own)."""
    alert_message = compose(alert, alert["value"], base_url, store_label, tz)
    when = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(tz)
    said = f": {text}" if text else "."
    if event == "ack":
        head = f"{author} acknowledged the alert at {when:%H:%M} (store time){said}"
    else:
        head = f"{author} commented at {when:%H:%M} (store time){said}"
    opened = datetime.fromisoformat(alert["opened_at"].replace("Z", "+00:00")).astimezone(tz)
    quote = (f"> {store_label} / {alert['zone_id']}: {alert['cause']} "
             f"(opened {opened:%Y-%m-%d %H:%M})")
    lines = [head, "", quote, "", f"Zone page: {alert_message.link}"]
    return Message(f"Re: {alert_message.subject}", "\n".join(lines), alert_message.link,
                   in_reply_to=in_reply_to, follows=follows)


def _value(kind: str, value: float | None) -> str:
    if value is None:
        return "no reading"
    if kind == "wait":
        return f"p90 wait {fmt_duration(value)}"
    return f"{value:g} unhappy presses"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over "timestamp.body", so a captured request
    cannot be replayed later with a new timestamp (the receiver refuses old ones)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, now: float,
           tolerance_s: float = 300.0) -> bool:
    """What a receiver checks: the signature, and a timestamp within ``tolerance_s``."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)
