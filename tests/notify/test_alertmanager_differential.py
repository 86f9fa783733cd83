"""The real Alertmanager 0.25 and vigil's notifier, fed the same alertmanager.yml and alert stream.

Both send their webhooks to one recording server (told apart by User-Agent).
The deliveries must agree: the same groups, the same alerts in each with the
same statuses, the same resolved notifications, each within a second of the
other's. The stream covers grouping, a ``continue`` route, ``group_by: [...]``,
inhibition, a resolve, and ``send_resolved: false``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None, reason="prometheus-alertmanager not installed"
)


@dataclass(frozen=True)
class Delivery:
    at: float  # seconds since the stream started
    sender: str  # "alertmanager" or "vigil"
    path: str
    body: dict[str, Any]


class Recorder:
    """A webhook endpoint that keeps every request it gets."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.deliveries: list[Delivery] = []
        lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                agent = self.headers.get("user-agent", "").lower()
                sender = "alertmanager" if agent.startswith("alertmanager") else "vigil"
                with lock:
                    recorder.deliveries.append(
                        Delivery(
                            time.monotonic() - recorder.t0, sender, self.path, json.loads(body)
                        )
                    )
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 3s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['team=~"db|infra"']
      receiver: infra
      group_by: ['...']
inhibit_rules:
  - source_matchers: ['alertname="ServiceDown"']
    target_matchers: ['alertname="HighLatency"']
    equal: [service]
receivers:
  - name: default
    webhook_configs:
      - url: http://127.0.0.1:{port}/default
  - name: pager
    webhook_configs:
      - url: http://127.0.0.1:{port}/pager
  - name: infra
    webhook_configs:
      - url: http://127.0.0.1:{port}/infra
        send_resolved: false
"""


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def _start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _alert(labels: dict[str, str], ends: datetime | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"labels": labels, "annotations": {"summary": f"{labels['alertname']}"}}
    a["generatorURL"] = "http://prometheus.example/graph"
    if ends is not None:
        a["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return a


def _normalise(d: Delivery) -> tuple[Any, ...]:
    b = d.body
    alerts = sorted(
        (a["fingerprint"], a["status"], json.dumps(a["labels"], sort_keys=True))
        for a in b["alerts"]
    )
    return (
        d.path,
        b["receiver"],
        b["groupKey"],
        b["status"],
        json.dumps(b["groupLabels"], sort_keys=True),
        json.dumps(b["commonLabels"], sort_keys=True),
        json.dumps(b["commonAnnotations"], sort_keys=True),
        b["version"],
        b["truncatedAlerts"],
        tuple(alerts),
    )


def test_same_config_and_alerts_give_the_same_webhooks_as_alertmanager(
    tmp_path: Path, recorder: Recorder
) -> None:
    assert ALERTMANAGER is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.replace("{port}", str(recorder.port)))
    am_port, vigil_port = _free_port(), _free_port()
    am = _start(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "am.log",
    )
    vigil = _start(
        [
            sys.executable,
            "-m",
            "vigil",
            "server",
            f"--listen=127.0.0.1:{vigil_port}",
            f"--data-dir={tmp_path / 'vigil'}",
            "--storage=memory",
            f"--notifier-config={config}",
            "--public-ingest",  # Alertmanager takes alerts without credentials too
        ],
        tmp_path / "vigil.log",
        env={**os.environ, "VIGIL_LOG_LEVEL": "info"},
    )
    try:
        with httpx.Client(timeout=5) as client:
            urls = {
                "alertmanager": f"http://127.0.0.1:{am_port}",
                "vigil": f"http://127.0.0.1:{vigil_port}",
            }
            for name, url in urls.items():
                _wait(f"{name} ready", lambda u=url: client.get(f"{u}/-/ready").status_code == 200)

            def post(alerts: list[dict[str, Any]]) -> None:
                # Post to both at the same moment (two threads), so their timers start together.
                def one(url: str) -> None:
                    r = client.post(f"{url}/api/v2/alerts", json=alerts)
                    assert r.status_code == 200, (url, r.status_code, r.text)

                threads = [threading.Thread(target=one, args=(u,)) for u in urls.values()]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            recorder.t0 = time.monotonic()
            latency_a = {"alertname": "HighLatency", "service": "api", "severity": "warning"}
            latency_b = {"alertname": "HighLatency", "service": "api", "severity": "critical"}
            latency_a["instance"], latency_b["instance"] = "a", "b"
            disk = {"alertname": "DiskFull", "team": "infra", "severity": "critical", "host": "db1"}
            errors = {"alertname": "ErrorRate", "service": "web", "severity": "warning"}
            post([_alert(latency_a), _alert(latency_b), _alert(disk), _alert(errors)])
            time.sleep(5.0 - (time.monotonic() - recorder.t0))
            now = datetime.now(UTC)
            down = {"alertname": "ServiceDown", "service": "api", "severity": "critical"}
            # ErrorRate resolves; ServiceDown inhibits both HighLatency alerts of service api.
            post([_alert(errors, ends=now), _alert(down)])
            time.sleep(12.0 - (time.monotonic() - recorder.t0))
            # Re-sending the still-firing alerts (as Prometheus does) changes nothing.
            post([_alert(latency_a), _alert(latency_b), _alert(disk), _alert(down)])
            time.sleep(15.0 - (time.monotonic() - recorder.t0))
    finally:
        _stop(am)
        _stop(vigil)

    by_sender: dict[str, list[Delivery]] = {"alertmanager": [], "vigil": []}
    for d in recorder.deliveries:
        by_sender[d.sender].append(d)
    am_got, vigil_got = by_sender["alertmanager"], by_sender["vigil"]
    assert am_got, "Alertmanager sent nothing: " + (tmp_path / "am.log").read_text()[-2000:]
    assert vigil_got, "vigil sent nothing: " + (tmp_path / "vigil.log").read_text()[-2000:]

    def keyed(ds: list[Delivery]) -> dict[tuple[str, str], list[Delivery]]:
        out: dict[tuple[str, str], list[Delivery]] = {}
        for d in ds:
            out.setdefault((d.path, d.body["groupKey"]), []).append(d)
        return out

    am_groups, vigil_groups = keyed(am_got), keyed(vigil_got)
    assert sorted(vigil_groups) == sorted(am_groups)
    for key, am_list in am_groups.items():
        v_list = vigil_groups[key]
        assert [_normalise(d) for d in v_list] == [_normalise(d) for d in am_list], key
        for a, v in zip(am_list, v_list, strict=True):
            assert abs(a.at - v.at) <= 1.0, (key, a.at, v.at)
    # The stream did what it was meant to: a resolved notification to default, none to infra,
    # and nothing about HighLatency after ServiceDown inhibited it.
    resolved = [d for d in am_got if d.body["status"] == "resolved"]
    assert [d.path for d in resolved] == ["/default"]
    assert all(d.path != "/infra" or d.body["status"] == "firing" for d in am_got)
    assert len([d for d in am_got if d.body["groupLabels"].get("alertname") == "HighLatency"]) == 2
