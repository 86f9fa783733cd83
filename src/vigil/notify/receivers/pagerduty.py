"""The PagerDuty integration: Events API v2 (and v1 when only a ``service_key`` is set)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from vigil.model.alert import Alert
from vigil.notify.receivers._common import Renderer, go_json, truncate_runes
from vigil.notify.receivers._http import (
    DEFAULT_TIMEOUT,
    HTTPIntegration,
    check_status,
    read_secret,
)
from vigil.notify.receivers.base import DeliveryError, NotificationContext
from vigil.notify.receivers.config import PagerdutyConfig

__all__ = ["PagerdutyIntegration", "dedup_key"]

logger = logging.getLogger("vigil.notify")

V2_URL = "https://events.pagerduty.com/v2/enqueue"
V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
MAX_EVENT_SIZE = 512_000
MAX_SUMMARY_RUNES = 1024
TRUNCATED_DETAILS = (
    "Custom details have been removed because the original event exceeds the maximum size of 512KB"
)


def dedup_key(group_key: str) -> str:
    """The incident key: SHA-256 of the group key in hex, as Alertmanager's ``Key.Hash``."""
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


def _error_details(response: httpx.Response) -> str:
    """PagerDuty's 400 body: ``{"message": ..., "errors": [...]}`` -> ``message: e1,e2``."""
    if response.status_code != 400:
        return ""
    try:
        data = json.loads(response.content)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    errors = data.get("errors") or []
    return f"{data.get('message', '')}: {','.join(str(e) for e in errors)}"


class PagerdutyIntegration(HTTPIntegration[PagerdutyConfig]):
    """One ``pagerduty_configs`` entry."""

    name = "pagerduty"

    @property
    def _v1(self) -> bool:
        c = self.config
        return not (c.routing_key or c.routing_key_file) and bool(
            c.service_key or c.service_key_file
        )

    def payload(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> dict[str, Any]:
        """The event for ``alerts`` (a resolve event when none is firing)."""
        c = self.config
        what = self.what
        t = Renderer(self.templates, ctx, alerts, what=what)
        action = "trigger" if t.data.Status == "firing" else "resolve"
        details = {k: t(v, f"details.{k}") for k, v in c.details}
        summary, _ = truncate_runes(t(c.description, "description"), MAX_SUMMARY_RUNES)
        if self._v1:
            key = read_secret(c.service_key, c.service_key_file, "service_key")
            msg: dict[str, Any] = {
                "service_key": t(key, "service_key"),
                "incident_key": dedup_key(ctx.group_key),
                "event_type": action,
                "description": summary,
            }
            if action == "trigger":
                _put(msg, "client", t(c.client, "client"))
                _put(msg, "client_url", t(c.client_url, "client_url"))
            _put(msg, "details", details)
            if not msg["service_key"]:
                raise DeliveryError(f"{what}: service key cannot be empty", retry=False)
            return msg
        key = read_secret(c.routing_key, c.routing_key_file, "routing_key")
        event: dict[str, Any] = {
            "summary": summary,
            "source": t(c.source or c.client, "source"),
            "severity": t(c.severity or "error", "severity"),
        }
        _put(event, "class", t(c.class_, "class"))
        _put(event, "component", t(c.component, "component"))
        _put(event, "group", t(c.group, "group"))
        _put(event, "custom_details", details)
        msg = {
            "routing_key": t(key, "routing_key"),
            "dedup_key": dedup_key(ctx.group_key),
            "event_action": action,
            "payload": event,
        }
        _put(msg, "client", t(c.client, "client"))
        _put(msg, "client_url", t(c.client_url, "client_url"))
        images = []
        for i, image in enumerate(c.images):
            src = t(image.src, f"images[{i}].src")
            if src:
                alt = t(image.alt, f"images[{i}].alt")
                images.append({"src": src, "alt": alt, "href": t(image.href, f"images[{i}].href")})
        _put(msg, "images", images)
        links = []
        for i, link in enumerate(c.links):
            href = t(link.href, f"links[{i}].href")
            if href:
                links.append({"href": href, "text": t(link.text, f"links[{i}].text")})
        _put(msg, "links", links)
        if not msg["routing_key"]:
            raise DeliveryError(f"{what}: routing key cannot be empty", retry=False)
        return msg

    def encode(self, msg: dict[str, Any]) -> bytes:
        """The JSON body; custom details are dropped when the event exceeds 512 KB."""
        body = go_json(msg)
        if len(body) > MAX_EVENT_SIZE:
            logger.warning(
                "pagerduty[%d]: event of %d bytes exceeds %d, custom details removed",
                self._index,
                len(body),
                MAX_EVENT_SIZE,
            )
            if self._v1:
                msg = {**msg, "details": {"error": TRUNCATED_DETAILS}}
            else:
                msg = {**msg, "payload": {**msg["payload"], "custom_details": {}}}
                msg["payload"]["custom_details"] = {"error": TRUNCATED_DETAILS}
            body = go_json(msg)
        return body

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        body = self.encode(self.payload(ctx, alerts))
        url = self.config.url or V2_URL
        if self._v1 and url == V2_URL:
            url = V1_URL
        response = await self.post(url, body, timeout=self.config.timeout or DEFAULT_TIMEOUT)
        retry_codes = (403,) if self._v1 else (429,)
        check_status(response, what=self.what, retry_codes=retry_codes, details=_error_details)


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value:
        out[key] = value
