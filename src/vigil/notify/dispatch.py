"""The dispatcher: alerts into aggregation groups, groups flushed on Alertmanager's schedule.

Semantics follow Alertmanager 0.25's ``dispatch/dispatch.go``:

* every stored alert goes to each route that takes it (``Route.match``); per
  route, alerts with the same group labels share an :class:`AggregationGroup`,
  keyed ``route.key() + ":" + str(group_labels)``;
* a new group flushes ``group_wait`` after it was created, or at once when an
  alert inserted before its first flush started more than ``group_wait`` ago;
  after that it flushes every ``group_interval`` (the timer is re-armed before
  the flush), and the pipeline's dedup decides whether anything is sent;
* a flush sends a copy of the group's alerts, the firing ones with no end time,
  sorted by ``job``, ``instance`` then label set; when the notification
  succeeded, the resolved alerts that were not updated meanwhile leave the
  group; every 30 s groups left empty are stopped and forgotten.

Time comes from an injected ``clock`` and ``sleep``: :class:`VirtualClock`
supplies both for tests, which then run hours of schedule in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.notify.route import Route
from vigil.notify.store import AlertStore, StoredAlert

__all__ = [
    "MIN_TIMEOUT",
    "AggregationGroup",
    "Dispatcher",
    "FlushContext",
    "NotifyFunc",
    "Sleep",
    "VirtualClock",
    "labels_before",
    "sort_alerts",
]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

MIN_TIMEOUT = 10.0  # a flush gets at least this long to deliver (notify.MinTimeout)
MAINTENANCE_INTERVAL = 30.0


class VirtualClock:
    """A clock for tests: time stands still until :meth:`advance` moves it.

    ``time`` and ``sleep`` are the two injectables; sleepers wake in deadline
    order while ``advance`` steps through them, and tasks get a chance to run
    between steps.
    """

    def __init__(self, start: float = 1_700_000_000.0, *, settle_rounds: int = 200) -> None:
        self._now = start
        self._seq = itertools.count()
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._settle_rounds = settle_rounds

    def time(self) -> float:
        return self._now

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self._now + delay, next(self._seq), fut))
        await fut

    async def settle(self) -> None:
        """Let every runnable task run until it waits again."""
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers at their deadlines on the way."""
        target = self._now + seconds
        await self.settle()
        while True:
            while self._waiters and self._waiters[0][2].done():
                heapq.heappop(self._waiters)  # cancelled sleepers
            if not self._waiters or self._waiters[0][0] > target:
                break
            deadline = self._waiters[0][0]
            self._now = max(self._now, deadline)
            while self._waiters and self._waiters[0][0] <= deadline:
                _, _, fut = heapq.heappop(self._waiters)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    async def run_until(self, predicate: Callable[[], bool], *, limit: float, step: float) -> bool:
        """Advance by ``step`` until ``predicate()`` holds or ``limit`` seconds passed."""
        start = self._now
        while not predicate():
            if self._now - start >= limit:
                return False
            await self.advance(step)
        return True


@dataclass(frozen=True, slots=True)
class FlushContext:
    """What a notification is about, as the pipeline needs it (Alertmanager's context values)."""

    group_key: str
    group_labels: Labels
    receiver: str
    route: Route
    now: float
    deadline: float  # deliveries and retries stop here (group_interval, at least 10 s)

    @property
    def repeat_interval(self) -> float:
        return self.route.repeat_interval

    @property
    def mute_time_intervals(self) -> tuple[str, ...]:
        return self.route.mute_time_intervals

    @property
    def active_time_intervals(self) -> tuple[str, ...]:
        return self.route.active_time_intervals


NotifyFunc = Callable[[FlushContext, Sequence[Alert]], Awaitable[bool]]


def labels_before(a: Labels, b: Labels) -> bool:
    """Prometheus ``LabelSet.Before``: fewer labels first, then by sorted names and values."""
    if len(a) != len(b):
        return len(a) < len(b)
    da, db = a.to_dict(), b.to_dict()
    for name in sorted(set(da) | set(db)):
        if name not in da:
            return True
        if name not in db:
            return False
        if da[name] != db[name]:
            return da[name] < db[name]
    return False


def _compare_alerts(x: Alert, y: Alert) -> int:
    for key in ("job", "instance"):
        xin, yin = key in x.labels, key in y.labels
        if not xin and not yin:
            continue
        if not xin:
            return 1
        if not yin:
            return -1
        xv, yv = x.labels[key], y.labels[key]
        if xv != yv:
            return -1 if xv < yv else 1
    if labels_before(x.labels, y.labels):
        return -1
    if labels_before(y.labels, x.labels):
        return 1
    return 0


def sort_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """Alertmanager's ``AlertSlice`` order (stable)."""
    return sorted(alerts, key=functools.cmp_to_key(_compare_alerts))


class AggregationGroup:
    """The alerts of one route with the same group labels, and their flush schedule."""

    def __init__(
        self,
        route: Route,
        labels: Labels,
        *,
        clock: Callable[[], float],
        sleep: Sleep,
        notify: NotifyFunc,
    ) -> None:
        self.route = route
        self.labels = labels
        self.key = f"{route.key()}:{labels}"
        self.alerts: dict[int, Alert] = {}
        self.has_flushed = False
        self._clock = clock
        self._sleep = sleep
        self._notify = notify
        self._next_at = clock() + route.group_wait
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.flushing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.key)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def insert(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = alert
        now = self._clock()
        if not self.has_flushed and alert.starts_at + self.route.group_wait < now:
            self._next_at = now
            self._wake.set()

    def empty(self) -> bool:
        return not self.alerts

    async def _wait_until_next(self) -> None:
        while True:
            delay = self._next_at - self._clock()
            if delay <= 0:
                return
            self._wake.clear()
            sleeper = asyncio.ensure_future(self._sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    async def _run(self) -> None:
        while True:
            await self._wait_until_next()
            now = self._clock()
            self._next_at = now + self.route.group_interval
            self.has_flushed = True
            ctx = FlushContext(
                group_key=self.key,
                group_labels=self.labels,
                receiver=self.route.receiver,
                route=self.route,
                now=now,
                deadline=now + max(self.route.group_interval, MIN_TIMEOUT),
            )
            self.flushing = True
            try:
                await self.flush(ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flushing aggregation group %s failed", self.key)
            finally:
                self.flushing = False

    async def flush(self, ctx: FlushContext) -> None:
        if not self.alerts:
            return
        now = ctx.now
        originals = list(self.alerts.values())
        sent: list[Alert] = []
        resolved: list[Alert] = []
        for a in originals:
            if a.resolved(now):
                resolved.append(a)
                sent.append(a)
            else:
                sent.append(replace(a, ends_at=None))
        if await self._notify(ctx, sort_alerts(sent)):
            for a in resolved:
                # keep an alert that fired again while we were notifying
                if self.alerts.get(a.fingerprint) is a:
                    del self.alerts[a.fingerprint]


class Dispatcher:
    """Sorts stored alerts into aggregation groups per route and runs them."""

    def __init__(
        self,
        route: Route,
        store: AlertStore,
        notify: NotifyFunc,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        maintenance_interval: float = MAINTENANCE_INTERVAL,
    ) -> None:
        self.route = route
        self._store = store
        self._notify = notify
        self._clock = clock
        self._sleep = sleep
        self._maintenance_interval = maintenance_interval
        self._groups: dict[Route, dict[Labels, AggregationGroup]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.running = False

    async def start(self) -> None:
        """Subscribe to the store (alerts already there are grouped at once) and run."""
        self.running = True
        self._unsubscribe = self._store.subscribe(self._process)
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())

    async def stop(self) -> None:
        self.running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        groups = [g for per_route in self._groups.values() for g in per_route.values()]
        for g in groups:
            g.cancel()
        for g in groups:
            await g.stop()
        self._groups.clear()

    def _process(self, stored: StoredAlert) -> None:
        alert = stored.alert
        for route in self.route.match(alert.labels):
            labels = route.group_labels(alert.labels)
            per_route = self._groups.setdefault(route, {})
            group = per_route.get(labels)
            if group is None:
                group = AggregationGroup(
                    route, labels, clock=self._clock, sleep=self._sleep, notify=self._notify
                )
                per_route[labels] = group
                group.insert(alert)
                group.start()
            else:
                group.insert(alert)

    async def _maintain(self) -> None:
        while True:
            await self._sleep(self._maintenance_interval)
            self.collect_empty()

    def collect_empty(self) -> int:
        """Stop and forget groups without alerts (not while they are flushing)."""
        n = 0
        for per_route in self._groups.values():
            for labels, group in list(per_route.items()):
                if group.empty() and not group.flushing:
                    group.cancel()
                    del per_route[labels]
                    n += 1
        return n

    def groups(self) -> list[AggregationGroup]:
        return [g for per_route in self._groups.values() for g in per_route.values()]

    def holds(self, fp: int) -> bool:
        """Whether some group still holds the alert (e.g. its resolved notification is due)."""
        return any(fp in g.alerts for g in self.groups())
