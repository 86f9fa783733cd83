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
