"""Framework-neutral handlers for the agent's own HTTP endpoints.

The ASGI, WSGI and Django adapters turn a request into ``(method, path,
headers)``, call :meth:`Endpoints.handle` (async) or
:meth:`Endpoints.handle_sync` (WSGI, Django) and write the returned
:class:`Response`.  Routes, with the default paths:

====================================  ======================================================
``GET /metrics``                      metrics exposition, format and gzip negotiated
                                      (:func:`vigil.agent.exposition.render_metrics`)
``GET /health``                       all checks, ``application/health+json``; 503 when a
                                      critical check fails, 200 when passing or degraded
``GET /health/live``                  liveness: 200 ``{"status": "pass"}`` while the process
                                      serves requests; runs no checks
``GET /health/ready``                 readiness: the critical checks only; 503 if one fails
``GET /health/{name}``                one check; 503 when *that check* fails, critical or not
``POST /health/{name}/run``           run one check now, bypassing the interval cache;
                                      needs ``Authorization: Bearer <admin token>``
====================================  ======================================================

``HEAD`` is accepted wherever ``GET`` is.  A trailing slash is ignored.

Errors have one JSON shape, the envelope of the Prometheus HTTP API::

    {"status": "error", "errorType": "not_found", "error": "no health check named 'x' ..."}

with ``errorType`` one of ``not_found`` (404), ``method_not_allowed`` (405, with an
``Allow`` header), ``unauthorized`` (401: no or malformed ``Authorization``, with
``WWW-Authenticate: Bearer``), ``forbidden`` (403: wrong token, or no admin token
configured, in which case on-demand runs are disabled) and ``internal`` (500,
logged with its traceback on the ``vigil.agent`` logger).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import CollectorRegistry

from vigil.agent.exposition import render_metrics
from vigil.agent.health.registry import (
    RESERVED_NAMES,
    CheckResult,
    HealthRegistry,
    Status,
    UnknownCheckError,
)
from vigil.agent.health.report import HEALTH_JSON, HealthReport

__all__ = ["EndpointError", "Endpoints", "Response"]

logger = logging.getLogger("vigil.agent")

JSON = "application/json"
_GET_METHODS = ("GET", "HEAD")
_NO_STORE = ("Cache-Control", "no-store")


@dataclass
class Response:
    """A complete HTTP response: status code, headers and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header *name* (case-insensitive), or ``None``."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass
class EndpointError(Exception):
    """An error answer; rendered by :meth:`Endpoints.error_response`."""

    status: int
    error_type: str
    message: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


_JobKind = Literal["all", "ready", "one", "run"]


@dataclass(frozen=True)
class _HealthJob:
    kind: _JobKind
    head: bool
    name: str = ""


class Endpoints:
    """Routes and handlers for ``/metrics`` and ``/health*``.

    :param health: the health registry; ``None`` serves an always-passing
        ``/health`` with no checks.
    :param metrics_registry: registry to expose; ``None`` means the process
        default, or the multi-process aggregate when that mode is active.
    :param admin_token: token required by ``POST /health/{name}/run``;
        ``None`` disables that route (403).
    :param service_id: ``serviceId``, ``version``, ``release_id`` and
        ``description`` go into the health document when given.
    """

    def __init__(
        self,
        health: HealthRegistry | None,
        *,
        metrics_registry: CollectorRegistry | None = None,
        metrics_path: str = "/metrics",
        health_path: str = "/health",
        admin_token: str | None = None,
        service_id: str | None = None,
        version: str | None = None,
        release_id: str | None = None,
        description: str | None = None,
    ) -> None:
        self.metrics_path = _check_path(metrics_path, "metrics_path")
        self.health_path = _check_path(health_path, "health_path")
        if self.metrics_path == self.health_path or self.metrics_path.startswith(
            self.health_path + "/"
        ):
            raise ValueError(
                f"metrics_path {metrics_path!r} must not be health_path {health_path!r} "
                "or lie under it"
            )
        if admin_token is not None and not admin_token.strip():
            raise ValueError("admin_token must not be empty; use None to disable on-demand runs")
        self.health = health
        self.metrics_registry = metrics_registry
        self._admin_token = admin_token.encode() if admin_token is not None else None
        self._document_fields: dict[str, Any] = {
            "service_id": service_id,
            "version": version,
            "release_id": release_id,
            "description": description,
        }

    def matches(self, path: str) -> bool:
        """Whether *path* is one of these endpoints (the middleware serves it)."""
        path = _normalize(path)
        return (
            path == self.metrics_path
            or path == self.health_path
            or path.startswith(self.health_path + "/")
        )

    async def handle(self, method: str, path: str, headers: Mapping[str, str]) -> Response:
        """Answer a request; never raises (errors become JSON responses)."""
        try:
            routed = self._route(method, path, headers)
            if isinstance(routed, Response):
                return routed
            return await self._run_job(routed)
        except EndpointError as err:
            return self.error_response(err)
        except Exception:
            return self._internal_error(method, path)

    def handle_sync(self, method: str, path: str, headers: Mapping[str, str]) -> Response:
        """:meth:`handle` for WSGI and Django: health checks run on the health
        registry's private event-loop thread."""
        try:
            routed = self._route(method, path, headers)
            if isinstance(routed, Response):
                return routed
            if self.health is None:  # only "all" and "ready" route here: nothing to run
                return self._health_response(HealthReport(Status.PASS), head=routed.head)
            job = routed
            return self.health.call_sync(lambda: self._run_job(job))
        except EndpointError as err:
            return self.error_response(err)
        except Exception:
            return self._internal_error(method, path)

    # -- routing -----------------------------------------------------------

    def _route(self, method: str, path: str, headers: Mapping[str, str]) -> Response | _HealthJob:
        method = method.upper()
        path = _normalize(path)
        if path == self.metrics_path:
            _allow(method, _GET_METHODS)
            return self._metrics(headers, head=method == "HEAD")
        if path == self.health_path:
            _allow(method, _GET_METHODS)
            return _HealthJob("all", method == "HEAD")
        if not path.startswith(self.health_path + "/"):
            raise EndpointError(404, "not_found", f"no endpoint at {path!r}")
        rest = path[len(self.health_path) + 1 :].split("/")
        if rest == ["live"]:
            _allow(method, _GET_METHODS)
            return self._health_response(
                HealthReport(Status.PASS), head=method == "HEAD", checks=False
            )
        if rest == ["ready"]:
            _allow(method, _GET_METHODS)
            return _HealthJob("ready", method == "HEAD")
        if len(rest) == 1:
            _allow(method, _GET_METHODS)
            self._require_check(rest[0])
            return _HealthJob("one", method == "HEAD", rest[0])
        if len(rest) == 2 and rest[1] == "run" and rest[0] not in RESERVED_NAMES:
            _allow(method, ("POST",))
            self._require_check(rest[0])
            self._authorize(headers)
            return _HealthJob("run", False, rest[0])
        raise EndpointError(404, "not_found", f"no endpoint at {path!r}")

    def _require_check(self, name: str) -> None:
        if self.health is None:
            raise EndpointError(
                404, "not_found", f"no health check named {name!r} (no checks are registered)"
            )
        if name not in self.health:
            raise EndpointError(404, "not_found", str(UnknownCheckError(name, self.health.names)))

    def _authorize(self, headers: Mapping[str, str]) -> None:
        if self._admin_token is None:
            raise EndpointError(
                403,
                "forbidden",
                "running checks on demand is disabled: no admin token is configured "
                "(pass admin_token= to enable POST .../run)",
            )
        value = _header(headers, "authorization")
        challenge = [("WWW-Authenticate", 'Bearer realm="vigil"')]
        if value is None:
            raise EndpointError(
                401,
                "unauthorized",
                "missing Authorization header; send 'Authorization: Bearer <admin token>'",
                challenge,
            )
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise EndpointError(
                401,
                "unauthorized",
                "malformed Authorization header; expected 'Bearer <admin token>'",
                challenge,
            )
        if not hmac.compare_digest(token.encode(), self._admin_token):
            raise EndpointError(403, "forbidden", "the admin token is not valid")

    # -- handlers ------------------------------------------------------------

    def _metrics(self, headers: Mapping[str, str], *, head: bool) -> Response:
        body, response_headers = render_metrics(
            self.metrics_registry,
            _header(headers, "accept"),
            _header(headers, "accept-encoding"),
        )
        return Response(200, list(response_headers), b"" if head else body)

    async def _run_job(self, job: _HealthJob) -> Response:
        health = self.health
        if job.kind in ("all", "ready"):
            if health is None:
                report = HealthReport(Status.PASS)
            else:
                results = await health.run_all(critical_only=job.kind == "ready")
                report = HealthReport.from_results(results.values())
            return self._health_response(report, head=job.head)
        assert health is not None
        try:
            result: CheckResult = await health.run(job.name, force=job.kind == "run")
        except UnknownCheckError as exc:  # removed after routing
            raise EndpointError(404, "not_found", str(exc)) from None
        return self._health_response(HealthReport.for_check(result), head=job.head)

    def _health_response(
        self, report: HealthReport, *, head: bool, checks: bool = True
    ) -> Response:
        body = report.to_json(include_checks=checks, **self._document_fields)
        headers = [("Content-Type", HEALTH_JSON), _NO_STORE]
        return Response(report.http_status, headers, b"" if head else body)

    # -- errors -------------------------------------------------------------

    @staticmethod
    def error_response(err: EndpointError) -> Response:
        """The JSON response for *err* (one shape for every error)."""
        body = json.dumps(
            {"status": "error", "errorType": err.error_type, "error": err.message},
            ensure_ascii=False,
        ).encode()
        headers = [("Content-Type", JSON), _NO_STORE, *err.headers]
        return Response(err.status, headers, body)

    def _internal_error(self, method: str, path: str) -> Response:
        logger.exception("vigil endpoint %s %s failed", method, path)
        return self.error_response(
            EndpointError(
                500,
                "internal",
                f"internal error while serving {method} {path}; see the application log",
            )
        )


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise EndpointError(
            405,
            "method_not_allowed",
            f"method {method} is not allowed here; use {' or '.join(allowed)}",
            [("Allow", ", ".join(allowed))],
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _normalize(path: str) -> str:
    path = path.split("?", 1)[0]
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def _check_path(path: str, what: str) -> str:
    if not path.startswith("/") or path == "/" or "?" in path or "//" in path:
        raise ValueError(f"{what} {path!r} must be an absolute path such as '/metrics'")
    return path.rstrip("/")
