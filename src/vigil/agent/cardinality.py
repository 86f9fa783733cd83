"""A guard that bounds the number of label combinations (series) per metric.

A label that takes unbounded values (a user id, a raw URL path, an error
message) makes a metric grow one series per value until the process, the
scrape and the time-series database all suffer.  :class:`CardinalityGuard`
admits the first ``max_series`` distinct label combinations of a metric; every
later *new* combination is folded into a single overflow series whose label
values are all :data:`OVERFLOW_LABEL_VALUE` (``"__overflow__"``), and one
warning is logged for that metric (logger ``"vigil.agent"``).

Combinations admitted before the limit keep working unchanged, so a metric
never holds more than ``max_series + 1`` series in one process.  The guard is
per process: under a multi-worker server each worker admits its own
combinations, so the aggregate can hold up to ``workers * max_series``
combinations plus the overflow series.

Use it from any code that turns request data into label values::

    guard = CardinalityGuard("http_requests_total", max_series=500)
    counter.labels(*guard.admit((method, route, status))).inc()

or wrap the metric once with :class:`GuardedMetric`, which also caches the
label children (the hot path is then one dict look-up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar, cast

#: Value given to every label of the overflow series.
OVERFLOW_LABEL_VALUE = "__overflow__"

#: Default limit of distinct label combinations per metric.
DEFAULT_MAX_SERIES = 1000

_LOGGER = logging.getLogger("vigil.agent")


class CardinalityGuard:
    """Admits at most ``max_series`` distinct label combinations for one metric.

    ``max_series=None`` disables the limit (the guard then only counts).
    Thread-safe: the fast path (a known combination) takes no lock.
    """

    __slots__ = ("_folded", "_lock", "_logger", "_max_series", "_metric_name", "_seen", "_warned")

    def __init__(
        self,
        metric_name: str,
        max_series: int | None = DEFAULT_MAX_SERIES,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_series is not None and (
            isinstance(max_series, bool) or not isinstance(max_series, int) or max_series < 1
        ):
            raise ValueError(
                f"cardinality limit for metric {metric_name!r} must be a positive integer "
                f"or None (no limit), got {max_series!r}"
            )
        self._metric_name = metric_name
        self._max_series = max_series
        self._logger = logger if logger is not None else _LOGGER
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        self._warned = False
        self._folded = 0

    @property
    def metric_name(self) -> str:
        return self._metric_name

    @property
    def max_series(self) -> int | None:
        return self._max_series

    @property
    def series_count(self) -> int:
        """Distinct label combinations admitted so far (the overflow series excluded)."""
        return len(self._seen)

    @property
    def overflowed(self) -> bool:
        """True once at least one combination has been folded into the overflow series."""
        return self._warned

    @property
    def folded(self) -> int:
        """How many times a new combination was folded into the overflow series."""
        return self._folded

    def admit(self, labelvalues: tuple[str, ...]) -> tuple[str, ...]:
        """Return *labelvalues* when admitted, else the overflow combination of the same length."""
        if labelvalues in self._seen:
            return labelvalues
        with self._lock:
            if labelvalues in self._seen:
                return labelvalues
            if self._max_series is None or len(self._seen) < self._max_series:
                self._seen.add(labelvalues)
                return labelvalues
            self._folded += 1
            first = not self._warned
            self._warned = True
        if first:
            self._logger.warning(
                "metric %s exceeded its limit of %d label combinations; new combinations "
                "are recorded in one overflow series whose labels are all %r",
                self._metric_name,
                self._max_series,
                OVERFLOW_LABEL_VALUE,
                extra={"metric": self._metric_name, "max_series": self._max_series},
            )
        return overflow_labelvalues(len(labelvalues))

    def is_overflow(self, labelvalues: Sequence[str]) -> bool:
        """True when *labelvalues* is the overflow combination."""
        return bool(labelvalues) and all(v == OVERFLOW_LABEL_VALUE for v in labelvalues)


def overflow_labelvalues(count: int) -> tuple[str, ...]:
    """The overflow combination for a metric with *count* labels."""
    return (OVERFLOW_LABEL_VALUE,) * count


class _Labelled(Protocol):
    def labels(self, *labelvalues: object, **labelkwargs: object) -> _Labelled: ...


M = TypeVar("M", bound=_Labelled)


class GuardedMetric(Generic[M]):
    """A labelled metric behind a :class:`CardinalityGuard`, with its children cached.

    ``GuardedMetric(counter, 500).labels("GET", "/users/{id}", "200").inc()``
    """

    __slots__ = ("_children", "_guard", "_lock", "metric")

    def __init__(
        self,
        metric: M,
        max_series: int | None = DEFAULT_MAX_SERIES,
        *,
        name: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.metric = metric
        metric_name = name if name is not None else str(getattr(metric, "_name", repr(metric)))
        self._guard = CardinalityGuard(metric_name, max_series, logger=logger)
        self._children: dict[tuple[str, ...], M] = {}
        self._lock = threading.Lock()

    @property
    def guard(self) -> CardinalityGuard:
        return self._guard

    def labels(self, *labelvalues: str) -> M:
        """The child for *labelvalues*, or the overflow child once the limit is reached."""
        child: M | None = self._children.get(labelvalues)
        if child is not None:
            return child
        admitted = self._guard.admit(labelvalues)
        child = self._children.get(admitted)
        if child is None:
            with self._lock:
                child = self._children.get(admitted)
                if child is None:
                    child = cast(M, self.metric.labels(*admitted))
                    self._children[admitted] = child
        # Only admitted combinations are cached under their own key, so the cache
        # stays bounded by max_series + 1 entries.
        return child
