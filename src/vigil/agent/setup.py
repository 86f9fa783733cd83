"""``instrument(app)``: the one-line setup for FastAPI, Starlette and Flask.

::

    app = FastAPI()
    obs = vigil.instrument(app, service_name="shop")
    obs.health.add("db", checks.postgres(DSN))
    obs.metrics.increment_counter("orders_total", labels={"region": "eu"})

mounts request tracking (metrics, request IDs, access logs), ``/metrics`` and
the ``/health`` endpoints, and configures JSON logging.  Django is configured
through its settings instead: see :mod:`vigil.agent.django`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from vigil.agent.asgi import VigilMiddleware
from vigil.agent.endpoints import Endpoints
from vigil.agent.health.registry import HealthRegistry
from vigil.agent.http_metrics import HttpMetrics
from vigil.agent.metrics import MetricsCollector
from vigil.agent.routes import StarletteRoutes
from vigil.agent.wsgi import Environ, StartResponse, VigilWSGIMiddleware, install_flask_hooks

__all__ = ["Instrumentation", "instrument"]

_APP_ATTR = "_vigil_instrumentation"


@dataclass
class Instrumentation:
    """What :func:`instrument` set up, for the application to use.

    :ivar health: add checks with ``health.add(name, check, ...)``.
    :ivar metrics: business metrics created on first use
        (``metrics.increment_counter("orders_total")``).
    :ivar http_metrics: the request metrics the middleware records.
    :ivar endpoints: the ``/metrics`` and ``/health`` handlers.
    """

    app: Any
    framework: str
    registry: CollectorRegistry
    health: HealthRegistry
    metrics: MetricsCollector
    http_metrics: HttpMetrics
    endpoints: Endpoints


def instrument(
    app: Any,
    *,
    registry: CollectorRegistry | None = None,
    health: HealthRegistry | None = None,
    metrics_path: str = "/metrics",
    health_path: str = "/health",
    exclude_paths: Iterable[str] | None = None,
    logging: bool = True,
    log_level: int | str | None = None,
    log_format: str | None = None,
    log_requests: bool = True,
    service_name: str | None = None,
    version: str | None = None,
    admin_token: str | None = None,
    request_id_header: str = "X-Request-ID",
) -> Instrumentation:
    """Instrument a FastAPI/Starlette or Flask application; returns the pieces.

    :param registry: where the metrics go; ``None`` is prometheus_client's
        default registry, summed over workers under multi-worker servers.
    :param health: an existing health registry; ``None`` creates one.
    :param exclude_paths: paths (and the paths below them) left untracked;
        ``None`` means the metrics and health paths.
    :param logging: configure JSON logging on the root logger
        (:func:`vigil.agent.logs.configure_logging`, with ``log_level``,
        ``log_format`` and ``service_name``; the ``VIGIL_LOG_*`` environment
        variables apply).
    :param log_requests: write ``vigil.access`` start (DEBUG) and finish (INFO) lines.
    :param admin_token: enables ``POST /health/{name}/run`` with
        ``Authorization: Bearer <admin_token>``.

    Calling it again on the same application returns the first result.
    """
    existing = getattr(app, _APP_ATTR, None)
    if isinstance(existing, Instrumentation):
        return existing
    framework = _framework_of(app)

    metrics_registry = registry if registry is not None else REGISTRY
    if health is None:
        health = HealthRegistry(metrics_registry)
    endpoints = Endpoints(
        health,
        metrics_registry=registry,
        metrics_path=metrics_path,
        health_path=health_path,
        admin_token=admin_token,
        service_id=service_name,
        version=version,
    )
    excluded = tuple(exclude_paths) if exclude_paths is not None else (metrics_path, health_path)
    http_metrics = HttpMetrics.for_registry(metrics_registry)

    if logging:
        from vigil.agent.logs import configure_logging

        configure_logging(level=log_level, fmt=log_format, service_name=service_name)

    if framework == "starlette":
        app.add_middleware(
            VigilMiddleware,
            metrics=http_metrics,
            endpoints=endpoints,
            exclude_paths=excluded,
            request_id_header=request_id_header,
            log_requests=log_requests,
            routes=StarletteRoutes(app),
            health=health,
        )
    else:
        install_flask_hooks(app)
        app.wsgi_app = _StartHealthOnFirstRequest(
            VigilWSGIMiddleware(
                app.wsgi_app,
                metrics=http_metrics,
                endpoints=endpoints,
                exclude_paths=excluded,
                request_id_header=request_id_header,
                log_requests=log_requests,
            ),
            health,
        )

    result = Instrumentation(
        app=app,
        framework=framework,
        registry=metrics_registry,
        health=health,
        metrics=MetricsCollector(metrics_registry),
        http_metrics=http_metrics,
        endpoints=endpoints,
    )
    setattr(app, _APP_ATTR, result)
    return result


def _framework_of(app: Any) -> str:
    try:
        from starlette.applications import Starlette
    except ImportError:
        pass
    else:
        if isinstance(app, Starlette):
            return "starlette"
    try:
        from flask import Flask
    except ImportError:
        pass
    else:
        if isinstance(app, Flask):
            return "flask"
    raise TypeError(
        f"vigil.instrument: cannot instrument a {type(app).__module__}.{type(app).__qualname__}; "
        "pass a FastAPI, Starlette or Flask application. For Django, add "
        "'vigil.agent.django.VigilDjangoMiddleware' to MIDDLEWARE; for another ASGI or WSGI "
        "app, wrap it in vigil.agent.asgi.VigilMiddleware or vigil.agent.wsgi.VigilWSGIMiddleware"
    )


class _StartHealthOnFirstRequest:
    """Starts the health registry's background checks in the process serving requests.

    WSGI has no start-up event, and a pre-forking server imports the app in
    the parent; so the checks start on the first request of each process.
    """

    def __init__(self, app: VigilWSGIMiddleware, health: HealthRegistry) -> None:
        self.app = app
        self.health = health
        self._pid = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._pid != os.getpid():
            self._start()
        return self.app(environ, start_response)

    def _start(self) -> None:
        with self._lock:
            pid = os.getpid()
            if self._pid != pid:
                self._pid = pid
                self.health.start_sync()
