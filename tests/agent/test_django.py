"""VigilDjangoMiddleware under real servers: gunicorn (WSGI, sync) and uvicorn (ASGI, async)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import CollectorRegistry
from server_process import ServerProcess, gunicorn_server, sample, uvicorn_server

from vigil.agent.django import DjangoConfig
from vigil.agent.routes import UNMATCHED

HEX32 = re.compile(r"[0-9a-f]{32}")


def _servers() -> dict[str, AbstractContextManager[ServerProcess]]:
    env = {"DJANGO_SETTINGS_MODULE": "django_project"}
    return {
        "wsgi": gunicorn_server("django_project:wsgi()", env=env),
        "asgi": uvicorn_server("django_project:asgi", env=env),
    }


@pytest.fixture(params=["wsgi", "asgi"])
def django_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    with _servers()[request.param] as server:
        yield server


def test_django_request_tracking(django_server: ServerProcess) -> None:
    with httpx.Client(base_url=django_server.base_url, timeout=10) as client:
        ok = client.get("/api/users/5/", headers={"X-Request-ID": "dj-1"})
        assert ok.json() == {"id": 5, "request_id": "dj-1"}
        assert ok.headers["X-Request-ID"] == "dj-1"
        generated = client.get("/api/async-users/6/", headers={"X-Request-ID": "bad id"})
        assert HEX32.fullmatch(generated.headers["X-Request-ID"])
        assert generated.json()["request_id"] == generated.headers["X-Request-ID"]
        assert client.get("/articles/2024/").text == "2024"
        assert client.get("/nothing/here/").status_code == 404
        assert client.get("/boom/").status_code == 500
        assert client.post("/echo/", content=b"abc").content == b"abcabc"
        assert client.get("/stream/").content == b"z" * 700
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "pass"
        assert client.post("/health/always/run").status_code == 401
        run = client.post("/health/always/run", headers={"Authorization": "Bearer tok"})
        assert run.status_code == 200
        text = client.get("/metrics").text

    def total(route: str, status: str, method: str = "GET") -> float | None:
        return sample(
            text, "http_requests_total", {"method": method, "route": route, "status": status}
        )

    assert total("/api/users/{pk}/", "200") == 1
    assert total("/api/async-users/{pk}/", "200") == 1
    assert total("/articles/{year}/", "200") == 1
    assert total(UNMATCHED, "404") == 1
    assert total("/boom/", "500") == 1
    assert total("/echo/", "200", "POST") == 1
    exc = {"method": "GET", "route": "/boom/", "exception": "KeyError"}
    assert sample(text, "http_exceptions_total", exc) == 1
    echo = {"method": "POST", "route": "/echo/"}
    assert sample(text, "http_request_size_bytes_sum", echo) == 3
    assert sample(text, "http_response_size_bytes_sum", echo) == 6
    stream = {"method": "GET", "route": "/stream/"}
    assert sample(text, "http_response_size_bytes_sum", stream) == 700
    assert sample(text, "http_requests_in_progress", {"method": "GET"}) == 0
    assert 'route="/health' not in text

    record = django_server.wait_for_log(
        lambda r: r.get("logger") == "vigil.access" and r.get("request_id") == "dj-1"
    )
    assert record["route"] == "/api/users/{pk}/"
    assert record["status"] == 200
    assert record["path"] == "/api/users/5/"


def test_config_defaults() -> None:
    config = DjangoConfig(None)
    assert config.metrics_path == "/metrics"
    assert config.exclude_paths == (frozenset({"/metrics", "/health"}), ("/metrics/", "/health/"))
    assert config.health is None
    assert config.log_requests is True


def test_config_accepts_objects(registry: CollectorRegistry) -> None:
    config = DjangoConfig({"registry": registry, "exclude_paths": ["/x"], "log_requests": False})
    assert config.registry is registry
    assert config.exclude_paths == (frozenset({"/x"}), ("/x/",))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"metrics_pth": "/m"}, r"unknown key\(s\) 'metrics_pth'"),
        ({"log_requests": "yes"}, r"settings.VIGIL\['log_requests'\]: expected True or False"),
        ({"exclude_paths": "/metrics"}, r"settings.VIGIL\['exclude_paths'\]: expected a list"),
        ({"exclude_paths": ["metrics"]}, r"'metrics' is not a path"),
        ({"registry": 3}, r"settings.VIGIL\['registry'\]: expected a CollectorRegistry"),
        ({"health": "no.such.module.HEALTH"}, r"settings.VIGIL\['health'\]: cannot import"),
        ({"metrics_path": ""}, r"settings.VIGIL\['metrics_path'\]: expected a non-empty string"),
        ([1, 2], r"settings.VIGIL: expected a dict, got list"),
    ],
)
def test_config_errors_name_the_key(raw: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        DjangoConfig(raw)
