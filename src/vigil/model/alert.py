"""An alert as it travels from the rule evaluator (or the v2 API) to the notifier.

The shape is Alertmanager's: a label set that identifies the alert, annotations
that describe it, and the interval it is active. Times are Unix seconds as
floats, so tests can drive every layer with a fake clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from vigil.model.labels import Labels

__all__ = ["Alert", "fingerprint"]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Labels) -> int:
    """Prometheus's label-set fingerprint (FNV-1a 64 over sorted ``name 0xff value 0xff``).

    Alertmanager prints it as 16 hex digits in webhook payloads and its API, so
    computing it the same way lets payloads be compared with the real thing.
    """
    h = _FNV_OFFSET
    for name, value in labels.pairs:
        for part in (name, value):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return h


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance.

    ``ends_at`` is ``None`` while the sender has not said when it ends (the
    notifier then applies its ``resolve_timeout``); an alert whose ``ends_at``
    is at or before "now" is resolved.
    """

    labels: Labels
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    generator_url: str = ""
    updated_at: float = 0.0

    @property
    def name(self) -> str:
        return self.labels.get("alertname")

    @property
    def fingerprint(self) -> int:
        return fingerprint(self.labels)

    def resolved(self, now: float) -> bool:
        return self.ends_at is not None and self.ends_at <= now

    def with_times(self, *, starts_at: float, ends_at: float | None, updated_at: float) -> Alert:
        return replace(self, starts_at=starts_at, ends_at=ends_at, updated_at=updated_at)
