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
    FOLLOWS_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Channel,
    Message,
    sign,
)

SMTP_TIMEOUT_S = 30.0


class SendError(RuntimeError):
    """The receiver did not take the message; the text is safe to log and show."""


def send(channel: Channel, message: Message, delivery_id: int | str, now_epoch: int) -> None:
    """Hand ``message`` to the channel's receiver; raises :class:`SendError` unless it took it.
    ``delivery_id`` names it to the receiver: an alert's outbox id, or "echo-N" for a
    follow-up."""
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


def mail_id(key: str) -> str:
    """The Message-ID of a mail made from an outbox row ("delivery-12", "echo-3"): the same on
    a resend after a crash, so mail clients and archives drop the duplicate."""
    return f"<peakend-{key}@{socket.getfqdn() or 'peakend'}>"


def _send_mail(channel: EmailChannel, message: Message, delivery_id: int | str) -> None:
    send_mail(channel, message.subject, message.text,
              message_id=message.message_id or mail_id(f"delivery-{delivery_id}"),
              in_reply_to=message.in_reply_to)


def send_mail(channel: EmailChannel, subject: str, text: str, *, html: str | None = None,
              to: list[str] | None = None, message_id: str, in_reply_to: str | None = None,
              images: dict[str, bytes] | None = None) -> None:
    """One mail through the channel's server (STARTTLS, login), to ``to`` or the channel's
    own recipients; an HTML part after the text when given, with ``images`` (Content-ID ->
    PNG) beside it for its ``cid:`` references; a reply in the thread of ``in_reply_to``.
    Raises :class:`SendError` with a text free of secrets."""
    secrets = [v for v in _secrets(channel) if v]
    try:
        mail = _compose_mail(channel, subject, text, html, to or channel.to, message_id,
                             in_reply_to, images or {})
        _submit(channel, mail)
    except SendError as exc:
        raise SendError(_scrub(str(exc), secrets)) from None
    except (OSError, smtplib.SMTPException, ssl.SSLError, ValueError) as exc:
        raise SendError(_scrub(f"{type(exc).__name__}: {exc}", secrets)) from None


def _compose_mail(channel: EmailChannel, subject: str, text: str, html: str | None,
                  to: list[str], message_id: str, in_reply_to: str | None,
                  images: dict[str, bytes]) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = channel.sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id
    if in_reply_to:
        # both: In-Reply-To for the parent, References for clients that thread by the chain
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
        if images:
            # multipart/related around the HTML: clients show cid: images inline, not as
            # attachments beside the mail
            html_part = mail.get_payload()[-1]
            for cid, png in images.items():
                html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>",
                                      filename=f"{cid.split('@')[0]}.png")
    return mail


def _submit(channel: EmailChannel, mail: EmailMessage) -> None:
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


def _post(channel: WebhookChannel, message: Message, delivery_id: int | str,
          now_epoch: int) -> None:
    url = _env(channel.url_env)
    if not url.startswith(("http://", "https://")):
        raise SendError(f"{channel.url_env} does not hold an http:// or https:// URL")
    # Slack and Teams incoming webhooks take a body of {"text": ...} as it is.
    body = json.dumps({"text": message.text}).encode()
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery_id),
               "Idempotency-Key": f"peakend-{delivery_id}", TIMESTAMP_HEADER: str(now_epoch)}
    if message.follows is not None:
        # the alert message this one follows, by the delivery id that one carried; the body
        # stays {"text": ...}, all Slack and Teams take
        headers[FOLLOWS_HEADER] = str(message.follows)
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
