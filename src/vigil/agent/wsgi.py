"""Request-tracking middleware for WSGI applications (Flask, or any WSGI app).

``VigilWSGIMiddleware`` does for WSGI what :class:`vigil.agent.asgi.VigilMiddleware`
does for ASGI: endpoints served, excluded paths passed through, request ID
taken or generated (bound in the context variable while the application
runs, returned in the response headers), metrics with the route template,
``vigil.access`` log lines.

A request is finished when the server closes the response iterable (PEP 3333
requires servers to call ``close()``), so the duration and the response size
include streaming the body.

The route template comes from ``environ["vigil.route"]``, which framework hooks
set while routing (:func:`install_flask_hooks` for Flask), or from a
``route_resolver(environ)`` callable.  Without either, every request counts as
:data:`~vigil.agent.routes.UNMATCHED`.  Flask turns unhandled exceptions into
500 responses itself; the Flask hooks pass the exception to the middleware
through ``environ["vigil.exception"]`` so it is still counted by type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vigil.agent.asgi import (
    DEFAULT_EXCLUDE_PATHS,
    access_logger,
    log_request_finished,
    split_exclude_paths,
)
from vigil.agent.context import new_request_id, request_id_var, sanitize_request_id
from vigil.agent.http_metrics import KNOWN_METHODS, HttpMetrics, normalize_method
from vigil.agent.routes import ENVIRON_ROUTE_KEY, UNMATCHED, flask_template

if TYPE_CHECKING:
    from vigil.agent.endpoints import Endpoints

#: environ key where framework hooks leave an exception the framework handled itself.
ENVIRON_EXCEPTION_KEY = "vigil.exception"
#: environ key holding the request ID of the request.
ENVIRON_REQUEST_ID_KEY = "vigil.request_id"

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _default_route(environ: Environ) -> str:
    route = environ.get(ENVIRON_ROUTE_KEY)
    return route if isinstance(route, str) else UNMATCHED


def environ_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers from a WSGI environ, with lowercase names (``x-request-id``)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.replace("_", "-").lower()] = value
    return headers


class VigilWSGIMiddleware:
    """Request tracking for a WSGI application; see the module documentation."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        metrics: HttpMetrics | None = None,
        endpoints: Endpoints | None = None,
        exclude_paths: Iterable[str] = DEFAULT_EXCLUDE_PATHS,
        request_id_header: str = "X-Request-ID",
        log_requests: bool = True,
        route_resolver: Callable[[Environ], str] | None = None,
    ) -> None:
        if not request_id_header or not request_id_header.isascii():
            raise ValueError(
                f"request_id_header: {request_id_header!r} is not an ASCII header name"
            )
        self.app = app
        self.metrics = metrics if metrics is not None else HttpMetrics.for_registry()
        self.endpoints = endpoints
        self.log_requests = log_requests
        self.route_resolver = route_resolver if route_resolver is not None else _default_route
        self._exclude_exact, self._exclude_prefixes = split_exclude_paths(exclude_paths)
        self.request_id_header = request_id_header
        self._rid_lower = request_id_header.lower()
        self._rid_environ = "HTTP_" + request_id_header.upper().replace("-", "_")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO") or "/"
        if self.endpoints is not None and self.endpoints.matches(path):
            return self._serve_endpoint(environ, path, start_response)
        if path in self._exclude_exact or path.startswith(self._exclude_prefixes):
            return self.app(environ, start_response)

        start = perf_counter()
        method: str = environ.get("REQUEST_METHOD", "GET")
        if method not in KNOWN_METHODS:
            method = normalize_method(method)
        request_id = sanitize_request_id(environ.get(self._rid_environ))
        if request_id is None:
            request_id = new_request_id()
        environ[ENVIRON_REQUEST_ID_KEY] = request_id
        try:
            request_size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            request_size = 0

        tracker = _Tracker(self, environ, method, path, request_id, request_size, start)
        token = request_id_var.set(request_id)
        try:
            if self.log_requests and access_logger.isEnabledFor(logging.DEBUG):
                access_logger.debug(
                    "request started %s %s",
                    method,
                    path,
                    extra={"method": method, "path": path},
                )
            result = self.app(environ, tracker.start_response_for(start_response))
        except Exception as exc:
            tracker.error = exc
            tracker.finish()
            raise
        finally:
            request_id_var.reset(token)
        tracker.result = result
        return tracker

    def _serve_endpoint(
        self, environ: Environ, path: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        assert self.endpoints is not None
        method = environ.get("REQUEST_METHOD", "GET")
        response = self.endpoints.handle_sync(method, path, environ_headers(environ))
        status_line = f"{response.status} {_reason(response.status)}"
        start_response(status_line, list(response.headers))
        return [b"" if method == "HEAD" else response.body]


class _Tracker:
    """The response iterable handed to the server; finishes the request on ``close()``."""

    __slots__ = (
        "environ",
        "error",
        "finished",
        "in_progress",
        "method",
        "middleware",
        "path",
        "request_id",
        "request_size",
        "response_size",
        "result",
        "start",
        "status",
    )

    def __init__(
        self,
        middleware: VigilWSGIMiddleware,
        environ: Environ,
        method: str,
        path: str,
        request_id: str,
        request_size: int,
        start: float,
    ) -> None:
        self.middleware = middleware
        self.environ = environ
        self.method = method
        self.path = path
        self.request_id = request_id
        self.request_size = request_size
        self.start = start
        self.status = 500
        self.response_size = 0
        self.error: BaseException | None = None
        self.finished = False
        self.result: Iterable[bytes] = ()
        self.in_progress = middleware.metrics.in_progress_inc(method)
        self.in_progress(1.0)

    def start_response_for(self, start_response: StartResponse) -> StartResponse:
        rid_lower = self.middleware._rid_lower
        rid_header = (self.middleware.request_id_header, self.request_id)

        def wrapped(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            try:
                self.status = int(status[:3])
            except ValueError:
                self.status = 500
            for name, _ in headers:
                if name.lower() == rid_lower:
                    break
            else:
                headers.append(rid_header)
            write = start_response(status, headers, exc_info)

            def counting_write(data: bytes) -> object:
                self.response_size += len(data)
                return write(data)

            return counting_write

        return wrapped

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.result:
                self.response_size += len(chunk)
                yield chunk
        except Exception as exc:
            self.error = exc
            raise

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.finish()

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        duration = perf_counter() - self.start
        self.in_progress(-1.0)
        middleware = self.middleware
        environ = self.environ
        route = middleware.route_resolver(environ)
        error = self.error
        if error is None:
            handled = environ.get(ENVIRON_EXCEPTION_KEY)
            if isinstance(handled, BaseException):
                error = handled
        metrics = middleware.metrics
        method = self.method
        metrics.observe(method, route, self.status, duration, self.request_size, self.response_size)
        if error is not None:
            metrics.observe_exception(method, route, error)
        if middleware.log_requests:
            token = request_id_var.set(self.request_id)
            try:
                remote = environ.get("REMOTE_ADDR")
                client = (remote, environ.get("REMOTE_PORT") or 0) if remote else None
                log_request_finished(
                    method,
                    route,
                    self.path,
                    self.status,
                    duration,
                    self.request_size,
                    self.response_size,
                    client,
                    error,
                )
            finally:
                request_id_var.reset(token)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def install_flask_hooks(app: Any) -> None:
    """Let :class:`VigilWSGIMiddleware` see Flask's route template and handled exceptions.

    Adds a ``before_request`` function (first in line, so another one that
    returns early cannot hide the route) that stores ``request.url_rule`` as
    ``/users/{id}`` in the environ, and a ``teardown_request`` function that
    stores the exception Flask turned into a 500 response.  Idempotent.
    """
    from flask import request

    if getattr(app, "_vigil_hooks_installed", False):
        return

    def vigil_record_route() -> None:
        rule = request.url_rule
        if rule is not None:
            request.environ[ENVIRON_ROUTE_KEY] = flask_template(rule.rule)

    def vigil_record_exception(exc: BaseException | None) -> None:
        if exc is not None:
            request.environ[ENVIRON_EXCEPTION_KEY] = exc

    app.before_request_funcs.setdefault(None, []).insert(0, vigil_record_route)
    app.teardown_request(vigil_record_exception)
    app._vigil_hooks_installed = True
