"""Real receivers on loopback for alert delivery: an HTTP webhook that checks signatures, and
an SMTP server with STARTTLS and a login (aiosmtpd), its certificate from the project's TLS
helpers."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from peakend.broker.hub.delivery.rules import (
    DELIVERY_HEADER,
    FOLLOWS_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    delivery: str
    body: dict[str, Any]
    signed: bool
    follows: str | None = None  # the alert delivery a follow-up names


@dataclass
class WebhookReceiver:
    """Answers 200 to a POST whose signature checks out (401 otherwise) and keeps it.
    ``status``: answer this instead (a receiver in trouble); ``kill_pid``: SIGKILL that
    process once the message is here, before answering (a sender dying mid-send)."""

    secret: bytes
    port: int = field(default_factory=free_port)
    status: int = 200
    kill_pid: int | None = None
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T0SECRETPATH"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(receiver.secret, self.headers.get(TIMESTAMP_HEADER, ""), body,
                            self.headers.get(SIGNATURE_HEADER, ""), time.time())
                if ok and receiver.status == 200:
                    receiver.received.append(Received(
                        self.headers[DELIVERY_HEADER], json.loads(body), ok,
                        self.headers.get(FOLLOWS_HEADER)))
                elif not ok:
                    receiver.refused += 1
                if receiver.kill_pid is not None:
                    os.kill(receiver.kill_pid, signal.SIGKILL)
                    receiver.kill_pid = None
                    time.sleep(0.5)
                self.send_response(receiver.status if ok else 401)
                if receiver.status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")  # a client that follows: GET
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class SmtpReceiver:
    port: int
    ca_file: Path
    messages: list[Any]
    logins: list[str]


@contextmanager
def smtp_receiver(tmp: Path, user: str, password: str) -> Iterator[SmtpReceiver]:
    """aiosmtpd that requires STARTTLS before AUTH, with a certificate for 127.0.0.1 signed by
    a CA of its own (the project's TLS helpers make both)."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from peakend.broker.field.tls import make_ca, make_server_cert

    ca, ca_key, cert, key = (tmp / n for n in ("ca.pem", "ca.key", "smtp.pem", "smtp.key"))
    make_ca(ca, ca_key)
    make_server_cert(ca, ca_key, cert, key, ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    got = SmtpReceiver(free_port(), ca, [], [])

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            got.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login.decode() == user
              and data.password.decode() == password)
        if ok:
            got.logins.append(user)
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting)
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Handler(), hostname="127.0.0.1", port=got.port, tls_context=context,
        require_starttls=True, auth_required=True, auth_require_tls=True,
        authenticator=authenticator, server_hostname="127.0.0.1",
    )
    controller.start()
    try:
        yield got
    finally:
        controller.stop()
