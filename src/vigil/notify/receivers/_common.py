"""Pieces every integration shares: JSON as Go encodes it, template errors as delivery errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vigil.model.alert import Alert
from vigil.notify.receivers.base import DeliveryError, NotificationContext
from vigil.notify.templates import Data, TemplateRenderError, TemplateSet

__all__ = ["Renderer", "go_json", "truncate_runes"]


def go_json(value: Any) -> bytes:
    """JSON as Go's ``json.Encoder`` writes it: compact, ``<>&`` escaped, a final newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # These characters only occur inside JSON strings, where the escapes mean the same.
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return (text + "\n").encode("utf-8")


def truncate_runes(text: str, limit: int) -> tuple[str, bool]:
    """Alertmanager's ``notify.Truncate``: at most ``limit`` characters, ending in ``…`` if cut."""
    if len(text) <= limit:
        return text, False
    if limit <= 3:
        return text[:limit], True
    return text[: limit - 1] + "…", True


class Renderer:
    """Renders one notification's config fields; a template failure is a non-retryable error."""

    __slots__ = ("data", "templates", "what")

    def __init__(
        self,
        templates: TemplateSet,
        ctx: NotificationContext,
        alerts: Sequence[Alert],
        *,
        what: str,
        html: bool = False,
    ) -> None:
        self.templates = templates
        self.what = what
        self.data: Data = templates.data(
            receiver=ctx.receiver,
            group_labels=ctx.group_labels,
            alerts=alerts,
            now=ctx.now,
            external_url=ctx.external_url,
            html=html,
        )

    def __call__(self, text: str, field: str) -> str:
        try:
            return self.templates.expand(text, self.data, field=field)
        except TemplateRenderError as exc:
            raise DeliveryError(
                f"{self.what}: rendering {field}: {exc}", retry=False, reason="other"
            ) from exc
