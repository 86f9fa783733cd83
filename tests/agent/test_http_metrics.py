"""HttpMetrics: the cached fast path must record exactly what prometheus_client's API records."""

from __future__ import annotations

import logging
import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from vigil.agent.http_metrics import (
    DEFAULT_DURATION_BUCKETS,
    DEFAULT_SIZE_BUCKETS,
    OVERFLOW_ROUTE,
    HttpMetrics,
    normalize_method,
)


@pytest.mark.parametrize(
    ("method", "label"),
    [
        ("GET", "GET"),
        ("post", "POST"),
        ("PATCH", "PATCH"),
        ("OPTIONS", "OPTIONS"),
        ("BREW", "other"),
        ("PROPFIND", "other"),
        ("", "other"),
    ],
)
def test_normalize_method(method: str, label: str) -> None:
    assert normalize_method(method) == label


def _samples(
    registry: CollectorRegistry, prefix: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in registry.collect():
        for s in family.samples:
            if s.name.startswith(prefix) and not s.name.endswith("_created"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_fast_path_matches_prometheus_client(registry: CollectorRegistry) -> None:
    reference = CollectorRegistry()
    requests = Counter("http_requests", "", ["method", "route", "status"], registry=reference)
    duration = Histogram(
        "http_request_duration_seconds",
        "",
        ["method", "route"],
        registry=reference,
        buckets=DEFAULT_DURATION_BUCKETS,
    )
    request_size = Histogram(
        "http_request_size_bytes",
        "",
        ["method", "route"],
        registry=reference,
        buckets=DEFAULT_SIZE_BUCKETS,
    )
    response_size = Histogram(
        "http_response_size_bytes",
        "",
        ["method", "route"],
        registry=reference,
        buckets=DEFAULT_SIZE_BUCKETS,
    )
    metrics = HttpMetrics(registry)
    rng = random.Random(7)
    edges = [0.0, 0.005, 0.01, 10.0, 10.5, 100.0, 1000.0, 1e7, 1e9]
    for i in range(3000):
        method = rng.choice(["GET", "POST"])
        route = rng.choice(["/a", "/b/{id}"])
        status = rng.choice([200, 404, 500])
        d = edges[i] if i < len(edges) else rng.expovariate(20)
        req = int(edges[i]) if i < len(edges) else rng.choice([0, 10, 999, 1000, 1001, 5 * 10**6])
        resp = rng.randrange(0, 3 * 10**6)
        metrics.observe(method, route, status, d, req, resp)
        requests.labels(method, route, str(status)).inc()
        duration.labels(method, route).observe(d)
        request_size.labels(method, route).observe(req)
        response_size.labels(method, route).observe(resp)
    ours = _samples(registry, "http_re")
    theirs = _samples(reference, "http_re")
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value), key


def test_exposition_names_and_types(registry: CollectorRegistry) -> None:
    metrics = HttpMetrics(registry)
    metrics.observe("GET", "/x", 200, 0.1, 0, 10)
    metrics.observe_exception("GET", "/x", ValueError("v"))
    inc = metrics.in_progress_inc("GET")
    inc(1.0)
    text = generate_latest(registry).decode()
    for line in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE http_requests_in_progress gauge",
        "# TYPE http_request_size_bytes histogram",
        "# TYPE http_response_size_bytes histogram",
        "# TYPE http_exceptions_total counter",
        'http_exceptions_total{exception="ValueError",method="GET",route="/x"} 1.0',
        'http_requests_in_progress{method="GET"} 1.0',
    ]:
        assert line in text
    assert metrics.in_progress_inc("GET") is inc  # cached
    assert metrics.in_progress._multiprocess_mode == "livesum"


def test_route_limit_folds_new_routes_and_warns_once(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = HttpMetrics(registry, max_routes=3)
    with caplog.at_level(logging.WARNING, logger="vigil.agent"):
        for i in range(10):
            metrics.observe("GET", f"/raw/{i}", 200, 0.01, 0, 0)
        metrics.observe_exception("GET", "/raw/99", KeyError("k"))
    routes = {
        s.labels["route"]
        for family in registry.collect()
        if family.name == "http_requests"
        for s in family.samples
        if s.name == "http_requests_total"
    }
    assert routes == {"/raw/0", "/raw/1", "/raw/2", OVERFLOW_ROUTE}
    labels = {"method": "GET", "route": OVERFLOW_ROUTE, "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 7
    warnings = [r for r in caplog.records if "distinct routes" in r.getMessage()]
    assert len(warnings) == 1
    assert "/raw/3" in warnings[0].getMessage()
    assert len(metrics._children) <= 4  # the cache stays bounded as well


def test_for_registry_is_one_per_registry(registry: CollectorRegistry) -> None:
    first = HttpMetrics.for_registry(registry)
    assert HttpMetrics.for_registry(registry) is first
    assert HttpMetrics.for_registry(CollectorRegistry()) is not first
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        HttpMetrics(registry)


def test_namespace_and_validation() -> None:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry, namespace="shop")
    metrics.observe("GET", "/", 200, 0.0, 0, 0)
    labels = {"method": "GET", "route": "/", "status": "200"}
    assert registry.get_sample_value("shop_http_requests_total", labels) == 1
    with pytest.raises(ValueError, match="max_routes must be at least 1, got 0"):
        HttpMetrics(CollectorRegistry(), max_routes=0)
