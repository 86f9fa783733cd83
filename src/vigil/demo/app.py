"""The demo service: a small shop API instrumented with one call to ``vigil.instrument``."""

from __future__ import annotations

import asyncio
import logging
import random

from fastapi import FastAPI, HTTPException
from prometheus_client import CollectorRegistry

import vigil
from vigil.agent.health import checks
from vigil.agent.metrics import MetricsCollector

log = logging.getLogger("vigil.demo")

PRODUCTS = ("book", "lamp", "chair", "mug")


def create_app(
    *,
    registry: CollectorRegistry | None = None,
    postgres_dsn: str | None = "postgresql://postgres@127.0.0.1:5432/test",
    redis_url: str | None = "redis://127.0.0.1:6379/0",
    seed: int | None = None,
) -> FastAPI:
    """Build the demo app. Dependencies whose address is ``None`` are not checked."""
    rng = random.Random(seed)
    app = FastAPI(title="vigil demo shop")
    inst = vigil.instrument(app, registry=registry, service_name="demo-shop")
    business = MetricsCollector(registry=inst.registry, namespace="shop")

    # The demo must run on a machine without these services: they are
    # non-critical, so a missing one shows the service as degraded, not down.
    if postgres_dsn is not None:
        inst.health.add("postgres", checks.postgres(postgres_dsn), critical=False, timeout=2.0)
    if redis_url is not None:
        inst.health.add("redis", checks.redis(redis_url), critical=False, timeout=2.0)
    inst.health.add("disk", checks.disk("/"), critical=True)
    inst.health.add("memory", checks.memory(), critical=False)

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"service": "demo-shop", "see": "/metrics, /health"}

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> dict[str, object]:
        await asyncio.sleep(rng.uniform(0.001, 0.01))
        if user_id % 17 == 0:
            raise HTTPException(status_code=404, detail=f"user {user_id} not found")
        return {"id": user_id, "name": f"user-{user_id}"}

    @app.post("/orders")
    async def create_order(product: str = "book", quantity: int = 1) -> dict[str, object]:
        if product not in PRODUCTS:
            raise HTTPException(status_code=422, detail=f"unknown product {product!r}")
        business.increment_counter(
            "orders_total", labels={"product": product}, documentation="Orders placed."
        )
        business.observe(
            "order_quantity",
            quantity,
            labels={"product": product},
            documentation="Items per order.",
        )
        log.info("order placed", extra={"product": product, "quantity": quantity})
        return {"product": product, "quantity": quantity}

    @app.get("/slow")
    async def slow() -> dict[str, float]:
        delay = rng.expovariate(1 / 0.2)
        await asyncio.sleep(min(delay, 2.0))
        return {"slept": delay}

    @app.get("/error")
    async def error() -> dict[str, str]:
        raise RuntimeError("the demo failed on purpose")

    return app
