"""Embedded mode: a vigil server inside an instrumented app, served by a real uvicorn.

Everything runs for real on loopback: the app (FastAPI + ``vigil.instrument``), the
embedded server scraping it, its Python rules, the notifier delivering to a local webhook,
and the reverse proxy mounting the server's API under ``/vigil``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.test_server import _free_port, _wait
from tests.test_server_alerting import Webhook
from vigil.config.errors import ConfigError
from vigil.embedded import EmbeddedAlert, EmbeddedServer, VigilProxy, instrument_with_server

NOTIFIER = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
"""


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    w = Webhook()
    yield w
    w.close()


class AppServer:
    """A real uvicorn serving ``app`` (lifespan on) on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.url = f"http://{self.address}"
        config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: self.server.run(sockets=[self.sock]), daemon=True
        )

    def __enter__(self) -> AppServer:
        self.thread.start()
        _wait("the app to start", lambda: self.server.started or not self.thread.is_alive())
        assert self.server.started, "the app did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        assert not self.thread.is_alive()


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _sockets() -> int:
    """Open sockets of this process (from /proc, so nothing is missed)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


def _query(c: httpx.Client, url: str, expr: str) -> list[dict[str, Any]]:
    r = c.get(f"{url}/api/v1/query", params={"query": expr})
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["result"])


def _history(c: httpx.Client, url: str, name: str) -> list[dict[str, Any]]:
    r = c.get(f"{url}/api/vigil/v1/alerts/history", params={"alertname": name, "kind": "state"})
    assert r.status_code == 200, r.text
    return sorted(r.json()["data"], key=lambda e: float(e["time"]))


def test_an_instrumented_app_is_scraped_and_a_python_rule_alerts_end_to_end(
    tmp_path: Path, webhook: Webhook
) -> None:
    am = tmp_path / "alertmanager.yml"
    am.write_text(NOTIFIER.replace("{url}", webhook.url))
    queue = {"size": 0}

    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    before = _threads()
    server = instrument_with_server(
        app,
        mount_path="/vigil",
        instrument_options={"registry": CollectorRegistry(), "logging": False},
        scrape_interval="1s",
        evaluation_interval="1s",
        notifier_config=am,
    )
    backlog = server.alert(
        "QueueBacklog",
        lambda: queue["size"] > 5,
        severity="critical",
        cooldown=3,
        labels={"team": "shop"},
        annotations={"summary": "the queue is long"},
    )
    assert backlog.rule is None  # registered when the server starts
    assert not server.running

    with AppServer(app) as web, httpx.Client(timeout=10) as c:
        # The app's lifespan started the server; the first request tells it where the app is.
        assert server.running
        assert backlog.rule is not None
        assert server.app_address is None
        for i in range(3):
            assert c.get(f"{web.url}/orders/{i}").json() == {"id": i}
        _wait("the app's address", lambda: server.app_address == web.address)

        expr = 'sum(http_requests_total{job="app",route="/orders/{order_id}"})'

        def requests_seen() -> float:
            result = _query(c, server.url, expr)
            return float(result[0]["value"][1]) if result else 0.0

        assert _wait("the app's requests in the embedded store", lambda: requests_seen() >= 3)

        # Both jobs are scraped on their own schedules: wait until each has reported.
        def up() -> dict[str, str]:
            return {r["metric"]["job"]: r["value"][1] for r in _query(c, server.url, "up")}

        _wait("both jobs scraped", lambda: len(up()) == 2)
        assert up() == {"app": "1", "vigil": "1"}
        # The same API through the app, under /vigil (and those requests are not the app's).
        proxied = _query(c, f"{web.url}/vigil", expr)
        assert float(proxied[0]["value"][1]) >= 3
        routes = {r["metric"].get("route") for r in _query(c, server.url, "http_requests_total")}
        assert not any(str(r).startswith("/vigil") for r in routes), routes

        # The Python rule fires through the notifier into the webhook...
        queue["size"] = 10
        _wait("the firing notification", lambda: webhook.bodies)
        firing = webhook.bodies[0]
        assert firing["status"] == "firing"
        (alert,) = firing["alerts"]
        assert alert["labels"] == {
            "alertname": "QueueBacklog",
            "severity": "critical",
            "team": "shop",
        }
        assert alert["annotations"] == {"summary": "the queue is long"}
        active = c.get(f"{server.url}/api/v1/alerts").json()["data"]["alerts"]
        assert [(a["labels"]["alertname"], a["state"]) for a in active] == [
            ("QueueBacklog", "firing")
        ]
        rules = c.get(f"{server.url}/api/v1/rules").json()["data"]["groups"]
        assert [(g["name"], [r["name"] for r in g["rules"]]) for g in rules] == [
            ("python", ["QueueBacklog"])
        ]

        # ...resolves when the callable turns false...
        queue["size"] = 0
        _wait(
            "the resolved notification",
            lambda: any(b["status"] == "resolved" for b in webhook.bodies),
        )
        assert c.get(f"{server.url}/api/v1/alerts").json()["data"]["alerts"] == []

        # ...and, true again at once, stays quiet for the 3 s cooldown.
        queue["size"] = 10

        def refired() -> list[dict[str, Any]]:
            events = _history(c, server.url, "QueueBacklog")
            return events if [e["state"] for e in events].count("firing") >= 2 else []

        events = _wait("the alert firing again after its cooldown", refired, timeout=30)
        assert isinstance(events, list)
        states = [e["state"] for e in events if e["state"] != "pending"]
        assert states == ["firing", "resolved", "firing"]
        resolved_at = next(float(e["time"]) for e in events if e["state"] == "resolved")
        refired_at = [float(e["time"]) for e in events if e["state"] == "firing"][1]
        assert refired_at >= resolved_at + 3.0 - 1e-3, (resolved_at, refired_at)
        assert all(e["labels"]["team"] == "shop" for e in events)

    # The app's shutdown stopped the server: no thread of it is left.
    assert not server.running
    _wait("no threads left behind", lambda: _threads() <= before)
    gc.collect()  # an unclosed socket or transport would now warn (an error in this suite)


def test_start_errors_are_raised_in_the_callers_thread(tmp_path: Path) -> None:
    before = _threads()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = EmbeddedServer(listen=f"127.0.0.1:{port}")
        with pytest.raises(OSError, match=f"127.0.0.1:{port}: can't bind"):
            server.start()
        assert not server.running

    bad = tmp_path / "rules.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n")
    with pytest.raises(ConfigError) as err:
        EmbeddedServer(rule_files=[bad]).start()
    assert f"{bad}:5:" in err.value.format()

    broken_am = tmp_path / "alertmanager.yml"
    broken_am.write_text("route:\n  receiver: nowhere\nreceivers: []\n")
    with pytest.raises(ConfigError, match="nowhere"):
        EmbeddedServer(notifier_config=broken_am).start()

    _wait("no threads left behind", lambda: _threads() <= before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scrape_interval": "15 s"}, "scrape_interval='15 s'"),
        ({"evaluation_interval": 0}, "evaluation_interval=0"),
        ({"scrape_self": "http://127.0.0.1:8000/metrics"}, "host:port"),
        ({"scrape_self": "127.0.0.1:http"}, "not a number"),
        ({"listen": "nowhere"}, "listen"),
        ({"metrics_path": "metrics"}, "metrics_path"),
    ],
)
def test_bad_settings_say_which_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        EmbeddedServer(**kwargs)


def test_rules_register_from_any_thread_before_and_after_start() -> None:
    with EmbeddedServer(evaluation_interval="1s") as server, httpx.Client(timeout=10) as c:
        early = EmbeddedServer()  # registration before start is kept until start
        pending = early.alert("Early", lambda: True)
        assert pending.rule is None
        assert early.alerts() == [pending]

        handles: list[EmbeddedAlert] = []
        errors: list[BaseException] = []

        def register(i: int) -> None:
            try:
                handles.append(server.alert(f"Worker{i}", lambda: i, severity="info"))
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=register, args=(i,)) for i in range(1, 5)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
        assert errors == []
        assert all(h.rule is not None for h in handles)

        def firing() -> dict[str, str]:
            alerts = c.get(f"{server.url}/api/v1/alerts").json()["data"]["alerts"]
            return {a["labels"]["alertname"]: a["value"] for a in alerts}

        _wait("four firing alerts", lambda: len(firing()) == 4)
        assert firing() == {"Worker1": "1", "Worker2": "2", "Worker3": "3", "Worker4": "4"}

        broken = server.alert("Broken", lambda: 1 / 0)

        def broken_rule() -> dict[str, Any]:
            groups = c.get(f"{server.url}/api/v1/rules").json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"] if r["name"] == "Broken"]
            return rules[0] if rules and rules[0]["health"] != "unknown" else {}

        rule = _wait("the failing rule evaluated", broken_rule)
        assert isinstance(rule, dict)
        assert rule["health"] == "err"
        assert "ZeroDivisionError" in rule["lastError"]
        assert broken.rule is not None
        assert broken.rule.active_alerts() == []
        assert "Broken" not in firing()

        with pytest.raises(ValueError, match="already registered"):
            server.alert("Worker1", lambda: True)
        with pytest.raises(TypeError, match="callable"):
            server.alert("NotCallable", 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="negative"):
            server.alert("Negative", lambda: True, cooldown=-1)
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    assert not server.running
    server.stop()  # idempotent


def test_data_dir_keeps_samples_across_a_restart_and_nothing_leaks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    gc.collect()
    sockets, threads = _sockets(), _threads()
    port = _free_port()
    with httpx.Client(timeout=10) as c:
        with EmbeddedServer(data_dir=data, scrape_interval="1s", listen=f"127.0.0.1:{port}") as s:
            assert s.address == f"127.0.0.1:{port}"
            _wait("a scrape of itself", lambda: _query(c, s.url, 'up{job="vigil"}'))
        assert (data / "wal").is_dir()
        with pytest.raises(httpx.ConnectError):
            c.get(f"http://127.0.0.1:{port}/-/healthy")

        with EmbeddedServer(data_dir=data, scrape_interval="1h") as again:
            # scrape_interval 1h: what the query sees was written before the restart
            result = _query(c, again.url, 'count_over_time(up{job="vigil"}[10m])')
            assert result
            assert float(result[0]["value"][1]) >= 1
    gc.collect()
    _wait("no threads left behind", lambda: _threads() <= threads)
    _wait("no sockets left open", lambda: _sockets() <= sockets)


def test_the_proxy_mounts_the_api_under_a_prefix_with_the_apps_own_lifespan() -> None:
    server = EmbeddedServer(scrape_interval="1s")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server:
            yield

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)
    app.mount("/vigil", server.asgi_app())
    app.mount("/later", VigilProxy(lambda: None))

    with AppServer(app) as web, httpx.Client(timeout=10) as c:
        assert server.running
        assert c.get(f"{web.url}/hello").text == "hello"
        server.set_app_address(web.address)  # scrapes /metrics of the app (404 here: down)
        assert f'"{web.address}"' in server.config_text()

        # GET and POST go through; the body streams both ways.
        got = _query(c, f"{web.url}/vigil", "vector(1)")
        assert got[0]["value"][1] == "1"
        r = c.post(f"{web.url}/vigil/api/v1/query", data={"query": "vector(2) + 1"})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["result"][0]["value"][1] == "3"
        metrics = c.get(f"{web.url}/vigil/metrics")
        assert metrics.status_code == 200
        assert "vigil_build_info" in metrics.text
        health = c.get(f"{web.url}/vigil/-/healthy")
        assert health.status_code == 200

        # Redirects and cookies come back under the prefix.
        page = c.get(f"{web.url}/vigil/targets", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/vigil/login?next=")
        login = c.get(f"{web.url}/vigil/login")
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert "Path=/vigil/login" in cookie, cookie

        # Errors of the server pass through unchanged.
        bad = c.get(f"{web.url}/vigil/api/v1/query", params={"query": "sum("})
        assert bad.status_code == 400
        assert bad.json()["errorType"] == "bad_data"

        # No server behind a proxy: 503, saying so.
        down = c.get(f"{web.url}/later/api/v1/query")
        assert down.status_code == 503
        assert "not running" in down.text

        # The scrape of the app is reported (its /metrics is missing here).
        def app_target() -> list[dict[str, Any]]:
            targets = c.get(f"{server.url}/api/v1/targets").json()["data"]["activeTargets"]
            return [t for t in targets if t["labels"]["job"] == "app" and t["health"] != "unknown"]

        found = _wait("the app's target", app_target)
        assert isinstance(found, list)
        (target,) = found
        assert target["health"] == "down"
        assert "404" in target["lastError"]
    assert not server.running


def test_a_proxy_before_start_and_a_stopped_server_answer_503() -> None:
    server = EmbeddedServer()
    proxy = server.asgi_app()
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/vigil/api/v1/query",
        "root_path": "/vigil",
        "query_string": b"",
        "headers": [],
    }
    asyncio.run(proxy(scope, receive, send))
    assert sent[0]["status"] == 503
    with pytest.raises(ValueError, match="prefix"):
        server.asgi_app(prefix="vigil/")
