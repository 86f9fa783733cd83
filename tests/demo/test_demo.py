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
            yield base, log_path
        finally:
            proc.terminate()
            proc.wait(10)


def test_demo_serves_live_metrics_health_and_json_logs(demo) -> None:  # type: ignore[no-untyped-def]
    base, log_path = demo
    time.sleep(2.0)  # let the load generator send ~100 requests
    status, headers, body = _get(base + "/metrics")
    assert status == 200
    text = body.decode()
    assert 'http_requests_total{method="GET",route="/users/{user_id}"' in text
    assert 'route="<unmatched>"' in text  # /no/such/page collapsed to one value
    assert 'status="500"' in text  # /error
    assert "shop_orders_total" in text  # business metric from MetricsCollector

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
