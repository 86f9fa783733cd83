"""The webhook integration: Alertmanager's JSON payload, version "4", POSTed to a URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.model.alert import Alert
from vigil.notify.receivers._common import go_json
from vigil.notify.receivers._http import (
    DEFAULT_TIMEOUT,
    HTTPIntegration,
    check_status,
    read_secret,
)
from vigil.notify.receivers.base import NotificationContext
from vigil.notify.receivers.config import WebhookConfig
from vigil.notify.templates import Data

__all__ = ["WebhookIntegration", "webhook_payload"]

RETRY_CODES = (429,)


def webhook_payload(
    ctx: NotificationContext, alerts: Sequence[Alert], *, max_alerts: int = 0
) -> dict[str, Any]:
    """Alertmanager's webhook message for ``alerts`` (the first ``max_alerts`` when set)."""
    truncated = 0
    if max_alerts > 0 and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    data = Data.build(
        receiver=ctx.receiver,
        group_labels=ctx.group_labels,
        alerts=alerts,
        now=ctx.now,
        external_url=ctx.external_url,
    )
    return {
        **data.to_json(),
        "version": "4",
        "groupKey": ctx.group_key,
        "truncatedAlerts": truncated,
    }


class WebhookIntegration(HTTPIntegration[WebhookConfig]):
    """One ``webhook_configs`` entry."""

    name = "webhook"

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        body = go_json(webhook_payload(ctx, alerts, max_alerts=self.config.max_alerts))
        url = read_secret(self.config.url, self.config.url_file, "url").strip()
        response = await self.post(url, body, timeout=self.config.timeout or DEFAULT_TIMEOUT)
        # The body of a failed webhook is not quoted: receivers echo URLs and tokens.
        check_status(response, what=self.what, retry_codes=RETRY_CODES, details=lambda _: "")
