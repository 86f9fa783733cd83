"""The ``vigil_health_check_*`` metrics (see :mod:`vigil.agent.health.registry`)."""

from __future__ import annotations

import contextlib
import threading
import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["STATUSES", "HealthMetrics", "metrics_for"]

#: Values of the ``status`` label of ``vigil_health_check_runs_total``.
STATUSES = ("pass", "warn", "fail")


class HealthMetrics:
    """The health metrics of one metrics registry (shared by its HealthRegistries)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.status = Gauge(
            "vigil_health_check_status",
            "Last status of each health check: 1 pass, 0.5 warn, 0 fail.",
            ["check"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.duration = Histogram(
            "vigil_health_check_duration_seconds",
            "Duration of health check runs, timeouts included.",
            ["check"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.runs = Counter(
            "vigil_health_check_runs",
            "Health check runs by outcome.",
            ["check", "status"],
            registry=registry,
        )

    def record(self, check: str, status: str, value: float, duration: float | None) -> None:
        """One run of *check*: its *status* name, gauge *value* and duration."""
        self.status.labels(check).set(value)
        if duration is not None:
            self.duration.labels(check).observe(duration)
        self.runs.labels(check, status).inc()

    def forget(self, name: str) -> None:
        for metric in (self.status, self.duration):
            with contextlib.suppress(KeyError):
                metric.remove(name)
        for status in STATUSES:
            with contextlib.suppress(KeyError):
                self.runs.remove(name, status)


# One metric set per metrics registry: two HealthRegistry objects on the same
# CollectorRegistry must not register the same metric names twice.  This is a
# cache keyed weakly by the registry, not process state.
_metrics_cache: weakref.WeakKeyDictionary[CollectorRegistry, HealthMetrics] = (
    weakref.WeakKeyDictionary()
)
_metrics_cache_lock = threading.Lock()


def metrics_for(registry: CollectorRegistry) -> HealthMetrics:
    with _metrics_cache_lock:
        metrics = _metrics_cache.get(registry)
        if metrics is None:
            metrics = HealthMetrics(registry)
            _metrics_cache[registry] = metrics
        return metrics
