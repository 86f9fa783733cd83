"""VigilMiddleware: real uvicorn servers over loopback, plus direct ASGI calls for edge cases."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from server_process import ServerProcess, sample, uvicorn_server

from vigil.agent.asgi import Message, Scope, VigilMiddleware, split_exclude_paths
from vigil.agent.context import get_request_id
from vigil.agent.endpoints import Endpoints
from vigil.agent.http_metrics import HttpMetrics
from vigil.agent.routes import UNMATCHED

HEX32 = re.compile(r"[0-9a-f]{32}")


# --------------------------------------------------------------------- FastAPI over uvicorn


@pytest.fixture(scope="module")
def fastapi_server() -> Iterator[ServerProcess]:
    with uvicorn_server("http_apps:fastapi_app") as server:
        yield server


@pytest.fixture(scope="module")
def fastapi_traffic(fastapi_server: ServerProcess) -> dict[str, Any]:
    """Send one fixed mix of requests; the tests check what it left behind."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=fastapi_server.base_url, timeout=10) as client:
        for i in range(3):
            response = client.get(f"/users/{i}", headers={"X-Request-ID": f"client-id-{i}"})
            assert response.status_code == 200
            out.setdefault("user_responses", []).append(response)
        out["item"] = client.get("/api/items/7")
        out["sub"] = client.get("/sub/things/hat")
        out["unmatched"] = [client.get(f"/no/such/path/{i}") for i in range(4)]
        out["missing"] = client.get("/missing/alice")
        # uvicorn closes the connection after an unhandled exception: use a fresh one
        out["boom"] = httpx.get(fastapi_server.base_url + "/boom", timeout=10)
        out["bad_id"] = client.get("/users/9", headers={"X-Request-ID": "bad id <script>"})
        out["long_id"] = client.get("/users/9", headers={"X-Request-ID": "a" * 200})
        out["echo"] = client.post("/echo", content=b"abcde")
        out["chunked"] = client.post("/echo", content=iter([b"12345", b"67890"]))
        out["stream"] = client.get("/stream")
        out["brew"] = client.request("BREW", "/users/1")
        out["health"] = client.get("/health")
        out["live"] = client.get("/health/live")
        out["metrics"] = client.get("/metrics")
    return out


def _metrics(server: ServerProcess) -> str:
    return httpx.get(server.base_url + "/metrics", timeout=10).text


def test_route_templates_label_requests(
    fastapi_server: ServerProcess, fastapi_traffic: dict[str, Any]
) -> None:
    text = _metrics(fastapi_server)

    def total(route: str, status: str, method: str = "GET") -> float | None:
        return sample(
            text, "http_requests_total", {"method": method, "route": route, "status": status}
        )

    assert total("/users/{user_id}", "200") == 5
    assert total("/api/items/{item_id}", "200") == 1  # included router with a prefix
    assert total("/sub/things/{thing}", "200") == 1  # mounted sub-application
    assert total(UNMATCHED, "404") == 4  # one series for every unknown path
    assert total("/missing/{name}", "404") == 1  # HTTPException keeps its route
    assert total("/boom", "500") == 1
    assert total("/echo", "200", "POST") == 2
    assert total("/users/{user_id}", "405", "other") == 1  # unknown verb folded
    assert "/users/0" not in text
    assert "/no/such/path" not in text


def test_metrics_and_health_paths_are_served_not_counted(
    fastapi_server: ServerProcess, fastapi_traffic: dict[str, Any]
) -> None:
    assert fastapi_traffic["metrics"].status_code == 200
    assert fastapi_traffic["metrics"].headers["content-type"].startswith("text/plain")
    assert fastapi_traffic["health"].status_code == 200
    assert fastapi_traffic["health"].json()["status"] == "pass"
    assert fastapi_traffic["live"].status_code == 200
    text = _metrics(fastapi_server)
    assert 'route="/metrics"' not in text
    assert 'route="/health' not in text
    # the interval check runs in the background, started by the lifespan hook
    assert (sample(text, "vigil_health_check_status", {"check": "ticker"}) or 0) == 1.0


def test_request_id_taken_when_well_formed_else_generated(
    fastapi_traffic: dict[str, Any],
) -> None:
    for i, response in enumerate(fastapi_traffic["user_responses"]):
        assert response.headers["x-request-id"] == f"client-id-{i}"
        assert response.json()["request_id"] == f"client-id-{i}"  # context var in a sync view
    for key in ("bad_id", "long_id"):
        response = fastapi_traffic[key]
        assert HEX32.fullmatch(response.headers["x-request-id"])
        assert response.json()["request_id"] == response.headers["x-request-id"]
    item = fastapi_traffic["item"]
    assert HEX32.fullmatch(item.headers["x-request-id"])
    assert item.json()["request_id"] == item.headers["x-request-id"]


def test_sizes_durations_exceptions_in_progress(
    fastapi_server: ServerProcess, fastapi_traffic: dict[str, Any]
) -> None:
    assert fastapi_traffic["echo"].text == "abcdeabcde"
    assert fastapi_traffic["chunked"].text == "12345678901234567890"
    text = _metrics(fastapi_server)
    labels = {"method": "POST", "route": "/echo"}
    # 5 bytes with Content-Length, 10 bytes counted from a chunked body
    assert sample(text, "http_request_size_bytes_sum", labels) == 15
    assert sample(text, "http_response_size_bytes_sum", labels) == 30
    stream = {"method": "GET", "route": "/stream"}
    assert sample(text, "http_response_size_bytes_sum", stream) == 5000
    assert sample(text, "http_request_duration_seconds_count", stream) == 1
    assert (sample(text, "http_request_duration_seconds_sum", stream) or 0) > 0
    assert (
        sample(
            text,
            "http_exceptions_total",
            {"method": "GET", "route": "/boom", "exception": "ValueError"},
        )
        == 1
    )
    assert sample(text, "http_requests_in_progress", {"method": "GET"}) == 0


def test_in_progress_gauge_counts_running_requests(fastapi_server: ServerProcess) -> None:
    async def run() -> float | None:
        async with httpx.AsyncClient(base_url=fastapi_server.base_url, timeout=10) as client:
            slow = [asyncio.create_task(client.get("/slow")) for _ in range(3)]
            await asyncio.sleep(0.25)
            during = sample(
                (await client.get("/metrics")).text,
                "http_requests_in_progress",
                {"method": "GET"},
            )
            for response in await asyncio.gather(*slow):
                assert response.status_code == 200
            return during

    assert asyncio.run(run()) == 3


def test_access_log_lines(fastapi_server: ServerProcess, fastapi_traffic: dict[str, Any]) -> None:
    record = fastapi_server.wait_for_log(
        lambda r: r.get("logger") == "vigil.access" and r.get("request_id") == "client-id-1"
    )
    assert record["level"] == "INFO"
    assert record["method"] == "GET"
    assert record["route"] == "/users/{user_id}"
    assert record["path"] == "/users/1"
    assert record["status"] == 200
    assert record["duration_ms"] >= 0
    assert record["message"].startswith("GET /users/{user_id} 200 ")
    boom_id = fastapi_traffic["boom"].headers.get("x-request-id")
    assert boom_id is None  # Starlette's ServerErrorMiddleware answers outside us
    error = fastapi_server.wait_for_log(
        lambda r: r.get("logger") == "vigil.access" and r.get("route") == "/boom"
    )
    assert error["level"] == "ERROR"
    assert error["status"] == 500
    assert error["exception"]["type"] == "ValueError"
    assert HEX32.fullmatch(error["request_id"])
    # excluded paths leave no access line
    assert not [r for r in fastapi_server.json_logs("vigil.access") if r.get("path") == "/metrics"]


def test_admin_run_endpoint(fastapi_server: ServerProcess) -> None:
    url = fastapi_server.base_url + "/health/always/run"
    assert httpx.post(url).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = httpx.post(url, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200


def test_uvicorn_workers_are_summed() -> None:
    with uvicorn_server("http_apps:fastapi_app", workers=2) as server:
        deadline = time.monotonic() + 30
        while True:  # the supervisor reports the port before the workers are ready
            try:
                httpx.get(server.base_url + "/health/live", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        n = 30
        for i in range(n):  # a new connection each time, so both workers take requests
            assert httpx.get(f"{server.base_url}/users/{i}", timeout=10).status_code == 200
        text = httpx.get(server.base_url + "/metrics", timeout=10).text
    labels = {"method": "GET", "route": "/users/{user_id}", "status": "200"}
    assert sample(text, "http_requests_total", labels) == n
    route = {"method": "GET", "route": "/users/{user_id}"}
    assert sample(text, "http_request_duration_seconds_count", route) == n
    assert sample(text, "http_requests_in_progress", {"method": "GET"}) == 0


# --------------------------------------------------------------------- Starlette over uvicorn


def test_starlette_app_over_uvicorn() -> None:
    with uvicorn_server("http_apps:starlette_app") as server:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/users/5").json() == {"id": 5}
            assert client.get("/v1/files/a/b/c.txt").text == "a/b/c.txt"
            assert client.get("/users/not-an-int").status_code == 404  # convertor mismatch
            assert httpx.get(server.base_url + "/boom", timeout=10).status_code == 500
            text = client.get("/metrics").text
            health = client.get("/health/always")
        assert health.status_code == 200

        def total(route: str, status: str) -> float | None:
            labels = {"method": "GET", "route": route, "status": status}
            return sample(text, "http_requests_total", labels)

        assert total("/users/{user_id}", "200") == 1
        assert total("/v1/files/{rest}", "200") == 1  # Mount(routes=...) prefix kept
        assert total(UNMATCHED, "404") == 1
        assert total("/boom", "500") == 1
        exc = {"method": "GET", "route": "/boom", "exception": "KeyError"}
        assert sample(text, "http_exceptions_total", exc) == 1


# --------------------------------------------------------------------- direct ASGI calls


class _FixedRoute:
    def __init__(self, route: str = "/r") -> None:
        self.route = route

    def resolve(self, scope: Scope) -> str:
        return self.route


def _scope(path: str = "/r", method: str = "GET", headers: Any = (), **extra: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 1234),
    }
    scope.update(extra)
    return scope


async def _call(
    app: Any, scope: Scope, body: list[bytes] | None = None
) -> tuple[list[Message], BaseException | None]:
    parts = list(body or [b""])
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:
        return sent, exc
    return sent, None


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


@pytest.mark.anyio
async def test_exception_before_response_is_500_and_reraised(registry: CollectorRegistry) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise LookupError("nope")

    mw = VigilMiddleware(
        app, metrics=HttpMetrics(registry), routes=_FixedRoute(), log_requests=False
    )
    sent, exc = await _call(mw, _scope())
    assert isinstance(exc, LookupError)
    assert sent == []
    assert _value(registry, "http_requests_total", method="GET", route="/r", status="500") == 1
    assert (
        _value(registry, "http_exceptions_total", method="GET", route="/r", exception="LookupError")
        == 1
    )
    assert _value(registry, "http_requests_in_progress", method="GET") == 0


@pytest.mark.anyio
async def test_exception_after_response_start_keeps_status(registry: CollectorRegistry) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("stream broke")

    mw = VigilMiddleware(
        app, metrics=HttpMetrics(registry), routes=_FixedRoute(), log_requests=False
    )
    _sent, exc = await _call(mw, _scope())
    assert isinstance(exc, RuntimeError)
    assert _value(registry, "http_requests_total", method="GET", route="/r", status="200") == 1
    assert _value(registry, "http_response_size_bytes_sum", method="GET", route="/r") == 4


@pytest.mark.anyio
async def test_request_id_header_added_once(registry: CollectorRegistry) -> None:
    seen: list[str | None] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(get_request_id())
        headers = [(b"x-request-id", b"from-app")] if scope["path"] == "/own" else []
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    mw = VigilMiddleware(
        app,
        metrics=HttpMetrics(registry),
        routes=_FixedRoute(),
        request_id_header="Request-Id",
        log_requests=False,
    )
    sent, _ = await _call(mw, _scope(headers=[(b"request-id", b"abc.123")]))
    assert sent[0]["headers"] == [(b"request-id", b"abc.123")]
    assert seen == ["abc.123"]
    assert get_request_id() is None  # reset after the request
    sent, _ = await _call(mw, _scope("/own", headers=[(b"request-id", b"abc")]))
    assert sent[0]["headers"] == [(b"x-request-id", b"from-app"), (b"request-id", b"abc")]
    sent, _ = await _call(mw, _scope(headers=[(b"request-id", "é".encode())]))
    generated = dict(sent[0]["headers"])[b"request-id"].decode()
    assert HEX32.fullmatch(generated)
    assert seen[-1] == generated


@pytest.mark.anyio
async def test_excluded_paths_pass_through(registry: CollectorRegistry) -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = VigilMiddleware(
        app,
        metrics=HttpMetrics(registry),
        routes=_FixedRoute(),
        exclude_paths=["/internal", "/ping/"],
        log_requests=False,
    )
    for path in ["/internal", "/internal/x/y", "/ping", "/internalz", "/app"]:
        sent, _ = await _call(mw, _scope(path))
        assert sent[0]["status"] == 200
    assert calls == ["/internal", "/internal/x/y", "/ping", "/internalz", "/app"]
    assert _value(registry, "http_requests_total", method="GET", route="/r", status="200") == 2


def test_exclude_paths_are_validated() -> None:
    with pytest.raises(ValueError, match="'metrics'"):
        split_exclude_paths(["metrics"])
    assert split_exclude_paths(["/a/", "/"]) == (frozenset({"/a", "/"}), ("/a/",))


@pytest.mark.anyio
async def test_endpoints_served_under_root_path(registry: CollectorRegistry) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:  # pragma: no cover
        raise AssertionError("the middleware serves /metrics itself")

    mw = VigilMiddleware(
        app,
        metrics=HttpMetrics(registry),
        endpoints=Endpoints(None, metrics_registry=registry),
        routes=_FixedRoute(),
    )
    sent, exc = await _call(mw, _scope("/prefix/metrics", root_path="/prefix"))
    assert exc is None
    assert sent[0]["status"] == 200
    assert b"http_requests_total" in sent[1]["body"] or sent[1]["body"] == b""
    sent, _ = await _call(mw, _scope("/metrics", method="HEAD"))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b""


@pytest.mark.anyio
async def test_start_and_finish_log_lines(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        logging.getLogger("app").info("inside")
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"12345"})

    mw = VigilMiddleware(app, metrics=HttpMetrics(registry), routes=_FixedRoute("/things/{id}"))
    with caplog.at_level(logging.DEBUG):
        await _call(
            mw, _scope("/things/1", method="PUT", headers=[(b"content-length", b"3")]), [b"abc"]
        )
    access = [r for r in caplog.records if r.name == "vigil.access"]
    assert [r.levelno for r in access] == [logging.DEBUG, logging.INFO]
    started, finished = access
    assert started.getMessage() == "request started PUT /things/1"
    assert finished.__dict__["route"] == "/things/{id}"
    assert finished.__dict__["status"] == 201
    assert finished.__dict__["request_size"] == 3
    assert finished.__dict__["response_size"] == 5
    assert finished.__dict__["client"] == "127.0.0.1:1234"
    assert finished.__dict__["duration_ms"] >= 0


@pytest.mark.anyio
async def test_lifespan_starts_and_stops_health() -> None:
    events: list[str] = []

    class Health:
        async def start(self) -> None:
            events.append("start")

        async def stop(self) -> None:
            events.append("stop")

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        events.append(message["type"])

    mw = VigilMiddleware(app, metrics=HttpMetrics(CollectorRegistry()), health=Health())
    await mw({"type": "lifespan"}, receive, send)
    assert events == [
        "start",
        "lifespan.startup",
        "lifespan.startup.complete",
        "stop",
        "lifespan.shutdown",
        "lifespan.shutdown.complete",
    ]


def test_is_pure_asgi() -> None:
    from starlette.middleware.base import BaseHTTPMiddleware

    assert not issubclass(VigilMiddleware, BaseHTTPMiddleware)
    assert asyncio.iscoroutinefunction(VigilMiddleware.__call__)


def test_bad_request_id_header_name() -> None:
    with pytest.raises(ValueError, match="request_id_header"):
        VigilMiddleware(lambda s, r, se: None, request_id_header="", metrics=HttpMetrics(None))  # type: ignore[arg-type,return-value]


def test_wall_clock_not_used() -> None:
    # durations come from perf_counter; a sanity check that the module does not import time.time
    import vigil.agent.asgi as module

    assert not hasattr(module, "time") or module.time is not time.time
