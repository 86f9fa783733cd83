"""Embedded mode: the same ``vigil server`` running inside the user's application.

For a small service, one process is enough::

    app = FastAPI()
    server = vigil.embedded.instrument_with_server(app, notifier_config="alertmanager.yml")
    server.alert("QueueBacklog", lambda: queue.qsize() > 100, severity="warning", cooldown=300)

:class:`EmbeddedServer` runs :class:`vigil.server.Server` (store, scrapes, rules, notifier,
history, API and UI: nothing is left out) on its own event loop in a daemon thread, on its
own port. Its generated config scrapes the application's ``/metrics`` and the server
itself. :meth:`EmbeddedServer.alert` registers a Python callable as an alert in the same
pipeline as rule files (:meth:`vigil.alerting.Alerting.register_rule`).

:func:`instrument_with_server` ties the server to the application's lifespan
(:class:`ServerLifespan`, a pure ASGI middleware) and finds the application's port from the
first request when it is not given. :meth:`EmbeddedServer.asgi_app` is a small streaming
reverse proxy to mount the server under a prefix of the application: the HTTP API
(``/vigil/api/v1/query``) and, when the server's ``ui_base_path`` is that prefix, the web
UI too (``/vigil/``; see ``docs/embedded.md``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import re
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.agent.setup import instrument
from vigil.config.units import format_duration, parse_duration
from vigil.rules.alerting import PythonRule
from vigil.server import Server, ServerSettings, parse_listen
from vigil.ui.templates import check_base_path

__all__ = [
    "EmbeddedAlert",
    "EmbeddedServer",
    "ServerLifespan",
    "VigilProxy",
    "instrument_with_server",
]

log = logging.getLogger("vigil.embedded")

DEFAULT_START_TIMEOUT_S = 60.0


def _duration(value: str | float, field: str) -> str:
    """A Prometheus duration from ``"15s"`` or a number of seconds; ValueError naming ``field``."""
    if isinstance(value, bool):
        raise TypeError(f"EmbeddedServer({field}={value!r}): a duration like '15s' or seconds")
    if isinstance(value, int | float):
        ms = round(value * 1000)
        if ms <= 0:
            raise ValueError(f"EmbeddedServer({field}={value!r}): must be more than 0")
        return format_duration(ms)
    try:
        ms = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"EmbeddedServer({field}={value!r}): {exc}") from None
    if ms <= 0:
        raise ValueError(f"EmbeddedServer({field}={value!r}): must be more than 0")
    return value


def _address(value: str, field: str) -> str:
    """``host:port`` of a target; ValueError naming ``field`` otherwise."""
    if "/" in value or not value.strip():
        raise ValueError(
            f"EmbeddedServer({field}={value!r}): give the address as host:port "
            "(for example 127.0.0.1:8000), without a scheme or path"
        )
    try:
        _, port = parse_listen(value)
    except ValueError as exc:
        raise ValueError(f"EmbeddedServer({field}=...): {exc}") from None
    if port == 0:
        raise ValueError(f"EmbeddedServer({field}={value!r}): port 0 is not an address to scrape")
    return value


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


class EmbeddedAlert:
    """A Python rule registered with :meth:`EmbeddedServer.alert`.

    ``rule`` is the live :class:`~vigil.rules.alerting.PythonRule` once the server runs
    (its ``active_alerts()`` give the alert's state), ``None`` before.
    """

    def __init__(
        self,
        name: str,
        func: Callable[[], object],
        *,
        severity: str,
        cooldown: float,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        for_s: float,
    ) -> None:
        self.name = name
        self.func = func
        self.severity = severity
        self.cooldown = cooldown
        self.labels = dict(labels)
        self.annotations = dict(annotations)
        self.for_s = for_s
        self.rule: PythonRule | None = None

    def __repr__(self) -> str:
        state = "registered" if self.rule is not None else "pending"
        return f"<EmbeddedAlert {self.name!r} severity={self.severity!r} {state}>"


class EmbeddedServer:
    """``vigil server`` on its own event loop in a daemon thread of this process.

    :param listen: the server's address; port 0 picks a free one (see :attr:`address`).
    :param data_dir: where the store, rules' state, silences, history and users are kept;
        ``None`` keeps everything in memory.
    :param scrape_self: the application's ``host:port`` to scrape (job ``app_job``, path
        ``metrics_path``); ``None``: only the server itself until :meth:`set_app_address`.
    :param scrape_interval: how often targets are scraped (``"15s"`` or seconds).
    :param evaluation_interval: how often rules, Python rules included, are evaluated.
    :param rule_files: rule file patterns (Prometheus's format), relative to the working
        directory.
    :param default_rules: also evaluate vigil's default rule pack.
    :param notifier_config: an ``alertmanager.yml`` to route and deliver alerts; ``None``:
        alerts are kept, shown and recorded, not sent.
    :param public_read: ``/metrics`` and the query API open without signing in.
    :param ui_base_path: the prefix the application mounts :meth:`asgi_app` at
        (``"/vigil"``), so that the web UI's links, scripts, redirects and cookies work
        there; the UI then also answers under that prefix on the server's own port.
    """

    def __init__(
        self,
        *,
        listen: str = "127.0.0.1:0",
        data_dir: Path | str | None = None,
        scrape_self: str | None = None,
        metrics_path: str = "/metrics",
        app_job: str = "app",
        scrape_interval: str | float = "15s",
        evaluation_interval: str | float = "15s",
        rule_files: Sequence[str | Path] = (),
        default_rules: bool = False,
        notifier_config: Path | str | None = None,
        public_read: bool = True,
        public_ingest: bool = False,
        external_labels: Mapping[str, str] | None = None,
        health_admin_token: str | None = None,
        dashboards_dir: Path | str | None = None,
        ui_base_path: str = "",
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT_S,
    ) -> None:
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise ValueError(f"EmbeddedServer(listen=...): {exc}") from None
        if not metrics_path.startswith("/"):
            raise ValueError(f"EmbeddedServer(metrics_path={metrics_path!r}): must start with /")
        if not app_job:
            raise ValueError("EmbeddedServer(app_job=''): the job name must not be empty")
        if isinstance(rule_files, str | Path):
            raise TypeError("EmbeddedServer(rule_files=...): a list of file patterns")
        try:
            check_base_path(ui_base_path)
        except ValueError as exc:
            raise ValueError(f"EmbeddedServer(ui_base_path=...): {exc}") from None
        self._app_address = _address(scrape_self, "scrape_self") if scrape_self else None
        self._metrics_path = metrics_path
        self._app_job = app_job
        self._scrape_interval = _duration(scrape_interval, "scrape_interval")
        self._evaluation_interval = _duration(evaluation_interval, "evaluation_interval")
        self._rule_files = tuple(os.path.abspath(str(p)) for p in rule_files)
        self._external_labels = dict(external_labels or {})
        self._start_timeout = start_timeout
        self._clock = clock
        self._registry = registry
        memory = data_dir is None
        self.settings = ServerSettings(
            config_file=None,
            data_dir=Path(data_dir) if data_dir is not None else Path("<memory>"),
            listen=listen,
            storage="memory" if memory else "tsdb",
            default_config=self._config_text,
            notifier_config=Path(notifier_config) if notifier_config is not None else None,
            default_rules=default_rules,
            public_read=public_read,
            public_ingest=public_ingest,
            health_admin_token=health_admin_token,
            dashboards_dir=Path(dashboards_dir) if dashboards_dir is not None else None,
            ui_base_path=ui_base_path,
        )
        self._lock = threading.Lock()
        self._alerts: list[EmbeddedAlert] = []
        self._live = False  # the server loop accepts rule registrations
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._started_once = False
        self._stopped = False
        self._reloads: set[concurrent.futures.Future[None]] = set()

    # -- the generated config ------------------------------------------------------------

    def _config_text(self, self_address: str) -> str:
        """Scrape the application (when known) and the server itself; rules and intervals."""
        lines = [
            "global:",
            f"  scrape_interval: {_q(self._scrape_interval)}",
            f"  evaluation_interval: {_q(self._evaluation_interval)}",
        ]
        if self._external_labels:
            lines.append("  external_labels:")
            lines += [f"    {_q(k)}: {_q(v)}" for k, v in sorted(self._external_labels.items())]
        if self._rule_files:
            lines.append("rule_files:")
            lines += [f"  - {_q(p)}" for p in self._rule_files]
        lines.append("scrape_configs:")
        app = self._app_address
        if app is not None:
            lines += [
                f"  - job_name: {_q(self._app_job)}",
                f"    metrics_path: {_q(self._metrics_path)}",
                "    static_configs:",
                f"      - targets: [{_q(app)}]",
            ]
        lines += [
            "  - job_name: vigil",
            "    static_configs:",
            f"      - targets: [{_q(self_address)}]",
        ]
        return "\n".join(lines) + "\n"

    def config_text(self) -> str:
        """The config the server runs with now (YAML, like a ``prometheus.yml``)."""
        return self._config_text(self.address if self.running else "<this server>")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the server; returns when it is ready, or raises its start-up error here."""
        with self._lock:
            if self._started_once:
                raise RuntimeError("this EmbeddedServer was already started; create a new one")
            self._started_once = True
        self._server = Server(self.settings, clock=self._clock, registry=self._registry)
        self._thread = threading.Thread(target=self._run, name="vigil-embedded", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            self._stopped = True
            self._request_stop()
            self._thread.join(self._start_timeout)
            raise TimeoutError(f"vigil embedded server did not start in {self._start_timeout} s")
        if self._error is not None:
            self._thread.join(self._start_timeout)
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # a crash outside start(): keep it for start() to raise
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("vigil embedded server crashed")

    async def _main(self) -> None:
        server = self._server
        assert server is not None
        self._loop = asyncio.get_running_loop()
        self._stop_event = stop = asyncio.Event()
        try:
            await server.start()
            with self._lock:
                self._live = True
                pending = list(self._alerts)
            for handle in pending:
                self._register(handle)
        except BaseException as exc:
            with self._lock:
                self._live = False
            self._error = exc
            with contextlib.suppress(Exception):
                await server.stop()
            self._ready.set()
            return
        self._ready.set()
        if self._stopped:  # stop() (or a start timeout) came before the loop existed
            stop.set()
        await stop.wait()
        with self._lock:
            self._live = False
        log.info("vigil embedded server stopping")
        await server.stop()

    def _request_stop(self) -> None:
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving, scraping and evaluating; close the store (WAL flushed). Idempotent."""
        thread = self._thread
        if thread is None or self._stopped:
            return
        self._stopped = True
        self._request_stop()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"vigil embedded server did not stop in {timeout} s")

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedServer:
        """``async with server:`` in an application's lifespan (start runs in a worker thread)."""
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def running(self) -> bool:
        """Started, ready, and not stopped."""
        thread = self._thread
        return (
            self._ready.is_set()
            and self._error is None
            and not self._stopped
            and thread is not None
            and thread.is_alive()
        )

    @property
    def server(self) -> Server:
        """The :class:`vigil.server.Server` inside (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the embedded server is not started: call start() first")
        return self._server

    @property
    def address(self) -> str:
        """``host:port`` the server listens on (known after :meth:`start`)."""
        if self._server is None or not self._server.address:
            raise RuntimeError("the embedded server is not started: call start() first")
        host, port = parse_listen(self._server.address)
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # where to connect
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        """``http://host:port`` of the server's API and UI."""
        return f"http://{self.address}"

    # -- running code on the server's loop -------------------------------------------------

    def _in_server_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _submit(self, coro: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None] | None:
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            return None
        try:
            return asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed meanwhile
            coro.close()
            return None

    # -- Python rules ----------------------------------------------------------------------

    def alert(
        self,
        name: str,
        func: Callable[[], object],
        *,
        severity: str = "warning",
        cooldown: float = 0.0,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        for_s: float = 0.0,
    ) -> EmbeddedAlert:
        """Alert ``name`` while ``func()`` returns true (or a non-zero number: ``$value``).

        Evaluated on the server's loop every ``evaluation_interval`` (in a worker thread, so
        ``func`` must be thread-safe and quick); after the alert resolves it stays quiet for
        ``cooldown`` seconds. Usable before or after :meth:`start`, from any thread.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"alert(name={name!r}): a non-empty alert name")
        if not callable(func):
            raise TypeError(f"alert({name!r}, func={func!r}): func must be callable")
        if cooldown < 0 or for_s < 0:
            raise ValueError(f"alert({name!r}): cooldown and for_s must not be negative")
        handle = EmbeddedAlert(
            name,
            func,
            severity=severity,
            cooldown=float(cooldown),
            labels=labels or {},
            annotations=annotations or {},
            for_s=float(for_s),
        )
        with self._lock:
            for other in self._alerts:
                if other.name == name and other.labels == handle.labels:
                    raise ValueError(
                        f"alert({name!r}): an alert with this name and labels is already registered"
                    )
            self._alerts.append(handle)
            live = self._live
        if live:
            if self._in_server_thread():
                self._register(handle)
            else:

                async def register() -> None:
                    self._register(handle)

                future = self._submit(register())
                if future is not None:
                    with contextlib.suppress(concurrent.futures.CancelledError):
                        future.result(30.0)
        return handle

    def alerts(self) -> list[EmbeddedAlert]:
        """The Python rules registered so far."""
        with self._lock:
            return list(self._alerts)

    def _register(self, handle: EmbeddedAlert) -> None:
        """On the server's loop: add the rule to the running alerting stack."""
        alerting = self.server.alerting
        assert alerting is not None
        handle.rule = alerting.register_rule(
            handle.name,
            handle.func,
            severity=handle.severity,
            cooldown=handle.cooldown,
            labels=handle.labels,
            annotations=handle.annotations,
            for_s=handle.for_s,
        )

    # -- the application's address ---------------------------------------------------------

    @property
    def app_address(self) -> str | None:
        return self._app_address

    def set_app_address(self, address: str, *, wait: bool = True) -> None:
        """Scrape the application at ``address`` from now on (reloads the generated config).

        ``wait=False`` returns at once (for callers on an event loop); a failed reload is
        logged and the previous config stays.
        """
        address = _address(address, "scrape_self")
        if address == self._app_address:
            return
        self._app_address = address
        if not self.running:
            return
        future = self._submit(self.server.reload())
        if future is None:
            return
        if wait:
            future.result(30.0)
            return
        self._reloads.add(future)
        future.add_done_callback(self._reload_done)

    def _reload_done(self, future: concurrent.futures.Future[None]) -> None:
        self._reloads.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("scraping the application: reload failed: %s", future.exception())

    # -- mounting in the application -------------------------------------------------------

    def asgi_app(self, prefix: str | None = None) -> VigilProxy:
        """An ASGI app proxying to this server: ``app.mount("/vigil", server.asgi_app())``.

        For the web UI to work under the mount, create the server with
        ``ui_base_path="/vigil"`` (the same prefix); the API works under any prefix.
        """
        return VigilProxy(lambda: self.url if self.running else None, prefix=prefix)


# -- the reverse proxy ----------------------------------------------------------------------

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
_COOKIE_PATH = re.compile(r"(;\s*path=)([^;]*)", re.IGNORECASE)


class VigilProxy:
    """A small streaming reverse proxy (ASGI) to an embedded server on loopback.

    The request's ``root_path`` (what Starlette's ``Mount`` sets) or ``prefix`` is
    stripped; redirects (``Location``) and cookie paths get the prefix back, unless they
    already have it (a server whose ``ui_base_path`` is the prefix writes them so). Request
    and response bodies stream through; the response body is passed on byte for byte.
    """

    def __init__(
        self,
        upstream: Callable[[], str | None],
        *,
        prefix: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if prefix is not None and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix {prefix!r}: starts with / and does not end with one")
        self.upstream = upstream
        self.prefix = prefix
        self.timeout = timeout
        self._ssl = ssl.create_default_context()  # unused over http; built once, not per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan_noop(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        base = self.upstream()
        if base is None:
            await _plain(send, 503, "the vigil embedded server is not running\n")
            return
        prefix, target = self._split(scope)
        raw: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in raw
            if k.decode("latin-1").lower() not in _HOP_BY_HOP
        ]
        host = next((v for k, v in raw if k.lower() == b"host"), b"").decode("latin-1")
        client = scope.get("client")
        headers += [
            ("x-forwarded-proto", str(scope.get("scheme", "http"))),
            ("x-forwarded-prefix", prefix),
        ]
        if host:
            headers.append(("x-forwarded-host", host))
        if client:
            headers.append(("x-forwarded-for", str(client[0])))
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in raw)
        content = _body(receive) if has_body else None
        async with httpx.AsyncClient(
            timeout=self.timeout, trust_env=False, verify=self._ssl, follow_redirects=False
        ) as client_:
            request = client_.build_request(
                scope["method"], base + target, headers=headers, content=content
            )
            try:
                response = await client_.send(request, stream=True)
            except httpx.HTTPError as exc:
                await _plain(send, 502, f"the vigil embedded server did not answer: {exc}\n")
                return
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": self._response_headers(response, base, prefix),
                    }
                )
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                await response.aclose()

    def _split(self, scope: Scope) -> tuple[str, str]:
        """(prefix, upstream path with query) of a request."""
        root = str(scope.get("root_path", ""))
        prefix = self.prefix if self.prefix is not None else root.rstrip("/")
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope["path"])
        path = path.split("?", 1)[0]
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix) :]
        path = path or "/"
        query = scope.get("query_string", b"")
        return prefix, path + ("?" + query.decode("latin-1") if query else "")

    @staticmethod
    def _response_headers(
        response: httpx.Response, base: str, prefix: str
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        for key, value in response.headers.multi_items():
            k = key.lower()
            if k in _HOP_BY_HOP:
                continue
            if k == "location":
                value = _rewrite_location(value, base, prefix)
            elif k == "set-cookie" and prefix:
                value = _COOKIE_PATH.sub(
                    lambda m: m.group(1) + _prefixed_cookie_path(m.group(2), prefix), value
                )
            out.append((k.encode("latin-1"), value.encode("latin-1")))
        return out


def _under(path: str, prefix: str) -> bool:
    """*path* (with any query) is *prefix* or below it."""
    return bool(prefix) and (
        path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?")
    )


def _rewrite_location(value: str, base: str, prefix: str) -> str:
    if value.startswith(base):
        value = value[len(base) :] or "/"
    if value.startswith("/") and not value.startswith("//") and not _under(value, prefix):
        return prefix + value
    return value


def _prefixed_cookie_path(path: str, prefix: str) -> str:
    path = path.strip()
    if not path.startswith("/") or _under(path, prefix):
        return path
    return prefix + path.rstrip("/") if path != "/" else prefix


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan_noop(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# -- the application's lifespan ---------------------------------------------------------------


class ServerLifespan:
    """ASGI middleware: start the embedded server at the app's start-up, stop it at shutdown.

    Until the application's address is known, the first HTTP request tells it (the address
    the request came in on, ``scope["server"]``) and the server starts scraping it.
    """

    def __init__(self, app: ASGIApp, server: EmbeddedServer) -> None:
        self.app = app
        self.server = server
        self._address_known = server.app_address is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind == "http" and not self._address_known:
            self._learn_address(scope)
        await self.app(scope, receive, send)

    def _learn_address(self, scope: Scope) -> None:
        where = scope.get("server")
        if not where or where[1] is None or not self.server.running:
            return
        self._address_known = True
        host, port = str(where[0]), int(where[1])
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.server.set_app_address(address, wait=False)
        except ValueError:
            log.warning("can't scrape the application at %s", address)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server

        async def receive_() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await asyncio.to_thread(server.start)  # an error fails the app's start-up
            return message

        async def send_(message: Message) -> None:
            if message["type"] in (
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
                "lifespan.startup.failed",
            ):
                await asyncio.to_thread(server.stop)
            await send(message)

        await self.app(scope, receive_, send_)


def instrument_with_server(
    app: Any,
    *,
    app_address: str | None = None,
    mount_path: str | None = None,
    instrument_options: Mapping[str, Any] | None = None,
    **server_options: Any,
) -> EmbeddedServer:
    """``vigil.instrument(app)`` plus an :class:`EmbeddedServer` living as long as the app.

    :param app_address: ``host:port`` where the app serves; ``None``: learnt from the first
        request it answers.
    :param mount_path: also mount :meth:`EmbeddedServer.asgi_app` there (``"/vigil"``).
    :param instrument_options: keyword arguments for :func:`vigil.instrument`.
    :param server_options: keyword arguments for :class:`EmbeddedServer`.

    The server starts with the app's lifespan (the ASGI server must run it: uvicorn's
    default ``--lifespan auto`` does) and stops at its shutdown. With ``mount_path``, the
    server's ``ui_base_path`` defaults to it, so the web UI works under the mount.
    """
    from starlette.applications import Starlette

    if not isinstance(app, Starlette):
        raise TypeError(
            "instrument_with_server needs a FastAPI or Starlette app; for Flask or Django, "
            "call EmbeddedServer(scrape_self='host:port').start() when the process starts"
        )
    options = dict(instrument_options or {})
    if mount_path is not None and "exclude_paths" not in options:
        # the proxied server's requests are not the application's traffic
        options["exclude_paths"] = (
            options.get("metrics_path", "/metrics"),
            options.get("health_path", "/health"),
            mount_path,
        )
    obs = instrument(app, **options)
    server_options.setdefault("metrics_path", obs.endpoints.metrics_path)
    if mount_path is not None:
        server_options.setdefault("ui_base_path", mount_path)
    server = EmbeddedServer(scrape_self=app_address, **server_options)
    app.add_middleware(ServerLifespan, server=server)
    if mount_path is not None:
        app.mount(mount_path, server.asgi_app())
    return server
