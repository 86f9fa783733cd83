"""Tiny WSGI and ASGI apps for the multi-process tests (run by real gunicorn/uvicorn).

Not a test module: the tests start servers with ``--chdir`` to this directory.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

# vigil first: importing it switches on multi-process mode before the metrics below exist.
from vigil.agent import multiprocess
from vigil.agent.exposition import render_metrics
from vigil.agent.metrics import Counter, Gauge, Histogram, MetricsCollector

REQUESTS = Counter("app_requests", "Requests handled by the test app", ["path"])
LATENCY = Histogram("app_latency_seconds", "Time spent in the handler", buckets=[0.001, 0.1, 1])
IN_FLIGHT = Gauge("app_in_flight", "Requests being handled", multiprocess_mode="livesum")
WORKERS = Gauge("app_worker_up", "One per live worker", multiprocess_mode="livesum")
WORKERS.set(1)
BUSINESS = MetricsCollector()


def _work(query: str) -> bytes:
    start = time.perf_counter()
    IN_FLIGHT.inc()
    try:
        delay = float(query.removeprefix("sleep=")) if query.startswith("sleep=") else 0.0
        if delay:
            time.sleep(delay)
        REQUESTS.labels("/work").inc()
        BUSINESS.increment_counter("orders_total", labels={"region": "eu"})
        return str(os.getpid()).encode()
    finally:
        IN_FLIGHT.dec()
        LATENCY.observe(time.perf_counter() - start)


def _info() -> bytes:
    return json.dumps(
        {
            "pid": os.getpid(),
            "active": multiprocess.is_active(),
            "directory": multiprocess.directory(),
        }
    ).encode()


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/metrics":
        body, headers = render_metrics(
            None, environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING")
        )
        start_response("200 OK", headers)
        return [body]
    if path == "/work":
        body = _work(environ.get("QUERY_STRING", ""))
    elif path == "/info":
        body = _info()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    status = 200
    response_headers: list[tuple[str, str]] = [("content-type", "text/plain")]
    if scope["path"] == "/metrics":
        body, response_headers = render_metrics(
            None, headers.get("accept"), headers.get("accept-encoding")
        )
    elif scope["path"] == "/work":
        body = _work(scope.get("query_string", b"").decode())
    elif scope["path"] == "/info":
        body = _info()
    else:
        status, body = 404, b"not found"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
