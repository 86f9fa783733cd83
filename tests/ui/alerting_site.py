"""A vigil UI with alerting and health for the Overview, Alerts and Health page tests.

The UI's routes in front of the API app (query, targets, rules, Alertmanager v2,
history, health) over a MemoryStorage holding an hour of HTTP metrics, with a
real rule manager and notifier (vigil.alerting.Alerting) whose rule fires, and a
real instrumented app (vigil.agent on Starlette, served by uvicorn on a loopback
port) as a scrape target with health checks.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.agent.health.registry import CheckResult
from vigil.agent.setup import instrument
from vigil.alerting import Alerting, AlertingSettings
from vigil.api import ApiOptions, create_app
from vigil.api.alertmanager import AlertmanagerApi, alertmanager_routes, history_routes
from vigil.api.health import health_routes
from vigil.api.query import QueryOptions
from vigil.api.rules import rules_routes
from vigil.api.targets import ActiveTarget, DroppedTarget
from vigil.model.labels import Labels
from vigil.storage import MemoryStorage
from vigil.ui import UI, Role, UIOptions, create_ui
from vigil.ui.health_page import HEALTH_RUN_RULE

from .conftest import ADMIN_PASSWORD, PASSWORDS

HEALTH_TOKEN = "app-admin-token-123"
XSS_LABEL = '"><img src=x onerror="window.__xss=5">'
XSS_ANNOTATION = "<script>window.__xss=6</script>"
XSS_CHECK = '<img src=x onerror="window.__xss=7">'

RULES = f"""
groups:
  - name: shop
    interval: 1s
    rules:
      - alert: ShopErrors
        expr: sum by (job) (rate(http_requests_total{{status=~"5.."}}[5m])) > 0
        labels:
          severity: critical
          note: '{XSS_LABEL}'
        annotations:
          summary: 'errors on {{{{ $labels.job }}}} {XSS_ANNOTATION}'
      - alert: SlowBurn
        expr: vector(1)
        for: 1h
        labels:
          severity: warning
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ShopApp:
    """The instrumented app: checks ``db`` (passes, counts its runs) and ``cache`` (fails)."""

    url: str
    address: str
    runs: list[int]


def _shop_app() -> tuple[Starlette, list[int]]:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("shop")

    app = Starlette(routes=[Route("/", home)])
    inst = instrument(
        app,
        registry=CollectorRegistry(),
        logging=False,
        log_requests=False,
        admin_token=HEALTH_TOKEN,
        service_name="shop",
    )
    runs: list[int] = []

    def db() -> CheckResult:
        runs.append(1)
        return CheckResult.passed(f"ok, run {len(runs)}", component_type="datastore")

    def cache() -> CheckResult:
        return CheckResult.failed(f"cannot connect to cache {XSS_CHECK}")

    inst.health.add("db", db)
    inst.health.add("cache", cache, critical=False)
    return app, runs


@contextlib.contextmanager
def serve(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """*app* served by uvicorn on a loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan)
    )
    server.install_signal_handlers = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Targets:
    """The server's scrape targets: the shop app (up), a shop instance that is down, a batch job."""

    def __init__(self, shop: str, down: str, batch: str) -> None:
        self.shop, self.down, self.batch = shop, down, batch

    def active_targets(self) -> list[ActiveTarget]:
        def target(job: str, address: str, health: str, error: str = "") -> ActiveTarget:
            return ActiveTarget(
                {"__address__": address},
                {"instance": address, "job": job},
                job,
                f"http://{address}/metrics",
                f"http://{address}/metrics",
                health,
                last_error=error,
                last_scrape=time.time() - 2,
                last_scrape_duration=0.003,
                scrape_interval="15s",
                scrape_timeout="10s",
            )

        return [
            target("shop", self.shop, "up"),
            target("shop", self.down, "down", "connection refused"),
            target("batch", self.batch, "up"),
        ]

    def dropped_targets(self) -> list[DroppedTarget]:
        return []


def populate(store: MemoryStorage, now_s: int, shop: str, down: str, batch: str) -> None:
    """An hour of samples every 15 s: 4 req/s answered 200 and 0.2 req/s answered 500 (so an
    error rate of 4.76%), latency buckets putting the p95 at 99.75 ms; up; health checks of the
    down instance (disk failing, queue passing); process metrics of vigil itself."""
    app = store.appender()
    start = now_s - 3600
    base = {"job": "shop", "instance": shop, "method": "GET", "route": "/"}
    for t in range(start, now_s + 1, 15):
        el = t - start
        ms = t * 1000
        app.append(0, Labels(__name__="http_requests_total", status="200", **base), ms, 4.0 * el)
        app.append(0, Labels(__name__="http_requests_total", status="500", **base), ms, 0.2 * el)
        for le, per_s in (("0.1", 4.0), ("0.25", 4.2), ("1.0", 4.2), ("+Inf", 4.2)):
            app.append(
                0,
                Labels(__name__="http_request_duration_seconds_bucket", le=le, **base),
                ms,
                per_s * el,
            )
        for inst, job, v in ((shop, "shop", 1.0), (down, "shop", 0.0), (batch, "batch", 1.0)):
            app.append(0, Labels(__name__="up", job=job, instance=inst), ms, v)
        for check, v in (("disk", 0.0), ("queue", 1.0)):
            lab = {"job": "shop", "instance": down, "check": check}
            app.append(0, Labels(__name__="vigil_health_check_status", **lab), ms, v)
            app.append(
                0, Labels(__name__="vigil_health_check_duration_seconds_count", **lab), ms, el / 15
            )
            app.append(
                0,
                Labels(__name__="vigil_health_check_duration_seconds_sum", **lab),
                ms,
                el / 15 * 0.002,
            )
        vig = {"job": "vigil", "instance": "localhost:9090"}
        app.append(0, Labels(__name__="process_cpu_seconds_total", **vig), ms, 0.25 * el)
        app.append(0, Labels(__name__="process_resident_memory_bytes", **vig), ms, 96 * 2**20)
    app.commit()


class WithAlerting:
    """Starts and stops the alerting stack on the server's lifespan (in uvicorn's loop)."""

    def __init__(self, app: ASGIApp, alerting: Alerting) -> None:
        self.app = app
        self.alerting = alerting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.alerting.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.alerting.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass
class AlertSite:
    url: str
    ui: UI
    store: MemoryStorage
    alerting: Alerting
    shop: ShopApp
    down: str

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False, **kw)

    def login(self, user: str) -> tuple[httpx.Client, str]:
        """A client signed in as *user*, and the session's CSRF token."""
        c = self.client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token
        r = c.post(
            "/login",
            data={
                "username": user,
                "password": PASSWORDS[user],
                "csrf_token": token.group(1),
                "next": "/",
            },
        )
        assert r.status_code == 303, r.text
        return c, c.get("/api/v1/auth/me").json()["data"]["csrfToken"]

    def wait_firing(self, name: str, timeout: float = 20.0) -> None:
        c, _ = self.login("admin")
        try:
            deadline = time.monotonic() + timeout
            while True:
                alerts = c.get("/api/v2/alerts").json()
                if any(a["labels"].get("alertname") == name for a in alerts):
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} did not fire: {alerts}")
                time.sleep(0.1)
        finally:
            c.close()


@contextlib.contextmanager
def alert_site(tmp: Path) -> Iterator[AlertSite]:
    shop_app, runs = _shop_app()
    with serve(shop_app, lifespan="on") as shop_url:
        shop_addr = shop_url.removeprefix("http://")
        down, batch = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        store = MemoryStorage()
        populate(store, int(time.time()), shop_addr, down, batch)
        rules = tmp / "rules.yml"
        rules.write_text(RULES)
        alerting = Alerting(
            AlertingSettings(rule_files=[str(rules)], evaluation_interval_s=1.0),
            storage=store,
        )
        am_api = AlertmanagerApi(
            lambda: alerting.notifier,
            receivers=alerting.receivers,
            config_text=alerting.config_text,
            version="test",
            put_alerts=alerting.put_alerts,
        )
        targets = Targets(shop_addr, down, batch)
        api = create_app(
            ApiOptions(
                store,
                targets=targets,
                query=QueryOptions(queryable=store),
                routes=(
                    lambda wrap: list(rules_routes(alerting.rules, wrap)),
                    lambda wrap: list(alertmanager_routes(am_api)),
                    lambda wrap: list(history_routes(alerting.history, wrap, time.time)),
                    lambda wrap: list(
                        health_routes(
                            targets,
                            wrap,
                            queryable=store,
                            admin_token=HEALTH_TOKEN,
                            timeout_s=2.0,
                        )
                    ),
                ),
            )
        )
        ui = create_ui(
            UIOptions(
                data_dir=tmp,
                environ={"VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD},
                announce=lambda _: None,
                extra_rules=(HEALTH_RUN_RULE,),
            )
        )
        for name, role in (("viv", Role.VIEWER), ("eddie", Role.EDITOR)):
            if ui.users.get(name) is None:
                ui.users.add(name, PASSWORDS[name], role)
        with serve(WithAlerting(ui.wrap(api), alerting), lifespan="on") as url:
            yield AlertSite(url, ui, store, alerting, ShopApp(shop_url, shop_addr, runs), down)


def alerting_and_health_routes(
    store: MemoryStorage, targets: Any, *, admin_token: str | None = None
) -> tuple[Any, ...]:
    """The alerting (rules, Alertmanager v2, history) and health API routes over *store*, with
    no rules: for a test site whose pages call those APIs (``ApiOptions(routes=...)``)."""
    alerting = Alerting(AlertingSettings(), storage=store)
    am_api = AlertmanagerApi(
        lambda: alerting.notifier,
        receivers=alerting.receivers,
        config_text=alerting.config_text,
        version="test",
        put_alerts=alerting.put_alerts,
    )
    return (
        lambda wrap: list(rules_routes(alerting.rules, wrap)),
        lambda wrap: list(alertmanager_routes(am_api)),
        lambda wrap: list(history_routes(alerting.history, wrap, time.time)),
        lambda wrap: list(
            health_routes(targets, wrap, queryable=store, admin_token=admin_token, timeout_s=1.0)
        ),
    )
