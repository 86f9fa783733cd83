"""The rule manager: loads rule files, runs each group on its own schedule, reloads safely.

After Prometheus's ``rules/manager.go``:

* :meth:`RuleManager.load` checks every file first; on any problem it raises
  :class:`~vigil.config.errors.ConfigError` and the running groups stay as they
  were. Groups whose definition did not change keep running untouched; changed
  ones take over the state (active alerts, written series) of their rules that
  survived, matched by name and labels; series of removed rules and groups are
  marked stale.
* Each group is an asyncio task evaluating at ``slot + k * interval``, its slot
  an offset inside the interval derived from a hash of ``file;name`` (so groups
  spread over the interval and keep their phase across restarts). The
  evaluation itself runs in a worker thread, so a slow query delays only its
  own group.
* With a ``queryable``, alerts restore how long they have been pending from
  ``ALERTS_FOR_STATE`` after the second evaluation at start-up (outage tolerance
  1h, grace period 10m), and only then write ``ALERTS`` series.
* :meth:`RuleManager.register_python_rule` adds a Python callable as an alert
  in the same pipeline (embedded mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from prometheus_client import CollectorRegistry

from vigil.model import Labels
from vigil.rules.alerting import AlertState, PythonRule, PythonRuleOptions
from vigil.rules.base import Rule, RuleContext
from vigil.rules.file import NameValidation, RuleGroupSpec, load_rule_files
from vigil.rules.group import Group, RuleMetrics
from vigil.storage.interface import Queryable

__all__ = ["PYTHON_RULES_FILE", "RuleAlert", "RuleManager"]

log = logging.getLogger("vigil.rules")

PYTHON_RULES_FILE = "<python>"
"""The ``file`` of the group that holds rules registered from Python."""

ContextFactory = Callable[[RuleGroupSpec], RuleContext]


@dataclass(frozen=True)
class RuleAlert:
    """An active (pending or firing) alert, as the API lists them."""

    rule: str
    group: str
    file: str
    labels: Labels
    annotations: Mapping[str, str]
    state: str
    active_at: float
    value: float
    fired_at: float | None = None
    keep_firing_since: float | None = None


class RuleManager:
    """Owns the rule groups: load/reload, scheduling, restore, and read accessors."""

    def __init__(
        self,
        context: RuleContext | ContextFactory,
        *,
        evaluation_interval_s: float = 60.0,
        registry: CollectorRegistry | None = None,
        queryable: Queryable | None = None,
        outage_tolerance_s: float = 3600.0,
        for_grace_period_s: float = 600.0,
        ignore_unknown_fields: bool = False,
        name_validation: NameValidation = "utf8",
    ) -> None:
        self._context = context
        self.evaluation_interval_s = evaluation_interval_s
        self.metrics = RuleMetrics(registry)
        self.queryable = queryable
        self.outage_tolerance_s = outage_tolerance_s
        self.for_grace_period_s = for_grace_period_s
        self.ignore_unknown_fields = ignore_unknown_fields
        self.name_validation: NameValidation = name_validation
        self._groups: dict[str, Group] = {}
        self._python: Group | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._loaded_once = False
        self._to_restore: set[str] = set()
        self.files: list[str] = []

    # -- configuration -----------------------------------------------------------------

    def _ctx(self, spec: RuleGroupSpec) -> RuleContext:
        c = self._context
        return c if isinstance(c, RuleContext) else c(spec)

    def load(self, paths: Sequence[str | Path]) -> None:
        """Replace the file groups by those of ``paths``; on any problem raise, changing nothing.

        When the manager is running, call this from its event loop's thread.
        """
        specs = load_rule_files(
            paths,
            ignore_unknown_fields=self.ignore_unknown_fields,
            name_validation=self.name_validation,
        )
        restore = self.queryable is not None and not self._loaded_once
        new: dict[str, Group] = {}
        for spec in specs:
            new[spec.key] = Group(
                spec,
                self._ctx(spec),
                default_interval_s=self.evaluation_interval_s,
                metrics=self.metrics,
                restored=not restore,
            )
        old = self._groups
        result: dict[str, Group] = {}
        for key, g in new.items():
            prev = old.get(key)
            if (
                prev is not None
                and prev.spec.same_group(g.spec)
                and prev.interval_s == g.interval_s
                and key not in self._to_restore
            ):
                result[key] = prev  # unchanged: keeps running as it is
                continue
            if prev is not None:
                self._stop_task(key)
                g.copy_state(prev)
            result[key] = g
        for key, prev in old.items():
            if key not in result:
                self._stop_task(key)
                prev.mark_all_stale(self._now_ms(prev))
                self.metrics.forget(key)
        self._groups = result
        if restore:
            self._to_restore = set(result)
        self._loaded_once = True
        self.files = [str(p) for p in paths]
        for key, g in result.items():
            self.metrics.rules.labels(key).set(len(g.rules))
            if self._running and key not in self._tasks:
                self._start_task(g)
        log.info("loaded %d rule groups from %d files", len(result), len(paths))

    async def reload(self, paths: Sequence[str | Path]) -> None:
        """:meth:`load` from async code."""
        self.load(paths)

    def register_python_rule(
        self, name: str, func: Callable[[], object], **options: Unpack[PythonRuleOptions]
    ) -> PythonRule:
        """Alert ``name`` while ``func()`` returns true (or a number), evaluated every interval.

        ``options`` (:class:`~vigil.rules.alerting.PythonRuleOptions`): ``severity``,
        ``cooldown``, ``labels``, ``annotations``, ``for_s``.
        """
        severity = options.get("severity", "warning")
        labels = options.get("labels") or {}
        all_labels = {"severity": severity, **labels} if severity else dict(labels)
        rule = PythonRule(
            name,
            func,
            cooldown_s=options.get("cooldown", 0.0),
            for_s=options.get("for_s", 0.0),
            labels=all_labels,
            annotations=options.get("annotations"),
        )
        if self._python is None:
            spec = RuleGroupSpec(name="python", file=PYTHON_RULES_FILE)
            self._python = Group(
                spec,
                self._ctx(spec),
                default_interval_s=self.evaluation_interval_s,
                metrics=self.metrics,
                rules=[rule],
            )
            if self._running:
                self._start_task(self._python)
        else:
            self._python.add_rule(rule)
        return rule

    # -- reading ---------------------------------------------------------------------------

    def groups(self) -> list[Group]:
        """Every group (file groups in file order, then the Python rules' group)."""
        out = list(self._groups.values())
        if self._python is not None:
            out.append(self._python)
        return out

    def rules(self) -> list[Rule]:
        return [r for g in self.groups() for r in g.rules]

    def alerts(self) -> list[RuleAlert]:
        """Pending and firing alerts of every alerting rule."""
        out: list[RuleAlert] = []
        for g in self.groups():
            for rule in g.alerting_rules():
                for a in rule.active_alerts():
                    if a.state not in (AlertState.PENDING, AlertState.FIRING):
                        continue
                    out.append(
                        RuleAlert(
                            rule=rule.name,
                            group=g.name,
                            file=g.file,
                            labels=a.labels,
                            annotations=dict(a.annotations),
                            state=str(a.state),
                            active_at=a.active_at,
                            value=a.value,
                            fired_at=a.fired_at,
                            keep_firing_since=a.keep_firing_since,
                        )
                    )
        return out

    # -- evaluation ------------------------------------------------------------------------

    def eval_all(self, t_ms: int) -> None:
        """Evaluate every group once at ``t_ms`` (in this thread; for tests and manual ticks)."""
        for g in self.groups():
            g.eval(t_ms)

    def restore_for_state(
        self, queryable: Queryable | None = None, ts: float | None = None
    ) -> None:
        """Restore the ``for`` state of every group's alerts from ``ALERTS_FOR_STATE``."""
        q = queryable if queryable is not None else self.queryable
        if q is None:
            raise ValueError("restore_for_state needs a queryable")
        for g in self.groups():
            now = ts if ts is not None else g.ctx.clock()
            g.restore_for_state(
                q,
                now,
                outage_tolerance_s=self.outage_tolerance_s,
                for_grace_period_s=self.for_grace_period_s,
            )
        self._to_restore.clear()

    # -- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one task per group (in the running event loop)."""
        if self._running:
            return
        self._running = True
        for g in self.groups():
            self._start_task(g)

    async def stop(self) -> None:
        """Stop every group's task and wait for them."""
        self._running = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    @property
    def running(self) -> bool:
        return self._running

    def _start_task(self, g: Group) -> None:
        self._tasks[g.key] = asyncio.get_running_loop().create_task(
            self._run(g), name=f"rule-group {g.key}"
        )

    def _stop_task(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    @staticmethod
    def _now_ms(g: Group) -> int:
        return math.floor(g.ctx.clock() * 1000)

    async def _sleep_until(self, g: Group, t_ms: int) -> None:
        delay = t_ms / 1000.0 - g.ctx.clock()
        await asyncio.sleep(max(0.0, delay))

    async def _run(self, g: Group) -> None:
        interval_ms = max(1, round(g.interval_s * 1000))
        t = g.eval_timestamp(self._now_ms(g)) + interval_ms
        await self._sleep_until(g, t)
        evaluations = 0
        key = g.key
        while True:
            self.metrics.iterations.labels(key).inc()
            try:
                await asyncio.to_thread(g.eval, t)
            except Exception:  # eval records rule failures itself; this is a bug guard
                log.exception("rule group %r evaluation crashed", key)
            evaluations += 1
            if evaluations == 2 and key in self._to_restore and self.queryable is not None:
                self._to_restore.discard(key)
                try:
                    await asyncio.to_thread(
                        g.restore_for_state,
                        self.queryable,
                        g.ctx.clock(),
                        outage_tolerance_s=self.outage_tolerance_s,
                        for_grace_period_s=self.for_grace_period_s,
                    )
                except Exception:
                    log.exception("restoring 'for' state of group %r failed", key)
                    for r in g.alerting_rules():
                        r.restored = True
            t += interval_ms
            missed = (self._now_ms(g) - t) // interval_ms
            if missed > 0:
                self.metrics.iterations_missed.labels(key).inc(missed)
                self.metrics.iterations.labels(key).inc(missed)
                t += missed * interval_ms
            await self._sleep_until(g, t)
