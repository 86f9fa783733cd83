"""Alerts, a notification context and TLS material shared by the receiver tests."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.notify.receivers import PagerdutyIntegration, SlackIntegration, WebhookIntegration
from vigil.notify.receivers.base import NotificationContext
from vigil.notify.templates import TemplateSet

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
GROUP_KEY = '{}:{alertname="HighLatency"}'


def firing() -> Alert:
    return Alert(
        Labels(
            alertname="HighLatency", service="api", severity="critical", instance="10.0.0.1:9090"
        ),
        {"summary": "p99 > 1s"},
        starts_at=T0 - 300,
        generator_url="http://prom:9090/graph?g0.expr=x",
    )


def resolved() -> Alert:
    return Alert(
        Labels(
            alertname="HighLatency", service="api", severity="critical", instance="10.0.0.2:9090"
        ),
        {"summary": "p99 > 1s", "runbook": "https://runbooks/latency"},
        starts_at=T0 - 300.25,
        ends_at=T0 - 10,
    )


async def notify_once(
    integration: WebhookIntegration | SlackIntegration | PagerdutyIntegration,
    ctx: NotificationContext,
    alerts: list[Alert],
) -> None:
    """One notification, then the integration's kept HTTP client closed (the notifier
    does this when it stops), so no connection outlives the test's event loop."""
    try:
        await integration.notify(ctx, alerts)
    finally:
        await integration.aclose()


def context(**overrides: object) -> NotificationContext:
    values: dict[str, object] = {
        "receiver": "team-api",
        "group_key": GROUP_KEY,
        "group_labels": Labels(alertname="HighLatency"),
        "now": T0,
        "external_url": "http://am.example:9093",
    }
    values.update(overrides)
    return NotificationContext(**values)  # type: ignore[arg-type]


@pytest.fixture
def templates() -> TemplateSet:
    return TemplateSet.default(clock=lambda: T0)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
