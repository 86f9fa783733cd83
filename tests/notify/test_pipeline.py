"""The notification pipeline: mute stages, dedup, retries, and a receiver that is down.

Time is virtual (``VirtualClock``): hours of schedule run in milliseconds. The
integrations are recording test doubles at the ``Integration`` seam; the
helpers here are shared by the other notifier tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher
from vigil.notify.dispatch import VirtualClock
from vigil.notify.notifier import Notifier
from vigil.notify.pipeline import Backoff
from vigil.notify.receivers.base import DeliveryError, NotificationContext
from vigil.notify.receivers.config import ReceiverConfig
from vigil.notify.route import Route
from vigil.notify.timeinterval import TimeInterval, TimeRange

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
FAR = 10 * 86400.0


@dataclass
class Call:
    time: float
    ctx: NotificationContext
    alerts: list[Alert]

    @property
    def names(self) -> list[str]:
        return [
            a.labels.get("alertname") + ("-resolved" if a.resolved(self.time) else "")
            for a in self.alerts
        ]


@dataclass
class Recorder:
    """An integration that records what it is given, and can be down."""

    clock: Callable[[], float]
    name: str = "webhook"
    index: int = 0
    send_resolved: bool = True
    calls: list[Call] = field(default_factory=list)
    attempts: int = 0
    down_until: float = 0.0
    fatal: bool = False

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        self.attempts += 1
        now = self.clock()
        if self.fatal:
            raise DeliveryError("400 Bad Request", retry=False, reason="clientError")
        if now < self.down_until:
            raise DeliveryError("connection refused", retry=True, reason="other")
        self.calls.append(Call(now, ctx, list(alerts)))


@dataclass(frozen=True)
class Global:
    resolve_timeout_s: float = 300.0


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    route: Route
    receivers: dict[str, ReceiverConfig]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: dict[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    global_: Global = Global()
    templates: Any = None


def make_config(route: Route, **kw: Any) -> Config:
    names = {r.receiver for r in route.walk()}
    return Config(route, {n: ReceiverConfig(n) for n in names}, **kw)


class Harness:
    """A notifier on a virtual clock whose receivers are :class:`Recorder` s."""

    def __init__(
        self,
        config: Config,
        *,
        clock: VirtualClock | None = None,
        data_dir: Any = None,
        send_resolved: bool = True,
        events: list[Any] | None = None,
    ) -> None:
        self.clock = clock if clock is not None else VirtualClock(T0)
        self.registry = CollectorRegistry()
        self.recorders: dict[str, Recorder] = {}
        self.send_resolved = send_resolved

        def factory(rc: ReceiverConfig, templates: Any) -> list[Recorder]:
            rec = self.recorders.setdefault(
                rc.name, Recorder(self.clock.time, send_resolved=self.send_resolved)
            )
            return [rec]

        self.notifier = Notifier(
            config,
            data_dir=data_dir,
            clock=self.clock.time,
            sleep=self.clock.sleep,
            registry=self.registry,
            integrations_factory=factory,
            rng=random.Random(1),
            on_event=events.append if events is not None else None,
        )

    def rec(self, name: str = "default") -> Recorder:
        return self.recorders[name]

    def fire(self, *names: str, ends_at: float | None = FAR, **labels: str) -> None:
        """Fire alerts; they end far in the future unless ``ends_at`` says otherwise
        (``None``: the sender gives no end, the resolve timeout applies)."""
        now = self.clock.time()
        end = now + ends_at if ends_at == FAR else ends_at
        self.notifier.put_alerts(
            Alert(Labels.from_dict({"alertname": n, **labels}), starts_at=now, ends_at=end)
            for n in names
        )

    def resolve(self, *names: str, **labels: str) -> None:
        now = self.clock.time()
        self.notifier.put_alerts(
            Alert(Labels.from_dict({"alertname": n, **labels}), starts_at=now - 1, ends_at=now)
            for n in names
        )

    def value(self, name: str, **labels: str) -> float:
        v = self.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v


def at(h: Harness, t: float) -> float:
    return h.clock.time() - t


def route(**kw: Any) -> Route:
    kw.setdefault("receiver", "default")
    kw.setdefault("group_by", ("alertname",))
    kw.setdefault("group_wait", 30.0)
    kw.setdefault("group_interval", 300.0)
    kw.setdefault("repeat_interval", 4 * 3600.0)
    return Route(**kw)


# -- a receiver that is down --------------------------------------------------


@pytest.mark.anyio
async def test_receiver_down_ten_minutes_gets_everything_once_back_and_nothing_twice() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    rec = h.rec()
    rec.down_until = T0 + 600
    h.fire("A")
    await h.clock.advance(120)
    h.fire("B")  # a second group, while the receiver is down
    await h.clock.advance(480)  # T0+600: back
    assert rec.calls == []
    assert rec.attempts > 4  # retried with backoff meanwhile
    assert h.value("vigil_notification_requests_failed_total", integration="webhook") > 4
    # once back, each group is delivered within a backoff step (at most 60 s)
    await h.clock.advance(61)
    delivered = sorted(c.names[0] for c in rec.calls)
    assert delivered == ["A", "B"]
    assert all(T0 + 600 <= c.time <= T0 + 661 for c in rec.calls)
    # nothing twice within repeat_interval
    await h.clock.advance(4 * 3600 - 700)
    assert len(rec.calls) == 2
    # after it (rounded up to the group's next flush, as in Alertmanager), one repeat per group
    await h.clock.advance(1500)
    assert sorted(c.names[0] for c in rec.calls[2:]) == ["A", "B"]
    assert h.value("vigil_notifications_total", integration="webhook") >= 4
    await h.notifier.stop()


@pytest.mark.anyio
async def test_retries_stop_at_flush_deadline_and_the_next_flush_tries_again() -> None:
    h = Harness(make_config(route(group_interval=60.0)))
    await h.notifier.start()
    rec = h.rec()
    rec.down_until = T0 + 10_000
    h.fire("A")
    await h.clock.advance(30 + 59)  # first flush at +30, deadline at +90
    assert h.value("vigil_notifications_failed_total", integration="webhook", reason="other") == 0
    await h.clock.advance(2)
    assert h.value("vigil_notifications_failed_total", integration="webhook", reason="other") == 1
    first = rec.attempts
    assert 4 <= first <= 15
    await h.clock.advance(60)
    assert rec.attempts > first
    assert h.value("vigil_notifications_failed_total", integration="webhook", reason="other") == 2
    await h.notifier.stop()


@pytest.mark.anyio
async def test_non_retryable_error_stops_at_once() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    rec = h.rec()
    rec.fatal = True
    h.fire("A")
    await h.clock.advance(31)
    assert rec.attempts == 1
    assert (
        h.value("vigil_notifications_failed_total", integration="webhook", reason="clientError")
        == 1
    )
    assert h.value("vigil_notification_requests_total", integration="webhook") == 1
    # not logged: the next flush tries again
    await h.clock.advance(300)
    assert rec.attempts == 2
    await h.notifier.stop()


@pytest.mark.anyio
async def test_resolved_sent_only_with_send_resolved() -> None:
    for send_resolved in (True, False):
        h = Harness(make_config(route()), send_resolved=send_resolved)
        await h.notifier.start()
        h.fire("A")
        await h.clock.advance(31)
        h.resolve("A")
        await h.clock.advance(300)
        names = [c.names for c in h.rec().calls]
        if send_resolved:
            assert names == [["A"], ["A-resolved"]]
        else:
            assert names == [["A"]]
        # either way the log forgot the firing alert, and the group emptied
        entry = h.notifier.nflog.entries()[0]
        assert entry.firing_alerts == frozenset()
        assert len(entry.resolved_alerts) == 1
        await h.clock.advance(30)
        assert h.notifier.dispatcher.groups() == []
        await h.notifier.stop()


@pytest.mark.anyio
async def test_mixed_firing_and_resolved_without_send_resolved_sends_firing_only() -> None:
    h = Harness(make_config(route(group_by=())), send_resolved=False)
    await h.notifier.start()
    h.fire("A", "B")
    await h.clock.advance(31)
    h.resolve("A")
    h.fire("C")
    await h.clock.advance(300)
    assert [c.names for c in h.rec().calls] == [["A", "B"], ["B", "C"]]
    await h.notifier.stop()


@pytest.mark.anyio
async def test_mute_time_intervals_hold_notifications_until_the_interval_ends() -> None:
    # T0 is 22:13 UTC; mute 22:00-23:00
    mute = TimeInterval(times=(TimeRange(22 * 60, 23 * 60),))
    cfg = make_config(route(mute_time_intervals=("evening",)), time_intervals={"evening": (mute,)})
    h = Harness(cfg)
    await h.notifier.start()
    h.fire("A")
    await h.clock.advance(46 * 60)  # 22:59:20
    assert h.rec().calls == []
    await h.clock.advance(300)
    calls = h.rec().calls
    assert len(calls) == 1
    # first tick at or after 23:00 (flushes at +30 s, then every 5 min)
    assert calls[0].time == T0 + 30 + 10 * 300
    await h.notifier.stop()


@pytest.mark.anyio
async def test_active_time_intervals_send_only_inside() -> None:
    active = TimeInterval(times=(TimeRange(23 * 60, 24 * 60),))
    cfg = make_config(route(active_time_intervals=("night",)), time_intervals={"night": (active,)})
    h = Harness(cfg)
    await h.notifier.start()
    h.fire("A")
    await h.clock.advance(40 * 60)
    assert h.rec().calls == []
    await h.clock.advance(11 * 60)  # the first flush after 23:00 is at 23:03:50
    assert len(h.rec().calls) == 1
    await h.notifier.stop()


def test_backoff_follows_alertmanager_defaults() -> None:
    b = Backoff(random.Random(0))
    waits = [b.next() for _ in range(20)]
    base = 0.5
    for w in waits:
        assert 0.5 * base <= w <= 1.5 * base
        base = min(base * 1.5, 60.0)
    assert max(waits) <= 90.0
