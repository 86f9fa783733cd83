"""Request-tracking middleware for Django (sync and async).

Add it first in ``MIDDLEWARE``::

    MIDDLEWARE = ["vigil.agent.django.VigilDjangoMiddleware", ...]

and configure it, optionally, with a ``VIGIL`` dictionary in the settings.
Every key is optional; an unknown key or a value of the wrong type stops
start-up with ``ImproperlyConfigured`` naming the key:

===================== =================== ==================================================
key                   default             meaning
===================== =================== ==================================================
``registry``          default registry    ``CollectorRegistry`` (or its dotted import path)
``health``            ``None``            ``HealthRegistry`` (or dotted path) served on /health
``metrics_path``      ``"/metrics"``      path of the metrics endpoint
``health_path``       ``"/health"``       prefix of the health endpoints
``serve_endpoints``   ``True``            serve metrics and health from this middleware
``admin_token``       ``None``            token for ``POST /health/{name}/run``
``exclude_paths``     metrics, health     paths (and the paths below them) not tracked
``request_id_header`` ``"X-Request-ID"``  request ID header read and returned
``log_requests``      ``True``            ``vigil.access`` start and finish log lines
===================== =================== ==================================================

The ``route`` label is the URL pattern that matched (``request.resolver_match.route``)
as ``/users/{pk}/`` (see :func:`vigil.agent.routes.django_template`).  Django
turns view exceptions into 500 responses; the middleware's ``process_exception``
still counts them by type.  Streaming responses are finished when their content
has been sent.  The request ID is also set as ``request.request_id``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.module_loading import import_string
from prometheus_client import REGISTRY, CollectorRegistry

from vigil.agent.asgi import (
    access_logger,
    log_request_finished,
    split_exclude_paths,
)
from vigil.agent.context import new_request_id, request_id_var, sanitize_request_id
from vigil.agent.endpoints import Endpoints, Response
from vigil.agent.health.registry import HealthRegistry
from vigil.agent.http_metrics import KNOWN_METHODS, HttpMetrics, normalize_method
from vigil.agent.routes import UNMATCHED, django_template

SETTINGS_NAME = "VIGIL"

_DEFAULTS: dict[str, Any] = {
    "registry": None,
    "health": None,
    "metrics_path": "/metrics",
    "health_path": "/health",
    "serve_endpoints": True,
    "admin_token": None,
    "exclude_paths": None,
    "request_id_header": "X-Request-ID",
    "log_requests": True,
}

_EXCEPTION_ATTR = "_vigil_exception"


def _setting_error(key: str, expected: str, value: object) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"settings.{SETTINGS_NAME}[{key!r}]: expected {expected}, got {value!r}"
    )


def _load(key: str, value: object, kind: type[Any]) -> Any:
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"settings.{SETTINGS_NAME}[{key!r}]: cannot import {value!r}: {exc}"
            ) from exc
    if not isinstance(value, kind):
        raise _setting_error(key, f"a {kind.__name__} or its dotted import path", value)
    return value


class DjangoConfig:
    """The validated ``settings.VIGIL``."""

    def __init__(self, raw: object) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ImproperlyConfigured(
                f"settings.{SETTINGS_NAME}: expected a dict, got {type(raw).__name__}"
            )
        unknown = sorted(set(raw) - set(_DEFAULTS))
        if unknown:
            raise ImproperlyConfigured(
                f"settings.{SETTINGS_NAME}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(_DEFAULTS))}"
            )
        values = {**_DEFAULTS, **raw}
        registry = values["registry"]
        self.registry: CollectorRegistry = (
            REGISTRY if registry is None else _load("registry", registry, CollectorRegistry)
        )
        health = values["health"]
        self.health: HealthRegistry | None = (
            None if health is None else _load("health", health, HealthRegistry)
        )
        for key in ("metrics_path", "health_path", "request_id_header"):
            if not isinstance(values[key], str) or not values[key]:
                raise _setting_error(key, "a non-empty string", values[key])
        self.metrics_path: str = values["metrics_path"]
        self.health_path: str = values["health_path"]
        self.request_id_header: str = values["request_id_header"]
        for key in ("serve_endpoints", "log_requests"):
            if not isinstance(values[key], bool):
                raise _setting_error(key, "True or False", values[key])
        self.serve_endpoints: bool = values["serve_endpoints"]
        self.log_requests: bool = values["log_requests"]
        token = values["admin_token"]
        if token is not None and not isinstance(token, str):
            raise _setting_error("admin_token", "a string or None", token)
        self.admin_token: str | None = token
        exclude = values["exclude_paths"]
        if exclude is None:
            exclude = (self.metrics_path, self.health_path)
        elif isinstance(exclude, str) or not isinstance(exclude, Iterable):
            raise _setting_error("exclude_paths", "a list of paths", exclude)
        try:
            self.exclude_paths = split_exclude_paths(exclude)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"settings.{SETTINGS_NAME}[{'exclude_paths'!r}]: {exc}"
            ) from exc


def _to_django(response: Response, method: str) -> HttpResponse:
    result = HttpResponse(b"" if method == "HEAD" else response.body, status=response.status)
    for name, value in response.headers:
        result[name] = value
    return result


def _route_of(request: HttpRequest) -> str:
    match = request.resolver_match
    if match is None or not match.route:
        return UNMATCHED
    return django_template(match.route)


class VigilDjangoMiddleware:
    """Django middleware: metrics, request IDs, access logs, metrics and health endpoints."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)
        config = DjangoConfig(getattr(settings, SETTINGS_NAME, None))
        self.config = config
        self.metrics = HttpMetrics.for_registry(config.registry)
        self.endpoints: Endpoints | None = None
        if config.serve_endpoints:
            self.endpoints = Endpoints(
                config.health,
                metrics_registry=None if config.registry is REGISTRY else config.registry,
                metrics_path=config.metrics_path,
                health_path=config.health_path,
                admin_token=config.admin_token,
            )
        self._exclude_exact, self._exclude_prefixes = config.exclude_paths
        self._rid_meta = "HTTP_" + config.request_id_header.upper().replace("-", "_")

    # Django calls this for an exception raised by the view.
    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        setattr(request, _EXCEPTION_ATTR, exception)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        path = request.path_info
        if self.endpoints is not None and self.endpoints.matches(path):
            method = request.method or "GET"
            return _to_django(
                self.endpoints.handle_sync(method, path, dict(request.headers)), method
            )
        if path in self._exclude_exact or path.startswith(self._exclude_prefixes):
            return self.get_response(request)
        state = _Request(self, request)
        token = request_id_var.set(state.request_id)
        try:
            response = self.get_response(request)
        except Exception as exc:
            state.finish(None, exc)
            raise
        finally:
            request_id_var.reset(token)
        return state.attach(response)

    async def __acall__(self, request: HttpRequest) -> Any:
        path = request.path_info
        if self.endpoints is not None and self.endpoints.matches(path):
            method = request.method or "GET"
            return _to_django(
                await self.endpoints.handle(method, path, dict(request.headers)), method
            )
        if path in self._exclude_exact or path.startswith(self._exclude_prefixes):
            return await self.get_response(request)
        state = _Request(self, request)
        token = request_id_var.set(state.request_id)
        try:
            response = await self.get_response(request)
        except Exception as exc:
            state.finish(None, exc)
            raise
        finally:
            request_id_var.reset(token)
        return state.attach(response)


class _Request:
    __slots__ = (
        "finished",
        "in_progress",
        "method",
        "middleware",
        "request",
        "request_id",
        "request_size",
        "start",
    )

    def __init__(self, middleware: VigilDjangoMiddleware, request: HttpRequest) -> None:
        self.start = perf_counter()
        self.middleware = middleware
        self.request = request
        method = request.method or "GET"
        self.method = method if method in KNOWN_METHODS else normalize_method(method)
        meta = request.META
        request_id = sanitize_request_id(meta.get(middleware._rid_meta))
        self.request_id = request_id if request_id is not None else new_request_id()
        request.request_id = self.request_id
        try:
            self.request_size = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            self.request_size = 0
        self.finished = False
        self.in_progress = middleware.metrics.in_progress_inc(self.method)
        self.in_progress(1.0)
        if middleware.config.log_requests and access_logger.isEnabledFor(logging.DEBUG):
            access_logger.debug(
                "request started %s %s",
                self.method,
                request.path,
                extra={"method": self.method, "path": request.path},
            )

    def attach(self, response: HttpResponseBase) -> HttpResponseBase:
        header = self.middleware.config.request_id_header
        if not response.has_header(header):
            response[header] = self.request_id
        if isinstance(response, StreamingHttpResponse):
            if getattr(response, "file_to_stream", None) is not None:
                # FileResponse sent with wsgi.file_wrapper: our iterator would be bypassed.
                self.finish(response, None, _content_length(response))
            elif response.is_async:
                response.streaming_content = self._count_async(response, response.streaming_content)
            else:
                response.streaming_content = self._count_sync(response, response.streaming_content)
        else:
            self.finish(response, None, len(getattr(response, "content", b"")))
        return response

    def _count_sync(self, response: HttpResponseBase, content: Iterator[bytes]) -> Iterator[bytes]:
        size = 0
        try:
            for chunk in content:
                size += len(chunk)
                yield chunk
        finally:
            self.finish(response, None, size)

    async def _count_async(
        self, response: HttpResponseBase, content: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        size = 0
        try:
            async for chunk in content:
                size += len(chunk)
                yield chunk
        finally:
            self.finish(response, None, size)

    def finish(
        self,
        response: HttpResponseBase | None,
        error: BaseException | None,
        response_size: int = 0,
    ) -> None:
        if self.finished:
            return
        self.finished = True
        duration = perf_counter() - self.start
        self.in_progress(-1.0)
        request = self.request
        route = _route_of(request)
        status = response.status_code if response is not None else 500
        if error is None:
            error = getattr(request, _EXCEPTION_ATTR, None)
        middleware = self.middleware
        metrics = middleware.metrics
        metrics.observe(self.method, route, status, duration, self.request_size, response_size)
        if error is not None:
            metrics.observe_exception(self.method, route, error)
        if middleware.config.log_requests:
            token = request_id_var.set(self.request_id)
            try:
                meta = request.META
                remote = meta.get("REMOTE_ADDR")
                client = (remote, meta.get("REMOTE_PORT") or 0) if remote else None
                log_request_finished(
                    self.method,
                    route,
                    request.path,
                    status,
                    duration,
                    self.request_size,
                    response_size,
                    client,
                    error,
                )
            finally:
                request_id_var.reset(token)


def _content_length(response: HttpResponseBase) -> int:
    try:
        return int(response.get("Content-Length") or 0)
    except ValueError:
        return 0
