"""Real HTTP scrape targets on loopback for the scrape tests.

:class:`TargetServer` is a threaded ``http.server`` bound to 127.0.0.1 port 0.
Each path serves a :class:`Route` that tests change between scrapes (body,
Content-Type, status, delay, gzip, auth requirement); requests are recorded.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROM_TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass
class Route:
    body: bytes | str = b""
    content_type: str | None = PROM_TEXT
    status: int = 200
    delay_s: float = 0.0
    gzip: bool = False
    content_encoding: str | None = None
    """Sent as is, the body untouched (for broken encodings)."""
    require_header: tuple[str, str] | None = None
    stream_forever: bool = False
    """Send an endless body (chunked), for size-limit tests."""


@dataclass
class Request:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class TargetServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append(
                    Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                route = server.routes.get(path)
                if route is None:
                    self._send(404, b"not found\n", "text/plain")
                    return
                if route.delay_s:
                    server._stop.wait(route.delay_s)
                if route.require_header is not None:
                    name, value = route.require_header
                    if self.headers.get(name) != value:
                        self._send(401, b"unauthorized\n", "text/plain")
                        return
                if route.stream_forever:
                    self._stream()
                    return
                body = route.body.encode() if isinstance(route.body, str) else route.body
                extra = {}
                if route.gzip:
                    body = gzip.compress(body)
                    extra["Content-Encoding"] = "gzip"
                if route.content_encoding:
                    extra["Content-Encoding"] = route.content_encoding
                self._send(route.status, body, route.content_type, extra)

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str | None,
                extra: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", PROM_TEXT)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x_total 1\n" * 1000
                frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                try:
                    while not server._stop.is_set():
                        self.wfile.write(frame)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._httpd.server_port}"

    def url(self, path: str = "/metrics") -> str:
        return f"http://{self.address}{path}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@contextmanager
def serving() -> Iterator[TargetServer]:
    server = TargetServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def wait_for(predicate: object, timeout: float = 5.0, interval: float = 0.02) -> None:
    """Poll ``predicate()`` (sync) until true; AssertionError after ``timeout``."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
