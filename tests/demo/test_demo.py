"""The README's main job: `vigil demo` serves an instrumented app and its load generator feeds it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    server_port = _free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil",
                "demo",
                "--port",
                str(port),
                "--rate",
                "50",
                "--duration",
                "60",
                "--server-listen",
                f"127.0.0.1:{server_port}",
                "--scrape-interval",
                "1s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                _get(base + "/health/live")
                break
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.1)
        try:
            yield base, log_path, f"http://127.0.0.1:{server_port}"
        finally:
            proc.terminate()
            assert proc.wait(20) == 0, log_path.read_text()


def test_demo_serves_live_metrics_health_and_json_logs(demo) -> None:  # type: ignore[no-untyped-def]
    base, log_path, _ = demo
    expected = [
        'http_requests_total{method="GET",route="/users/{user_id}"',
        'route="<unmatched>"',  # /no/such/page collapsed to one value
        'status="500"',  # /error
        "shop_orders_total",  # business metric from MetricsCollector
    ]
    # The load generator's mix is random: wait until every kind of request has been seen.
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        status, headers, body = _get(base + "/metrics")
        assert status == 200
        text = body.decode()
        if all(e in text for e in expected):
            break
        time.sleep(0.5)
    missing = [e for e in expected if e not in text]
    assert not missing, missing

    status, headers, body = _get(base + "/health")
    assert status in (200, 503)
    report = json.loads(body)
    assert headers["Content-Type"].startswith("application/health+json")
    assert {"postgres", "redis", "disk", "memory"} <= {k.split(":")[0] for k in report["checks"]}

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "vigil.access"]
    assert access, "no access log lines"
    assert all(line.get("request_id") for line in access)
    assert any(line.get("route") == "/users/{user_id}" for line in access)


def test_demo_rejects_a_bad_port() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vigil", "demo", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--port: 70000 is not a TCP port" in proc.stderr


def test_demo_runs_a_vigil_server_that_scrapes_the_app_and_itself(demo) -> None:  # type: ignore[no-untyped-def]
    base, log_path, server = demo
    deadline = time.monotonic() + 40
    health: dict[str, str] = {}
    targets: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        try:
            status, _, body = _get(server + "/api/v1/targets")
        except OSError:  # the server starts right after the app: not listening yet
            time.sleep(0.2)
            continue
        assert status == 200
        targets = json.loads(body)["data"]["activeTargets"]
        health = {t["scrapePool"]: t["health"] for t in targets}
        if health == {"vigil": "up", "demo-shop": "up"}:
            break
        time.sleep(0.2)
    assert health == {"vigil": "up", "demo-shop": "up"}, (targets, log_path.read_text()[-3000:])
    shop = next(t for t in targets if t["scrapePool"] == "demo-shop")
    assert shop["scrapeUrl"] == base + "/metrics"
    assert shop["labels"]["env"] == "demo"
    status, _, body = _get(server + "/metrics")
    assert status == 200
    assert b"vigil_scrape" in body or b"scrape" in body
    status, _, body = _get(server + "/-/ready")
    assert status == 200
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    ready = [line for line in lines if line.get("message") == "vigil demo serving"]
    assert ready
    assert ready[0]["vigil_server"] == server
