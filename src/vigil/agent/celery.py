"""Task metrics for Celery, from its signals.

::

    app = Celery("shop", broker=...)
    instrument_celery(app, metrics_port=9808)   # in the module that defines the app

records, in the process that runs the task (the worker, or the caller for eager tasks):

* ``vigil_celery_task_duration_seconds{task,state}`` histogram and
  ``vigil_celery_tasks_total{task,state}`` counter, at ``task_postrun``;
  ``state`` is Celery's own state name: ``SUCCESS``, ``FAILURE``, ``RETRY``...
  (``REVOKED`` for revoked tasks, counted but not timed);
* ``vigil_celery_task_failures_total{task,exception}`` (``task_failure``);
* ``vigil_celery_task_retries_total{task}`` (``task_retry``);
* ``vigil_celery_tasks_in_progress{task}`` gauge (``livesum`` across processes).

Only tasks of *app* are counted (several apps in one process don't mix).
Eager tasks that propagate their exception (``task_eager_propagates`` or
``apply(throw=True)``) get no ``task_failure``/``task_retry`` signal and no
postrun state from Celery; the hooks read the exception in flight instead, so
they are still counted as ``FAILURE`` (or ``RETRY``).

A worker has no web server, so ``metrics_port`` makes the worker's main
process serve ``/metrics`` once it is ready (``worker_ready``; never in a
process that only sends tasks).  Port 0 picks a free port, logged on
``vigil.agent.celery`` and kept in :attr:`CeleryInstrumentation.metrics_address`.

Pools: with ``--pool threads``, ``solo``, ``gevent`` or ``eventlet`` tasks run in
the main process and its registry is served as is.  With the default
``prefork`` pool tasks run in child processes, so at ``worker_init`` the hooks
switch on vigil's multi-process mode (:mod:`vigil.agent.multiprocess`; no
environment variable needed, ``VIGIL_MULTIPROCESS=0`` keeps it off) before the
children fork: every child writes its values to the shared directory and the
served ``/metrics`` is the sum over children, exact across child restarts
(``--max-tasks-per-child``).  The metric families are created lazily (at
``worker_init`` in a worker, at the first task elsewhere) for that reason.
This applies to the default registry; a custom *registry* is served as it is.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import Celery, signals
from celery.exceptions import Retry
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from vigil.agent import multiprocess
from vigil.agent.decorators import counter_family, exception_label, gauge_family, histogram_family

__all__ = ["TASK_BUCKETS", "CeleryInstrumentation", "instrument_celery"]

logger = logging.getLogger("vigil.agent.celery")

#: Buckets (seconds) for task durations: 10 ms to 10 minutes.
TASK_BUCKETS: tuple[float, ...] = (
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
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    float("inf"),
)

_ATTR = "_vigil_instrumentation"


class _TaskMetrics:
    """The metric families of the Celery hooks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = histogram_family(
            registry,
            "vigil_celery_task_duration_seconds",
            "Duration of Celery tasks by final state, in seconds.",
            ["task", "state"],
            TASK_BUCKETS,
        )
        self.total = counter_family(
            registry,
            "vigil_celery_tasks",
            "Celery tasks finished, by task name and state.",
            ["task", "state"],
        )
        self.failures = counter_family(
            registry,
            "vigil_celery_task_failures",
            "Celery tasks that raised, by exception type.",
            ["task", "exception"],
        )
        self.retries = counter_family(
            registry,
            "vigil_celery_task_retries",
            "Celery task retries requested.",
            ["task"],
        )
        self.in_progress = gauge_family(
            registry,
            "vigil_celery_tasks_in_progress",
            "Celery tasks running now.",
            ["task"],
            multiprocess_mode="livesum",
        )


def _forks_children(worker: Any) -> bool:
    """Whether *worker* runs tasks in child processes (the prefork pool)."""
    from celery.concurrency import get_implementation
    from celery.concurrency.prefork import TaskPool as PreforkPool

    try:
        pool = get_implementation(getattr(worker, "pool_cls", None) or "prefork")
    except Exception:  # an unknown pool: let it fail in Celery, not here
        return False
    return isinstance(pool, type) and issubclass(pool, PreforkPool)


class CeleryInstrumentation:
    """Signal receivers for one Celery app; :meth:`remove` disconnects them."""

    def __init__(
        self,
        app: Celery,
        *,
        registry: CollectorRegistry,
        clock: Callable[[], float],
        metrics_port: int | None,
        metrics_addr: str,
    ) -> None:
        self.app = app
        self.registry = registry
        self.clock = clock
        self.metrics_port = metrics_port
        self.metrics_addr = metrics_addr
        #: ``(host, port)`` of the worker's metrics server once it runs.
        self.metrics_address: tuple[str, int] | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._starts: dict[str, float] = {}
        self._metrics: _TaskMetrics | None = None
        self._metrics_lock = threading.Lock()
        self._receivers: list[tuple[Any, Callable[..., None]]] = [
            (signals.task_prerun, self._on_prerun),
            (signals.task_postrun, self._on_postrun),
            (signals.task_failure, self._on_failure),
            (signals.task_retry, self._on_retry),
            (signals.task_revoked, self._on_revoked),
            (signals.worker_init, self._on_worker_init),
            (signals.worker_ready, self._on_worker_ready),
            (signals.worker_shutdown, self._on_worker_shutdown),
        ]

    @property
    def metrics(self) -> _TaskMetrics:
        """The metric families, created on first use.

        Created lazily so that, in a prefork worker, they are made after
        multi-process mode is switched on at ``worker_init``.
        """
        metrics = self._metrics
        if metrics is None:
            with self._metrics_lock:
                if self._metrics is None:
                    self._metrics = _TaskMetrics(self.registry)
                metrics = self._metrics
        return metrics

    # -- receivers ----------------------------------------------------------------

    def _ours(self, task: Any) -> bool:
        return getattr(task, "app", None) is self.app

    def _on_prerun(self, sender: Any = None, task_id: str | None = None, **_: Any) -> None:
        if not self._ours(sender) or task_id is None:
            return
        self._starts[task_id] = self.clock()
        self.metrics.in_progress.labels(sender.name).inc()

    def _on_postrun(
        self,
        sender: Any = None,
        task_id: str | None = None,
        state: str | None = None,
        **_: Any,
    ) -> None:
        if not self._ours(sender):
            return
        start = self._starts.pop(task_id, None) if task_id is not None else None
        name = sender.name
        metrics = self.metrics
        label = state
        if label is None:
            # An eager task with task_eager_propagates / apply(throw=True): Celery
            # re-raises before task_failure/task_retry and sends task_postrun
            # from a ``finally`` without a state; the exception is in flight.
            exc = sys.exc_info()[1]
            if isinstance(exc, Retry):
                label = "RETRY"
                metrics.retries.labels(name).inc()
            elif isinstance(exc, Exception):
                label = "FAILURE"
                metrics.failures.labels(name, exception_label(exc)).inc()
            else:
                label = "UNKNOWN"
        if start is not None:
            metrics.in_progress.labels(name).dec()
            metrics.duration.labels(name, label).observe(max(self.clock() - start, 0.0))
        metrics.total.labels(name, label).inc()

    def _on_failure(
        self, sender: Any = None, exception: BaseException | None = None, **_: Any
    ) -> None:
        if not self._ours(sender):
            return
        kind = exception_label(exception) if exception is not None else "Unknown"
        self.metrics.failures.labels(sender.name, kind).inc()

    def _on_retry(self, sender: Any = None, **_: Any) -> None:
        if self._ours(sender):
            self.metrics.retries.labels(sender.name).inc()

    def _on_revoked(self, sender: Any = None, **_: Any) -> None:
        if self._ours(sender):
            self.metrics.total.labels(sender.name, "REVOKED").inc()

    def _serving_registry(self) -> CollectorRegistry:
        if self.registry is REGISTRY:
            return multiprocess.collection_registry()  # REGISTRY, or the sum over processes
        return self.registry

    def _on_worker_init(self, sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not self.app:
            return
        if self.registry is REGISTRY and _forks_children(sender):
            # VIGIL_MULTIPROCESS, when set, decides; otherwise prefork turns it on.
            multiprocess.setup(None if multiprocess.ENV_VAR in os.environ else True)
        self.metrics  # noqa: B018 - create the families now, after the mode is settled

    def _on_worker_ready(self, sender: Any = None, **_: Any) -> None:
        if self.metrics_port is None or self._server is not None:
            return
        if getattr(sender, "app", None) is not self.app:
            return
        try:
            self._server, self._thread = start_http_server(
                self.metrics_port, addr=self.metrics_addr, registry=self._serving_registry()
            )
        except OSError as exc:
            logger.error(
                "can't serve Celery worker metrics on %s:%s: %s",
                self.metrics_addr,
                self.metrics_port,
                exc,
                extra={"metrics_addr": self.metrics_addr, "metrics_port": self.metrics_port},
            )
            return
        host, port = self._server.server_address[:2]
        self.metrics_address = (str(host), int(port))
        logger.info(
            "serving Celery worker metrics on http://%s:%d/metrics",
            host,
            port,
            extra={"metrics_addr": str(host), "metrics_port": int(port)},
        )

    def _on_worker_shutdown(self, sender: Any = None, **_: Any) -> None:
        self.stop_server()

    # -- lifecycle ------------------------------------------------------------------

    def _connect(self) -> None:
        for signal, receiver in self._receivers:
            signal.connect(receiver, weak=False)

    def stop_server(self) -> None:
        """Stop the worker metrics server, if it runs."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def remove(self) -> None:
        """Disconnect the receivers and stop the metrics server (recorded metrics stay)."""
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)
        self.stop_server()
        if getattr(self.app, _ATTR, None) is self:
            delattr(self.app, _ATTR)


def instrument_celery(
    app: Celery,
    *,
    registry: CollectorRegistry = REGISTRY,
    metrics_port: int | None = None,
    metrics_addr: str = "127.0.0.1",
    clock: Callable[[], float] = time.perf_counter,
) -> CeleryInstrumentation:
    """Record task durations, outcomes, failures and retries of *app*'s tasks.

    Instrumenting the same app again returns the first handle when the options
    are the same, and raises :class:`ValueError` otherwise.
    """
    if not isinstance(app, Celery):
        raise TypeError(f"instrument_celery() needs a celery.Celery app, got {type(app).__name__}")
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise ValueError(f"metrics_port must be in 0..65535 or None, got {metrics_port}")
    existing: CeleryInstrumentation | None = getattr(app, _ATTR, None)
    if existing is not None:
        same = (existing.registry, existing.metrics_port, existing.metrics_addr, existing.clock)
        if same == (registry, metrics_port, metrics_addr, clock):
            return existing
        raise ValueError(
            f"Celery app {app.main!r} is already instrumented by vigil with other options; "
            "call .remove() on the first handle first"
        )
    instrumentation = CeleryInstrumentation(
        app,
        registry=registry,
        clock=clock,
        metrics_port=metrics_port,
        metrics_addr=metrics_addr,
    )
    instrumentation._connect()
    setattr(app, _ATTR, instrumentation)
    return instrumentation
