"""Speaking to the receivers: SMTP with STARTTLS and a login, and a signed JSON POST.

Secrets come from the environment when a message is sent (never from hub.toml), and no error
this module raises carries one: :class:`SendError` texts are built here, from what failed,
and scrubbed of every secret the channel holds.
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate

from peakend.broker.device.redaction import hide_url_passwords
from peakend.broker.hub.config import EmailChannel, WebhookChannel
from peakend.broker.hub.delivery.rules import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Channel,
    Message,
    sign,
)

SMTP_TIMEOUT_S = 30.0


class SendError(RuntimeError):
    """The receiver did not take the message; the text is safe to log and show."""


def send(channel: Channel, message: Message, delivery_id: int, now_epoch: int) -> None:
    """Hand ``message`` to the channel's receiver; raises :class:`SendError` unless it took it."""
    secrets = [v for v in _secrets(channel) if v]
    try:
        if isinstance(channel, EmailChannel):
            _send_mail(channel, message, delivery_id)
        else:
            _post(channel, message, delivery_id, now_epoch)
    except SendError as exc:
        raise SendError(_scrub(str(exc), secrets)) from None
    except (OSError, smtplib.SMTPException, ssl.SSLError, ValueError) as exc:
        raise SendError(_scrub(f"{type(exc).__name__}: {exc}", secrets)) from None


def _send_mail(channel: EmailChannel, message: Message, delivery_id: int) -> None:
    # The same id on a resend after a crash: mail clients and archives drop the duplicate.
    send_mail(channel, message.subject, message.text,
              message_id=f"<peakend-delivery-{delivery_id}@{socket.getfqdn() or 'peakend'}>")


def send_mail(channel: EmailChannel, subject: str, text: str, *, html: str | None = None,
              to: list[str] | None = None, message_id: str) -> None:
    """One mail through the channel's server (STARTTLS, login), to ``to`` or the channel's
    own recipients; an HTML part after the text when given. Raises :class:`SendError` with a
    text free of secrets."""
    secrets = [v for v in _secrets(channel) if v]
    try:
        _mail(channel, subject, text, html, to or channel.to, message_id)
    except SendError as exc:
        raise SendError(_scrub(str(exc), secrets)) from None
    except (OSError, smtplib.SMTPException, ssl.SSLError, ValueError) as exc:
        raise SendError(_scrub(f"{type(exc).__name__}: {exc}", secrets)) from None


def _mail(channel: EmailChannel, subject: str, text: str, html: str | None, to: list[str],
          message_id: str) -> None:
    mail = EmailMessage()
    mail["From"] = channel.sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
        smtp.ehlo()
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=channel.ca_file))
            smtp.ehlo()
        if channel.username:
            smtp.login(channel.username, _env(channel.password_env or ""))
        refused = smtp.send_message(mail)
    if refused:
        raise SendError(f"the SMTP server refused {', '.join(sorted(refused))}")


def _post(channel: WebhookChannel, message: Message, delivery_id: int, now_epoch: int) -> None:
    url = _env(channel.url_env)
    if not url.startswith(("http://", "https://")):
        raise SendError(f"{channel.url_env} does not hold an http:// or https:// URL")
    # Slack and Teams incoming webhooks take a body of {"text": ...} as it is.
    body = json.dumps({"text": message.text}).encode()
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery_id),
               "Idempotency-Key": f"peakend-{delivery_id}", TIMESTAMP_HEADER: str(now_epoch)}
    if channel.secret_env:
        headers[SIGNATURE_HEADER] = sign(_env(channel.secret_env).encode(), now_epoch, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _NO_REDIRECTS.open(request, timeout=channel.timeout_s) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        # never str(exc) of a URLError: it may name the URL, which is the channel's secret
        raise SendError(f"the webhook answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SendError(f"cannot reach the webhook: {exc.reason}") from None


class _Refuse(urllib.request.HTTPRedirectHandler):
    """A webhook that answers with a redirect has not taken the message; following it would
    hand the signed message to another address (urllib would even turn the POST into a GET)."""

    def redirect_request(self, *_: object) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_Refuse)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SendError(f"the environment variable {name} is not set: set it where the hub "
                        "runs (e.g. in its systemd unit's environment file)")
    return value


def _secrets(channel: Channel) -> list[str | None]:
    if isinstance(channel, EmailChannel):
        return [os.environ.get(channel.password_env)] if channel.password_env else []
    names = [channel.url_env, channel.secret_env]
    return [os.environ.get(n) for n in names if n]


def _scrub(text: str, secrets: list[str]) -> str:
    text = hide_url_passwords(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
