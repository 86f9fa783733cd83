"""The Slack integration: an incoming-webhook (or chat.postMessage) message with one attachment."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vigil.model.alert import Alert
from vigil.notify.receivers._common import Renderer, go_json, truncate_runes
from vigil.notify.receivers._http import (
    DEFAULT_TIMEOUT,
    HTTPIntegration,
    check_status,
    read_secret,
)
from vigil.notify.receivers.base import DeliveryError, NotificationContext
from vigil.notify.receivers.config import SlackConfig

__all__ = ["SlackIntegration", "check_slack_response"]

MAX_TITLE_RUNES = 1024


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Go's ``omitempty``."""
    if value:
        out[key] = value


class SlackIntegration(HTTPIntegration[SlackConfig]):
    """One ``slack_configs`` entry."""

    name = "slack"

    def payload(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> dict[str, Any]:
        """The JSON message for ``alerts``, fields in Alertmanager's order."""
        c = self.config
        t = Renderer(self.templates, ctx, alerts, what=self.what)
        title, _ = truncate_runes(t(c.title, "title"), MAX_TITLE_RUNES)
        att: dict[str, Any] = {}
        _put(att, "title", title)
        _put(att, "title_link", t(c.title_link, "title_link"))
        _put(att, "pretext", t(c.pretext, "pretext"))
        att["text"] = t(c.text, "text")
        att["fallback"] = t(c.fallback, "fallback")
        att["callback_id"] = t(c.callback_id, "callback_id")
        if c.fields:
            att["fields"] = [
                {
                    "title": t(f.title, f"fields[{i}].title"),
                    "value": t(f.value, f"fields[{i}].value"),
                    "short": c.short_fields if f.short is None else f.short,
                }
                for i, f in enumerate(c.fields)
            ]
        _put(att, "image_url", t(c.image_url, "image_url"))
        _put(att, "thumb_url", t(c.thumb_url, "thumb_url"))
        att["footer"] = t(c.footer, "footer")
        _put(att, "color", t(c.color, "color"))
        _put(att, "mrkdwn_in", list(c.mrkdwn_in) or ["fallback", "pretext", "text"])
        msg: dict[str, Any] = {}
        _put(msg, "channel", t(c.channel, "channel"))
        _put(msg, "username", t(c.username, "username"))
        _put(msg, "icon_emoji", t(c.icon_emoji, "icon_emoji"))
        _put(msg, "icon_url", t(c.icon_url, "icon_url"))
        _put(msg, "link_names", c.link_names)
        msg["attachments"] = [att]
        return msg

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        what = self.what
        msg = self.payload(ctx, alerts)
        url = read_secret(self.config.api_url, self.config.api_url_file, "api_url").strip()
        response = await self.post(url, go_json(msg), timeout=DEFAULT_TIMEOUT)
        channel = msg.get("channel", "")
        check_status(response, what=f"{what}: channel {channel!r}")
        check_slack_response(
            response.content, response.headers.get("content-type", ""), channel=channel, what=what
        )


def check_slack_response(body: bytes, content_type: str, *, channel: str, what: str) -> None:
    """Slack answers 200 with an error in the body: ``ok`` (text) or ``{"ok": true}`` is success."""
    prefix = f"{what}: channel {channel!r}"
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise DeliveryError(
                f"{prefix}: could not parse JSON response {body[:200]!r}",
                retry=True,
                reason="clientError",
            ) from exc
        if not (isinstance(data, dict) and data.get("ok") is True):
            error = data.get("error", "") if isinstance(data, dict) else ""
            raise DeliveryError(
                f"{prefix}: error response from Slack: {error}", retry=False, reason="clientError"
            )
        return
    if body != b"ok":
        text = body[:200].decode("utf-8", "replace")
        raise DeliveryError(
            f"{prefix}: received an error response from Slack: {text}",
            retry=False,
            reason="clientError",
        )
