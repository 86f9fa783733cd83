"""Differential: the real Alertmanager 0.25 and vigil render the same notification.

Alertmanager is started with a webhook, a Slack and a PagerDuty receiver all
pointing at one recording server; it is sent alerts through its v2 API. vigil
then builds its own webhook, Slack and PagerDuty bodies for the alerts that
Alertmanager delivered, with the same group key and external URL, and the two
must match: the webhook body byte for byte, the others as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.notify.receivers import PagerdutyIntegration, SlackIntegration
from vigil.notify.receivers._common import go_json
from vigil.notify.receivers.base import NotificationContext
from vigil.notify.receivers.config import PagerdutyConfig, SlackConfig
from vigil.notify.receivers.webhook import webhook_payload
from vigil.notify.templates import TemplateSet

from ._servers import RecordingHTTPServer, Reply, free_port, http_server

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
EXTERNAL_URL = "http://am.example:9093"

CONFIG = """
route:
  receiver: all
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1h
  repeat_interval: 1h
receivers:
  - name: all
    webhook_configs:
      - url: {url}/webhook
    slack_configs:
      - api_url: {url}/slack
        channel: '#alerts'
    pagerduty_configs:
      - routing_key: rk-1
        url: {url}/pagerduty
"""

ALERTS = [
    {
        "labels": {
            "alertname": "HighLatency",
            "service": "api",
            "severity": "critical",
            "instance": "10.0.0.1:9090",
        },
        "annotations": {"summary": "p99 > 1s", "description": '<b>slow</b> & "bad"'},
        "startsAt": "2023-11-14T22:08:20Z",
        "generatorURL": "http://prom:9090/graph?g0.expr=x&g0.tab=1",
    },
    {
        "labels": {
            "alertname": "HighLatency",
            "service": "api",
            "severity": "critical",
            "instance": "10.0.0.2:9090",
            "zone": "é-1",
        },
        "annotations": {"summary": "p99 > 1s"},
        "startsAt": "2023-11-14T22:08:19.75Z",
    },
]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[RecordingHTTPServer, str]]:
    if ALERTMANAGER is None:
        pytest.skip("Alertmanager is not installed")
    with http_server() as sink:
        for path in ("/webhook", "/slack", "/pagerduty"):
            sink.replies[path] = Reply(body=b"ok")
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(url=sink.url("").rstrip("/")))
        port = free_port()
        proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={EXTERNAL_URL}",
                "--web.route-prefix=/",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            yield sink, f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()


def _wait(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _post_alerts(api: str) -> None:
    def ready() -> bool:
        try:
            return httpx.get(f"{api}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(ready, "Alertmanager to be ready")
    response = httpx.post(f"{api}/api/v2/alerts", json=ALERTS, timeout=5)
    assert response.status_code == 200, response.text


def _model_alert(obj: dict[str, Any]) -> Alert:
    from datetime import datetime

    return Alert(
        Labels.from_dict(obj["labels"]),
        obj["annotations"],
        starts_at=datetime.fromisoformat(obj["startsAt"].replace("Z", "+00:00")).timestamp(),
        generator_url=obj["generatorURL"],
    )


def test_same_notifications_as_alertmanager(
    alertmanager: tuple[RecordingHTTPServer, str],
) -> None:
    sink, api = alertmanager
    _post_alerts(api)

    def delivered() -> bool:
        return {r.path for r in sink.requests} >= {"/webhook", "/slack", "/pagerduty"}

    _wait(delivered, "Alertmanager's three notifications")
    bodies = {r.path: r.body for r in sink.requests}
    am_webhook = json.loads(bodies["/webhook"])

    alerts = [_model_alert(a) for a in am_webhook["alerts"]]
    ctx = NotificationContext(
        receiver="all",
        group_key=am_webhook["groupKey"],
        group_labels=Labels(alertname="HighLatency"),
        now=time.time(),
        external_url=EXTERNAL_URL,
    )
    templates = TemplateSet.default()

    # the webhook body, byte for byte (field order, escaping, times, fingerprints)
    assert go_json(webhook_payload(ctx, alerts)).decode() == bodies["/webhook"].decode()

    slack = SlackIntegration(SlackConfig(api_url="http://unused", channel="#alerts"), templates)
    assert slack.payload(ctx, alerts) == json.loads(bodies["/slack"])

    pagerduty = PagerdutyIntegration(
        PagerdutyConfig(routing_key="rk-1", url="http://unused"), templates
    )
    assert pagerduty.payload(ctx, alerts) == json.loads(bodies["/pagerduty"])
