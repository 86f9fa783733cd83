"""The README's promise: `vigil demo` opens onto a populated overview.

Runs ``python -m vigil demo`` on free ports with a temporary data dir, signs in with
the password it prints, and checks the Overview: the APIs it calls give the shop's job
a non-zero request rate, and in chromium the shop's service row shows that rate
(screenshot: tests/ui/artifacts/demo-overview.png).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "ui" / "artifacts"
JOB = "demo-shop"
PASSWORD_LINE = re.compile(r"^vigil: sign in as admin with password (\S+)", re.MULTILINE)
# What overview.js asks for its Services table (the same expressions and range).
RATE = "sum by (job) (rate(http_requests_total[5m]))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(what: str, check: Callable[[], Any], timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@dataclass
class Demo:
    server: str
    password: str
    log: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    server_port = _free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil",
                "demo",
                "--port",
                str(_free_port()),
                "--rate",
                "40",
                "--duration",
                "90",  # a bound in case the test dies; it is stopped long before
                "--server-listen",
                f"127.0.0.1:{server_port}",
                "--scrape-interval",
                "1s",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:

        def password() -> str | None:
            assert proc.poll() is None, log.read_text()
            m = PASSWORD_LINE.search(log.read_text(errors="replace"))
            return m.group(1) if m else None

        secret = _poll("the printed admin password", password, 20, log)
        yield Demo(f"http://127.0.0.1:{server_port}", secret, log)
    finally:
        proc.terminate()
        assert proc.wait(20) == 0, log.read_text()[-3000:]


def test_the_demo_opens_onto_a_populated_overview(demo: Demo) -> None:
    with httpx.Client(base_url=demo.server, timeout=10) as c:

        def ready() -> bool:
            try:
                return c.get("/-/ready").status_code == 200
            except httpx.HTTPError:
                return False

        _poll("the vigil server", ready, 20, demo.log)

        def shop_rate() -> float:
            # The overview's own calls: the targets, and the rate by job over the last hour.
            targets = c.get("/api/v1/targets", params={"state": "active"}).json()["data"]
            health = {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]}
            if health.get(JOB) != "up":
                return 0.0
            end = int(time.time())
            r = c.post(
                "/api/v1/query_range",
                data={"query": RATE, "start": end - 3600, "end": end, "step": 60},
            )
            assert r.status_code == 200, r.text
            by_job = {s["metric"].get("job"): s["values"] for s in r.json()["data"]["result"]}
            values = by_job.get(JOB) or [[0, "0"]]
            return float(values[-1][1])

        rate = _poll("a non-zero request rate of the shop", shop_rate, 25, demo.log)
        assert rate > 0

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            errors: list[str] = []

            def console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    errors.append(msg.text)

            page.on("console", console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(15_000)
            page.goto(demo.server + "/")
            page.wait_for_url(re.compile(r"/login\?next=/$"))
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", demo.password)
            page.click("button[type=submit]")
            page.wait_for_url(demo.server + "/")
            row = page.locator(f'#ov-services tr[data-job="{JOB}"]')
            row.wait_for()

            def shown() -> dict[str, Any] | None:
                services = page.evaluate("() => window.vigilOverview.services")
                shop = next((s for s in services if s["job"] == JOB), None)
                return shop if shop and shop["rate"] else None

            deadline = time.monotonic() + 20
            shop = shown()
            while shop is None and time.monotonic() < deadline:
                page.wait_for_timeout(200)
                shop = shown()
            assert shop is not None, page.evaluate("() => window.vigilOverview")
            assert page.evaluate("() => document.body.dataset.ready") == "1"
            assert shop["rate"] > 0
            assert shop["up"] == shop["total"] == 1
            assert shop["status"] in ("ok", "warn", "bad")  # a colour, not "unknown"
            rate_cell = row.locator("td.metric .val").first.inner_text()
            assert re.fullmatch(r"[0-9.]+/(s|min)", rate_cell), rate_cell
            assert rate_cell != "0/s"
            assert row.locator("td.metric svg").count() >= 1  # the sparklines
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "demo-overview.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
