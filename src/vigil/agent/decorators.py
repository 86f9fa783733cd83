"""Time any function or named database operation.

``timed`` records how long a function (sync or async) or a ``with`` block takes
in a histogram, and counts the exceptions it raises by type::

    @timed("checkout")              # checkout_duration_seconds, checkout_exceptions_total{exception}
    def checkout(cart): ...

    @timed                          # vigil_function_duration_seconds{function="shop.cart.total"}
    async def total(cart): ...

    with timed("import_batch"):     # a block works too
        ...

``db_operation`` does the same for a named database operation, into one shared
family, ``vigil_db_operation_duration_seconds{database,operation}`` (plus
``vigil_db_operation_errors_total{database,operation,exception}``)::

    @db_operation("load_user", database="users")
    def load_user(user_id): ...

    with db_operation("bulk_insert"):
        ...

Metrics are created once per (registry, name): decorating many functions with
the same name shares one family, and a name reused with other label names or
buckets raises :class:`MetricClashError` saying what differs; an invalid metric
or label name raises :class:`vigil.agent.metrics.MetricDefinitionError` at
decoration time.  Only
:class:`Exception` subclasses are counted as exceptions; ``CancelledError``,
``KeyboardInterrupt`` and ``SystemExit`` still record the duration but are not
counted.  Generator functions are refused (the call returns before any work is
done, so the timing would be meaningless).
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

from prometheus_client import REGISTRY, CollectorRegistry

from vigil.agent.metrics import Counter, Gauge, Histogram, MetricTypeError

__all__ = [
    "DB_BUCKETS",
    "DEFAULT_BUCKETS",
    "MetricClashError",
    "db_operation",
    "timed",
]

P = ParamSpec("P")
R = TypeVar("R")
Clock = Callable[[], float]

#: Buckets (seconds) for function timings: 5 ms to 10 s, Prometheus' defaults.
DEFAULT_BUCKETS: tuple[float, ...] = tuple(Histogram.DEFAULT_BUCKETS)
#: Buckets (seconds) for database work: finer at the low end, 1 ms to 10 s.
DB_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    float("inf"),
)

FUNCTION_METRIC = "vigil_function"
DB_OPERATION_METRIC = "vigil_db_operation"


class MetricClashError(MetricTypeError):
    """A metric name is reused with a different type, label names, buckets or gauge mode."""


# ---------------------------------------------------------------------------
# Get-or-create of metric families, once per (registry, name).
#
# The cache is keyed weakly by registry, so it lives exactly as long as the
# registry it describes: it is bookkeeping of the registry, not state of its own.
# ---------------------------------------------------------------------------

_Key = tuple[str, tuple[str, ...], tuple[float, ...] | str | None]
_families: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, tuple[_Key, Any]]] = (
    weakref.WeakKeyDictionary()
)
_families_lock = threading.Lock()


def _normalise_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(b) for b in buckets)
    if not out or out[-1] != float("inf"):
        out += (float("inf"),)
    return out


def _describe_option(option: tuple[float, ...] | str | None) -> str:
    if isinstance(option, tuple):
        return f" and buckets {list(option)}"
    if isinstance(option, str):
        return f" and multiprocess_mode {option!r}"
    return ""


def _get_or_create(
    registry: CollectorRegistry,
    kind: str,
    name: str,
    documentation: str,
    labelnames: Sequence[str],
    buckets: Sequence[float] | None = None,
    multiprocess_mode: str = "livesum",
) -> Any:
    option: tuple[float, ...] | str | None = None
    if kind == "histogram":
        option = _normalise_buckets(buckets if buckets is not None else DEFAULT_BUCKETS)
    elif kind == "gauge":
        option = multiprocess_mode
    key: _Key = (kind, tuple(labelnames), option)
    with _families_lock:
        known = _families.setdefault(registry, {})
        if name in known:
            old_key, metric = known[name]
            if old_key != key:
                raise MetricClashError(
                    f"metric {name!r} is already defined as a {old_key[0]} with labels "
                    f"{list(old_key[1])}"
                    + _describe_option(old_key[2])
                    + f"; now asked for a {kind} with labels {list(key[1])}"
                    + _describe_option(key[2])
                )
            return metric
        try:
            if kind == "histogram":
                assert isinstance(option, tuple)
                metric = Histogram(
                    name, documentation, labelnames=key[1], registry=registry, buckets=option
                )
            elif kind == "gauge":
                metric = Gauge(
                    name,
                    documentation,
                    labelnames=key[1],
                    registry=registry,
                    multiprocess_mode=multiprocess_mode,  # type: ignore[arg-type]
                )
            else:
                metric = Counter(name, documentation, labelnames=key[1], registry=registry)
        except ValueError as exc:
            if "Duplicated timeseries" in str(exc):
                raise MetricClashError(
                    f"metric {name!r} is already registered in this registry by other code; "
                    f"pick another name for this {kind}"
                ) from exc
            raise  # an invalid name: MetricDefinitionError says which character and why
        known[name] = (key, metric)
        return metric


def histogram_family(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labelnames: Sequence[str],
    buckets: Sequence[float] = DEFAULT_BUCKETS,
) -> Histogram:
    """The histogram *name* in *registry*, created on first use (shared by the agent's hooks)."""
    return cast(
        Histogram,
        _get_or_create(registry, "histogram", name, documentation, labelnames, buckets),
    )


def counter_family(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labelnames: Sequence[str],
) -> Counter:
    """The counter *name* (without ``_total``) in *registry*, created on first use."""
    return cast(Counter, _get_or_create(registry, "counter", name, documentation, labelnames))


def gauge_family(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labelnames: Sequence[str],
    multiprocess_mode: str = "livesum",
) -> Gauge:
    """The gauge *name* in *registry*, created on first use.

    *multiprocess_mode* matters only under multi-process servers; ``livesum``
    sums the gauge over live processes (right for "in progress" gauges).
    """
    return cast(
        Gauge,
        _get_or_create(
            registry, "gauge", name, documentation, labelnames, multiprocess_mode=multiprocess_mode
        ),
    )


def exception_label(exc: BaseException) -> str:
    """The ``exception`` label value for *exc*: its class name (bounded by the code base)."""
    return type(exc).__qualname__


# ---------------------------------------------------------------------------
# The shared timer: decorator (sync and async) and context manager (sync and async).
# ---------------------------------------------------------------------------


class _Timer:
    """Times calls or blocks into one histogram child and one exception counter."""

    def __init__(
        self,
        histogram: Histogram,
        errors: Counter,
        label_values: Mapping[str, str],
        clock: Clock,
    ) -> None:
        self._histogram = histogram.labels(**label_values) if label_values else histogram
        self._errors = errors
        self._error_labels = dict(label_values)
        self._clock = clock
        # Start times of the blocks entered through this object, per context, so
        # one instance can be entered concurrently from threads and tasks.
        self._starts: ContextVar[tuple[tuple[float, Token[Any]], ...]] = ContextVar(
            "vigil_timer_starts", default=()
        )

    def _record(self, elapsed: float, exc: BaseException | None) -> None:
        self._histogram.observe(max(elapsed, 0.0))
        if isinstance(exc, Exception):
            self._errors.labels(**self._error_labels, exception=exception_label(exc)).inc()

    # -- as a decorator --------------------------------------------------------

    def wrap(self, func: Callable[P, R]) -> Callable[P, R]:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"can't time generator function {func.__module__}.{func.__qualname__}: "
                "the call returns before any work is done; time the consumer instead"
            )
        clock = self._clock
        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = clock()
                try:
                    result = await async_func(*args, **kwargs)
                except BaseException as exc:
                    self._record(clock() - start, exc)
                    raise
                self._record(clock() - start, None)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                self._record(clock() - start, exc)
                raise
            self._record(clock() - start, None)
            return result

        return wrapper

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return self.wrap(func)

    # -- as a context manager --------------------------------------------------

    def __enter__(self) -> _Timer:
        stack = self._starts.get()
        # Each entry keeps the token that restores the stack to what it was
        # before the entry (a token comes from a set(), hence the placeholder
        # set first).  Resetting, rather than setting a shorter tuple, leaves
        # the context exactly as found: no variable lingers in a long-lived
        # context after an inline ``with timed("x"):``.
        token = self._starts.set(stack)
        self._starts.set((*stack, (self._clock(), token)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._starts.get()
        if not stack:  # exited more often than entered: nothing sensible to record
            return
        start, token = stack[-1]
        self._starts.reset(token)
        self._record(self._clock() - start, exc)

    async def __aenter__(self) -> _Timer:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _base_name(name: str) -> str:
    for suffix in ("_duration_seconds", "_seconds"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _check_labels(
    labels: Mapping[str, str] | None, reserved: Sequence[str], where: str
) -> dict[str, str]:
    out = dict(labels or {})
    for key in reserved:
        if key in out:
            raise ValueError(f"{where}: label {key!r} is set by vigil; rename your label")
    for key, value in out.items():
        if not isinstance(value, str):
            raise TypeError(
                f"{where}: label {key!r} must be a string value, got {type(value).__name__}"
            )
    return out


@overload
def timed(
    name: Callable[P, R],
) -> Callable[P, R]: ...


@overload
def timed(
    name: str | None = None,
    *,
    registry: CollectorRegistry = REGISTRY,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    documentation: str | None = None,
    clock: Clock = time.perf_counter,
) -> _Timer: ...


def timed(
    name: str | Callable[..., Any] | None = None,
    *,
    registry: CollectorRegistry = REGISTRY,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    documentation: str | None = None,
    clock: Clock = time.perf_counter,
) -> Any:
    """Time a function or block; count its exceptions by type.

    * ``name="checkout"`` records ``checkout_duration_seconds`` and
      ``checkout_exceptions_total{exception}`` (a trailing ``_duration_seconds``
      or ``_seconds`` in *name* is not doubled).
    * Without a name (``@timed`` or ``@timed()``), the function goes into the
      shared ``vigil_function_duration_seconds{function}`` and
      ``vigil_function_exceptions_total{function,exception}``, with
      ``function="module.qualname"``.  A ``with`` block needs a name.
    * *labels* are constant label values added to both metrics, e.g.
      ``labels={"provider": "stripe"}``.
    """
    if callable(name):  # bare @timed
        return timed()(name)

    def build(function_label: str | None) -> _Timer:
        if name is None:
            base = FUNCTION_METRIC
            extra = _check_labels(labels, ("function", "exception"), "timed()")
            label_values = {"function": function_label or "<block>", **extra}
        else:
            base = _base_name(name)
            label_values = _check_labels(labels, ("exception",), f"timed({name!r})")
        names = list(label_values)
        what = f"{name}" if name else "functions timed with @timed"
        histogram = histogram_family(
            registry,
            f"{base}_duration_seconds",
            documentation or f"Duration of {what}, in seconds.",
            names,
            buckets,
        )
        errors = counter_family(
            registry,
            f"{base}_exceptions",
            f"Exceptions raised by {what}, by exception type.",
            [*names, "exception"],
        )
        return _Timer(histogram, errors, label_values, clock)

    if name is not None:
        return build(None)
    return _UnnamedTimed(build)


class _UnnamedTimed:
    """``@timed()`` without a name: the function label is known only when decorating."""

    def __init__(self, build: Callable[[str | None], _Timer]) -> None:
        self._build = build

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        return self._build(f"{func.__module__}.{func.__qualname__}").wrap(func)

    def __enter__(self) -> _Timer:
        raise TypeError('timed() used as a context manager needs a name: with timed("name"): ...')

    def __exit__(self, *exc_info: object) -> None:  # pragma: no cover - __enter__ raised
        return None

    async def __aenter__(self) -> _Timer:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:  # pragma: no cover - __aenter__ raised
        return None


def db_operation(
    operation: str,
    *,
    database: str = "default",
    registry: CollectorRegistry = REGISTRY,
    buckets: Sequence[float] = DB_BUCKETS,
    clock: Clock = time.perf_counter,
) -> _Timer:
    """Time a named database operation, as a decorator or a (sync or async) context manager.

    Records ``vigil_db_operation_duration_seconds{database,operation}`` and counts
    exceptions in ``vigil_db_operation_errors_total{database,operation,exception}``.
    *operation* is a label value: give it a fixed name ("load_user"), never SQL
    text or an ID.
    """
    if not isinstance(operation, str) or not operation:
        raise ValueError(f"db_operation(): operation must be a non-empty string, got {operation!r}")
    if not isinstance(database, str) or not database:
        raise ValueError(f"db_operation(): database must be a non-empty string, got {database!r}")
    histogram = histogram_family(
        registry,
        f"{DB_OPERATION_METRIC}_duration_seconds",
        "Duration of named database operations, in seconds.",
        ["database", "operation"],
        buckets,
    )
    errors = counter_family(
        registry,
        f"{DB_OPERATION_METRIC}_errors",
        "Exceptions raised by named database operations, by exception type.",
        ["database", "operation", "exception"],
    )
    return _Timer(histogram, errors, {"database": database, "operation": operation}, clock)
