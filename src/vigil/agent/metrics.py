"""Metric types with definition-time validation, and a small collector facade.

:class:`Counter`, :class:`Gauge`, :class:`Histogram`, :class:`Summary`,
:class:`Info` and :class:`Enum` are prometheus_client's classes with the same
constructor signatures (``registry=`` included).  They differ in one way: a
metric or label name that Prometheus would reject raises
:class:`MetricDefinitionError` when the metric is defined, with the name, the
offending character, its position and the rule.  Names follow Prometheus's
classic rules, which every Prometheus version and every scraper accepts:

* metric names: ``[a-zA-Z_:][a-zA-Z0-9_:]*``
* label names: ``[a-zA-Z_][a-zA-Z0-9_]*``, and not starting with ``__``
  (reserved for Prometheus's internal labels).

:class:`MetricsCollector` creates business metrics on first use
(``increment_counter``, ``set_gauge``, ``observe``), rejects a name reused as
another type or with other label names (:class:`MetricTypeError`), and bounds
each metric's label combinations with a
:class:`~vigil.agent.cardinality.CardinalityGuard`.

Importing this module runs :func:`vigil.agent.multiprocess.setup`, so under
gunicorn or ``uvicorn --workers N`` every metric created afterwards is shared
across workers.  Import it (or ``vigil``) before creating metrics.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from vigil.agent import multiprocess
from vigil.agent.cardinality import DEFAULT_MAX_SERIES, CardinalityGuard

__all__ = [
    "Counter",
    "Enum",
    "Gauge",
    "Histogram",
    "Info",
    "MetricDefinitionError",
    "MetricTypeError",
    "MetricsCollector",
    "check_label_name",
    "check_metric_name",
]

# Multi-worker detection must happen before any metric is created.
multiprocess.setup()

METRIC_NAME_RULE = (
    "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]* "
    "(ASCII letters, digits, '_' and ':', not starting with a digit)"
)
LABEL_NAME_RULE = (
    "label names must match [a-zA-Z_][a-zA-Z0-9_]* "
    "(ASCII letters, digits and '_', not starting with a digit) "
    "and must not start with '__' (reserved by Prometheus)"
)

_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_METRIC_FIRST = _ASCII_LETTERS | {"_", ":"}
_METRIC_REST = _METRIC_FIRST | _DIGITS
_LABEL_FIRST = _ASCII_LETTERS | {"_"}
_LABEL_REST = _LABEL_FIRST | _DIGITS

GaugeMode = Literal[
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
]


class MetricDefinitionError(ValueError):
    """A metric is defined with an invalid name, label or option."""


class MetricTypeError(MetricDefinitionError):
    """A metric name is reused with another type or other label names."""


def _bad_char(name: str, first: frozenset[str], rest: frozenset[str]) -> int | None:
    for index, char in enumerate(name):
        if char not in (first if index == 0 else rest):
            return index
    return None


def _describe_bad_char(name: str, index: int) -> str:
    char = name[index]
    why = "cannot start a name" if index == 0 and char in _DIGITS else "is not allowed"
    return f"character {char!r} at position {index + 1} {why}"


def check_metric_name(name: str, *, what: str = "metric name") -> None:
    """Raise :class:`MetricDefinitionError` unless *name* is a valid Prometheus metric name."""
    if not isinstance(name, str):
        raise MetricDefinitionError(f"invalid {what} {name!r}: expected a string")
    if not name:
        raise MetricDefinitionError(f"invalid {what} '': it is empty; {METRIC_NAME_RULE}")
    index = _bad_char(name, _METRIC_FIRST, _METRIC_REST)
    if index is not None:
        raise MetricDefinitionError(
            f"invalid {what} {name!r}: {_describe_bad_char(name, index)}; {METRIC_NAME_RULE}"
        )


def check_label_name(name: str, *, metric: str | None = None) -> None:
    """Raise :class:`MetricDefinitionError` unless *name* is a valid Prometheus label name."""
    where = f" of metric {metric!r}" if metric else ""
    if not isinstance(name, str):
        raise MetricDefinitionError(f"invalid label name {name!r}{where}: expected a string")
    if not name:
        raise MetricDefinitionError(f"invalid label name ''{where}: it is empty; {LABEL_NAME_RULE}")
    index = _bad_char(name, _LABEL_FIRST, _LABEL_REST)
    if index is not None:
        raise MetricDefinitionError(
            f"invalid label name {name!r}{where}: {_describe_bad_char(name, index)}; "
            f"{LABEL_NAME_RULE}"
        )
    if name.startswith("__"):
        raise MetricDefinitionError(
            f"invalid label name {name!r}{where}: names starting with '__' are reserved; "
            f"{LABEL_NAME_RULE}"
        )


def _check_definition(
    kind: str,
    name: str,
    namespace: str,
    subsystem: str,
    unit: str,
    labelnames: Iterable[str],
    reserved: Sequence[str],
) -> tuple[str, ...]:
    """Validate the parts of a metric definition; return the label names as a tuple."""
    parts = [("namespace", namespace), ("subsystem", subsystem), ("name", name), ("unit", unit)]
    for arg, value in parts:
        if not isinstance(value, str):
            raise MetricDefinitionError(
                f"invalid {kind} {arg} {value!r}: expected a string, got {type(value).__name__}"
            )
    if not name:
        raise MetricDefinitionError(f"invalid {kind} name '': it is empty; {METRIC_NAME_RULE}")
    # The full name is namespace_subsystem_name_unit; only its first character
    # may not be a digit, so check each part with the right first-character rule.
    leading = True
    for arg, value in parts:
        if not value:
            continue
        index = _bad_char(value, _METRIC_FIRST if leading else _METRIC_REST, _METRIC_REST)
        if index is not None:
            full = "_".join(v for _, v in parts if v)
            raise MetricDefinitionError(
                f"invalid {kind} {arg} {value!r} (full name {full!r}): "
                f"{_describe_bad_char(value, index)}; {METRIC_NAME_RULE}"
            )
        leading = False
    if isinstance(labelnames, str):
        raise MetricDefinitionError(
            f"labelnames of {kind} {name!r} must be a sequence of names, not the string "
            f"{labelnames!r} (did you mean [{labelnames!r}]?)"
        )
    names = tuple(labelnames)
    seen: set[str] = set()
    for label in names:
        check_label_name(label, metric=name)
        if label in reserved:
            raise MetricDefinitionError(
                f"invalid label name {label!r} of {kind} {name!r}: {label!r} is reserved "
                f"for the {kind}'s own samples"
            )
        if label in seen:
            raise MetricDefinitionError(
                f"label name {label!r} appears twice in the labels of {kind} {name!r}"
            )
        seen.add(label)
    return names


def _definition_error(kind: str, name: str, exc: ValueError) -> MetricDefinitionError:
    return MetricDefinitionError(f"cannot define {kind} {name!r}: {exc}")


class Counter(prometheus_client.Counter):
    """prometheus_client's Counter, with names validated at definition time."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
    ) -> None:
        if _labelvalues is None:
            labelnames = _check_definition(
                "counter", name, namespace, subsystem, unit, labelnames, self._reserved_labelnames
            )
        try:
            super().__init__(
                name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues
            )
        except MetricDefinitionError:
            raise
        except ValueError as exc:
            raise _definition_error("counter", name, exc) from exc


class Gauge(prometheus_client.Gauge):
    """prometheus_client's Gauge, with names validated at definition time.

    Under a multi-worker server ``multiprocess_mode`` decides how the workers'
    values combine: ``"all"`` (the default) gives one series per live worker
    with a ``pid`` label; ``"livesum"`` sums live workers (use it for counts of
    things in progress); ``"sum"``, ``"min"``, ``"max"`` and ``"mostrecent"``
    also keep the last values of workers that died; the ``live*`` modes forget
    them.  See :mod:`vigil.agent.multiprocess`.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
        multiprocess_mode: GaugeMode = "all",
    ) -> None:
        if _labelvalues is None:
            labelnames = _check_definition(
                "gauge", name, namespace, subsystem, unit, labelnames, self._reserved_labelnames
            )
            if multiprocess_mode not in self._MULTIPROC_MODES:
                raise MetricDefinitionError(
                    f"invalid multiprocess_mode {multiprocess_mode!r} of gauge {name!r}: "
                    f"expected one of {', '.join(sorted(self._MULTIPROC_MODES))}"
                )
        try:
            super().__init__(
                name,
                documentation,
                labelnames,
                namespace,
                subsystem,
                unit,
                registry,
                _labelvalues,
                multiprocess_mode,
            )
        except MetricDefinitionError:
            raise
        except ValueError as exc:
            raise _definition_error("gauge", name, exc) from exc


class Histogram(prometheus_client.Histogram):
    """prometheus_client's Histogram, with names and buckets validated at definition time."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
        buckets: Sequence[float | str] = prometheus_client.Histogram.DEFAULT_BUCKETS,
    ) -> None:
        if _labelvalues is None:
            labelnames = _check_definition(
                "histogram", name, namespace, subsystem, unit, labelnames, self._reserved_labelnames
            )
            _check_buckets(name, buckets)
        try:
            super().__init__(
                name,
                documentation,
                labelnames,
                namespace,
                subsystem,
                unit,
                registry,
                _labelvalues,
                buckets,
            )
        except MetricDefinitionError:
            raise
        except ValueError as exc:
            raise _definition_error("histogram", name, exc) from exc


def _check_buckets(name: str, buckets: Sequence[float | str]) -> None:
    try:
        bounds = [float(b) for b in buckets]
    except (TypeError, ValueError) as exc:
        raise MetricDefinitionError(
            f"invalid buckets of histogram {name!r}: {list(buckets)!r} are not all numbers ({exc})"
        ) from exc
    for index, bound in enumerate(bounds):
        if math.isnan(bound):
            raise MetricDefinitionError(
                f"invalid buckets of histogram {name!r}: bucket {index + 1} is NaN"
            )
        if index and bound <= bounds[index - 1]:
            raise MetricDefinitionError(
                f"invalid buckets of histogram {name!r}: bucket {index + 1} ({bound!r}) is not "
                f"greater than bucket {index} ({bounds[index - 1]!r}); buckets must be strictly "
                "increasing"
            )
    if not bounds or (len(bounds) == 1 and bounds[0] == math.inf):
        raise MetricDefinitionError(
            f"invalid buckets of histogram {name!r}: at least one finite upper bound is needed"
        )


class Summary(prometheus_client.Summary):
    """prometheus_client's Summary, with names validated at definition time."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
    ) -> None:
        if _labelvalues is None:
            labelnames = _check_definition(
                "summary", name, namespace, subsystem, unit, labelnames, self._reserved_labelnames
            )
        try:
            super().__init__(
                name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues
            )
        except MetricDefinitionError:
            raise
        except ValueError as exc:
            raise _definition_error("summary", name, exc) from exc


class Info(prometheus_client.Info):
    """prometheus_client's Info, with names validated at definition time.

    Info metrics are per process: they are not part of the multi-worker aggregate.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
    ) -> None:
        if _labelvalues is None:
            labelnames = _check_definition(
                "info", name, namespace, subsystem, unit, labelnames, self._reserved_labelnames
            )
        try:
            super().__init__(
                name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues
            )
        except MetricDefinitionError:
            raise
        except ValueError as exc:
            raise _definition_error("info", name, exc) from exc

    def info(self, val: dict[str, str]) -> None:
        for key in val:
            check_label_name(key, metric=self._name)
        try:
            super().info(val)
        except ValueError as exc:
            raise MetricDefinitionError(f"invalid value for info {self._name!r}: {exc}") from exc


class Enum(prometheus_client.Enum):
    """prometheus_client's Enum, with names and states validated at definition time.

    Enum metrics are per process: they are not part of the multi-worker aggregate.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> None:
        if _labelvalues is None:
            labelnames = _check_definition(
                "enum", name, namespace, subsystem, unit, labelnames, self._reserved_labelnames
            )
            full = "_".join(p for p in (namespace, subsystem, name) if p)
            if name in labelnames or full in labelnames:
                raise MetricDefinitionError(
                    f"invalid label name of enum {name!r}: a label cannot have the metric's "
                    "own name, which holds the state"
                )
            if not states:
                raise MetricDefinitionError(f"enum {name!r} needs at least one state (states=)")
            if len(set(states)) != len(states):
                raise MetricDefinitionError(f"enum {name!r} has duplicate states: {list(states)!r}")
        try:
            super().__init__(
                name,
                documentation,
                labelnames,
                namespace,
                subsystem,
                unit,
                registry,
                _labelvalues,
                states,
            )
        except MetricDefinitionError:
            raise
        except ValueError as exc:
            raise _definition_error("enum", name, exc) from exc


# --------------------------------------------------------------------------- facade

_KIND_COUNTER = "counter"
_KIND_GAUGE = "gauge"
_KIND_HISTOGRAM = "histogram"


@dataclass
class _Entry:
    kind: str
    labelnames: tuple[str, ...]
    metric: Any
    guard: CardinalityGuard
    buckets: tuple[float, ...] | None = None
    children: dict[tuple[str, ...], Any] = field(default_factory=dict)


class MetricsCollector:
    """Business metrics created on first use, with a cardinality guard per metric.

    >>> metrics = MetricsCollector(registry)
    >>> metrics.increment_counter("orders_total", labels={"region": "eu"})
    >>> metrics.set_gauge("queue_depth", 12)
    >>> metrics.observe("order_value_euros", 31.5, buckets=[10, 50, 100])

    A name is bound to one type and one set of label names by its first use;
    using it otherwise raises :class:`MetricTypeError`.  ``namespace`` is
    prepended to every name (``shop`` + ``orders`` -> ``shop_orders``).
    Counters are keyed without their ``_total`` suffix, as Prometheus does:
    ``increment_counter("orders")`` and ``increment_counter("orders_total")``
    update the same counter.
    """

    def __init__(
        self,
        registry: CollectorRegistry = REGISTRY,
        *,
        namespace: str = "",
        max_series_per_metric: int | None = DEFAULT_MAX_SERIES,
        logger: logging.Logger | None = None,
    ) -> None:
        if namespace:
            check_metric_name(namespace, what="metric namespace")
        # Validate the limit once here rather than on the first metric.
        CardinalityGuard("<limit check>", max_series_per_metric)
        self._registry = registry
        self._namespace = namespace
        self._max_series = max_series_per_metric
        self._logger = logger
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    @property
    def registry(self) -> CollectorRegistry:
        return self._registry

    def increment_counter(
        self,
        name: str,
        value: float = 1.0,
        labels: Mapping[str, object] | None = None,
        documentation: str = "",
    ) -> None:
        """Add *value* (>= 0) to counter *name*, creating it on first use."""
        if value < 0 or math.isnan(value):
            raise ValueError(
                f"counter {self._full(_KIND_COUNTER, name)!r} can only be incremented by a "
                f"non-negative amount, got {value!r}"
            )
        child = self._child(_KIND_COUNTER, name, labels, documentation)
        child.inc(value)

    def set_gauge(
        self,
        name: str,
        value: float,
        labels: Mapping[str, object] | None = None,
        documentation: str = "",
        *,
        multiprocess_mode: GaugeMode = "mostrecent",
    ) -> None:
        """Set gauge *name* to *value*, creating it on first use.

        Under a multi-worker server the gauge shows the value set most recently
        by any worker (``multiprocess_mode="mostrecent"``); pass another mode at
        first use to change that (``"livesum"`` to add up the workers' values).
        """
        child = self._child(
            _KIND_GAUGE, name, labels, documentation, multiprocess_mode=multiprocess_mode
        )
        child.set(value)

    def observe(
        self,
        name: str,
        value: float,
        labels: Mapping[str, object] | None = None,
        documentation: str = "",
        buckets: Sequence[float] | None = None,
    ) -> None:
        """Record *value* in histogram *name*, creating it on first use.

        *buckets* applies when the histogram is created (default: prometheus_client's
        latency buckets); passing different buckets later raises
        :class:`MetricDefinitionError`.
        """
        child = self._child(_KIND_HISTOGRAM, name, labels, documentation, buckets=buckets)
        child.observe(value)

    def get(self, name: str) -> MetricWrapperBase | None:
        """The metric created for *name*, if any (counter names with or without ``_total``)."""
        for kind in (_KIND_COUNTER, _KIND_GAUGE, _KIND_HISTOGRAM):
            entry = self._entries.get(self._full(kind, name))
            if entry is not None:
                metric: MetricWrapperBase = entry.metric
                return metric
        return None

    def guard(self, name: str) -> CardinalityGuard | None:
        """The cardinality guard of metric *name*, if it exists."""
        for kind in (_KIND_COUNTER, _KIND_GAUGE, _KIND_HISTOGRAM):
            entry = self._entries.get(self._full(kind, name))
            if entry is not None:
                return entry.guard
        return None

    # -- internals

    def _full(self, kind: str, name: str) -> str:
        full = f"{self._namespace}_{name}" if self._namespace else name
        if kind == _KIND_COUNTER and full.endswith("_total"):
            full = full[:-6]
        return full

    def _child(
        self,
        kind: str,
        name: str,
        labels: Mapping[str, object] | None,
        documentation: str,
        *,
        buckets: Sequence[float] | None = None,
        multiprocess_mode: GaugeMode = "all",
    ) -> Any:
        full = self._full(kind, name)
        labelnames = tuple(sorted(labels)) if labels else ()
        entry = self._entries.get(full)
        if entry is None or entry.kind != kind or entry.labelnames != labelnames:
            entry = self._entry(
                kind, name, full, labelnames, documentation, buckets, multiprocess_mode
            )
        elif buckets is not None and entry.buckets != _normalise_buckets(buckets):
            raise MetricDefinitionError(
                f"histogram {full!r} was created with buckets {list(entry.buckets or ())!r}; "
                f"this call asks for {list(_normalise_buckets(buckets))!r}"
            )
        if not labelnames:
            return entry.metric
        assert labels is not None
        values = tuple(str(labels[n]) for n in labelnames)
        child = entry.children.get(values)
        if child is None:
            admitted = entry.guard.admit(values)
            child = entry.children.get(admitted)
            if child is None:
                with self._lock:
                    child = entry.children.get(admitted)
                    if child is None:
                        child = entry.metric.labels(*admitted)
                        entry.children[admitted] = child
        return child

    def _entry(
        self,
        kind: str,
        name: str,
        full: str,
        labelnames: tuple[str, ...],
        documentation: str,
        buckets: Sequence[float] | None,
        multiprocess_mode: GaugeMode,
    ) -> _Entry:
        with self._lock:
            entry = self._entries.get(full)
            if entry is not None:
                if entry.kind != kind:
                    raise MetricTypeError(
                        f"metric {full!r} is already a {entry.kind} "
                        f"(labels {list(entry.labelnames)!r}); it cannot also be used as a {kind}"
                    )
                if entry.labelnames != labelnames:
                    raise MetricTypeError(
                        f"{kind} {full!r} was created with labels {list(entry.labelnames)!r}; "
                        f"this call uses labels {list(labelnames)!r}"
                    )
                return entry
            for label in labelnames:
                check_label_name(label, metric=full)
            metric: MetricWrapperBase
            try:
                if kind == _KIND_COUNTER:
                    metric = Counter(full, documentation, labelnames, registry=self._registry)
                elif kind == _KIND_GAUGE:
                    metric = Gauge(
                        full,
                        documentation,
                        labelnames,
                        registry=self._registry,
                        multiprocess_mode=multiprocess_mode,
                    )
                else:
                    metric = Histogram(
                        full,
                        documentation,
                        labelnames,
                        registry=self._registry,
                        buckets=buckets
                        if buckets is not None
                        else prometheus_client.Histogram.DEFAULT_BUCKETS,
                    )
            except MetricDefinitionError as exc:
                owner = self._registered_collector(full, kind)
                mine = next((e for e in self._entries.values() if e.metric is owner), None)
                if mine is not None:
                    raise MetricTypeError(
                        f"{kind} {full!r} cannot be created: its samples would clash with "
                        f"{mine.kind} {mine.metric._name!r} (labels {list(mine.labelnames)!r}) "
                        "of this collector"
                    ) from exc
                if owner is not None:
                    existing = str(getattr(owner, "_type", type(owner).__name__))
                    raise MetricTypeError(
                        f"{kind} {full!r} cannot be created: the registry already holds a "
                        f"{existing} with that name (defined outside this MetricsCollector)"
                    ) from exc
                raise
            entry = _Entry(
                kind=kind,
                labelnames=labelnames,
                metric=metric,
                guard=CardinalityGuard(full, self._max_series, logger=self._logger),
                buckets=_normalise_buckets(buckets)
                if kind == _KIND_HISTOGRAM and buckets is not None
                else (
                    _normalise_buckets(prometheus_client.Histogram.DEFAULT_BUCKETS)
                    if kind == _KIND_HISTOGRAM
                    else None
                ),
            )
            self._entries[full] = entry
            return entry

    def _registered_collector(self, full: str, kind: str) -> object | None:
        """The collector already registered under *full* (or one of its sample names)."""
        names_to_collectors: dict[str, Any] = getattr(self._registry, "_names_to_collectors", {})
        candidates = [full, f"{full}_total", f"{full}_count", f"{full}_sum", f"{full}_bucket"]
        if kind == _KIND_COUNTER:
            candidates.append(f"{full}_created")
        for candidate in candidates:
            collector: object | None = names_to_collectors.get(candidate)
            if collector is not None:
                return collector
        return None


def _normalise_buckets(buckets: Sequence[float | str]) -> tuple[float, ...]:
    bounds = [float(b) for b in buckets]
    if bounds and bounds[-1] != math.inf:
        bounds.append(math.inf)
    return tuple(bounds)
