"""Notification integrations: webhook, Slack, e-mail, PagerDuty, and vigil's log receiver.

:func:`build_integrations` turns one receiver's config into the integrations
that deliver its notifications; each implements :class:`Integration`.
"""

from __future__ import annotations

from vigil.notify.receivers._http import HTTPClientFactory, new_http_client
from vigil.notify.receivers.base import DeliveryError, Integration, NotificationContext
from vigil.notify.receivers.config import ReceiverConfig
from vigil.notify.receivers.email import EmailIntegration
from vigil.notify.receivers.log import LogIntegration
from vigil.notify.receivers.pagerduty import PagerdutyIntegration
from vigil.notify.receivers.slack import SlackIntegration
from vigil.notify.receivers.webhook import WebhookIntegration
from vigil.notify.templates import TemplateSet

__all__ = [
    "DeliveryError",
    "EmailIntegration",
    "HTTPClientFactory",
    "Integration",
    "LogIntegration",
    "NotificationContext",
    "PagerdutyIntegration",
    "SlackIntegration",
    "WebhookIntegration",
    "build_integrations",
    "new_http_client",
]


def build_integrations(
    receiver: ReceiverConfig,
    templates: TemplateSet,
    *,
    http_client_factory: HTTPClientFactory = new_http_client,
) -> list[Integration]:
    """The integrations of ``receiver``, in Alertmanager's order (by kind, then config order).

    Kinds vigil cannot send to (``receiver.unsupported``) are left out; the
    caller logs them.
    """
    out: list[Integration] = []
    f = http_client_factory
    out += [EmailIntegration(c, templates, index=i) for i, c in enumerate(receiver.email_configs)]
    out += [
        PagerdutyIntegration(c, templates, index=i, http_client_factory=f)
        for i, c in enumerate(receiver.pagerduty_configs)
    ]
    out += [
        SlackIntegration(c, templates, index=i, http_client_factory=f)
        for i, c in enumerate(receiver.slack_configs)
    ]
    out += [
        WebhookIntegration(c, templates, index=i, http_client_factory=f)
        for i, c in enumerate(receiver.webhook_configs)
    ]
    out += [LogIntegration(c, templates, index=i) for i, c in enumerate(receiver.log_configs)]
    return out
