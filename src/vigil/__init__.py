"""Vigil: observability for Python services.

``vigil.instrument(app)`` is the one-line setup for FastAPI, Starlette and
Flask applications (Django: :mod:`vigil.agent.django`). Everything it mounts is
also available on its own from :mod:`vigil.agent`.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from vigil.agent.context import get_request_id
from vigil.agent.decorators import db_operation, timed
from vigil.agent.health import checks
from vigil.agent.health.registry import CheckResult, HealthRegistry, Status
from vigil.agent.logs import configure_logging
from vigil.agent.metrics import (
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    MetricDefinitionError,
    MetricsCollector,
    MetricTypeError,
    Summary,
)
from vigil.agent.setup import Instrumentation, instrument

try:
    __version__ = _version("vigil")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CheckResult",
    "Counter",
    "Enum",
    "Gauge",
    "HealthRegistry",
    "Histogram",
    "Info",
    "Instrumentation",
    "MetricDefinitionError",
    "MetricTypeError",
    "MetricsCollector",
    "Status",
    "Summary",
    "__version__",
    "checks",
    "configure_logging",
    "db_operation",
    "get_request_id",
    "instrument",
    "timed",
]
