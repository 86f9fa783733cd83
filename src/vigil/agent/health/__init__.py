"""Health checks: a registry of named checks, built-in checks and the
``application/health+json`` report.

.. code-block:: python

    from vigil.agent.health import HealthRegistry, checks

    health = HealthRegistry()
    health.add("postgres", checks.postgres("postgresql://app@db/app"))
    health.add("disk", checks.disk("/"), critical=False, interval=30)
    results = await health.run_all()
"""

from __future__ import annotations

from vigil.agent.health import checks
from vigil.agent.health.registry import (
    RESERVED_NAMES,
    CheckFunction,
    CheckResult,
    CheckSpec,
    HealthRegistry,
    Status,
    UnknownCheckError,
)
from vigil.agent.health.report import HEALTH_JSON, HealthReport, aggregate, http_status_for

__all__ = [
    "HEALTH_JSON",
    "RESERVED_NAMES",
    "CheckFunction",
    "CheckResult",
    "CheckSpec",
    "HealthRegistry",
    "HealthReport",
    "Status",
    "UnknownCheckError",
    "aggregate",
    "checks",
    "http_status_for",
]
