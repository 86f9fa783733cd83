from __future__ import annotations

import json
from typing import Any

import pytest

from vigil.agent.health.registry import CheckResult, Status
from vigil.agent.health.report import (
    HEALTH_JSON,
    HealthReport,
    aggregate,
    format_time,
    http_status_for,
    result_entry,
)


def result(status: str, *, critical: bool = True, name: str = "c", **kwargs: Any) -> CheckResult:
    return CheckResult(Status(status), name=name, critical=critical, **kwargs)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], Status.PASS),
        ([result("pass"), result("pass", critical=False)], Status.PASS),
        ([result("pass"), result("warn")], Status.WARN),
        ([result("pass"), result("warn", critical=False)], Status.WARN),
        ([result("pass"), result("fail", critical=False)], Status.WARN),
        ([result("warn"), result("fail", critical=False)], Status.WARN),
        ([result("pass"), result("fail")], Status.FAIL),
        ([result("fail", critical=False), result("fail")], Status.FAIL),
        ([result("fail"), result("warn")], Status.FAIL),
    ],
)
def test_aggregate(results: list[CheckResult], expected: Status) -> None:
    assert aggregate(results) is expected
    assert HealthReport.from_results(results).status is expected


@pytest.mark.parametrize(
    ("status", "code"), [(Status.PASS, 200), (Status.WARN, 200), (Status.FAIL, 503)]
)
def test_http_status(status: Status, code: int) -> None:
    assert http_status_for(status) == code
    assert HealthReport(status).http_status == code


def test_media_type() -> None:
    assert HEALTH_JSON == "application/health+json"


def test_format_time_is_utc_with_milliseconds() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"


def test_document_follows_the_draft() -> None:
    db = CheckResult(
        Status.PASS,
        details={"serverVersion": "16.2"},
        observed_value=1.5,
        observed_unit="ms",
        measurement="responseTime",
        component_type="datastore",
        name="postgres",
        critical=True,
        duration_seconds=0.002,
        checked_at=1_700_000_000.0,
    )
    cache = CheckResult(
        Status.FAIL,
        "Redis at redis://127.0.0.1:1/0 is unreachable",
        measurement="responseTime",
        observed_value=0.4,
        observed_unit="ms",
        component_type="datastore",
        name="redis",
        critical=False,
        checked_at=1_700_000_000.0,
    )
    disk = CheckResult(
        Status.WARN,
        "disk / is at 85.0%",
        measurement="utilization",
        observed_value=85.0,
        observed_unit="percent",
        component_type="system",
        component_id="/",
        name="disk",
    )
    report = HealthReport.from_results([db, cache, disk])
    doc = report.to_dict(
        service_id="orders",
        version="1",
        release_id="1.4.2",
        description="orders API",
        notes=["canary"],
    )
    assert doc == {
        "status": "warn",
        "version": "1",
        "releaseId": "1.4.2",
        "serviceId": "orders",
        "description": "orders API",
        "notes": ["canary"],
        "output": "degraded: redis fail, disk warn",
        "checks": {
            "postgres:responseTime": [
                {
                    "componentType": "datastore",
                    "observedValue": 1.5,
                    "observedUnit": "ms",
                    "status": "pass",
                    "time": "2023-11-14T22:13:20.000Z",
                    "critical": True,
                    "durationMs": 2.0,
                    "details": {"serverVersion": "16.2"},
                }
            ],
            "redis:responseTime": [
                {
                    "componentType": "datastore",
                    "observedValue": 0.4,
                    "observedUnit": "ms",
                    "status": "fail",
                    "time": "2023-11-14T22:13:20.000Z",
                    "output": "Redis at redis://127.0.0.1:1/0 is unreachable",
                    "critical": False,
                }
            ],
            "disk:utilization": [
                {
                    "componentId": "/",
                    "componentType": "system",
                    "observedValue": 85.0,
                    "observedUnit": "percent",
                    "status": "warn",
                    "output": "disk / is at 85.0%",
                    "critical": True,
                }
            ],
        },
    }
    assert json.loads(report.to_json(service_id="orders"))["serviceId"] == "orders"


def test_minimal_document_and_unhealthy_output() -> None:
    assert HealthReport.from_results([]).to_dict() == {"status": "pass", "checks": {}}
    doc = HealthReport.from_results([result("fail", name="db"), result("pass", name="x")]).to_dict()
    assert doc["status"] == "fail"
    assert doc["output"] == "unhealthy: db fail"
    # A check without a measurement is keyed by its name alone.
    assert set(doc["checks"]) == {"db", "x"}


def test_output_is_omitted_for_pass_and_never_empty_for_failures() -> None:
    assert "output" not in result_entry(result("pass", output="all good"))
    assert result_entry(result("fail"))["output"] == "check reported fail"


def test_single_check_report_uses_the_check_own_status() -> None:
    report = HealthReport.for_check(result("fail", critical=False, output="down"))
    assert report.status is Status.FAIL
    assert report.http_status == 503
    assert report.to_dict()["output"] == "down"


def test_unencodable_values_are_made_safe() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing"

    report = HealthReport.from_results(
        [result("pass", observed_value=float("nan"), details={"obj": Thing(), 3: (1, 2)})]
    )
    doc = json.loads(report.to_json())
    entry = doc["checks"]["c"][0]
    assert entry["observedValue"] == "nan"
    assert entry["details"] == {"obj": "thing", "3": [1, 2]}
