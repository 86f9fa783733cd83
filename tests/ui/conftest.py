"""A real vigil UI for the tests: the UI's routes in front of the API app, over a MemoryStorage
with data, behind AccessControl, served by uvicorn on a loopback port in a thread."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from vigil.api import ApiOptions, create_app
from vigil.api.query import QueryOptions
from vigil.api.status import StatusOptions
from vigil.api.targets import ActiveTarget, DroppedTarget
from vigil.model.labels import Labels
from vigil.storage import MemoryStorage
from vigil.ui import UI, Role, UIOptions, create_ui

ADMIN_PASSWORD = "admin-secret-pw"
PASSWORDS = {"admin": ADMIN_PASSWORD, "viv": "viewer-secret", "eddie": "editor-secret"}
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '"><img src=x onerror="window.__xss=2">'
STEP_S = 15
HISTORY_S = 3 * 3600


class Targets:
    def active_targets(self) -> list[ActiveTarget]:
        return [
            ActiveTarget(
                {"__address__": "h:1"},
                {"instance": "h:1", "job": "api", "note": XSS_IMG},
                "api",
                "http://h:1/metrics",
                "http://h:1/metrics",
                "up",
                last_scrape=time.time() - 3,
                last_scrape_duration=0.004,
                scrape_interval="15s",
                scrape_timeout="10s",
            ),
            ActiveTarget(
                {"__address__": "h:2"},
                {"instance": "h:2", "job": "api"},
                "api",
                "http://h:2/metrics",
                "http://h:2/metrics",
                "down",
                last_error=f"Get http://h:2/metrics: connection refused {XSS_SCRIPT}",
                last_scrape=time.time() - 5,
            ),
        ]

    def dropped_targets(self) -> list[DroppedTarget]:
        return []


def populate(store: MemoryStorage, now_s: int) -> None:
    """Counters and gauges every 15 s over the last three hours, and a series with HTML labels."""
    app = store.appender()
    series = [
        Labels(__name__="demo_requests_total", job="api", instance=f"h:{i}", code=code)
        for i in (1, 2, 3)
        for code in ("200", "500")
    ]
    series += [Labels(__name__="demo_temperature", room=r) for r in ("attic", "cellar", "hall")]
    series.append(Labels(__name__="xss_metric", evil=XSS_SCRIPT, img=XSS_IMG))
    start = now_s - HISTORY_S
    for k, t in enumerate(range(start, now_s + 1, STEP_S)):
        for j, labels in enumerate(series):
            v = float(k * (j + 1)) if labels.metric_name.endswith("_total") else 20.0 + j + k % 7
            app.append(0, labels, t * 1000, v)
    app.commit()


@dataclass
class Site:
    """A running server: its URL, its UI (users, sessions...) and what was announced."""

    url: str
    ui: UI
    store: MemoryStorage
    api: Starlette
    announced: list[str] = field(default_factory=list)

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False, **kw)

    def login(self, user: str, password: str | None = None) -> tuple[httpx.Client, str]:
        """A client signed in as *user*, and the session's CSRF token."""
        c = self.client()
        r = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        assert token, r.text
        r = c.post(
            "/login",
            data={
                "username": user,
                "password": password or PASSWORDS[user],
                "csrf_token": token.group(1),
                "next": "/",
            },
        )
        assert r.status_code == 303, (r.status_code, r.text)
        me = c.get("/api/v1/auth/me").json()["data"]
        return c, me["csrfToken"]


@contextlib.contextmanager
def running_site(tmp: Path, **ui_kw: Any) -> Iterator[Site]:
    store = MemoryStorage()
    populate(store, int(time.time()))
    announced: list[str] = []
    opts = UIOptions(
        data_dir=tmp,
        environ={"VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD},
        announce=announced.append,
        **ui_kw,
    )
    ui = create_ui(opts)
    for name, role in (("viv", Role.VIEWER), ("eddie", Role.EDITOR)):
        if ui.users.get(name) is None:
            ui.users.add(name, PASSWORDS[name], role)

    async def reload() -> None:
        return None

    from .alerting_site import alerting_and_health_routes

    api = create_app(
        ApiOptions(
            store,
            routes=alerting_and_health_routes(store, Targets()),
            targets=Targets(),
            reload=reload,
            query=QueryOptions(queryable=store),
            status=StatusOptions(
                queryable=store, flags={"storage.tsdb.path": "data/", "web.listen": ":9090"}
            ),
        )
    )
    app = ui.wrap(api)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    server.install_signal_handlers = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield Site(f"http://127.0.0.1:{port}", ui, store, api, announced)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("ui")) as s:
        yield s
