"""The log integration and build_integrations."""

from __future__ import annotations

import logging

import pytest

from vigil.notify.receivers import (
    EmailIntegration,
    LogIntegration,
    PagerdutyIntegration,
    SlackIntegration,
    WebhookIntegration,
    build_integrations,
)
from vigil.notify.receivers.config import (
    EmailConfig,
    LogConfig,
    PagerdutyConfig,
    ReceiverConfig,
    SlackConfig,
    WebhookConfig,
)
from vigil.notify.templates import TemplateSet

from .conftest import GROUP_KEY, context, firing, resolved


@pytest.mark.anyio
async def test_log_line(templates: TemplateSet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vigil.notify")
    await LogIntegration(LogConfig(), templates).notify(context(), [firing(), resolved()])
    (record,) = [r for r in caplog.records if r.name == "vigil.notify"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "notification for receiver team-api: [FIRING:1] HighLatency (api critical)"
    )
    assert record.receiver == "team-api"  # type: ignore[attr-defined]
    assert record.group_key == GROUP_KEY  # type: ignore[attr-defined]
    assert record.status == "firing"  # type: ignore[attr-defined]
    assert (record.firing, record.resolved) == (1, 1)  # type: ignore[attr-defined]
    assert [a["status"] for a in record.alerts] == ["firing", "resolved"]  # type: ignore[attr-defined]


def test_log_level_is_checked(templates: TemplateSet) -> None:
    with pytest.raises(ValueError, match="unknown level 'loud'"):
        LogIntegration(LogConfig(level="loud"), templates)


def test_build_integrations(templates: TemplateSet) -> None:
    receiver = ReceiverConfig(
        name="all",
        webhook_configs=(WebhookConfig(url="http://a"), WebhookConfig(url="http://b")),
        slack_configs=(SlackConfig(api_url="http://s"),),
        email_configs=(EmailConfig(to="a@b"),),
        pagerduty_configs=(PagerdutyConfig(routing_key="k", send_resolved=False),),
        log_configs=(LogConfig(),),
    )
    built = build_integrations(receiver, templates)
    assert [(type(i), i.name, i.index) for i in built] == [
        (EmailIntegration, "email", 0),
        (PagerdutyIntegration, "pagerduty", 0),
        (SlackIntegration, "slack", 0),
        (WebhookIntegration, "webhook", 0),
        (WebhookIntegration, "webhook", 1),
        (LogIntegration, "log", 0),
    ]
    assert [i.send_resolved for i in built] == [False, False, False, True, True, True]
    assert build_integrations(ReceiverConfig(name="blackhole"), templates) == []
