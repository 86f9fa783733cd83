from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.registry import Collector

from vigil.agent.endpoints import Endpoints, Response
from vigil.agent.health.registry import CheckResult, HealthRegistry, Status

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-token"

Handler = Callable[..., Any]


@pytest.fixture
def health() -> Iterator[HealthRegistry]:
    reg = HealthRegistry(None)
    yield reg
    reg.close()


@pytest.fixture(params=["async", "sync"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Call Endpoints.handle or Endpoints.handle_sync with the same arguments."""

    async def do(
        endpoints: Endpoints, method: str, path: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        if request.param == "async":
            return await endpoints.handle(method, path, headers or {})
        return await asyncio.to_thread(endpoints.handle_sync, method, path, headers or {})

    return do


def body(response: Response) -> Any:
    return json.loads(response.body)


def assert_error(response: Response, status: int, error_type: str, fragment: str) -> None:
    """Every error has the same shape."""
    assert response.status == status
    assert response.header("content-type") == "application/json"
    doc = body(response)
    assert set(doc) == {"status", "errorType", "error"}
    assert doc["status"] == "error"
    assert doc["errorType"] == error_type
    assert fragment in doc["error"], doc["error"]


class Calls:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def check(self, name: str, value: Any = True) -> Callable[[], Any]:
        def run() -> Any:
            self.counts[name] = self.counts.get(name, 0) + 1
            return value

        return run


# -- routing ---------------------------------------------------------------------------


def test_matches(health: HealthRegistry) -> None:
    endpoints = Endpoints(health, metrics_path="/internal/metrics", health_path="/healthz")
    for path in (
        "/internal/metrics",
        "/healthz",
        "/healthz/",
        "/healthz/live",
        "/healthz/db/run",
        "/healthz?verbose=1",
    ):
        assert endpoints.matches(path), path
    for path in ("/", "/metrics", "/health", "/healthzz", "/internal/metricsx", "/internal"):
        assert not endpoints.matches(path), path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics_path": "metrics"}, "metrics_path 'metrics' must be an absolute path"),
        ({"health_path": "/"}, "health_path '/' must be an absolute path"),
        ({"metrics_path": "/health"}, "must not be health_path"),
        ({"metrics_path": "/health/metrics"}, "or lie under it"),
        ({"admin_token": "  "}, "admin_token must not be empty"),
    ],
)
def test_constructor_validates(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Endpoints(None, **kwargs)


# -- /metrics ---------------------------------------------------------------------------


@pytest.fixture
def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("orders", "Orders placed.", registry=registry).inc(3)
    return registry


async def test_metrics_text_openmetrics_and_gzip(
    call: Handler, health: HealthRegistry, metrics_registry: CollectorRegistry
) -> None:
    endpoints = Endpoints(health, metrics_registry=metrics_registry)

    text = await call(endpoints, "GET", "/metrics")
    assert text.status == 200
    assert text.header("Content-Type").startswith("text/plain; version=0.0.4")
    assert b"orders_total 3.0" in text.body

    om = await call(endpoints, "GET", "/metrics", {"Accept": "application/openmetrics-text"})
    assert om.header("content-type").startswith("application/openmetrics-text")
    assert om.body.endswith(b"# EOF\n")

    zipped = await call(endpoints, "GET", "/metrics/", {"accept-encoding": "gzip"})
    assert zipped.header("Content-Encoding") == "gzip"
    assert b"orders_total 3.0" in gzip.decompress(zipped.body)

    head = await call(endpoints, "HEAD", "/metrics")
    assert head.status == 200
    assert head.body == b""
    assert head.header("Content-Type") == text.header("Content-Type")


async def test_metrics_wrong_method(call: Handler, health: HealthRegistry) -> None:
    response = await call(Endpoints(health), "POST", "/metrics")
    assert_error(
        response, 405, "method_not_allowed", "method POST is not allowed here; use GET or HEAD"
    )
    assert response.header("Allow") == "GET, HEAD"


async def test_metrics_failure_is_a_500_json_error(
    call: Handler, health: HealthRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Collector):
        def collect(self) -> Iterable[Any]:
            raise RuntimeError("collector exploded")

    registry = CollectorRegistry()
    registry.register(Broken())
    with caplog.at_level(logging.ERROR, logger="vigil.agent"):
        response = await call(Endpoints(health, metrics_registry=registry), "GET", "/metrics")
    assert_error(response, 500, "internal", "internal error while serving GET /metrics")
    assert "collector exploded" in caplog.text


# -- /health ---------------------------------------------------------------------------


async def test_health_all_passing(call: Handler, health: HealthRegistry) -> None:
    health.add("db", lambda: True)
    health.add(
        "disk",
        lambda: CheckResult.passed(
            measurement="utilization", observed_value=12.5, observed_unit="percent"
        ),
    )
    endpoints = Endpoints(health, service_id="orders", version="1", description="orders API")
    response = await call(endpoints, "GET", "/health")
    assert response.status == 200
    assert response.header("Content-Type") == "application/health+json"
    assert response.header("Cache-Control") == "no-store"
    doc = body(response)
    assert doc["status"] == "pass"
    assert (doc["serviceId"], doc["version"], doc["description"]) == ("orders", "1", "orders API")
    assert set(doc["checks"]) == {"db:responseTime", "disk:utilization"}
    assert doc["checks"]["disk:utilization"][0]["observedValue"] == 12.5


async def test_health_critical_failure_is_503(call: Handler, health: HealthRegistry) -> None:
    health.add("db", lambda: CheckResult.failed("db down"))
    health.add("cache", lambda: True, critical=False)
    response = await call(Endpoints(health), "GET", "/health")
    assert response.status == 503
    doc = body(response)
    assert doc["status"] == "fail"
    assert doc["output"] == "unhealthy: db fail"
    assert doc["checks"]["db:responseTime"][0]["output"] == "db down"


async def test_health_non_critical_failure_is_degraded_200(
    call: Handler, health: HealthRegistry
) -> None:
    health.add("db", lambda: True)
    health.add("cache", lambda: False, critical=False)
    response = await call(Endpoints(health), "GET", "/health")
    assert response.status == 200
    assert body(response)["status"] == "warn"


async def test_health_head(call: Handler, health: HealthRegistry) -> None:
    health.add("db", lambda: False)
    response = await call(Endpoints(health), "HEAD", "/health")
    assert response.status == 503
    assert response.body == b""


async def test_live_runs_no_checks(call: Handler, health: HealthRegistry) -> None:
    calls = Calls()
    health.add("db", calls.check("db", False))
    response = await call(Endpoints(health), "GET", "/health/live")
    assert response.status == 200
    assert body(response) == {"status": "pass"}
    assert calls.counts == {}


async def test_ready_considers_critical_checks_only(call: Handler, health: HealthRegistry) -> None:
    calls = Calls()
    health.add("db", calls.check("db"))
    health.add("cache", calls.check("cache", False), critical=False)
    endpoints = Endpoints(health)
    response = await call(endpoints, "GET", "/health/ready")
    assert response.status == 200
    doc = body(response)
    assert doc["status"] == "pass"
    assert set(doc["checks"]) == {"db:responseTime"}
    assert calls.counts == {"db": 1}

    health.add("queue", lambda: False)
    assert (await call(endpoints, "GET", "/health/ready")).status == 503


async def test_single_check(call: Handler, health: HealthRegistry) -> None:
    health.add("db", lambda: True)
    health.add("cache", lambda: CheckResult.failed("cache down"), critical=False)
    endpoints = Endpoints(health)

    ok = await call(endpoints, "GET", "/health/db")
    assert ok.status == 200
    assert list(body(ok)["checks"]) == ["db:responseTime"]

    # A failing check answers 503 on its own endpoint even when not critical.
    down = await call(endpoints, "GET", "/health/cache")
    assert down.status == 503
    assert body(down)["output"] == "cache down"

    missing = await call(endpoints, "GET", "/health/nope")
    assert_error(
        missing, 404, "not_found", "no health check named 'nope' (known checks: cache, db)"
    )


async def test_single_check_serves_the_interval_cache(
    call: Handler, health: HealthRegistry
) -> None:
    calls = Calls()
    health.add("db", calls.check("db"), interval=3600)
    endpoints = Endpoints(health, admin_token=TOKEN)
    await call(endpoints, "GET", "/health/db")
    await call(endpoints, "GET", "/health/db")
    await call(endpoints, "GET", "/health")
    assert calls.counts == {"db": 1}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    run = await call(endpoints, "POST", "/health/db/run", auth)
    assert run.status == 200
    assert calls.counts == {"db": 2}  # forced


async def test_health_checks_run_concurrently(call: Handler, health: HealthRegistry) -> None:
    async def slow() -> bool:
        await asyncio.sleep(0.3)
        return True

    def slow_sync() -> bool:
        time.sleep(0.3)
        return True

    for i in range(3):
        health.add(f"a{i}", slow)
        health.add(f"s{i}", slow_sync)
    start = time.perf_counter()
    response = await call(Endpoints(health), "GET", "/health")
    assert time.perf_counter() - start < 1.2  # 1.8 s if sequential
    assert response.status == 200
    assert len(body(response)["checks"]) == 6


async def test_raising_and_hanging_checks_through_the_endpoint(
    call: Handler, health: HealthRegistry
) -> None:
    def boom() -> bool:
        raise ValueError("bad config")

    async def hang() -> bool:
        await asyncio.sleep(30)
        return True

    health.add("boom", boom, critical=False)
    health.add("hang", hang, timeout=0.2)
    health.add("ok", lambda: True)
    start = time.perf_counter()
    response = await call(Endpoints(health), "GET", "/health")
    assert time.perf_counter() - start < 1.0
    assert response.status == 503
    checks = body(response)["checks"]
    assert checks["boom:responseTime"][0]["output"] == "check raised ValueError: bad config"
    assert (
        checks["hang:responseTime"][0]["output"]
        == "check did not finish within its timeout of 0.2 s"
    )
    assert checks["ok:responseTime"][0]["status"] == "pass"


async def test_no_health_registry(call: Handler) -> None:
    endpoints = Endpoints(None)
    for path in ("/health", "/health/ready", "/health/live"):
        response = await call(endpoints, "GET", path)
        assert response.status == 200, path
        assert body(response)["status"] == "pass"
    assert_error(
        await call(endpoints, "GET", "/health/db"), 404, "not_found", "no checks are registered"
    )


# -- POST /health/{name}/run ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "headers", "status", "error_type", "fragment"),
    [
        (
            None,
            {"Authorization": f"Bearer {TOKEN}"},
            403,
            "forbidden",
            "no admin token is configured",
        ),
        (TOKEN, {}, 401, "unauthorized", "missing Authorization header"),
        (TOKEN, {"Authorization": TOKEN}, 401, "unauthorized", "malformed Authorization header"),
        (TOKEN, {"Authorization": f"Basic {TOKEN}"}, 401, "unauthorized", "malformed"),
        (TOKEN, {"Authorization": "Bearer "}, 401, "unauthorized", "malformed"),
        (
            TOKEN,
            {"Authorization": "Bearer wrong"},
            403,
            "forbidden",
            "the admin token is not valid",
        ),
        (TOKEN, {"Authorization": f"Bearer {TOKEN}x"}, 403, "forbidden", "not valid"),
    ],
)
async def test_run_requires_the_admin_token(
    call: Handler,
    health: HealthRegistry,
    token: str | None,
    headers: dict[str, str],
    status: int,
    error_type: str,
    fragment: str,
) -> None:
    calls = Calls()
    health.add("db", calls.check("db"))
    response = await call(Endpoints(health, admin_token=token), "POST", "/health/db/run", headers)
    assert_error(response, status, error_type, fragment)
    if status == 401:
        assert response.header("WWW-Authenticate") == 'Bearer realm="vigil"'
    assert calls.counts == {}


@pytest.mark.parametrize("header", ["Authorization", "authorization", "AUTHORIZATION"])
async def test_run_with_the_token(call: Handler, health: HealthRegistry, header: str) -> None:
    calls = Calls()
    health.add(
        "db", calls.check("db", CheckResult(Status.WARN, "replica lag 12 s")), critical=False
    )
    endpoints = Endpoints(health, admin_token=TOKEN)
    response = await call(endpoints, "POST", "/health/db/run", {header: f"bearer  {TOKEN} "})
    assert response.status == 200
    doc = body(response)
    assert doc["status"] == "warn"
    assert doc["checks"]["db:responseTime"][0]["output"] == "replica lag 12 s"
    assert calls.counts == {"db": 1}


async def test_run_unknown_check_is_404_before_auth(call: Handler, health: HealthRegistry) -> None:
    endpoints = Endpoints(health, admin_token=TOKEN)
    assert_error(await call(endpoints, "POST", "/health/nope/run"), 404, "not_found", "'nope'")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/health/db", "GET, HEAD"),
        ("PUT", "/health/live", "GET, HEAD"),
        ("POST", "/health/ready", "GET, HEAD"),
        ("GET", "/health/db/run", "POST"),
    ],
)
async def test_wrong_methods(
    call: Handler, health: HealthRegistry, method: str, path: str, allow: str
) -> None:
    health.add("db", lambda: True)
    response = await call(Endpoints(health, admin_token=TOKEN), method, path)
    assert_error(response, 405, "method_not_allowed", f"method {method} is not allowed here")
    assert response.header("Allow") == allow


@pytest.mark.parametrize(
    "path", ["/health/db/other", "/health/db/run/x", "/health/live/run", "/elsewhere"]
)
async def test_unknown_paths(call: Handler, health: HealthRegistry, path: str) -> None:
    health.add("db", lambda: True)
    response = await call(Endpoints(health, admin_token=TOKEN), "GET", path)
    assert_error(response, 404, "not_found", f"no endpoint at {path!r}")


async def test_path_normalisation(call: Handler, health: HealthRegistry) -> None:
    health.add("db", lambda: True)
    endpoints = Endpoints(health)
    for path in ("/health/", "/health?full=1", "/health/db/", "/health/live/"):
        assert (await call(endpoints, "get", path)).status == 200, path


def test_handle_sync_from_a_plain_thread(health: HealthRegistry) -> None:
    async def slow() -> bool:
        await asyncio.sleep(0.3)
        return True

    for name in ("a", "b", "c"):
        health.add(name, slow)
    endpoints = Endpoints(health)
    start = time.perf_counter()
    response = endpoints.handle_sync("GET", "/health", {})
    assert time.perf_counter() - start < 0.6  # 0.9 s if sequential
    assert response.status == 200


async def test_health_body_is_always_valid_json(call: Handler, health: HealthRegistry) -> None:
    health.add(
        "odd",
        lambda: CheckResult.passed(
            measurement="ratio", observed_value=float("nan"), details={"obj": object}
        ),
    )
    response = await call(Endpoints(health), "GET", "/health")
    entry = json.loads(response.body, parse_constant=pytest.fail)["checks"]["odd:ratio"][0]
    assert entry["observedValue"] == "nan"
    assert entry["details"]["obj"] == "<class 'object'>"
