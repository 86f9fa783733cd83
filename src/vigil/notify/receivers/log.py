"""The log integration (a vigil extension): one structured log line per notification.

Useful in embedded mode and in development: no network, and the line carries
what a webhook would have received (``extra`` fields ``receiver``,
``group_key``, ``status``, ``alerts``...), on the logger ``vigil.notify``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vigil.model.alert import Alert
from vigil.notify.receivers._common import Renderer
from vigil.notify.receivers.base import NotificationContext
from vigil.notify.receivers.config import LogConfig
from vigil.notify.templates import TemplateSet

__all__ = ["LogIntegration"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LogIntegration:
    """One ``log_configs`` entry."""

    name = "log"

    def __init__(
        self,
        config: LogConfig,
        templates: TemplateSet,
        *,
        index: int = 0,
        logger: logging.Logger | None = None,
    ) -> None:
        level = _LEVELS.get(config.level.lower())
        if level is None:
            raise ValueError(f"log_configs[{index}].level: unknown level {config.level!r}")
        self.config = config
        self.templates = templates
        self._index = index
        self._level = level
        self._logger = logger or logging.getLogger("vigil.notify")

    @property
    def index(self) -> int:
        return self._index

    @property
    def send_resolved(self) -> bool:
        return self.config.send_resolved

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        t = Renderer(self.templates, ctx, alerts, what=f"log[{self._index}]")
        subject = t('{{ template "__subject" . }}', "subject")
        data = t.data
        self._logger.log(
            self._level,
            "notification for receiver %s: %s",
            ctx.receiver,
            subject,
            extra={
                "receiver": ctx.receiver,
                "integration": f"log[{self._index}]",
                "group_key": ctx.group_key,
                "status": data.Status,
                "firing": len(data.Alerts.Firing()),
                "resolved": len(data.Alerts.Resolved()),
                "alerts": [a.to_json() for a in data.Alerts],
            },
        )
