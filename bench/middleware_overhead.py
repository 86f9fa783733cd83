"""Per-request overhead of vigil's ASGI middleware vs prometheus-fastapi-instrumentator.

Three copies of the same FastAPI application are built: bare, instrumented
with ``vigil.instrument(app)`` and instrumented with
``prometheus_fastapi_instrumentator.Instrumentator().instrument(app)``, each
with its own registry.  In one run, rounds of requests are sent to each app
in turn (interleaved, so drift of the machine affects all three alike), and
the medians over rounds give the time per request; overhead = instrumented
median - bare median.

Direct mode (default) calls the ASGI apps in-process with prepared scopes: no
network, so differences of a microsecond are visible.  ``--http`` also runs
each app in its own uvicorn process on 127.0.0.1 and times sequential
keep-alive requests from an httpx client; a request then costs a millisecond
or so of client, kernel and server work, so the middleware differences are
within the noise of a shared machine: read those figures as end-to-end
context, the direct ones as the measurement.

    .venv/bin/python bench/middleware_overhead.py
    .venv/bin/python bench/middleware_overhead.py --rounds 30 --requests 2000 --http

Access logging is on in vigil (its default), with the ``vigil.access``
logger left at the default WARNING level, as an app that has not asked for
access lines would run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator

from vigil.agent.setup import instrument

PATH = "/items/42"


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"hello": "world"}

    return app


def bare_app() -> FastAPI:
    return make_app()


def vigil_app() -> FastAPI:
    app = make_app()
    instrument(app, registry=CollectorRegistry(), logging=False)
    return app


def instrumentator_app() -> FastAPI:
    app = make_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return app


APPS: dict[str, Callable[[], FastAPI]] = {
    "bare": bare_app,
    "vigil": vigil_app,
    "instrumentator": instrumentator_app,
}

# ------------------------------------------------------------------ direct ASGI


_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"bench/1.0"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
]


async def _time_direct(app: Any, requests: int) -> float:
    """Seconds per request for *requests* sequential in-process requests."""
    request_message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request_message

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    base_scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": _HEADERS,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    copy = dict.copy
    start = time.perf_counter()
    for _ in range(requests):
        await app(copy(base_scope), receive, send)
    elapsed = time.perf_counter() - start
    if set(statuses) != {200}:
        raise RuntimeError(f"benchmark app answered {sorted(set(statuses))}, expected 200")
    return elapsed / requests


async def run_direct(rounds: int, requests: int) -> dict[str, list[float]]:
    apps = {name: factory() for name, factory in APPS.items()}
    for app in apps.values():  # warm up: middleware stacks, caches, children
        await _time_direct(app, 500)
    samples: dict[str, list[float]] = {name: [] for name in apps}
    gc.collect()
    for _ in range(rounds):
        for name, app in apps.items():
            samples[name].append(await _time_direct(app, requests))
        gc.collect()
    return samples


# ------------------------------------------------------------------ uvicorn + loopback


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_server(name: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    bench_dir = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"middleware_overhead:{name}_app",
            "--factory",
            "--app-dir",
            bench_dir,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"uvicorn for the {name} app did not start") from None
            time.sleep(0.05)


def run_http(rounds: int, requests: int) -> dict[str, list[float]]:
    """Each app under its own uvicorn process; one keep-alive client, requests in sequence."""
    import httpx

    servers = {name: _start_server(name) for name in APPS}
    try:
        clients = {
            name: httpx.Client(base_url=f"http://127.0.0.1:{port}")
            for name, (_, port) in servers.items()
        }
        samples: dict[str, list[float]] = {name: [] for name in servers}
        try:
            for client in clients.values():
                for _ in range(300):
                    client.get(PATH).raise_for_status()
            for _ in range(rounds):
                for name, client in clients.items():
                    start = time.perf_counter()
                    for _ in range(requests):
                        client.get(PATH)
                    samples[name].append((time.perf_counter() - start) / requests)
        finally:
            for client in clients.values():
                client.close()
        return samples
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ------------------------------------------------------------------ report


def report(title: str, samples: dict[str, list[float]]) -> dict[str, float]:
    """Print medians (and 10th percentiles, less sensitive to a busy machine) and ratios."""
    med = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    p10 = {name: statistics.quantiles(values, n=10)[0] * 1e6 for name, values in samples.items()}
    print(f"\n{title}")
    print(f"  {'app':<16}{'median us/req':>14}{'overhead':>10}{'p10 us/req':>12}{'overhead':>10}")
    for name in samples:
        print(
            f"  {name:<16}{med[name]:>14.2f}{med[name] - med['bare']:>10.2f}"
            f"{p10[name]:>12.2f}{p10[name] - p10['bare']:>10.2f}"
        )
    result: dict[str, float] = {}
    for label, stat in (("median", med), ("p10", p10)):
        vigil_over = stat["vigil"] - stat["bare"]
        inst_over = stat["instrumentator"] - stat["bare"]
        ratio = vigil_over / inst_over if inst_over > 0 else float("nan")
        result[f"{label}_ratio"] = ratio
        print(
            f"  {label}: vigil overhead {vigil_over:.2f} us, instrumentator overhead "
            f"{inst_over:.2f} us, ratio vigil/instrumentator = {ratio:.2f} (target <= 0.50)"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25, help="rounds per app (default 25)")
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests per round (default 2000)"
    )
    parser.add_argument("--http", action="store_true", help="also time uvicorn over loopback")
    parser.add_argument(
        "--http-requests", type=int, default=500, help="requests per HTTP round (default 500)"
    )
    args = parser.parse_args(argv)
    http_rounds = max(5, args.rounds // 2)

    logging.getLogger("vigil.access").setLevel(logging.WARNING)
    print(
        f"python {platform.python_version()} ({sys.implementation.name}), "
        f"fastapi {version('fastapi')}, starlette {version('starlette')}, "
        f"prometheus_client {version('prometheus-client')}, "
        f"prometheus-fastapi-instrumentator {version('prometheus-fastapi-instrumentator')}"
    )
    print(f"GET {PATH}: {args.rounds} rounds x {args.requests} requests per app, interleaved")
    direct = report(
        "direct ASGI calls (in-process)", asyncio.run(run_direct(args.rounds, args.requests))
    )
    ok = direct["median_ratio"] <= 0.5
    if args.http:
        report(
            f"uvicorn over loopback (httpx keep-alive, {args.http_requests} req/round)",
            run_http(http_rounds, args.http_requests),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
