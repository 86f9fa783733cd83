"""The notifier facade: restarts, reloads, API views, history events, a loaded YAML config,
and one run in real time against a real webhook server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher, MatchType
from vigil.notify.config import parse_notify_config
from vigil.notify.dispatch import VirtualClock
from vigil.notify.history import AlertEvent
from vigil.notify.notifier import Notifier
from vigil.notify.receivers import WebhookIntegration
from vigil.notify.silence import Silence

from .test_pipeline import T0, Harness, make_config, route


@pytest.mark.anyio
async def test_restart_within_repeat_interval_sends_nothing_twice(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    h = Harness(make_config(route()), clock=clock, data_dir=tmp_path)
    await h.notifier.start()
    h.fire("A")
    sid = h.notifier.silences.set(
        Silence((Matcher(MatchType.EQUAL, "alertname", "B"),), T0, T0 + 7200)
    )
    await clock.advance(31)
    assert len(h.rec().calls) == 1
    await h.notifier.stop()
    assert (tmp_path / "nflog.json").exists()
    assert (tmp_path / "silences.json").exists()

    # a new process: same data dir, the sender re-sends its alerts
    h2 = Harness(make_config(route()), clock=clock, data_dir=tmp_path)
    assert h2.notifier.silences.get(sid).ends_at == T0 + 7200
    await h2.notifier.start()
    h2.notifier.put_alerts(
        [Alert(Labels(alertname=n), starts_at=T0, ends_at=T0 + 86400) for n in ("A", "B")]
    )
    await clock.advance(3600)
    assert h2.rec().calls == []  # A already notified, B silenced
    await h2.notifier.stop()

    # without the data dir the same restart notifies again
    h3 = Harness(make_config(route()), clock=clock)
    await h3.notifier.start()
    h3.notifier.put_alerts([Alert(Labels(alertname="A"), starts_at=T0, ends_at=T0 + 86400)])
    await clock.advance(1)
    assert len(h3.rec().calls) == 1
    await h3.notifier.stop()


@pytest.mark.anyio
async def test_corrupt_data_files_are_reported_and_the_notifier_still_starts(
    tmp_path: Path,
) -> None:
    (tmp_path / "silences.json").write_text("{not json")
    (tmp_path / "nflog.json").write_text("[]")
    h = Harness(make_config(route()), data_dir=tmp_path)
    problems = h.notifier.status()["problems"]
    assert len(problems) == 2
    assert all(str(tmp_path) in p for p in problems)
    await h.notifier.start()
    h.fire("A")
    await h.clock.advance(31)
    assert len(h.rec().calls) == 1
    await h.notifier.stop()


@pytest.mark.anyio
async def test_reload_rebuilds_groups_without_resending() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    h.fire("A")
    await h.clock.advance(31)
    assert len(h.rec().calls) == 1
    # same tree: groups come back with the same keys, the log dedups
    await h.notifier.apply_config(make_config(route()))
    await h.clock.advance(600)
    assert len(h.rec().calls) == 1
    # a new route gives new group keys: notified again
    root = route()
    root.add_child(route(matchers=(Matcher.equal("alertname", "A"),)))
    await h.notifier.apply_config(make_config(root))
    await h.clock.advance(1)  # the alert is older than group_wait: flushed at once
    assert len(h.rec().calls) == 2
    assert h.rec().calls[1].ctx.group_key == '{}/{alertname="A"}:{alertname="A"}'
    await h.notifier.stop()


@pytest.mark.anyio
async def test_history_events_for_sent_and_failed() -> None:
    events: list[AlertEvent] = []
    h = Harness(make_config(route()), events=events)
    await h.notifier.start()
    h.fire("A", severity="page")
    await h.clock.advance(31)
    (sent,) = events
    assert (sent.kind, sent.alertname, sent.state, sent.outcome) == (
        "notification",
        "A",
        "firing",
        "sent",
    )
    assert (sent.receiver, sent.integration, sent.severity) == ("default", "webhook/0", "page")
    h.rec().fatal = True
    h.fire("B", severity="page")
    await h.clock.advance(31)
    assert [(e.alertname, e.outcome) for e in events[1:]] == [("B", "failed")]
    assert "400 Bad Request" in events[1].detail
    await h.notifier.stop()


@pytest.mark.anyio
async def test_api_views() -> None:
    root = route(group_by=("alertname",))
    root.add_child(route(receiver="ops", matchers=(Matcher.equal("team", "ops"),)))
    h = Harness(make_config(root))
    await h.notifier.start()
    h.fire("A", team="ops", instance="2")
    h.fire("A", team="ops", instance="1")
    h.fire("B")
    h.notifier.put_alerts([Alert(Labels(alertname="Old"), starts_at=T0 - 100, ends_at=T0 - 10)])
    views = h.notifier.alerts()
    assert sorted(v.alert.name for v in views) == ["A", "A", "B"]
    assert [v.fingerprint for v in views] == sorted(v.fingerprint for v in views)
    assert {v.receivers for v in views} == {("ops",), ("default",)}
    assert [v.alert.name for v in h.notifier.alerts(receiver="def.*")] == ["B"]
    # statuses are refreshed for the query, as Alertmanager's API does
    assert len(h.notifier.alerts(unprocessed=False)) == 3
    assert h.notifier.alerts(active=False) == []
    groups = h.notifier.groups()
    assert [(g.receiver, g.group_key) for g in groups] == [
        ("ops", '{}/{team="ops"}:{alertname="A"}'),
        ("default", '{}:{alertname="B"}'),
    ]
    assert [a.alert.labels.get("instance") for a in groups[0].alerts] == ["1", "2"]
    assert h.notifier.groups(receiver="ops")[0].receiver == "ops"
    status = h.notifier.status()
    assert status["running"]
    assert status["alerts"] == 3
    assert status["aggregation_groups"] == 3  # "Old" has a group until it is notified/collected
    assert h.registry.get_sample_value("vigil_dispatcher_aggregation_groups") == 3
    await h.notifier.stop()


YAML = """
global:
  resolve_timeout: 1m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
      mute_time_intervals: [weekends]
    - matchers: ['severity=~"page|ticket"']
      receiver: tickets
receivers:
  - name: default
  - name: pager
    webhook_configs: [{url: 'http://127.0.0.1:1/hook'}]
  - name: tickets
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [cluster]
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: ['saturday', 'sunday']}]
"""


@pytest.mark.anyio
async def test_loaded_yaml_config() -> None:
    cfg = parse_notify_config(YAML, "alertmanager.yml")
    h = Harness(cfg)  # type: ignore[arg-type]
    assert h.notifier.store.resolve_timeout == 60
    await h.notifier.start()
    # T0 is a Tuesday: the pager is not muted
    h.fire("Down", severity="page", cluster="a")
    h.fire("Slow", severity="ticket", cluster="a")
    h.fire("Slow", severity="ticket", cluster="b")
    await h.clock.advance(11)
    assert [c.ctx.group_key for c in h.rec("pager").calls] == [
        '{}/{severity="page"}:{alertname="Down"}'
    ]
    # Down also goes to tickets (continue); Slow/a is inhibited by Down/a
    assert sorted(
        (a.name, a.labels.get("cluster")) for c in h.rec("tickets").calls for a in c.alerts
    ) == [
        ("Down", "a"),
        ("Slow", "b"),
    ]
    await h.notifier.stop()


# -- real time, real webhook ---------------------------------------------------------


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.anyio
async def test_real_time_webhook_delivery(webhook_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook_server
    cfg = parse_notify_config(
        f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{url: '{url}'}}]
"""
    )
    notifier = Notifier(cfg, registry=CollectorRegistry())
    await notifier.start()
    try:
        now = time.time()
        notifier.put_alerts([Alert(Labels(alertname="Real"), starts_at=now, ends_at=now + 600)])
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert received, "no webhook delivery within 10 s"
        body = received[0]
        assert body["groupKey"] == '{}:{alertname="Real"}'
        assert body["status"] == "firing"
        assert [a["labels"]["alertname"] for a in body["alerts"]] == ["Real"]
    finally:
        await notifier.stop()


@pytest.mark.anyio
async def test_http_clients_are_kept_and_closed_on_reload_and_stop(
    webhook_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook_server
    cfg = parse_notify_config(
        f"""
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
receivers:
  - name: hook
    webhook_configs: [{{url: '{url}'}}]
"""
    )
    notifier = Notifier(cfg, registry=CollectorRegistry())

    async def deliver(name: str, count: int) -> None:
        now = time.time()
        notifier.put_alerts([Alert(Labels(alertname=name), starts_at=now, ends_at=now + 600)])
        deadline = time.monotonic() + 10
        while len(received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(received) == count, f"no delivery of {name} within 10 s"

    await notifier.start()
    try:
        await deliver("A", 1)
        await deliver("B", 2)
        first = notifier.pipeline.integrations["hook"][0]
        assert isinstance(first, WebhookIntegration)
        assert len(first.clients) == 1  # one client for both notifications
        await notifier.apply_config(cfg)
        assert len(first.clients) == 0  # the replaced integration's client is closed
        await deliver("C", 3)
        second = notifier.pipeline.integrations["hook"][0]
        assert isinstance(second, WebhookIntegration)
        assert second is not first
        assert len(second.clients) == 1
    finally:
        await notifier.stop()
    assert len(second.clients) == 0
