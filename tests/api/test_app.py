"""The app's envelope, lifecycle endpoints, /metrics and /api/v1/targets."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Gauge

from vigil.api import ApiOptions, create_app
from vigil.storage import MemoryStorage

from .conftest import serve
from .test_targets import Source


def test_every_error_has_the_same_envelope(client: httpx.Client) -> None:
    for method, path, status in [
        ("GET", "/api/v1/nope", 404),
        ("GET", "/api/v1/write", 405),
        ("GET", "/api/v1/targets?state=x", 400),
        ("POST", "/api/v1/write", 400),
    ]:
        r = client.request(method, path, content=b"\x01" if method == "POST" else None)
        assert r.status_code == status, (path, r.text)
        body = r.json()
        assert set(body) == {"status", "errorType", "error"}
        assert body["status"] == "error"
        assert body["error"]


def test_health_ready_and_not_ready(store: MemoryStorage) -> None:
    ready = False
    opts = ApiOptions(store, ready=lambda: ready)
    with serve(create_app(opts)) as c:
        assert c.get("/-/healthy").status_code == 200
        assert c.get("/-/ready").status_code == 503
        r = c.post("/api/v1/write", content=b"")
        assert (r.status_code, r.json()["errorType"]) == (503, "unavailable")
        assert r.headers["Retry-After"] == "5"
        ready = True
        assert c.get("/-/ready").text == "Vigil Server is Ready.\n"


def test_reload_success_and_failure(store: MemoryStorage) -> None:
    calls: list[str] = []
    fail = False

    async def reload() -> None:
        calls.append("reload")
        if fail:
            raise ValueError("vigil.yml:3:5: scrape_configs[0].job_name: missing")

    with serve(create_app(ApiOptions(store, reload=reload))) as c:
        assert c.post("/-/reload").json() == {"status": "success", "data": {"reloaded": True}}
        fail = True
        r = c.post("/-/reload")
        assert r.status_code == 400
        assert r.json()["error"] == (
            "failed to reload config: vigil.yml:3:5: scrape_configs[0].job_name: missing"
        )
    assert calls == ["reload", "reload"]
    with serve(create_app(ApiOptions(store))) as c:
        assert c.post("/-/reload").status_code == 404


def test_metrics_serves_the_given_registry_in_both_formats(store: MemoryStorage) -> None:
    reg = CollectorRegistry()
    Gauge("vigil_test_gauge", "A gauge.", registry=reg).set(3)
    with serve(create_app(ApiOptions(store, registry=reg))) as c:
        r = c.get("/metrics")
        assert r.headers["content-type"].startswith("text/plain")
        assert "vigil_test_gauge 3.0" in r.text
        assert "vigil_ingest_requests_total" in r.text or "vigil_ingest_requests" in r.text
        r = c.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        assert r.text.endswith("# EOF\n")


def test_targets_endpoint(store: MemoryStorage) -> None:
    with serve(create_app(ApiOptions(store, targets=Source()))) as c:
        r = c.get("/api/v1/targets")
        assert r.json()["status"] == "success"
        assert len(r.json()["data"]["activeTargets"]) == 2
        r = c.get("/api/v1/targets", params={"state": "active", "scrapePool": "a"})
        assert [t["scrapePool"] for t in r.json()["data"]["activeTargets"]] == ["a"]
