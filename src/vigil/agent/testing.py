"""Helpers for testing your own instrumentation.

::

    from vigil.agent.testing import capture_logs, fresh_registry, sample_value

    def test_checkout_is_timed():
        registry = fresh_registry()
        checkout = timed("checkout", registry=registry)(do_checkout)
        with capture_logs() as logs:
            checkout(cart)
        assert sample_value(registry, "checkout_duration_seconds_count") == 1
        assert logs[0]["message"] == "checkout done"

Captured records are dicts with the same fields as the JSON log lines
(:func:`vigil.agent.logs.record_to_dict`), so a test sees what production logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry

from vigil.agent.logs import record_to_dict

__all__ = ["CapturingHandler", "capture_logs", "fresh_registry", "sample_value", "sample_values"]


def fresh_registry() -> CollectorRegistry:
    """A new, empty registry: pass it as ``registry=`` so a test sees only its own series."""
    return CollectorRegistry(auto_describe=True)


class CapturingHandler(logging.Handler):
    """Appends every record it handles, as a dict, to :attr:`entries`."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(record_to_dict(record))


@contextmanager
def capture_logs(
    logger: str | logging.Logger | None = None, level: int | str = logging.DEBUG
) -> Iterator[list[dict[str, Any]]]:
    """Capture records reaching *logger* (default: the root logger) at *level* or above.

    Yields the list the records are appended to.  The logger's level is set to
    *level* for the block and restored afterwards; its other handlers still run.
    A logger that doesn't propagate (``uvicorn.access``...) must be named here
    to be captured.
    """
    target = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"capture_logs(): unknown log level {level!r}")
    handler = CapturingHandler(numeric)
    old_level = target.level
    old_disabled = target.disabled
    target.addHandler(handler)
    target.setLevel(numeric)
    target.disabled = False
    try:
        yield handler.entries
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
        target.disabled = old_disabled


def sample_value(
    registry: CollectorRegistry, name: str, labels: Mapping[str, str] | None = None
) -> float | None:
    """The value of the sample *name* with exactly *labels*, or ``None`` when there is none.

    *name* is the sample name as exposed: ``requests_total``,
    ``latency_seconds_count``, ``latency_seconds_bucket`` (with ``le`` in *labels*).
    """
    return registry.get_sample_value(name, dict(labels or {}))


def sample_values(
    registry: CollectorRegistry, name: str
) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample called *name*, keyed by its label set (as a frozenset of pairs)."""
    out: dict[frozenset[tuple[str, str]], float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name:
                out[frozenset(sample.labels.items())] = sample.value
    return out
