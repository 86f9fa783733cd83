"""Aggregate check results and render them as ``application/health+json``.

The format follows the IETF draft "Health Check Response Format for HTTP
APIs" (draft-inadarei-api-health-check-06):

.. code-block:: json

    {
      "status": "warn",
      "version": "1", "releaseId": "1.4.2", "serviceId": "orders",
      "description": "orders API",
      "output": "degraded: redis fail",
      "checks": {
        "postgres:responseTime": [{
          "componentType": "datastore", "observedValue": 1.9, "observedUnit": "ms",
          "status": "pass", "time": "2026-01-02T03:04:05.678Z",
          "critical": true, "durationMs": 2.4,
          "details": {"serverVersion": "16.2"}
        }],
        "redis:responseTime": [{"status": "fail", "output": "cannot connect ...", ...}]
      }
    }

Each check gives one entry under the key ``"<check name>:<measurement>"``
(``responseTime`` unless the check reports another measurement, such as
``utilization`` for disk, memory and CPU).  ``output`` is omitted for passing
checks, as the draft recommends.  Three members are Vigil extensions, which
the draft's consumers ignore: ``critical`` (whether the check can make the
service fail), ``durationMs`` (how long the run took) and ``details`` (extra
facts such as server versions and byte counts; only when non-empty).

Aggregation: a failing critical check makes the service ``fail`` (HTTP
503); a failing non-critical check or any ``warn`` makes it ``warn``
("degraded", HTTP 200); otherwise it is ``pass`` (HTTP 200).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.agent.health.registry import CheckResult, Status

__all__ = [
    "HEALTH_JSON",
    "HealthReport",
    "aggregate",
    "http_status_for",
    "result_entry",
]

#: Media type of the IETF draft.
HEALTH_JSON = "application/health+json"


def aggregate(results: Iterable[CheckResult]) -> Status:
    """The service status for these check results (see the module docstring)."""
    status = Status.PASS
    for result in results:
        if result.status is Status.FAIL:
            if result.critical:
                return Status.FAIL
            status = Status.WARN
        elif result.status is Status.WARN:
            status = Status.WARN
    return status


def http_status_for(status: Status) -> int:
    """HTTP status code for a service status: 503 for fail, 200 otherwise."""
    return 503 if status is Status.FAIL else 200


@dataclass(frozen=True)
class HealthReport:
    """An aggregated set of check results, ready to render."""

    status: Status
    checks: tuple[CheckResult, ...] = ()
    output: str = ""

    @classmethod
    def from_results(cls, results: Iterable[CheckResult]) -> HealthReport:
        """Aggregate several checks (``/health``, ``/health/ready``)."""
        checks = tuple(results)
        status = aggregate(checks)
        return cls(status, checks, _summary(status, checks))

    @classmethod
    def for_check(cls, result: CheckResult) -> HealthReport:
        """The report of one check (``/health/{name}``): its own status counts,
        whether or not it is critical."""
        return cls(
            result.status, (result,), result.output if result.status is not Status.PASS else ""
        )

    @property
    def http_status(self) -> int:
        return http_status_for(self.status)

    def to_dict(
        self,
        *,
        service_id: str | None = None,
        version: str | None = None,
        release_id: str | None = None,
        description: str | None = None,
        notes: Iterable[str] = (),
        include_checks: bool = True,
    ) -> dict[str, Any]:
        """The ``application/health+json`` document as a dict.

        With ``include_checks=False`` the ``checks`` member is left out (the
        liveness endpoint answers just ``{"status": "pass"}``).
        """
        doc: dict[str, Any] = {"status": self.status.value}
        for key, value in (
            ("version", version),
            ("releaseId", release_id),
            ("serviceId", service_id),
            ("description", description),
        ):
            if value is not None:
                doc[key] = value
        notes = list(notes)
        if notes:
            doc["notes"] = notes
        if self.output:
            doc["output"] = self.output
        if not include_checks:
            return doc
        checks: dict[str, list[dict[str, Any]]] = {}
        for result in self.checks:
            key = f"{result.name}:{result.measurement}" if result.measurement else result.name
            checks.setdefault(key, []).append(result_entry(result))
        doc["checks"] = checks
        return doc

    def to_json(self, **kwargs: Any) -> bytes:
        """The document encoded as UTF-8 JSON (arguments as for :meth:`to_dict`)."""
        return json.dumps(
            _json_safe(self.to_dict(**kwargs)), separators=(",", ":"), ensure_ascii=False
        ).encode()


def result_entry(result: CheckResult) -> dict[str, Any]:
    """One entry of the ``checks`` object for *result*."""
    entry: dict[str, Any] = {}
    if result.component_id is not None:
        entry["componentId"] = result.component_id
    if result.component_type is not None:
        entry["componentType"] = result.component_type
    if result.observed_value is not None:
        entry["observedValue"] = result.observed_value
        if result.observed_unit is not None:
            entry["observedUnit"] = result.observed_unit
    entry["status"] = result.status.value
    if result.checked_at is not None:
        entry["time"] = format_time(result.checked_at)
    if result.output and result.status is not Status.PASS:
        entry["output"] = result.output
    elif result.status is not Status.PASS:
        entry["output"] = f"check reported {result.status.value}"
    entry["critical"] = result.critical
    if result.duration_seconds is not None:
        entry["durationMs"] = round(result.duration_seconds * 1000, 3)
    if result.details:
        entry["details"] = dict(result.details)
    return entry


def format_time(unix_seconds: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``: ``2026-01-02T03:04:05.678Z``."""
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _summary(status: Status, checks: tuple[CheckResult, ...]) -> str:
    if status is Status.PASS:
        return ""
    bad = [c for c in checks if c.status is not Status.PASS]
    listed = ", ".join(f"{c.name} {c.status.value}" for c in bad)
    if status is Status.FAIL:
        return f"unhealthy: {listed}"
    return f"degraded: {listed}"


def _json_safe(value: Any) -> Any:
    """Make *value* JSON-encodable: non-finite floats become strings, unknown
    objects their ``str``, mapping keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    return str(value)
