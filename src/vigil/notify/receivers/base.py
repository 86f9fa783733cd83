"""The seam between the notification pipeline and the integrations that deliver.

The pipeline (``vigil.notify.pipeline``) hands an integration one group's
alerts; the integration renders and sends them, and raises
:class:`DeliveryError` saying whether trying again could help.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vigil.model import Labels
from vigil.model.alert import Alert

__all__ = ["DeliveryError", "Integration", "NotificationContext"]


@dataclass(frozen=True, slots=True)
class NotificationContext:
    """What a notification is about besides its alerts."""

    receiver: str  # the receiver's name in the config
    group_key: str  # '{}/{severity="page"}:{alertname="X"}', as Alertmanager prints it
    group_labels: Labels
    now: float  # Unix seconds; alerts with ends_at <= now are resolved
    external_url: str = ""


class DeliveryError(Exception):
    """A delivery failed. ``retry`` is False when sending the same again cannot succeed (a 4xx)."""

    def __init__(self, message: str, *, retry: bool, reason: str = "other") -> None:
        super().__init__(message)
        self.retry = retry
        self.reason = reason  # a metrics label: "clientError", "serverError", "other", ...


class Integration(Protocol):
    """One configured delivery target, e.g. the second ``webhook_configs`` entry of a receiver."""

    @property
    def name(self) -> str:
        """The integration kind: ``webhook``, ``slack``, ``email``, ``pagerduty``, ``log``."""
        ...

    @property
    def index(self) -> int:
        """Position among the receiver's integrations of the same kind."""
        ...

    @property
    def send_resolved(self) -> bool: ...

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        """Deliver once; raise :class:`DeliveryError` on failure. Retrying is the caller's job."""
        ...
