"""Pure ASGI request-tracking middleware for Starlette, FastAPI and any ASGI app.

``VigilMiddleware`` is a plain ASGI callable (not Starlette's
``BaseHTTPMiddleware``): it wraps ``send`` to see the status and body sizes,
never buffers a body, and streams and background tasks behave as without it.

Per HTTP request it

* serves the metrics and health endpoints itself (:class:`~vigil.agent.endpoints.Endpoints`),
  and passes excluded paths (``/metrics``, ``/health`` and below by default)
  straight through without tracking;
* takes the request ID from the ``X-Request-ID`` header when it is well-formed
  (:func:`vigil.agent.context.sanitize_request_id`), generates one otherwise,
  binds it in the context variable for the logs, and returns it on the response;
* records :class:`~vigil.agent.http_metrics.HttpMetrics` with the route template
  as the ``route`` label;
* logs ``request started`` (DEBUG) and a finish line (INFO; ERROR with the
  traceback for an unhandled exception) on the ``vigil.access`` logger with
  ``method``, ``route``, ``path``, ``status``, ``duration_ms``,
  ``request_size``, ``response_size`` and ``client`` as extra fields.

An unhandled exception is counted by type, the request is recorded with
status 500 (unless the response had already started), and the exception is
re-raised for the server (Starlette's ``ServerErrorMiddleware`` sends the 500
response, so that response carries no ``X-Request-ID`` header; the error log
line carries the request ID).

WebSocket scopes pass through untracked.  For ``lifespan`` scopes, a health registry given as ``health`` is started on
``lifespan.startup`` and stopped on ``lifespan.shutdown`` (background checks).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from vigil.agent.context import new_request_id, request_id_var, sanitize_request_id
from vigil.agent.http_metrics import KNOWN_METHODS, HttpMetrics, normalize_method
from vigil.agent.routes import StarletteRoutes

if TYPE_CHECKING:
    from vigil.agent.endpoints import Endpoints

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths passed through untracked by default (each also excludes the paths below it).
DEFAULT_EXCLUDE_PATHS: tuple[str, ...] = ("/metrics", "/health")

access_logger = logging.getLogger("vigil.access")


class LifespanHooks(Protocol):
    """What the middleware needs from a health registry to run background checks."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class RouteResolver(Protocol):
    def resolve(self, scope: Scope) -> str: ...


def split_exclude_paths(paths: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Exact paths and ``path + "/"`` prefixes: ``/health`` excludes ``/health/live`` too."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"exclude_paths: {path!r} is not a path starting with '/'")
        trimmed = path.rstrip("/") or "/"
        exact.add(trimmed)
        if trimmed != "/":
            prefixes.append(trimmed + "/")
    return frozenset(exact), tuple(prefixes)


class VigilMiddleware:
    """Request tracking for an ASGI application; see the module documentation."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics | None = None,
        endpoints: Endpoints | None = None,
        exclude_paths: Iterable[str] = DEFAULT_EXCLUDE_PATHS,
        request_id_header: str = "X-Request-ID",
        log_requests: bool = True,
        routes: RouteResolver | None = None,
        health: LifespanHooks | None = None,
    ) -> None:
        if not request_id_header or not request_id_header.isascii():
            raise ValueError(
                f"request_id_header: {request_id_header!r} is not an ASCII header name"
            )
        self.app = app
        self.metrics = metrics if metrics is not None else HttpMetrics.for_registry()
        self.endpoints = endpoints
        self.routes: RouteResolver = routes if routes is not None else StarletteRoutes()
        self.health = health
        self.log_requests = log_requests
        self._exclude_exact, self._exclude_prefixes = split_exclude_paths(exclude_paths)
        self._rid_name = request_id_header.lower().encode("latin-1")
        self._endpoint_prefixes: tuple[str, ...] = (
            (endpoints.metrics_path, endpoints.health_path) if endpoints is not None else ()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.health is not None:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        root_path = scope.get("root_path")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :] or "/"
        # One C-level prefix test before asking the endpoints for an exact match.
        endpoints = self.endpoints
        if (
            path.startswith(self._endpoint_prefixes)
            and endpoints is not None
            and endpoints.matches(path)
        ):
            await self._serve_endpoint(scope, path, send)
            return
        if path in self._exclude_exact or path.startswith(self._exclude_prefixes):
            await self.app(scope, receive, send)
            return

        start = perf_counter()
        method: str = scope["method"]
        if method not in KNOWN_METHODS:
            method = normalize_method(method)

        headers = dict(scope["headers"])
        rid_name = self._rid_name
        raw_request_id = headers.get(rid_name)
        request_id = None
        if raw_request_id is not None:
            request_id = sanitize_request_id(raw_request_id.decode("latin-1"))
        if request_id is None:
            request_id = new_request_id()
            raw_request_id = request_id.encode("latin-1")
        rid_header = (rid_name, raw_request_id)
        content_length = headers.get(b"content-length")
        request_size = 0
        if content_length is not None:
            try:
                request_size = int(content_length)
            except ValueError:
                request_size = 0

        status = 500
        response_size = 0
        received = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_size
            if message["type"] == "http.response.body":
                response_size += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", ()))
                for header_name, _ in response_headers:
                    if header_name.lower() == rid_name:
                        break
                else:
                    response_headers.append(rid_header)
                message["headers"] = response_headers
            await send(message)

        if b"transfer-encoding" in headers or (
            content_length is None and scope.get("http_version") in ("2", "3")
        ):
            # No Content-Length: count the body bytes as the app reads them.
            async def receive_wrapper() -> Message:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                return message

            app_receive: Receive = receive_wrapper
        else:
            app_receive = receive

        metrics = self.metrics
        in_progress = metrics.in_progress_inc(method)
        in_progress(1.0)
        token = request_id_var.set(request_id)
        error: Exception | None = None
        log = self.log_requests
        if log and access_logger.isEnabledFor(logging.DEBUG):
            access_logger.debug(
                "request started %s %s", method, path, extra={"method": method, "path": path}
            )
        try:
            await self.app(scope, app_receive, send_wrapper)
        except Exception as exc:
            error = exc
            raise
        finally:
            duration = perf_counter() - start
            in_progress(-1.0)
            route = self.routes.resolve(scope)
            if received:
                request_size = received
            metrics.observe(method, route, status, duration, request_size, response_size)
            if error is not None:
                metrics.observe_exception(method, route, error)
            if log:
                log_request_finished(
                    method,
                    route,
                    path,
                    status,
                    duration,
                    request_size,
                    response_size,
                    scope.get("client"),
                    error,
                )
            request_id_var.reset(token)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        health = self.health
        assert health is not None

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await health.start()
            elif message["type"] == "lifespan.shutdown":
                await health.stop()
            return message

        await self.app(scope, receive_wrapper, send)

    async def _serve_endpoint(self, scope: Scope, path: str, send: Send) -> None:
        assert self.endpoints is not None
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        response = await self.endpoints.handle(scope["method"], path, headers)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in response.headers
                ],
            }
        )
        body = b"" if scope["method"] == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})


def log_request_finished(
    method: str,
    route: str,
    path: str,
    status: int,
    duration: float,
    request_size: int,
    response_size: int,
    client: Any,
    error: BaseException | None,
) -> None:
    level = logging.ERROR if error is not None else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    duration_ms = round(duration * 1000.0, 3)
    extra = {
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "request_size": request_size,
        "response_size": response_size,
        "client": f"{client[0]}:{client[1]}" if client else None,
    }
    if error is not None:
        access_logger.error(
            "%s %s %d %.1fms unhandled %s",
            method,
            route,
            status,
            duration_ms,
            type(error).__name__,
            extra=extra,
            exc_info=error,
        )
    else:
        access_logger.info("%s %s %d %.1fms", method, route, status, duration_ms, extra=extra)
