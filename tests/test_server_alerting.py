"""Alerting in ``vigil server``: rule files, the notifier, the APIs, history, reloads, and a real Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_server import _free_port, _wait, in_process
from vigil.server import ServerSettings

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Webhook:
    """A real HTTP endpoint that records the JSON bodies posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    w = Webhook()
    yield w
    w.close()


RULES = """
groups:
  - name: demo
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: AlwaysOn
        expr: vector(42)
        labels:
          severity: page
          team: web
        annotations:
          summary: "value is {{ $value }}"
"""

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


def _files(tmp_path: Path, webhook: Webhook) -> tuple[Path, Path]:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    config = tmp_path / "vigil.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files: [rules.yml]\nscrape_configs: []\n"
    )
    am = tmp_path / "alertmanager.yml"
    am.write_text(NOTIFIER.replace("{url}", webhook.url))
    return config, am


def _settings(tmp_path: Path, config: Path, am: Path) -> ServerSettings:
    return ServerSettings(
        config_file=config,
        data_dir=tmp_path / "data",
        listen="127.0.0.1:0",
        notifier_config=am,
    )


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_a_rule_file_alert_reaches_the_webhook_and_shows_in_every_api(
    tmp_path: Path, webhook: Webhook
) -> None:
    config, am = _files(tmp_path, webhook)
    with in_process(_settings(tmp_path, config, am)) as srv, httpx.Client(timeout=10) as c:
        _wait("a webhook delivery", lambda: webhook.bodies)
        body = webhook.bodies[0]
        assert body["receiver"] == "hook"
        assert body["status"] == "firing"
        assert body["groupKey"] == '{}:{alertname="AlwaysOn"}'
        (alert,) = body["alerts"]
        assert alert["labels"] == {"alertname": "AlwaysOn", "severity": "page", "team": "web"}
        assert alert["annotations"] == {"summary": "value is 42"}
        assert alert["generatorURL"].startswith(srv.url + "/graph?g0.expr=")

        rules = c.get(f"{srv.url}/api/v1/rules").json()["data"]["groups"]
        assert [g["name"] for g in rules] == ["demo"]
        rec, alerting = rules[0]["rules"]
        assert (rec["type"], rec["name"], rec["health"]) == ("recording", "job:up:sum", "ok")
        assert (alerting["type"], alerting["state"], alerting["query"]) == (
            "alerting",
            "firing",
            "vector(42)",
        )
        assert alerting["alerts"][0]["value"] == "42"
        only = c.get(f"{srv.url}/api/v1/rules", params={"type": "record"}).json()["data"]
        assert [r["name"] for g in only["groups"] for r in g["rules"]] == ["job:up:sum"]

        active = c.get(f"{srv.url}/api/v1/alerts").json()["data"]["alerts"]
        assert [(a["labels"]["alertname"], a["state"]) for a in active] == [("AlwaysOn", "firing")]
        v2 = c.get(f"{srv.url}/api/v2/alerts").json()
        assert [(a["labels"]["alertname"], a["status"]["state"]) for a in v2] == [
            ("AlwaysOn", "active")
        ]
        assert v2[0]["receivers"] == [{"name": "hook"}]

        # ALERTS is written back to the store (from the evaluation after the 'for' state restore).
        def alerts_series() -> list[str]:
            q = c.get(f"{srv.url}/api/v1/query", params={"query": "ALERTS"}).json()["data"]
            return [r["metric"]["alertstate"] for r in q["result"]]

        assert _wait("the ALERTS series", alerts_series) == ["firing"]

        def history() -> list[dict[str, Any]]:
            r = c.get(f"{srv.url}/api/vigil/v1/alerts/history", params={"alertname": "AlwaysOn"})
            return list(r.json()["data"])

        events = _wait(
            "history with a notification",
            lambda: (h := history()) and any(e["kind"] == "notification" for e in h) and h,
        )
        assert isinstance(events, list)
        states = [e["state"] for e in reversed(events) if e["kind"] == "state"]
        assert states[:2] == ["pending", "firing"]
        sent = [e for e in events if e["kind"] == "notification"]
        assert sent[0]["outcome"] == "sent"
        assert sent[0]["receiver"] == "hook"
        stats = c.get(f"{srv.url}/api/vigil/v1/alerts/stats", params={"step": "1h"}).json()
        firing = stats["data"]["firing"]
        assert [(f["alertname"], f["severity"], f["total"]) for f in firing] == [
            ("AlwaysOn", "page", 1)
        ]


def test_silences_through_the_v2_api_mute_and_expire(tmp_path: Path, webhook: Webhook) -> None:
    config, am = _files(tmp_path, webhook)
    with in_process(_settings(tmp_path, config, am)) as srv, httpx.Client(timeout=10) as c:
        c.headers.update(srv.auth("editor"))  # silences are for editors
        _wait("the alert", lambda: c.get(f"{srv.url}/api/v2/alerts").json())
        now = datetime.now(UTC)
        silence: dict[str, Any] = {
            "matchers": [],
            "startsAt": _iso(now),
            "endsAt": _iso(now + timedelta(hours=1)),
            "createdBy": "test",
            "comment": "maintenance",
        }
        r = c.post(f"{srv.url}/api/v2/silences", json=silence)
        assert r.status_code == 400
        assert "at least one matcher" in r.json()
        silence["matchers"] = [{"name": "team", "value": ".*", "isRegex": True, "isEqual": True}]
        r = c.post(f"{srv.url}/api/v2/silences", json=silence)
        assert r.status_code == 400
        assert r.json() == "at least one matcher must not match the empty string"
        silence["matchers"] = [{"name": "team", "value": "web", "isRegex": False}]
        r = c.post(f"{srv.url}/api/v2/silences", json=silence)
        assert r.status_code == 200, r.text
        sid = r.json()["silenceID"]

        def state() -> dict[str, Any]:
            return dict(c.get(f"{srv.url}/api/v2/alerts").json()[0]["status"])

        _wait("the alert silenced", lambda: state()["silencedBy"] == [sid])
        assert state()["state"] == "suppressed"
        assert c.get(f"{srv.url}/api/v2/silence/{sid}").json()["status"]["state"] == "active"
        assert c.delete(f"{srv.url}/api/v2/silence/{sid}").status_code == 200
        _wait("the alert active again", lambda: state()["state"] == "active")
        assert c.get(f"{srv.url}/api/v2/silence/{sid}").json()["status"]["state"] == "expired"
        missing = c.get(f"{srv.url}/api/v2/silence/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
        bad = c.post(f"{srv.url}/api/v2/alerts", json=[{"labels": {}}])
        assert bad.status_code == 400
        assert "at least one label pair" in bad.json()


def test_bad_rule_files_and_notifier_configs_are_refused_on_reload_and_nothing_stops(
    tmp_path: Path, webhook: Webhook
) -> None:
    config, am = _files(tmp_path, webhook)
    with in_process(_settings(tmp_path, config, am)) as srv, httpx.Client(timeout=10) as c:
        c.headers.update(srv.auth("admin"))  # reloads are for admins
        _wait("the first delivery", lambda: webhook.bodies)
        rules_file = tmp_path / "rules.yml"
        rules_file.write_text(RULES.replace("vector(42)", "sum(rate(x[5m])"))
        r = c.post(f"{srv.url}/-/reload")
        assert r.status_code == 400
        assert f"{rules_file}:" in r.json()["error"]
        assert "expr" in r.json()["error"]
        rules_file.write_text(RULES.replace("{{ $value }}", "{{ $value"))
        r = c.post(f"{srv.url}/-/reload")
        assert r.status_code == 400
        assert "annotations.summary" in r.json()["error"]
        rules_file.write_text(RULES)
        am.write_text(NOTIFIER.replace("receiver: hook", "receiver: nobody"))
        r = c.post(f"{srv.url}/-/reload")
        assert r.status_code == 400
        assert 'undefined receiver "nobody" used in route' in r.json()["error"]
        # The old rules and notifier are still in force.
        groups = c.get(f"{srv.url}/api/v1/rules").json()["data"]["groups"]
        assert groups[0]["rules"][1]["state"] == "firing"
        assert c.get(f"{srv.url}/api/v2/receivers").json() == [{"name": "hook"}]
        # A good reload applies: the new rule appears.
        am.write_text(NOTIFIER.replace("{url}", webhook.url))
        rules_file.write_text(RULES.replace("AlwaysOn", "StillOn"))
        assert c.post(f"{srv.url}/-/reload").status_code == 200
        names = [
            r["name"]
            for g in c.get(f"{srv.url}/api/v1/rules").json()["data"]["groups"]
            for r in g["rules"]
        ]
        assert names == ["job:up:sum", "StillOn"]


def test_a_bad_rule_file_stops_the_cli_from_starting(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n")
    config = tmp_path / "vigil.yml"
    config.write_text("rule_files: [rules.yml]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "vigil", "server", f"--config={config}", "--listen=127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert f"{tmp_path / 'rules.yml'}:4:9:" in proc.stderr
    assert "expr" in proc.stderr


def test_a_real_prometheus_sends_its_alerts_to_the_v2_api(tmp_path: Path) -> None:
    with in_process(
        ServerSettings(listen="127.0.0.1:0", storage="memory", data_dir=tmp_path / "v")
    ) as srv:
        host_port = srv.url.removeprefix("http://")
        (tmp_path / "rules.yml").write_text(
            "groups:\n  - name: g\n    rules:\n      - alert: FromPrometheus\n"
            "        expr: vector(7)\n        labels: {severity: warning}\n"
            "        annotations: {summary: 'seven is {{ $value }}'}\n"
        )
        (tmp_path / "prometheus.yml").write_text(
            "global: {evaluation_interval: 1s, external_labels: {replica: r1}}\n"
            "rule_files: [rules.yml]\n"
            "alerting:\n  alertmanagers:\n    - api_version: v2\n"
            f"      authorization: {{credentials: {srv.token('editor')}}}\n"
            f"      static_configs:\n        - targets: ['{host_port}']\n"
        )
        port = _free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom'}",
                f"--web.listen-address=127.0.0.1:{port}",
                # Alerts evaluated before the notifier has discovered vigil are dropped;
                # a short resend delay sends them again soon after.
                "--rules.alert.resend-delay=1s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(timeout=10) as c:

                def alerts() -> list[dict[str, Any]]:
                    return list(c.get(f"{srv.url}/api/v2/alerts").json())

                got = _wait("Prometheus's alert in vigil", alerts, timeout=60)
                assert isinstance(got, list)
                (a,) = got
                assert a["labels"] == {
                    "alertname": "FromPrometheus",
                    "severity": "warning",
                    "replica": "r1",
                }
                assert a["annotations"] == {"summary": "seven is 7"}
                assert a["generatorURL"].startswith("http://")
                assert a["status"]["state"] == "active"
                ends = datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00"))
                assert ends > datetime.now(UTC)  # Prometheus sends endsAt = now + 4 x resend delay
                history = c.get(f"{srv.url}/api/vigil/v1/alerts/history").json()["data"]
                assert [(e["alertname"], e["state"]) for e in history] == [
                    ("FromPrometheus", "firing")
                ]
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()
