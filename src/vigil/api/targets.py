"""``GET /api/v1/targets`` in Prometheus's JSON shape, over a small read-only protocol.

The API does not know the scrape manager: the server passes a
:class:`TargetsSource` whose values are the plain records below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from vigil.api.errors import BadDataError

__all__ = ["ActiveTarget", "DroppedTarget", "TargetsSource", "format_duration", "targets_data"]

_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what Prometheus shows before a scrape


@dataclass(frozen=True, slots=True)
class ActiveTarget:
    discovered_labels: Mapping[str, str]
    labels: Mapping[str, str]
    scrape_pool: str
    scrape_url: str
    global_url: str
    health: str  # "up", "down" or "unknown"
    last_error: str = ""
    last_scrape: float | None = None  # Unix seconds
    last_scrape_duration: float = 0.0  # seconds
    scrape_interval: str = ""
    scrape_timeout: str = ""


@dataclass(frozen=True, slots=True)
class DroppedTarget:
    discovered_labels: Mapping[str, str]
    scrape_pool: str = ""


class TargetsSource(Protocol):
    def active_targets(self) -> Sequence[ActiveTarget]: ...

    def dropped_targets(self) -> Sequence[DroppedTarget]: ...


def format_duration(seconds: float) -> str:
    """Prometheus's duration text: ``1m``, ``15s``, ``1h30m``, ``500ms``."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (("y", 31_536_000_000), ("w", 604_800_000), ("d", 86_400_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return _ZERO_TIME
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def targets_data(
    source: TargetsSource, state: str = "any", scrape_pool: str = ""
) -> dict[str, Any]:
    """The ``data`` member of the targets answer (``state`` is active, dropped or any)."""
    if state not in ("active", "dropped", "any", ""):
        raise BadDataError(f"state: {state!r} is not one of active, dropped, any")
    data: dict[str, Any] = {}
    if state in ("active", "any", ""):
        data["activeTargets"] = [
            {
                "discoveredLabels": dict(t.discovered_labels),
                "labels": dict(t.labels),
                "scrapePool": t.scrape_pool,
                "scrapeUrl": t.scrape_url,
                "globalUrl": t.global_url,
                "lastError": t.last_error,
                "lastScrape": _rfc3339(t.last_scrape),
                "lastScrapeDuration": t.last_scrape_duration,
                "health": t.health,
                "scrapeInterval": t.scrape_interval,
                "scrapeTimeout": t.scrape_timeout,
            }
            for t in source.active_targets()
            if not scrape_pool or t.scrape_pool == scrape_pool
        ]
    if state in ("dropped", "any", ""):
        data["droppedTargets"] = [
            {"discoveredLabels": dict(t.discovered_labels)}
            for t in source.dropped_targets()
            if not scrape_pool or t.scrape_pool == scrape_pool
        ]
    return data
