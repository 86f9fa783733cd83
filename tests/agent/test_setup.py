"""instrument(app): one call mounts tracking, endpoints and health for FastAPI, Starlette, Flask."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from flask import Flask
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from vigil.agent.health.registry import CheckResult, HealthRegistry
from vigil.agent.setup import Instrumentation, instrument


def _get_all(app: Any, paths: list[str]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await client.get(path) for path in paths]

    return anyio.run(run)


def test_fastapi(registry: CollectorRegistry) -> None:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        obs.metrics.increment_counter("orders_viewed_total", labels={"kind": "web"})
        return {"id": order_id}

    obs = instrument(app, registry=registry, logging=False, service_name="shop", version="1.2")
    assert isinstance(obs, Instrumentation)
    assert obs.framework == "starlette"
    assert obs.registry is registry
    assert instrument(app, registry=registry, logging=False) is obs  # idempotent
    obs.health.add("db", lambda: CheckResult.passed("up"))
    order_response, metrics, health = _get_all(app, ["/orders/3", "/metrics", "/health"])
    assert order_response.json() == {"id": 3}
    assert "x-request-id" in order_response.headers
    assert (
        'http_requests_total{method="GET",route="/orders/{order_id}",status="200"} 1.0'
        in metrics.text
    )
    assert 'orders_viewed_total{kind="web"} 1.0' in metrics.text
    body = health.json()
    assert body["status"] == "pass"
    assert body["serviceId"] == "shop"
    assert body["version"] == "1.2"
    assert "db:responseTime" in body["checks"]


def test_starlette_custom_paths(registry: CollectorRegistry) -> None:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    app = Starlette(routes=[Route("/", home), Route("/internal/ping", home)])
    health = HealthRegistry(registry)
    obs = instrument(
        app,
        registry=registry,
        health=health,
        metrics_path="/_/metrics",
        health_path="/_/health",
        exclude_paths=["/internal"],
        logging=False,
    )
    assert obs.health is health
    responses = _get_all(app, ["/", "/internal/ping", "/_/metrics", "/_/health/live", "/metrics"])
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 404]
    text = _get_all(app, ["/_/metrics"])[0].text
    assert 'route="/"' in text
    assert 'route="<unmatched>",status="404"' in text  # /metrics is an ordinary path now
    assert "/internal/ping" not in text


def test_flask_health_background_checks_start_on_first_request(registry: CollectorRegistry) -> None:
    app = Flask("bg")

    @app.get("/")
    def home() -> str:
        return "home"

    obs = instrument(app, registry=registry, logging=False)
    assert obs.framework == "flask"
    runs: list[float] = []

    def tick() -> bool:
        runs.append(time.monotonic())
        return True

    obs.health.add("tick", tick, interval=0.05)
    try:
        assert runs == []
        assert app.test_client().get("/", buffered=True).text == "home"
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(runs) >= 2
        assert obs.health.running
    finally:
        obs.health.close()


def test_unsupported_app_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"cannot instrument a builtins\.object.*Django"):
        instrument(object())
