"""The health-check registry: named checks, run concurrently, with timeouts.

A check is any callable, sync or async, that returns a :class:`CheckResult`,
a :class:`Status`, ``True``/``None`` (pass) or ``False`` (fail).  A check that
raises, returns something else, or does not finish within its timeout is
reported as ``fail`` with a message saying which of these happened; a failing
check never raises into the caller.

How checks run
--------------
* Async checks run as tasks on the caller's event loop; on timeout the task
  is cancelled.  An async check that blocks the loop (``time.sleep`` inside
  ``async def``) cannot be interrupted: write it sync instead.
* Sync checks run each in its own daemon thread, so a hung driver call
  cannot block the event loop or the interpreter's exit.  A thread cannot be
  killed: while a timed-out run is still stuck, further runs of that check
  fail at once ("previous run still in progress") instead of piling up
  threads.
* All checks of one :meth:`HealthRegistry.run_all` run concurrently, so the
  call takes about as long as the slowest check (bounded by its timeout).
* Concurrent callers share one run: while a check is running, a second
  request for it waits for the same result instead of hitting the
  dependency again (e.g. a load balancer and Kubernetes probing together).
* Checks added with ``interval=`` run in the background once
  :meth:`HealthRegistry.start` (or :meth:`HealthRegistry.start_sync`) was
  called; :meth:`HealthRegistry.run_all` then serves their last result while
  it is fresh (younger than ``interval + timeout``) and runs them inline
  otherwise.

Metrics
-------
Every run updates, in the metrics registry given to the constructor:

* ``vigil_health_check_status{check}`` gauge: ``1`` pass, ``0.5`` warn,
  ``0`` fail.  Alert on ``== 0`` for failures and ``< 1`` for anything
  unhealthy.  In multi-process mode the most recent value of any live
  worker is exposed (``livemostrecent``).
* ``vigil_health_check_duration_seconds{check}`` histogram of run durations.
* ``vigil_health_check_runs_total{check,status}`` counter of runs by outcome.

For WSGI applications, which have no event loop, the ``*_sync`` methods run
the same coroutines on a private event-loop thread owned by the registry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import inspect
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry

from vigil.agent.health._loop import LoopThread
from vigil.agent.health.metrics import metrics_for

__all__ = [
    "RESERVED_NAMES",
    "CheckFunction",
    "CheckResult",
    "CheckSpec",
    "HealthRegistry",
    "Status",
    "UnknownCheckError",
]

logger = logging.getLogger("vigil.agent.health")

T = TypeVar("T")

#: Names that cannot be used for checks because the endpoints use them.
RESERVED_NAMES = frozenset({"live", "ready"})

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Status(StrEnum):
    """Health status, with the values of the IETF health-check draft."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def metric_value(self) -> float:
        """The value exported by ``vigil_health_check_status``."""
        return _STATUS_VALUES[self]


_STATUS_VALUES = {Status.PASS: 1.0, Status.WARN: 0.5, Status.FAIL: 0.0}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one run of a check.

    Checks set the first group of fields; :class:`HealthRegistry` fills in
    ``name``, ``critical``, ``duration_seconds`` and ``checked_at``, and, when
    the check reported no measurement of its own, records its response time
    as the measurement (``responseTime`` in ``ms``).
    """

    status: Status
    #: Human-readable explanation; expected for ``warn`` and ``fail``.
    output: str = ""
    #: Extra facts (server version, free bytes, ...), JSON-encodable values.
    details: Mapping[str, Any] = field(default_factory=dict)
    #: The measured value, e.g. a response time or a utilisation percentage.
    observed_value: Any = None
    #: Unit of ``observed_value``: ``"ms"``, ``"percent"``, ...
    observed_unit: str | None = None
    #: Name of the measurement, the part after ``:`` in the report's key.
    measurement: str | None = None
    #: ``"datastore"``, ``"component"``, ``"system"`` or a URI (IETF draft).
    component_type: str | None = None
    #: Unique id of the checked component instance, if it has one.
    component_id: str | None = None
    # Filled in by the registry.
    name: str = ""
    critical: bool = True
    duration_seconds: float | None = None
    #: Wall-clock time (Unix seconds) when the run finished.
    checked_at: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            try:
                object.__setattr__(self, "status", Status(self.status))
            except ValueError:
                allowed = ", ".join(repr(s.value) for s in Status)
                raise ValueError(
                    f"CheckResult status {self.status!r} is not one of {allowed}"
                ) from None

    @classmethod
    def passed(cls, output: str = "", **kwargs: Any) -> CheckResult:
        return cls(Status.PASS, output, **kwargs)

    @classmethod
    def warned(cls, output: str, **kwargs: Any) -> CheckResult:
        return cls(Status.WARN, output, **kwargs)

    @classmethod
    def failed(cls, output: str, **kwargs: Any) -> CheckResult:
        return cls(Status.FAIL, output, **kwargs)


#: What a check may return.
CheckReturn: TypeAlias = CheckResult | Status | bool | None
#: A sync or async health check.
CheckFunction: TypeAlias = Callable[[], CheckReturn | Awaitable[CheckReturn]]
CheckFunctionT = TypeVar("CheckFunctionT", bound=CheckFunction)


class UnknownCheckError(LookupError):
    """Raised when a check name is not registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        names = ", ".join(sorted(known)) or "none registered"
        super().__init__(f"no health check named {name!r} (known checks: {names})")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class CheckSpec:
    """A registered check and its options."""

    name: str
    check: CheckFunction
    timeout: float
    interval: float | None
    critical: bool
    is_async: bool


def _is_async_callable(check: object) -> bool:
    if inspect.iscoroutinefunction(check):
        return True
    call = getattr(check, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return inspect.iscoroutinefunction(call)


def _describe_exception(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class HealthRegistry:
    """Named health checks, their options and their last results.

    :param registry: metrics registry receiving the ``vigil_health_check_*``
        metrics; ``None`` disables the metrics.
    :param clock: monotonic clock (seconds) for durations and freshness.
    :param wall_clock: wall clock (Unix seconds) for the results' ``checked_at``.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics_for(registry) if registry is not None else None
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._checks: dict[str, CheckSpec] = {}
        # name -> (clock time, result) of the latest completed run.
        self._last: dict[str, tuple[float, CheckResult]] = {}
        # name -> shared future of the run in progress (coalesces callers).
        self._inflight: dict[str, concurrent.futures.Future[CheckResult]] = {}
        # name -> clock time at which a still-running invocation started.
        self._busy: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bg_loop: asyncio.AbstractEventLoop | None = None
        self._bg_tasks: dict[str, asyncio.Task[None]] = {}
        self._loop_thread = LoopThread("vigil-health-loop")
        # Pre-forking servers (gunicorn) may fork after the registry was used:
        # threads, locks and runs in progress do not survive a fork.
        ref = weakref.ref(self)

        def after_fork_in_child() -> None:
            health = ref()
            if health is not None:
                health._reset_after_fork()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._inflight.clear()
        self._busy.clear()
        self._tasks.clear()
        self._bg_loop = None
        self._bg_tasks.clear()
        self._loop_thread.reset_after_fork()

    # -- registration -----------------------------------------------------

    def add(
        self,
        name: str,
        check: CheckFunction,
        *,
        timeout: float = 5.0,
        interval: float | None = None,
        critical: bool = True,
    ) -> CheckSpec:
        """Register *check* under *name*.

        :param timeout: seconds after which a run is reported as failed.
        :param interval: when set, run the check every *interval* seconds in
            the background (after :meth:`start`) and serve the last result.
        :param critical: a failing critical check makes the service
            unhealthy (503); a failing non-critical one only degrades it.
        """
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(
                f"health check name {name!r} is invalid: use 1 to 64 letters, digits, "
                "'_', '.' or '-', starting with a letter or digit"
            )
        if name in RESERVED_NAMES:
            raise ValueError(
                f"health check name {name!r} is reserved for the /health/{name} endpoint; "
                "choose another name"
            )
        if not callable(check):
            raise TypeError(
                f"health check {name!r}: check must be callable, got {type(check).__name__}"
            )
        if not _positive(timeout):
            raise ValueError(
                f"health check {name!r}: timeout must be a positive number of seconds, "
                f"got {timeout!r}"
            )
        if interval is not None and not _positive(interval):
            raise ValueError(
                f"health check {name!r}: interval must be None or a positive number of "
                f"seconds, got {interval!r}"
            )
        spec = CheckSpec(
            name=name,
            check=check,
            timeout=float(timeout),
            interval=float(interval) if interval is not None else None,
            critical=bool(critical),
            is_async=_is_async_callable(check),
        )
        with self._lock:
            if name in self._checks:
                raise ValueError(f"a health check named {name!r} is already registered")
            self._checks[name] = spec
            bg_loop = self._bg_loop
        if bg_loop is not None and spec.interval is not None:
            bg_loop.call_soon_threadsafe(self._spawn_background, spec)
        return spec

    def check(
        self,
        name: str,
        *,
        timeout: float = 5.0,
        interval: float | None = None,
        critical: bool = True,
    ) -> Callable[[CheckFunctionT], CheckFunctionT]:
        """Decorator form of :meth:`add`: ``@health.check("queue", timeout=2)``.

        The decorated function is registered and returned unchanged.
        """

        def register(fn: CheckFunctionT) -> CheckFunctionT:
            self.add(name, fn, timeout=timeout, interval=interval, critical=critical)
            return fn

        return register

    def remove(self, name: str) -> None:
        """Unregister a check, stop its background runs and drop its metrics."""
        with self._lock:
            if name not in self._checks:
                raise UnknownCheckError(name, self._checks)
            del self._checks[name]
            self._last.pop(name, None)
            task = self._bg_tasks.pop(name, None)
            bg_loop = self._bg_loop
        if task is not None and bg_loop is not None:
            bg_loop.call_soon_threadsafe(task.cancel)
        if self._metrics is not None:
            self._metrics.forget(name)

    @property
    def names(self) -> list[str]:
        """Registered check names, in registration order."""
        with self._lock:
            return list(self._checks)

    def spec(self, name: str) -> CheckSpec:
        with self._lock:
            try:
                return self._checks[name]
            except KeyError:
                raise UnknownCheckError(name, self._checks) from None

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._checks

    def __len__(self) -> int:
        with self._lock:
            return len(self._checks)

    def last_result(self, name: str) -> CheckResult | None:
        """The result of the latest completed run of *name*, if any."""
        self.spec(name)
        with self._lock:
            entry = self._last.get(name)
        return entry[1] if entry else None

    # -- running ------------------------------------------------------------

    async def run_all(
        self, *, force: bool = False, critical_only: bool = False
    ) -> dict[str, CheckResult]:
        """Run the checks concurrently; results by name in registration order.

        Checks with an ``interval`` whose last result is still fresh are not
        run again unless *force* is true.  With *critical_only*, only the
        critical checks are considered (readiness).
        """
        with self._lock:
            specs = [s for s in self._checks.values() if s.critical or not critical_only]
        results = await asyncio.gather(*(self._result_for(s, force=force) for s in specs))
        return {spec.name: result for spec, result in zip(specs, results, strict=True)}

    async def run(self, name: str, *, force: bool = True) -> CheckResult:
        """Run one check now (or, with ``force=False``, serve a fresh cached result)."""
        return await self._result_for(self.spec(name), force=force)

    def run_all_sync(
        self, *, force: bool = False, critical_only: bool = False
    ) -> dict[str, CheckResult]:
        """:meth:`run_all` for callers without an event loop (WSGI)."""
        return self.call_sync(lambda: self.run_all(force=force, critical_only=critical_only))

    def run_sync(self, name: str, *, force: bool = True) -> CheckResult:
        """:meth:`run` for callers without an event loop (WSGI)."""
        self.spec(name)
        return self.call_sync(lambda: self.run(name, force=force))

    def call_sync(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine made by *factory* on the registry's private loop thread."""
        return self._loop_thread.run(factory)

    async def _result_for(self, spec: CheckSpec, *, force: bool) -> CheckResult:
        if not force and spec.interval is not None:
            with self._lock:
                entry = self._last.get(spec.name)
            if entry is not None and self._clock() - entry[0] <= spec.interval + spec.timeout:
                return entry[1]
        return await self._run_shared(spec)

    async def _run_shared(self, spec: CheckSpec) -> CheckResult:
        """Run *spec*, or join the run already in progress (from any loop)."""
        with self._lock:
            shared = self._inflight.get(spec.name)
            owner = shared is None
            if shared is None:
                shared = concurrent.futures.Future()
                self._inflight[spec.name] = shared
        if not owner:
            # shield: a waiter that is cancelled must not cancel the shared run.
            return await asyncio.shield(asyncio.wrap_future(shared))

        # The run is a task of its own, so a caller that is cancelled (a client
        # that went away) does not cancel it for the callers waiting on it.
        task = asyncio.get_running_loop().create_task(self._execute(spec))
        self._tasks.add(task)

        def finish(t: asyncio.Task[CheckResult]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                result = self._finalize(
                    spec,
                    CheckResult.failed("check run was cancelled"),
                    duration=None,
                    record=False,
                )
            else:
                result = t.result()
            with self._lock:
                if self._inflight.get(spec.name) is shared:
                    del self._inflight[spec.name]
            if not shared.done():
                shared.set_result(result)

        task.add_done_callback(finish)
        return await asyncio.shield(task)

    async def _execute(self, spec: CheckSpec) -> CheckResult:
        """One run of *spec*: never raises, always returns a finalised result."""
        start = self._clock()
        with self._lock:
            busy_since = self._busy.get(spec.name)
            if busy_since is None:
                self._busy[spec.name] = start
        if busy_since is not None:
            result = CheckResult.failed(
                f"previous run is still in progress after {start - busy_since:.1f} s "
                f"(it exceeded its {spec.timeout:g} s timeout and has not returned); "
                "not starting another"
            )
            return self._finalize(spec, result, duration=self._clock() - start)

        loop = asyncio.get_running_loop()
        pending: asyncio.Future[Any]
        if spec.is_async:
            try:
                coro = spec.check()
                if not inspect.isawaitable(coro):
                    raise TypeError(f"async check returned {type(coro).__name__}, not awaitable")
                pending = asyncio.ensure_future(coro)
            except Exception as exc:
                self._clear_busy(spec.name)
                result = CheckResult.failed(f"check raised {_describe_exception(exc)}")
                return self._finalize(spec, result, duration=self._clock() - start)
            pending.add_done_callback(lambda f: self._async_done(spec.name, f))
        else:
            pending = loop.create_future()
            thread = threading.Thread(
                target=self._thread_main,
                args=(spec, loop, pending),
                name=f"vigil-health-{spec.name}",
                daemon=True,
            )
            thread.start()

        done, _ = await asyncio.wait({pending}, timeout=spec.timeout)
        if not done:
            pending.cancel()
            result = CheckResult.failed(
                f"check did not finish within its timeout of {spec.timeout:g} s"
            )
            return self._finalize(spec, result, duration=self._clock() - start)

        result = await self._interpret(spec, pending, start)
        return self._finalize(spec, result, duration=self._clock() - start)

    async def _interpret(
        self, spec: CheckSpec, pending: asyncio.Future[Any], start: float
    ) -> CheckResult:
        try:
            value = pending.result()
        except asyncio.CancelledError:
            return CheckResult.failed("check was cancelled")
        except BaseException as exc:
            return CheckResult.failed(f"check raised {_describe_exception(exc)}")
        if inspect.isawaitable(value):
            # A sync callable (lambda, partial) that returned a coroutine.
            remaining = spec.timeout - (self._clock() - start)
            inner = asyncio.ensure_future(value)
            done, _ = await asyncio.wait({inner}, timeout=max(remaining, 0.0))
            if not done:
                inner.cancel()
                return CheckResult.failed(
                    f"check did not finish within its timeout of {spec.timeout:g} s"
                )
            return await self._interpret(spec, inner, start)
        return _coerce(value)

    def _thread_main(
        self, spec: CheckSpec, loop: asyncio.AbstractEventLoop, pending: asyncio.Future[Any]
    ) -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = spec.check()
        except BaseException as exc:  # reported as a failure, never re-raised
            error = exc
        finally:
            self._clear_busy(spec.name)

        def deliver() -> None:
            if pending.done():
                return
            if error is not None:
                pending.set_exception(error)
            else:
                pending.set_result(value)

        with contextlib.suppress(RuntimeError):  # the loop was closed while the check hung
            loop.call_soon_threadsafe(deliver)

    def _async_done(self, name: str, fut: asyncio.Future[Any]) -> None:
        self._clear_busy(name)
        if not fut.cancelled():
            fut.exception()  # mark retrieved; a late failure was already reported

    def _clear_busy(self, name: str) -> None:
        with self._lock:
            self._busy.pop(name, None)

    def _finalize(
        self,
        spec: CheckSpec,
        result: CheckResult,
        *,
        duration: float | None,
        record: bool = True,
    ) -> CheckResult:
        changes: dict[str, Any] = {
            "name": spec.name,
            "critical": spec.critical,
            "duration_seconds": duration,
            "checked_at": self._wall_clock(),
        }
        if result.measurement is None and result.observed_value is None and duration is not None:
            changes.update(
                measurement="responseTime",
                observed_value=round(duration * 1000, 3),
                observed_unit="ms",
            )
        result = dataclasses.replace(result, **changes)
        if not record:
            return result
        with self._lock:
            registered = self._checks.get(spec.name) is spec
            previous = self._last.get(spec.name)
            if registered:
                self._last[spec.name] = (self._clock(), result)
        if not registered:  # removed while running: report, but keep no state
            return result
        if self._metrics is not None:
            self._metrics.record(
                result.name,
                result.status.value,
                result.status.metric_value,
                result.duration_seconds,
            )
        self._log_transition(previous[1] if previous else None, result)
        return result

    @staticmethod
    def _log_transition(previous: CheckResult | None, result: CheckResult) -> None:
        # Only changes are logged, so a dependency that stays down does not
        # flood the log.
        before = previous.status if previous else Status.PASS
        if result.status == before:
            return
        extra = {"check": result.name, "status": result.status.value, "critical": result.critical}
        if result.status is Status.PASS:
            logger.info("health check %s recovered: pass", result.name, extra=extra)
        else:
            logger.warning(
                "health check %s is %s: %s",
                result.name,
                result.status.value,
                result.output,
                extra=extra,
            )

    # -- background runs ----------------------------------------------------

    async def start(self) -> None:
        """Start background runs of the checks that have an ``interval``.

        Idempotent.  The runs live on the current event loop until :meth:`stop`.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._bg_loop is not None:
                if self._bg_loop is not loop:
                    raise RuntimeError(
                        "HealthRegistry background runs were already started on another "
                        "event loop; call stop() there first"
                    )
                return
            self._bg_loop = loop
            specs = [s for s in self._checks.values() if s.interval is not None]
        for spec in specs:
            self._spawn_background(spec)

    async def stop(self) -> None:
        """Stop the background runs started by :meth:`start`."""
        with self._lock:
            loop, self._bg_loop = self._bg_loop, None
            tasks = list(self._bg_tasks.values())
            self._bg_tasks.clear()
        if loop is None:
            return
        if loop is not asyncio.get_running_loop():
            raise RuntimeError(
                "HealthRegistry.stop() must run on the event loop that called start()"
            )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def start_sync(self) -> None:
        """:meth:`start` on the registry's private loop thread (WSGI servers)."""
        self.call_sync(self.start)

    def stop_sync(self) -> None:
        """:meth:`stop` for runs started with :meth:`start_sync`."""
        if self._loop_thread.loop is not None and self._bg_loop is self._loop_thread.loop:
            self.call_sync(self.stop)

    def close(self) -> None:
        """Stop background runs started with :meth:`start_sync` and the private loop thread."""
        self.stop_sync()
        self._loop_thread.close()

    @property
    def running(self) -> bool:
        """Whether background runs are active."""
        with self._lock:
            return self._bg_loop is not None

    def _spawn_background(self, spec: CheckSpec) -> None:
        with self._lock:
            if self._bg_loop is None or self._checks.get(spec.name) is not spec:
                return
            if spec.name in self._bg_tasks:
                return
            task = self._bg_loop.create_task(
                self._background(spec), name=f"vigil-health-{spec.name}"
            )
            self._bg_tasks[spec.name] = task

    async def _background(self, spec: CheckSpec) -> None:
        assert spec.interval is not None
        while True:
            try:
                await self._run_shared(spec)
            except asyncio.CancelledError:
                raise
            except Exception:  # _execute never raises; this guards the loop itself
                logger.exception("background run of health check %s failed", spec.name)
            await asyncio.sleep(spec.interval)


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _coerce(value: object) -> CheckResult:
    if isinstance(value, CheckResult):
        return value
    if isinstance(value, Status):
        return CheckResult(value)
    if value is True or value is None:
        return CheckResult(Status.PASS)
    if value is False:
        return CheckResult.failed("check returned False")
    return CheckResult.failed(
        f"check returned an unsupported value of type {type(value).__name__}; "
        "expected CheckResult, Status, bool or None"
    )
