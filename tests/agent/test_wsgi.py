"""VigilWSGIMiddleware: Flask under a real gunicorn over loopback, plus direct WSGI calls."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from server_process import ServerProcess, gunicorn_server, sample

from vigil.agent.context import get_request_id
from vigil.agent.endpoints import Endpoints
from vigil.agent.http_metrics import HttpMetrics
from vigil.agent.routes import ENVIRON_ROUTE_KEY, UNMATCHED
from vigil.agent.wsgi import VigilWSGIMiddleware, environ_headers

HEX32 = re.compile(r"[0-9a-f]{32}")


# --------------------------------------------------------------------- Flask under gunicorn


@pytest.fixture(scope="module")
def flask_server() -> Iterator[ServerProcess]:
    with gunicorn_server("http_apps:flask_app()", workers=2) as server:
        yield server


def test_flask_under_gunicorn(flask_server: ServerProcess) -> None:
    n = 40
    pids = set()
    # a new connection per request, so both workers get requests
    for i in range(n):
        response = httpx.get(
            f"{flask_server.base_url}/users/{i}",
            headers={"X-Request-ID": f"flask-{i}"},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == f"flask-{i}"
        assert response.json()["request_id"] == f"flask-{i}"
        pids.add(response.json()["pid"])
    with httpx.Client(base_url=flask_server.base_url, timeout=10) as client:
        bad = client.get("/users/1", headers={"X-Request-ID": "x" * 129})
        assert HEX32.fullmatch(bad.headers["X-Request-ID"])
        assert client.get("/nowhere/1").status_code == 404
        assert client.get("/missing/bob").status_code == 404
        assert client.get("/boom").status_code == 500
        assert client.post("/echo", content=b"hello").text == "hellohello"
        assert len(client.get("/stream").content) == 1000
        assert client.get("/health").json()["status"] == "pass"
        text = client.get("/metrics").text

    def total(route: str, status: str, method: str = "GET") -> float | None:
        return sample(
            text, "http_requests_total", {"method": method, "route": route, "status": status}
        )

    # every worker's requests are summed in the exposition (multiprocess mode)
    assert total("/users/{user_id}", "200") == n + 1
    assert total(UNMATCHED, "404") == 1
    assert total("/missing/{name}", "404") == 1
    assert total("/boom", "500") == 1
    assert total("/echo", "200", "POST") == 1
    exc = {"method": "GET", "route": "/boom", "exception": "RuntimeError"}
    assert sample(text, "http_exceptions_total", exc) == 1
    sizes = {"method": "POST", "route": "/echo"}
    assert sample(text, "http_request_size_bytes_sum", sizes) == 5
    assert sample(text, "http_response_size_bytes_sum", sizes) == 10
    stream = {"method": "GET", "route": "/stream"}
    assert sample(text, "http_response_size_bytes_sum", stream) == 1000
    assert sample(text, "http_requests_in_progress", {"method": "GET"}) == 0
    assert 'route="/metrics"' not in text
    assert len(pids) >= 1

    record = flask_server.wait_for_log(
        lambda r: r.get("logger") == "vigil.access" and r.get("request_id") == "flask-3"
    )
    assert record["route"] == "/users/{user_id}"
    assert record["status"] == 200
    assert record["path"] == "/users/3"
    boom = flask_server.wait_for_log(
        lambda r: r.get("logger") == "vigil.access" and r.get("route") == "/boom"
    )
    assert boom["level"] == "ERROR"
    assert boom["exception"]["type"] == "RuntimeError"


# --------------------------------------------------------------------- direct WSGI calls


def _environ(path: str = "/p", method: str = "GET", **extra: Any) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
    }
    environ.update(extra)
    return environ


class _Call:
    def __init__(self, app: Any, environ: dict[str, Any]) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            self.status, self.headers = status, headers
            return self.written.append

        self.result = app(environ, start_response)

    def finish(self) -> bytes:
        try:
            return b"".join(self.result)
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_finished_on_close_with_streamed_body(registry: CollectorRegistry) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"abc"
            yield b"defg"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ[ENVIRON_ROUTE_KEY] = "/p/{x}"
        assert get_request_id() == "given-id"
        start_response("201 Created", [("Content-Type", "text/plain")])
        return Body()

    mw = VigilWSGIMiddleware(app, metrics=HttpMetrics(registry), log_requests=False)
    call = _Call(mw, _environ(HTTP_X_REQUEST_ID="given-id", CONTENT_LENGTH="12"))
    # not finished before the server closes the iterable
    assert _value(registry, "http_requests_in_progress", method="GET") == 1
    assert (
        _value(registry, "http_requests_total", method="GET", route="/p/{x}", status="201") is None
    )
    assert call.finish() == b"abcdefg"
    assert closed == [True]
    assert ("X-Request-ID", "given-id") in call.headers
    assert _value(registry, "http_requests_total", method="GET", route="/p/{x}", status="201") == 1
    assert _value(registry, "http_response_size_bytes_sum", method="GET", route="/p/{x}") == 7
    assert _value(registry, "http_request_size_bytes_sum", method="GET", route="/p/{x}") == 12
    assert _value(registry, "http_requests_in_progress", method="GET") == 0
    assert get_request_id() is None


def test_write_callable_counted_and_close_idempotent(registry: CollectorRegistry) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        write = start_response("200 OK", [])
        write(b"12345")
        return [b"678"]

    mw = VigilWSGIMiddleware(app, metrics=HttpMetrics(registry), log_requests=False)
    call = _Call(mw, _environ())
    assert call.written == [b"12345"]
    call.finish()
    call.result.close()
    assert _value(registry, "http_requests_total", method="GET", route=UNMATCHED, status="200") == 1
    assert _value(registry, "http_response_size_bytes_sum", method="GET", route=UNMATCHED) == 8


def test_exception_from_app_recorded_and_reraised(registry: CollectorRegistry) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise ZeroDivisionError("x")

    mw = VigilWSGIMiddleware(
        app, metrics=HttpMetrics(registry), log_requests=False, route_resolver=lambda e: "/fixed"
    )
    with pytest.raises(ZeroDivisionError):
        _Call(mw, _environ(method="DELETE"))
    assert (
        _value(registry, "http_requests_total", method="DELETE", route="/fixed", status="500") == 1
    )
    assert (
        _value(
            registry,
            "http_exceptions_total",
            method="DELETE",
            route="/fixed",
            exception="ZeroDivisionError",
        )
        == 1
    )
    assert _value(registry, "http_requests_in_progress", method="DELETE") == 0


def test_endpoints_and_exclusions(registry: CollectorRegistry) -> None:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"app"]

    mw = VigilWSGIMiddleware(
        app,
        metrics=HttpMetrics(registry),
        endpoints=Endpoints(None, metrics_registry=registry),
        exclude_paths=["/static"],
        log_requests=False,
    )
    metrics = _Call(mw, _environ("/metrics"))
    assert metrics.status == "200 OK"
    assert b"# TYPE http_requests_total counter" in metrics.finish()
    live = _Call(mw, _environ("/health/live"))
    assert live.status.startswith("200")
    assert _Call(mw, _environ("/health/nope")).status.startswith("404")
    assert _Call(mw, _environ("/static/app.js")).finish() == b"app"
    assert calls == ["/static/app.js"]
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": UNMATCHED, "status": "200"}
        )
        is None
    )


def test_finish_log_line_carries_request_id(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.rid = get_request_id()
            records.append(record)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("404 Not Found", [])
        return [b"no"]

    handler = Keep()
    logger = logging.getLogger("vigil.access")
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="vigil.access"):
            _Call(
                VigilWSGIMiddleware(app, metrics=HttpMetrics(registry)),
                _environ(HTTP_X_REQUEST_ID="r-1"),
            ).finish()
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert record.rid == "r-1"  # type: ignore[attr-defined]
    assert record.__dict__["status"] == 404
    assert record.__dict__["route"] == UNMATCHED
    assert record.getMessage().startswith("GET <unmatched> 404 ")


def test_environ_headers() -> None:
    headers = environ_headers(
        {
            "HTTP_AUTHORIZATION": "Bearer x",
            "CONTENT_TYPE": "text/plain",
            "CONTENT_LENGTH": "",
            "PATH_INFO": "/",
        }
    )
    assert headers == {"authorization": "Bearer x", "content-type": "text/plain"}


def test_flask_in_process(registry: CollectorRegistry) -> None:
    from flask import Flask

    from vigil.agent.setup import instrument

    app = Flask("t")

    @app.get("/a/<int:x>/<path:rest>")
    def a(x: int, rest: str) -> str:
        return f"{x}:{rest}"

    @app.before_request
    def short_circuit() -> str | None:
        from flask import request

        return "early" if request.args.get("early") else None

    obs = instrument(app, registry=registry, logging=False)
    assert instrument(app, registry=registry, logging=False) is obs
    client = app.test_client()
    assert client.get("/a/1/b/c", buffered=True).text == "1:b/c"
    assert client.get("/a/1/b/c?early=1", buffered=True).text == "early"  # our hook ran first
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/a/{x}/{rest}", "status": "200"}
        )
        == 2
    )
