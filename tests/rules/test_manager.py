"""The rule manager: reloads, scheduling, restore, Python rules, metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from vigil.config.errors import ConfigError
from vigil.model import Labels
from vigil.promql.engine import Engine
from vigil.rules.base import RuleContext
from vigil.rules.manager import PYTHON_RULES_FILE, RuleManager
from vigil.rules.query import engine_query
from vigil.storage.memory import MemoryStorage

from ._helpers import Notifications, add_samples, make_env, series, stale_at

MIN = 60_000

RULES = """groups:
  - name: alerts
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
      - record: job:up:count
        expr: count(up)
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reload_keeps_state_and_old_groups_on_errors(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    env = make_env()
    add_samples(env.storage, Labels(__name__="up", job="j"), [(t * MIN, 0) for t in range(10)])
    m = RuleManager(env.ctx, registry=registry)
    f = _write(tmp_path, "a.yml", RULES)
    m.load([f])
    m.eval_all(0)
    m.eval_all(MIN)
    [alert] = m.alerts()
    assert (alert.rule, alert.state, alert.active_at) == ("Down", "pending", 0.0)

    bad = _write(tmp_path, "bad.yml", "groups:\n  - name: x\n    rules:\n      - record: y\n")
    before = m.groups()
    with pytest.raises(ConfigError, match="field 'expr' must be set"):
        m.load([f, bad])
    assert m.groups() == before

    # Unchanged groups are kept as they are; a changed one takes the state over.
    m.load([f])
    assert m.groups()[0] is before[0]
    _write(tmp_path, "a.yml", RULES.replace("for: 5m", "for: 5m\n        labels: {}"))
    m.load([f])
    assert m.groups()[0] is before[0]  # same definition (empty labels)
    f.write_text(RULES.replace("count(up)", "count(up) * 2"))
    m.load([f])
    assert m.groups()[0] is not before[0]
    [alert] = m.alerts()
    assert alert.active_at == 0.0  # carried over

    # A removed group's series are marked stale.
    env.clock.now = 150.0
    m.load([])
    assert m.groups() == []
    assert stale_at(env.storage, Labels(__name__="job:up:count")) == [150_000]
    assert (
        registry.get_sample_value("vigil_rule_group_rules", {"rule_group": f"{f};alerts"}) is None
    )


def test_python_rule_with_cooldown(registry: CollectorRegistry) -> None:
    env = make_env()
    m = RuleManager(env.ctx, registry=registry, evaluation_interval_s=60)
    state = {"value": None}
    rule = m.register_python_rule(
        "QueueTooLong",
        lambda: state["value"],
        severity="critical",
        cooldown=300,
        labels={"team": "a"},
        annotations={"summary": "queue is {{ $value }}"},
    )
    assert m.groups()[-1].file == PYTHON_RULES_FILE
    m.eval_all(0)
    assert m.alerts() == []
    state["value"] = 42  # type: ignore[assignment]
    m.eval_all(MIN)
    [a] = m.alerts()
    assert a.state == "firing"
    assert a.value == 42
    assert a.labels == Labels(alertname="QueueTooLong", severity="critical", team="a")
    assert a.annotations == {"summary": "queue is 42"}
    [sent] = env.notes.last
    assert sent.starts_at == 60.0
    assert sent.ends_at == 60.0 + 240
    state["value"] = None
    m.eval_all(2 * MIN)
    assert m.alerts() == []
    assert env.notes.last[0].ends_at == 120.0
    state["value"] = True  # type: ignore[assignment]
    m.eval_all(3 * MIN)  # within the cooldown: stays quiet
    assert m.alerts() == []
    m.eval_all(8 * MIN)
    [a] = m.alerts()
    assert a.value == 1.0
    state["value"] = "boom"  # type: ignore[assignment]

    def broken() -> bool:
        raise RuntimeError("no database")

    m.register_python_rule("Broken", broken)
    m.eval_all(9 * MIN)
    broken_rule = m.rules()[-1]
    assert broken_rule.last_error is not None
    assert "no database" in broken_rule.last_error
    assert rule.health.value == "ok"
    key = f"{PYTHON_RULES_FILE};python"
    assert (
        registry.get_sample_value("vigil_rule_evaluation_failures_total", {"rule_group": key}) == 1
    )
    assert registry.get_sample_value("vigil_rule_evaluations_total", {"rule_group": key}) == 7


def test_restore_for_state_through_the_manager(tmp_path: Path) -> None:
    env = make_env()
    add_samples(env.storage, Labels(__name__="up", job="j"), [(t * MIN, 0) for t in range(40)])
    f = _write(tmp_path, "a.yml", RULES.replace("for: 5m", "for: 30m"))
    first = RuleManager(env.ctx)
    first.load([f])
    for t in range(11):
        first.eval_all(t * MIN)
    # Restart at 15m with a queryable: ALERTS series wait for the restore.
    env.clock.now = 16 * 60.0
    second = RuleManager(env.ctx, queryable=env.storage)
    second.load([f])
    second.eval_all(15 * MIN)
    second.eval_all(16 * MIN)
    second.restore_for_state()
    [a] = second.alerts()
    assert a.active_at == 16 * 60 - 10 * 60


def test_scheduled_evaluation(tmp_path: Path, registry: CollectorRegistry) -> None:
    storage = MemoryStorage()
    add_samples(storage, Labels(__name__="up", job="j"), [(0, 0)])
    notes = Notifications()
    slow_calls: list[float] = []
    query = engine_query(Engine(), storage)

    def slow_query(expr: object, t_ms: int) -> list[tuple[Labels, float]]:
        if "slow" in str(expr):
            slow_calls.append(time.time())
            time.sleep(0.5)
            return []
        return query(expr, t_ms)  # type: ignore[arg-type]

    ctx = RuleContext(query=slow_query, appendable=storage, notify=notes)
    f = _write(
        tmp_path,
        "a.yml",
        """groups:
  - name: fast
    interval: 100ms
    rules:
      - record: fast_count
        expr: vector(1)
  - name: slow
    interval: 100ms
    rules:
      - record: slow_count
        expr: absent(slow)
""",
    )
    m = RuleManager(ctx, registry=registry)
    m.load([f])

    async def run() -> None:
        await m.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = series(storage, "fast_count")
            if got and len(next(iter(got.values()))) >= 5 and len(slow_calls) >= 3:
                break
            await asyncio.sleep(0.05)
        await m.stop()

    asyncio.run(run())
    [samples] = series(storage, "fast_count").values()
    assert len(samples) >= 5
    ts = [t for t, _ in samples]
    fast = m.groups()[0]
    # evaluations land on the group's slots
    assert all((t - fast.offset_ms()) % 100 == 0 for t in ts)
    assert len(slow_calls) < len(samples)  # the slow group did not hold the fast one back
    key = f"{f};slow"
    assert (
        registry.get_sample_value("vigil_rule_group_iterations_missed_total", {"rule_group": key})
        or 0
    ) >= 1
    assert not m.running
