"""Aggregation groups: keys, grouping, group_wait / group_interval / repeat_interval timing."""

from __future__ import annotations

import asyncio

import pytest

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher
from vigil.notify.dispatch import VirtualClock, labels_before, sort_alerts

from .test_pipeline import T0, Harness, make_config, route


def _times(h: Harness, name: str = "default") -> list[float]:
    return [c.time - T0 for c in h.rec(name).calls]


@pytest.mark.anyio
async def test_group_wait_then_group_interval() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    h.fire("A", instance="1")
    await h.clock.advance(29)
    assert _times(h) == []
    await h.clock.advance(1)
    assert _times(h) == [30]
    await h.clock.advance(30)
    h.fire("A", instance="2")  # same group, after the first flush
    await h.clock.advance(269)
    assert _times(h) == [30]
    await h.clock.advance(1)
    assert _times(h) == [30, 330]
    assert [a.labels.get("instance") for a in h.rec().calls[1].alerts] == ["1", "2"]
    # nothing changed: no notification at the next ticks
    await h.clock.advance(1200)
    assert _times(h) == [30, 330]
    await h.notifier.stop()


@pytest.mark.anyio
async def test_repeat_interval_resends_at_the_first_flush_after_it() -> None:
    h = Harness(make_config(route(repeat_interval=3600.0)))
    await h.notifier.start()
    h.fire("A")
    await h.clock.advance(3 * 3600)
    # logged at +30; a flush repeats once the entry is older than repeat_interval:
    # at +30+3600 it is exactly as old (not older), so the next tick (+3930) sends
    assert _times(h) == [30, 3930, 7830]
    await h.notifier.stop()


@pytest.mark.anyio
async def test_group_key_and_labels() -> None:
    root = route(group_by=())
    page = root.add_child(
        route(
            receiver="pager", matchers=(Matcher.equal("severity", "page"),), group_by=("alertname",)
        )
    )
    assert page.key() == '{}/{severity="page"}'
    h = Harness(make_config(root))
    await h.notifier.start()
    h.fire("X", severity="page", instance="a")
    await h.clock.advance(31)
    ctx = h.rec("pager").calls[0].ctx
    assert ctx.group_key == '{}/{severity="page"}:{alertname="X"}'
    assert ctx.group_labels == Labels(alertname="X")
    assert ctx.receiver == "pager"
    assert str(Labels(a="b", c="d")) == '{a="b", c="d"}'
    await h.notifier.stop()


@pytest.mark.anyio
async def test_grouping_by_labels_and_by_all() -> None:
    h = Harness(make_config(route(group_by=("alertname",))))
    await h.notifier.start()
    h.fire("A", instance="1")
    h.fire("A", instance="2")
    h.fire("B", instance="1")
    await h.clock.advance(31)
    got = sorted((c.ctx.group_key, len(c.alerts)) for c in h.rec().calls)
    assert got == [('{}:{alertname="A"}', 2), ('{}:{alertname="B"}', 1)]
    await h.notifier.stop()

    h = Harness(make_config(route(group_by=None)))  # group_by: ['...']
    await h.notifier.start()
    h.fire("A", instance="1")
    h.fire("A", instance="2")
    await h.clock.advance(31)
    keys = sorted(c.ctx.group_key for c in h.rec().calls)
    assert keys == ['{}:{alertname="A", instance="1"}', '{}:{alertname="A", instance="2"}']
    await h.notifier.stop()


@pytest.mark.anyio
async def test_continue_routes_create_two_groups() -> None:
    root = route(receiver="default")
    root.add_child(route(receiver="team-a", matchers=(Matcher.equal("team", "a"),), continue_=True))
    root.add_child(route(receiver="team-b", matchers=(Matcher.equal("team", "a"),)))
    root.add_child(route(receiver="never", matchers=(Matcher.equal("team", "a"),)))
    h = Harness(make_config(root))
    await h.notifier.start()
    h.fire("A", team="a")
    await h.clock.advance(31)
    assert len(h.rec("team-a").calls) == 1
    assert len(h.rec("team-b").calls) == 1
    assert h.rec("never").calls == []
    assert h.rec("default").calls == []
    assert sorted(g.key for g in h.notifier.dispatcher.groups()) == [
        '{}/{team="a"}:{alertname="A"}',
        '{}/{team="a"}:{alertname="A"}',
    ]
    await h.notifier.stop()


@pytest.mark.anyio
async def test_old_alert_flushes_at_once() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    now = h.clock.time()
    h.notifier.put_alerts([Alert(Labels(alertname="A"), starts_at=now - 60, ends_at=now + 9999)])
    await h.clock.advance(1)
    assert _times(h) == [0]
    await h.notifier.stop()


@pytest.mark.anyio
async def test_resolved_alerts_leave_the_group_and_empty_groups_go() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    h.fire("A", instance="1")
    h.fire("A", instance="2")
    await h.clock.advance(31)
    h.resolve("A", instance="1")
    await h.clock.advance(300)
    assert [c.names for c in h.rec().calls] == [["A", "A"], ["A-resolved", "A"]]
    (group,) = h.notifier.dispatcher.groups()
    assert len(group.alerts) == 1
    h.resolve("A", instance="2")
    await h.clock.advance(300)
    assert h.rec().calls[-1].names == ["A-resolved"]
    await h.clock.advance(30)  # dispatcher maintenance
    assert h.notifier.dispatcher.groups() == []
    # a new alert makes a new group, with group_wait again
    h.fire("A", instance="3")
    await h.clock.advance(29)
    assert len(h.rec().calls) == 3
    await h.clock.advance(2)
    assert len(h.rec().calls) == 4
    await h.notifier.stop()


@pytest.mark.anyio
async def test_firing_alerts_are_sent_without_end_time() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    h.fire("A")
    await h.clock.advance(31)
    (alert,) = h.rec().calls[0].alerts
    assert alert.ends_at is None
    assert alert.starts_at == T0
    await h.notifier.stop()


def test_sort_alerts_by_job_instance_then_labels() -> None:
    a = Alert(Labels(alertname="A", job="b", instance="1"))
    b = Alert(Labels(alertname="A", job="a", instance="2"))
    c = Alert(Labels(alertname="A", job="a", instance="1"))
    d = Alert(Labels(alertname="A"))
    e = Alert(Labels(alertname="A", x="1", y="2"))
    assert sort_alerts([d, a, e, b, c]) == [c, b, a, d, e]


def test_labels_before() -> None:
    assert labels_before(Labels(a="1"), Labels(a="1", b="1"))
    assert labels_before(Labels(a="1", c="1"), Labels(b="1", c="1")) is False
    assert labels_before(Labels(b="1", c="1"), Labels(a="1", c="1")) is True
    assert labels_before(Labels(a="1"), Labels(a="2"))
    assert not labels_before(Labels(a="1"), Labels(a="1"))


@pytest.mark.anyio
async def test_virtual_clock_wakes_sleepers_in_order() -> None:
    clock = VirtualClock(100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await clock.sleep(delay)
        woke.append((name, clock.time()))

    tasks = [asyncio.ensure_future(sleeper(n, d)) for n, d in (("b", 20), ("a", 10), ("c", 50))]
    await clock.advance(30)
    assert woke == [("a", 110.0), ("b", 120.0)]
    assert clock.time() == 130.0
    tasks[2].cancel()
    await clock.advance(100)
    assert len(woke) == 2
