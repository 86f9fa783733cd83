"""The webhook integration: Alertmanager's JSON payload, version "4", POSTed to a URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.model.alert import Alert
from vigil.notify.receivers._common import go_json
from vigil.notify.receivers._http import (
    DEFAULT_TIMEOUT,
    ClientCache,
    HTTPClientFactory,
    check_status,
    new_http_client,
    post,
    read_secret,
)
from vigil.notify.receivers.base import NotificationContext
from vigil.notify.receivers.config import WebhookConfig
from vigil.notify.templates import Data, TemplateSet

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


class WebhookIntegration:
    """One ``webhook_configs`` entry."""

    name = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        templates: TemplateSet,
        *,
        index: int = 0,
        http_client_factory: HTTPClientFactory = new_http_client,
    ) -> None:
        self.config = config
        self.templates = templates
        self._index = index
        self.clients = ClientCache(http_client_factory)
        """The HTTP client kept between notifications (closed by :meth:`aclose`)."""

    @property
    def index(self) -> int:
        return self._index

    async def aclose(self) -> None:
        """Close the HTTP client kept between notifications."""
        await self.clients.aclose()

    @property
    def send_resolved(self) -> bool:
        return self.config.send_resolved

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        what = f"webhook[{self._index}]"
        body = go_json(webhook_payload(ctx, alerts, max_alerts=self.config.max_alerts))
        url = read_secret(self.config.url, self.config.url_file, "url").strip()
        timeout = self.config.timeout or DEFAULT_TIMEOUT
        client = self.clients.get(self.config.http_config, timeout)
        response = await post(client, url, body, http_config=self.config.http_config, what=what)
        # The body of a failed webhook is not quoted: receivers echo URLs and tokens.
        check_status(response, what=what, retry_codes=RETRY_CODES, details=lambda _: "")
