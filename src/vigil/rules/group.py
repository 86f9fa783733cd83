"""A rule group: its rules evaluated in order at one timestamp, results in one store.

After Prometheus's ``rules/group.go``: a series a rule wrote at the previous
evaluation and not at this one gets a staleness marker; alerting rules hand
what needs sending to the notify callable; ``ALERTS_FOR_STATE`` lets a
restarted server restore how long its alerts have been pending
(:meth:`Group.restore_for_state`).

Prometheus appends each rule's samples in a transaction of their own. Here one
evaluation of the group is one transaction (:class:`_Batch`: one commit, one
WAL write, instead of one per rule), committed early only before a rule that
may read what the transaction holds (a recording rule's output used by a later
rule), so every rule sees the same data as in Prometheus. Within the
transaction, a series appended once is not appended again at the same
timestamp: a later value or staleness marker for it is refused, as a
duplicate would be by the store after a per-rule commit.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from vigil.model import METRIC_NAME, Labels
from vigil.model.alert import fingerprint
from vigil.model.matchers import Matcher
from vigil.model.value import STALE_NAN, is_stale_nan
from vigil.rules.alerting import AlertingRule, AlertState
from vigil.rules.base import Rule, RuleContext, RuleError, RuleHealth
from vigil.rules.file import RuleGroupSpec
from vigil.rules.recording import RecordingRule
from vigil.storage.interface import AppendError, Querier, Queryable

__all__ = ["Group", "RuleContext", "RuleMetrics", "rules_from_spec"]

log = logging.getLogger("vigil.rules")


class RuleMetrics:
    """The rule manager's own metrics, labelled by ``rule_group`` (``file;name``)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        lab = ["rule_group"]
        self.eval_total = Counter(
            "vigil_rule_evaluations",
            "The total number of rule evaluations.",
            lab,
            registry=registry,
        )
        self.eval_failures = Counter(
            "vigil_rule_evaluation_failures",
            "The total number of rule evaluation failures.",
            lab,
            registry=registry,
        )
        self.iterations = Counter(
            "vigil_rule_group_iterations",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            lab,
            registry=registry,
        )
        self.iterations_missed = Counter(
            "vigil_rule_group_iterations_missed",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
            lab,
            registry=registry,
        )
        self.last_duration = Gauge(
            "vigil_rule_group_last_duration_seconds",
            "The duration of the last rule group evaluation.",
            lab,
            registry=registry,
        )
        self.last_eval = Gauge(
            "vigil_rule_group_last_evaluation_timestamp_seconds",
            "The timestamp of the last rule group evaluation in seconds.",
            lab,
            registry=registry,
        )
        self.rules = Gauge("vigil_rule_group_rules", "The number of rules.", lab, registry=registry)
        self.interval = Gauge(
            "vigil_rule_group_interval_seconds",
            "The interval of a rule group.",
            lab,
            registry=registry,
        )
        self.samples = Gauge(
            "vigil_rule_group_last_evaluation_samples",
            "The number of samples returned during the last rule group evaluation.",
            lab,
            registry=registry,
        )

    def forget(self, key: str) -> None:
        for m in (
            self.eval_total,
            self.eval_failures,
            self.iterations,
            self.iterations_missed,
            self.last_duration,
            self.last_eval,
            self.rules,
            self.interval,
            self.samples,
        ):
            with contextlib.suppress(KeyError):
                m.remove(key)


def rules_from_spec(spec: RuleGroupSpec, *, restored: bool = True) -> list[Rule]:
    """The rules of a group spec; group labels apply to every rule (rule labels win)."""
    out: list[Rule] = []
    for r in spec.rules:
        labels = {**spec.labels, **r.labels}
        if r.alert is not None:
            out.append(
                AlertingRule(
                    r.alert,
                    r.expr,
                    for_s=r.for_s,
                    keep_firing_for_s=r.keep_firing_for_s,
                    labels=labels,
                    annotations=r.annotations,
                    restored=restored,
                )
            )
        else:
            out.append(RecordingRule(r.record or "", r.expr, labels))
    return out


class Group:
    """Rules evaluated in order, every ``interval_s`` (the manager schedules :meth:`eval`)."""

    def __init__(
        self,
        spec: RuleGroupSpec,
        ctx: RuleContext,
        *,
        default_interval_s: float = 60.0,
        metrics: RuleMetrics | None = None,
        restored: bool = True,
        rules: Sequence[Rule] | None = None,
    ) -> None:
        self.spec = spec
        self.ctx = ctx
        self.interval_s = spec.interval_s or default_interval_s
        self.metrics = metrics
        self.rules: list[Rule] = (
            list(rules) if rules is not None else rules_from_spec(spec, restored=restored)
        )
        self.series_prev: list[dict[Labels, None]] = [{} for _ in self.rules]
        self.stale_series: list[Labels] = []
        self.last_evaluation: float | None = None
        """Wall-clock seconds (context clock) when the last evaluation started."""
        self.last_eval_ms: int | None = None
        """The evaluation timestamp (slot) of the last evaluation, in ms."""
        self.evaluation_duration: float = 0.0
        self.lock = threading.Lock()
        if metrics is not None:
            metrics.rules.labels(self.key).set(len(self.rules))
            metrics.interval.labels(self.key).set(self.interval_s)

    # -- identity ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file(self) -> str:
        return self.spec.file

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def limit(self) -> int:
        return self.spec.limit

    @property
    def query_offset_ms(self) -> int:
        return round((self.spec.query_offset_s or 0.0) * 1000)

    def add_rule(self, rule: Rule) -> None:
        """Append a rule (the manager's Python rules join their group this way)."""
        with self.lock:
            self.rules.append(rule)
            self.series_prev.append({})
            if self.metrics is not None:
                self.metrics.rules.labels(self.key).set(len(self.rules))

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for r in self.rules if isinstance(r, AlertingRule)]

    def offset_ms(self) -> int:
        """Where in each interval this group evaluates: a hash of its key, like Prometheus."""
        interval_ms = max(1, round(self.interval_s * 1000))
        h = fingerprint(Labels(file=self.file, name=self.name))
        return h % interval_ms

    def eval_timestamp(self, now_ms: int) -> int:
        """The latest slot at or before ``now_ms`` (Prometheus's ``EvalTimestamp``)."""
        interval_ms = max(1, round(self.interval_s * 1000))
        offset = self.offset_ms()
        adj = now_ms - offset
        return adj - adj % interval_ms + offset

    # -- evaluation ----------------------------------------------------------------

    def eval(self, t_ms: int) -> None:
        """Evaluate every rule at ``t_ms``; failures are recorded per rule, never raised."""
        with self.lock:
            self._eval(t_ms)

    def _eval(self, t_ms: int) -> None:
        ctx = self.ctx
        key = self.key
        m = self.metrics
        started = time.perf_counter()
        self.last_evaluation = ctx.clock()
        offset = self.query_offset_ms
        write_t = t_ms - offset
        samples_total = 0
        evaluated = 0
        batch = _Batch(self, write_t)
        for i, rule in enumerate(self.rules):
            if batch.names and rule.may_read(batch.names):
                batch.commit()
            rule_started = time.perf_counter()
            evaluated += 1
            try:
                vector = rule.eval(t_ms, ctx, offset, self.limit)
            except Exception as exc:
                rule.health = RuleHealth.BAD
                rule.last_error = str(exc) if isinstance(exc, RuleError) else _describe(exc)
                if m is not None:
                    m.eval_failures.labels(key).inc()
                log.warning(
                    "evaluating rule %r of group %r failed: %s", rule.name, key, rule.last_error
                )
                rule.evaluation_duration = time.perf_counter() - rule_started
                rule.last_evaluation = self.last_evaluation
                continue
            rule.health = RuleHealth.GOOD
            rule.last_error = None
            samples_total += len(vector)
            if isinstance(rule, AlertingRule) and ctx.notify is not None:
                alerts = rule.alerts_to_send(
                    t_ms / 1000.0, ctx.resend_delay_s, self.interval_s, ctx.external_url
                )
                if alerts:
                    try:
                        ctx.notify(alerts)
                    except Exception as exc:
                        log.warning("sending alerts of rule %r failed: %s", rule.name, exc)
            batch.add(i, rule, vector)
            rule.evaluation_duration = time.perf_counter() - rule_started
            rule.last_evaluation = self.last_evaluation
        batch.add_stale(self.stale_series)
        self.stale_series = []
        batch.commit()
        self.evaluation_duration = time.perf_counter() - started
        self.last_eval_ms = t_ms
        if m is not None:
            m.eval_total.labels(key).inc(evaluated)
            m.samples.labels(key).set(samples_total)
            m.last_duration.labels(key).set(self.evaluation_duration)
            m.last_eval.labels(key).set(self.last_evaluation)

    def _write_stale(self, series: Sequence[Labels], t: int) -> None:
        if not series or self.ctx.appendable is None:
            return
        batch = _Batch(self, t)
        batch.add_stale(series)
        batch.commit()

    def mark_all_stale(self, t_ms: int) -> None:
        """Staleness markers for everything this group wrote last (it is being removed)."""
        with self.lock:
            series = [lb for prev in self.series_prev for lb in prev] + self.stale_series
            self._write_stale(series, t_ms - self.query_offset_ms)
            self.series_prev = [{} for _ in self.rules]
            self.stale_series = []

    # -- reload ----------------------------------------------------------------------

    def copy_state(self, old: Group) -> None:
        """Take over ``old``'s alert state and written series, matching rules by name and labels.

        Rules of ``old`` left unmatched have their series marked stale at the next evaluation.
        """
        with old.lock:
            self.evaluation_duration = old.evaluation_duration
            self.last_evaluation = old.last_evaluation
            self.last_eval_ms = old.last_eval_ms
            by_identity: dict[object, list[int]] = {}
            for fi, r in enumerate(old.rules):
                by_identity.setdefault(r.identity(), []).append(fi)
            for i, rule in enumerate(self.rules):
                idx = by_identity.get(rule.identity())
                if not idx:
                    continue
                fi = idx.pop(0)
                self.series_prev[i] = old.series_prev[fi]
                old_rule = old.rules[fi]
                if isinstance(rule, AlertingRule) and isinstance(old_rule, AlertingRule):
                    rule.active.update(old_rule.active)
                    rule.restored = rule.restored or old_rule.restored
                rule.health = old_rule.health
                rule.last_error = old_rule.last_error
                rule.last_evaluation = old_rule.last_evaluation
                rule.evaluation_duration = old_rule.evaluation_duration
            self.stale_series = list(old.stale_series)
            for left in by_identity.values():
                for fi in left:
                    self.stale_series.extend(old.series_prev[fi])

    # -- restore ----------------------------------------------------------------------

    def restore_for_state(
        self,
        queryable: Queryable,
        ts: float,
        *,
        outage_tolerance_s: float = 3600.0,
        for_grace_period_s: float = 600.0,
    ) -> None:
        """Move ``active_at`` of this group's alerts back to what ``ALERTS_FOR_STATE`` says.

        Like Prometheus's ``RestoreForState``: only alerts active within the outage
        tolerance are restored, and an alert gets at least the grace period before firing.
        """
        with self.lock:
            q = queryable.querier(round((ts - outage_tolerance_s) * 1000), round(ts * 1000))
            try:
                for rule in self.alerting_rules():
                    self._restore_rule(rule, q, ts, for_grace_period_s)
            finally:
                q.close()

    def _restore_rule(self, rule: AlertingRule, q: Querier, ts: float, grace: float) -> None:
        hold = rule.for_s
        if hold < grace:
            rule.restored = True
            return
        base = rule.for_state_labels(None)
        matchers = [Matcher.equal(k, v) for k, v in base.pairs]
        try:
            found = q.select(matchers)
        except Exception as exc:
            log.error("restoring 'for' state of %r failed: %s", rule.name, exc)
            rule.restored = True
            return
        by_labels = {s.labels.without(METRIC_NAME): s for s in found}
        for a in rule.active.values():
            if a.state == AlertState.INACTIVE:
                continue
            s = by_labels.get(a.labels)
            if s is None or len(s) == 0:
                continue
            t = int(s.timestamps[-1])
            v = float(s.values[-1])
            if is_stale_nan(v):
                continue
            down_at = float(t // 1000)
            restored_active_at = v
            remaining = hold - (down_at - restored_active_at)
            if remaining <= 0:
                pass
            elif remaining < grace:
                restored_active_at = ts + grace - hold
            else:
                restored_active_at = restored_active_at + (ts - down_at)
            a.active_at = restored_active_at
        rule.restored = True


class _Batch:
    """The writes of one group evaluation: one transaction, committed on demand.

    A rule's new ``series_prev`` (what it returned) takes effect when the
    transaction holding its samples commits; a failed commit marks those rules
    unhealthy and keeps their previous series, as a failed per-rule commit does.
    """

    __slots__ = ("_app", "_group", "_pending", "_t", "_written", "names")

    def __init__(self, group: Group, t: int) -> None:
        self._group = group
        self._t = t
        appendable = group.ctx.appendable
        self._app = appendable.appender() if appendable is not None else None
        self._written: dict[Labels, float] = {}
        """Series appended at ``t`` in this transaction (and their values)."""
        self._pending: list[tuple[int, Rule, dict[Labels, None]]] = []
        self.names: set[str] = set()
        """Metric names of the samples waiting for the commit."""

    def _append(self, lb: Labels, v: float) -> None:
        assert self._app is not None
        self._app.append(0, lb, self._t, v)
        self._written[lb] = v
        name = lb.get(METRIC_NAME)
        if name:
            self.names.add(name)

    def add(self, i: int, rule: Rule, vector: list[tuple[Labels, float]]) -> None:
        """Rule ``i``'s results, and staleness markers for what it wrote last time only."""
        group = self._group
        if self._app is None:
            group.series_prev[i] = {lb: None for lb, _ in vector}
            return
        written = self._written
        returned: dict[Labels, None] = {}
        for lb, v in vector:
            old = written.get(lb)
            if old is not None:
                if _same_value(old, v):
                    returned[lb] = None  # an exact duplicate is accepted and ignored
                else:
                    log.debug("rule %r result %s discarded: duplicate sample", rule.name, lb)
                continue
            try:
                self._append(lb, v)
            except AppendError as exc:
                log.debug("rule %r result %s discarded: %s", rule.name, lb, exc)
                continue
            returned[lb] = None
        for lb in group.series_prev[i]:
            # refused when another rule writes the series: expected
            if lb not in returned and lb not in written:
                with contextlib.suppress(AppendError):
                    self._append(lb, STALE_NAN)
        self._pending.append((i, rule, returned))

    def add_stale(self, series: Sequence[Labels]) -> None:
        """Staleness markers for series no rule of the group writes any more."""
        if self._app is None:
            return
        for lb in series:
            if lb not in self._written:
                with contextlib.suppress(AppendError):
                    self._append(lb, STALE_NAN)

    def commit(self) -> None:
        """Commit what was added; the next additions start a new transaction."""
        pending, self._pending = self._pending, []
        self.names = set()
        if self._app is None:
            return
        group = self._group
        try:
            self._app.commit()
        except Exception as exc:
            error = f"appending samples failed: {_describe(exc)}"
            if not pending:
                log.warning("writing staleness markers for group %r failed: %s", group.key, exc)
            for _, rule, _ in pending:
                rule.health = RuleHealth.BAD
                rule.last_error = error
                if group.metrics is not None:
                    group.metrics.eval_failures.labels(group.key).inc()
            with contextlib.suppress(Exception):
                self._app.rollback()
            return
        for i, _, returned in pending:
            group.series_prev[i] = returned


def _same_value(a: float, b: float) -> bool:
    """Bit-equal, so NaN equals NaN and a staleness marker only equals a staleness marker."""
    return struct.pack("<d", a) == struct.pack("<d", b)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__
