"""Real servers on loopback for the receiver tests: HTTP(S) that records requests, SMTP.

:class:`RecordingHTTPServer` is a threaded ``http.server`` on 127.0.0.1 port 0
(optionally TLS) answering each path with a configurable :class:`Reply` and
recording every request. :class:`SMTPServer` is aiosmtpd's controller with
STARTTLS (a trustme certificate) and AUTH, recording each message.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingHTTPServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.replies: dict[str, Reply] = {}
        self.requests: list[Request] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                recorder.requests.append(
                    Request(
                        "POST",
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                reply = recorder.replies.get(self.path.split("?", 1)[0], Reply())
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def http_server(tls: ssl.SSLContext | None = None) -> Iterator[RecordingHTTPServer]:
    server = RecordingHTTPServer(tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str


class _Handler:
    def __init__(self, inbox: list[Received]) -> None:
        self.inbox = inbox

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        login = ""
        if isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        self.inbox.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or b""),
                tls=session.ssl is not None,
                login=login,
            )
        )
        return "250 OK"


class SMTPServer:
    """aiosmtpd on loopback; ``users`` maps login to password for AUTH."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        users: dict[str, str] | None = None,
        exclude_auth: list[str] | None = None,
    ) -> None:
        self.inbox: list[Received] = []
        self.auth_attempts: list[tuple[str, str]] = []
        self.users = users or {}
        self.port = free_port()
        params: dict[str, Any] = {}
        if tls is not None and not implicit_tls:
            params.update(tls_context=tls, require_starttls=True)
        if users is not None:
            params.update(
                authenticator=self._authenticate,
                auth_require_tls=tls is not None,
                auth_exclude_mechanism=exclude_auth or [],
            )
        self.controller = Controller(
            _Handler(self.inbox),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=tls if implicit_tls else None,
            server_hostname="127.0.0.1",
            **params,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        self.auth_attempts.append((mechanism, login))
        if self.users.get(login) != password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=data)


@contextmanager
def smtp_server(**kwargs: Any) -> Iterator[SMTPServer]:
    server = SMTPServer(**kwargs)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()
