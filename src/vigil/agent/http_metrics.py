"""The HTTP metric set shared by the ASGI, WSGI and Django middlewares.

=========================================== ========= ==========================
metric                                      type      labels
=========================================== ========= ==========================
``http_requests_total``                     counter   method, route, status
``http_request_duration_seconds``           histogram method, route
``http_requests_in_progress``               gauge     method (multiprocess: livesum)
``http_request_size_bytes``                 histogram method, route
``http_response_size_bytes``                histogram method, route
``http_exceptions_total``                   counter   method, route, exception
=========================================== ========= ==========================

The hot path is :meth:`HttpMetrics.observe`: the label children of one
``(method, route, status)`` are created once and kept in a dictionary, so a
request costs one look-up and the four metric updates, never a ``labels()``
call.  Methods outside the standard verbs become ``other`` and the number of
distinct routes is bounded (``max_routes``), so no client can make the
series count grow without limit.
"""

from __future__ import annotations

import logging
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from prometheus_client import REGISTRY, CollectorRegistry

from vigil.agent.metrics import Counter, Gauge, Histogram

logger = logging.getLogger("vigil.agent")

#: HTTP methods kept as label values; anything else is counted as ``other``.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "other"

#: Route label that replaces new routes once ``max_routes`` distinct routes are known.
OVERFLOW_ROUTE = "__overflow__"

DEFAULT_DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
DEFAULT_SIZE_BUCKETS: tuple[float, ...] = (
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
)


def _bounds(buckets: Sequence[float]) -> list[float]:
    bounds = [float(b) for b in buckets]
    if not bounds or bounds[-1] != float("inf"):
        bounds.append(float("inf"))
    return bounds


def normalize_method(method: str) -> str:
    """``GET`` stays ``GET``; ``get`` becomes ``GET``; ``BREW`` becomes ``other``."""
    if method in KNOWN_METHODS:
        return method
    upper = method.upper()
    return upper if upper in KNOWN_METHODS else OTHER_METHOD


Inc = Callable[[float], None]


class _Children(NamedTuple):
    """Bound ``inc`` methods of the values behind one (method, route, status).

    Histograms are updated as prometheus_client does in ``observe()``: add to
    the sum, add 1 to the first bucket whose bound is >= the value (found with
    :func:`bisect.bisect_left` over the shared bounds instead of a Python loop).
    """

    requests: Inc
    duration_sum: Inc
    duration_buckets: Sequence[Inc]
    request_size_sum: Inc
    request_size_buckets: Sequence[Inc]
    response_size_sum: Inc
    response_size_buckets: Sequence[Inc]


def _counter_inc(child: Any) -> Inc:
    value = getattr(child, "_value", None)
    inc = getattr(value, "inc", None)
    if callable(inc):
        return cast(Inc, inc)
    return cast(Inc, child.inc)  # pragma: no cover - other prometheus_client internals


def _histogram_incs(child: Any, bounds: Sequence[float]) -> tuple[Inc, Sequence[Inc]]:
    total_inc = getattr(getattr(child, "_sum", None), "inc", None)
    buckets = getattr(child, "_buckets", None)
    if (
        callable(total_inc)
        and isinstance(buckets, list)
        and len(buckets) == len(bounds)
        and getattr(child, "_upper_bounds", None) == list(bounds)
    ):
        return cast(Inc, total_inc), tuple(bucket.inc for bucket in buckets)
    # Internals not as expected (another prometheus_client): the public API,
    # with the whole observation on the sum side and no-op bucket updates.
    observe = child.observe  # pragma: no cover
    return observe, tuple(_noop for _ in bounds)  # pragma: no cover


def _noop(amount: float) -> None:  # pragma: no cover
    return None


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, HttpMetrics] = (
    weakref.WeakKeyDictionary()
)
_BY_REGISTRY_LOCK = threading.Lock()


class HttpMetrics:
    """The HTTP metrics of one registry, with cached label children.

    Create it once per registry (:meth:`for_registry` does that for you) and
    share it between middlewares: registering the same names twice in one
    registry is an error in prometheus_client.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        *,
        namespace: str = "",
        duration_buckets: Sequence[float] = DEFAULT_DURATION_BUCKETS,
        size_buckets: Sequence[float] = DEFAULT_SIZE_BUCKETS,
        max_routes: int = 1000,
    ) -> None:
        if max_routes < 1:
            raise ValueError(f"HttpMetrics: max_routes must be at least 1, got {max_routes}")
        self.registry = registry
        self.max_routes = max_routes
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            namespace=namespace,
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving the request to sending the last byte of the response.",
            ["method", "route"],
            namespace=namespace,
            registry=registry,
            buckets=tuple(duration_buckets),
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled right now.",
            ["method"],
            namespace=namespace,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.request_size = Histogram(
            "http_request_size_bytes",
            "Size of request bodies (Content-Length, or bytes received when streamed).",
            ["method", "route"],
            namespace=namespace,
            registry=registry,
            buckets=tuple(size_buckets),
        )
        self.response_size = Histogram(
            "http_response_size_bytes",
            "Size of response bodies in bytes.",
            ["method", "route"],
            namespace=namespace,
            registry=registry,
            buckets=tuple(size_buckets),
        )
        self.exceptions = Counter(
            "http_exceptions",
            "Unhandled exceptions raised while handling HTTP requests, by type.",
            ["method", "route", "exception"],
            namespace=namespace,
            registry=registry,
        )
        self._children: dict[tuple[str, str, int], _Children] = {}
        self._in_progress: dict[str, Inc] = {}
        self._duration_bounds = _bounds(duration_buckets)
        self._size_bounds = _bounds(size_buckets)
        self._exception_children: dict[tuple[str, str, str], Any] = {}
        self._routes: set[str] = set()
        self._overflow_warned = False
        self._lock = threading.Lock()

    @classmethod
    def for_registry(cls, registry: CollectorRegistry = REGISTRY) -> HttpMetrics:
        """The one :class:`HttpMetrics` of *registry*, created on first use."""
        with _BY_REGISTRY_LOCK:
            metrics = _BY_REGISTRY.get(registry)
            if metrics is None:
                metrics = cls(registry)
                _BY_REGISTRY[registry] = metrics
            return metrics

    # ----------------------------------------------------------------- hot path

    def in_progress_inc(self, method: str) -> Inc:
        """``inc`` of the in-flight gauge child of a normalised *method*: call it
        with ``1.0`` when a request starts and ``-1.0`` when it ends."""
        inc = self._in_progress.get(method)
        if inc is None:
            inc = self._in_progress[method] = _counter_inc(self.in_progress.labels(method))
        return inc

    def observe(
        self,
        method: str,
        route: str,
        status: int,
        duration: float,
        request_size: int,
        response_size: int,
    ) -> None:
        """Record one finished request (*method* already normalised)."""
        c = self._children.get((method, route, status))
        if c is None:
            c = self._create_children(method, route, status)
        c.requests(1.0)
        c.duration_sum(duration)
        c.duration_buckets[bisect_left(self._duration_bounds, duration)](1.0)
        size_bounds = self._size_bounds
        c.request_size_sum(request_size)
        c.request_size_buckets[bisect_left(size_bounds, request_size)](1.0)
        c.response_size_sum(response_size)
        c.response_size_buckets[bisect_left(size_bounds, response_size)](1.0)

    def observe_exception(self, method: str, route: str, exception: BaseException) -> None:
        """Count an unhandled *exception* by its type name."""
        name = type(exception).__name__
        key = (method, route, name)
        child = self._exception_children.get(key)
        if child is None:
            with self._lock:
                child = self._exception_children.get(key)
                if child is None:
                    label_route = self._bounded_route(route)
                    child = self.exceptions.labels(method, label_route, name)
                    if label_route is not OVERFLOW_ROUTE:
                        self._exception_children[key] = child
        child.inc()

    # --------------------------------------------------------------- slow path

    def _create_children(self, method: str, route: str, status: int) -> _Children:
        with self._lock:
            key = (method, route, status)
            children = self._children.get(key)
            if children is None:
                label_route = self._bounded_route(route)
                if label_route is OVERFLOW_ROUTE:
                    # Cache under the overflow key only, so the cache stays bounded too.
                    key = (method, OVERFLOW_ROUTE, status)
                    children = self._children.get(key)
                    if children is not None:
                        return children
                duration = _histogram_incs(
                    self.duration.labels(method, label_route), self._duration_bounds
                )
                request_size = _histogram_incs(
                    self.request_size.labels(method, label_route), self._size_bounds
                )
                response_size = _histogram_incs(
                    self.response_size.labels(method, label_route), self._size_bounds
                )
                children = _Children(
                    _counter_inc(self.requests.labels(method, label_route, str(status))),
                    *duration,
                    *request_size,
                    *response_size,
                )
                self._children[key] = children
            return children

    def _bounded_route(self, route: str) -> str:
        if route in self._routes:
            return route
        if len(self._routes) < self.max_routes:
            self._routes.add(route)
            return route
        if not self._overflow_warned:
            self._overflow_warned = True
            logger.warning(
                "HTTP metrics: more than %d distinct routes; new routes (first: %r) are "
                "counted under route=%r. Are raw paths being used as route templates?",
                self.max_routes,
                route,
                OVERFLOW_ROUTE,
            )
        return OVERFLOW_ROUTE
