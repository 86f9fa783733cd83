"""Fixtures shared by the whole suite.

Services are the real ones running on this machine; their addresses can be
overridden with environment variables for other machines.
"""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry

POSTGRES_DSN = os.environ.get("VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VIGIL_TEST_REDIS", "redis://127.0.0.1:6379/0")
MYSQL_URL = os.environ.get("VIGIL_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
AMQP_URL = os.environ.get("VIGIL_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh metrics registry, so tests never share series."""
    return CollectorRegistry(auto_describe=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI (``CI=true``) a skipped test is a failure.

    Tests that need PostgreSQL, Prometheus, the conformance data and so on skip on a
    developer's machine without them, but CI installs everything: there a skip means a
    missing install step, and must not pass silently.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where everything it needs is installed: {reason}"
