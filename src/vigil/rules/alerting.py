"""Alerting rules: the state machine of Prometheus's ``rules/alerting.go``.

Each sample of the expression is an alert instance, identified by its labels
(the sample's labels without ``__name__``, the rule's templated labels, and
``alertname``). A new instance is *pending*; after ``for`` it is *firing*;
when it leaves the result it is *inactive* (resolved) and kept 15 minutes so
the resolution keeps being sent, unless ``keep_firing_for`` keeps it firing a
while longer. Firing and resolved alerts go to the notifier when they change
and every ``resend_delay``; ``ALERTS`` and ``ALERTS_FOR_STATE`` series record
the state in the store.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import TypedDict
from urllib.parse import quote_plus

from vigil.model import METRIC_NAME, Labels
from vigil.model.alert import Alert
from vigil.promql import Expr
from vigil.rules import templating
from vigil.rules.base import Rule, RuleContext, RuleError, build_labels

__all__ = [
    "ALERTS_FOR_STATE_METRIC",
    "ALERTS_METRIC",
    "RESOLVED_RETENTION_S",
    "ActiveAlert",
    "AlertState",
    "AlertingRule",
    "PythonRule",
    "PythonRuleOptions",
    "generator_url",
]

ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
RESOLVED_RETENTION_S = 15 * 60.0
"""How long a resolved alert is kept (and re-sent as resolved)."""


class AlertState(enum.IntEnum):
    UNKNOWN = 0
    INACTIVE = 1
    PENDING = 2
    FIRING = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass
class ActiveAlert:
    """One alert instance of a rule; times are Unix seconds (``None``: not yet)."""

    labels: Labels
    annotations: dict[str, str]
    state: AlertState
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    last_sent_at: float | None = None
    valid_until: float | None = None
    keep_firing_since: float | None = None
    series_labels: dict[AlertState | None, Labels] = field(
        default_factory=dict, repr=False, compare=False
    )
    """The alert's ``ALERTS`` labels by state and (under None) its ``ALERTS_FOR_STATE``
    labels, built once: they depend only on the rule and the alert's labels."""

    def needs_sending(self, ts: float, resend_delay_s: float) -> bool:
        if self.state == AlertState.PENDING:
            return False
        if self.resolved_at is not None and (
            self.last_sent_at is None or self.resolved_at > self.last_sent_at
        ):
            return True
        return self.last_sent_at is None or self.last_sent_at + resend_delay_s < ts

    def to_alert(self, generator: str, now: float) -> Alert:
        """The notifier's view: starts when it fired, ends when resolved or when it expires."""
        ends = self.resolved_at if self.resolved_at is not None else self.valid_until
        return Alert(
            labels=self.labels,
            annotations=dict(self.annotations),
            starts_at=self.fired_at if self.fired_at is not None else self.active_at,
            ends_at=ends,
            generator_url=generator,
            updated_at=now,
        )


def generator_url(external_url: str, expr: str) -> str:
    """Prometheus's link to the expression in the graph page."""
    return f"{external_url.rstrip('/')}/graph?g0.expr={quote_plus(expr)}&g0.tab=1"


class AlertingRule(Rule):
    kind = "alerting"

    def __init__(
        self,
        name: str,
        expr: str | Expr,
        *,
        for_s: float = 0.0,
        keep_firing_for_s: float = 0.0,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        restored: bool = True,
    ) -> None:
        super().__init__(name, expr, labels or {})
        self.for_s = for_s
        self.keep_firing_for_s = keep_firing_for_s
        self.annotations: dict[str, str] = dict(annotations or {})
        self.active: dict[Labels, ActiveAlert] = {}
        self.restored = restored
        """False until the ``for`` state was restored; ALERTS series are written only after."""
        self._templates: templating.RuleTemplates | None = None
        self._generator: tuple[str, str] | None = None  # (external URL, generator URL)

    # -- reading ----------------------------------------------------------------

    @property
    def state(self) -> AlertState:
        """The highest state of its alerts; ``UNKNOWN`` before the first evaluation."""
        if self.last_evaluation is None:
            return AlertState.UNKNOWN
        return max((a.state for a in self.active.values()), default=AlertState.INACTIVE)

    def active_alerts(self) -> list[ActiveAlert]:
        """Pending and firing alerts (copies), not the resolved ones still kept."""
        return [replace(a) for a in self.active.values() if a.resolved_at is None]

    def identity(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return ("alerting", self.name, tuple(sorted(self.labels.items())))

    def may_read(self, names: Collection[str]) -> bool:
        """Also True when a label or annotation template may run a query."""
        if not names:
            return False
        texts = (*self.labels.values(), *self.annotations.values())
        if any("query" in t for t in texts if "{{" in t):
            return True
        return super().may_read(names)

    # -- evaluation ---------------------------------------------------------------

    def samples(
        self, t_ms: int, ctx: RuleContext, query_offset_ms: int
    ) -> list[tuple[Labels, float]]:
        """The expression's result: one alert per sample."""
        return self.query(ctx, t_ms - query_offset_ms)

    def eval(
        self, t_ms: int, ctx: RuleContext, query_offset_ms: int, limit: int
    ) -> list[tuple[Labels, float]]:
        ts = t_ms / 1000.0
        res = self.samples(t_ms, ctx, query_offset_ms)

        def query_for_template(q: str) -> list[tuple[Labels, float]]:
            return ctx.query(q, t_ms)

        templates = self._templates
        if templates is None or templates.external_url != ctx.external_url:
            templates = self._templates = templating.RuleTemplates(
                f"__alert_{self.name}", external_url=ctx.external_url
            )
        expand_text = templates.expand
        external_labels = ctx.external_labels_dict()
        alerts: dict[Labels, ActiveAlert] = {}
        for sample_labels, value in res:
            data = templating.AlertTemplateData(
                Labels=sample_labels.to_dict(),
                ExternalLabels=external_labels,
                ExternalURL=ctx.external_url,
                Value=value,
            )

            def expand(text: str, data: templating.AlertTemplateData = data) -> str:
                return expand_text(text, data, query=query_for_template)

            updates = {k: expand(v) for k, v in self.labels.items()}
            updates[METRIC_NAME] = ""
            updates["alertname"] = self.name
            lb = build_labels(sample_labels, updates)
            annotations = {k: expand(v) for k, v in self.annotations.items()}
            if lb in alerts:
                raise RuleError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            alerts[lb] = ActiveAlert(lb, annotations, AlertState.PENDING, value, ts)

        def changed(a: ActiveAlert, new: str, old: str) -> None:
            if ctx.on_state is not None:
                ctx.on_state(self.name, a.labels, new, old, a.value, ts)

        for lb, a in alerts.items():
            old = self.active.get(lb)
            if old is not None and old.state != AlertState.INACTIVE:
                old.value = a.value
                old.annotations = a.annotations
                continue
            self.active[lb] = a
            changed(a, "pending", "inactive")

        out: list[tuple[Labels, float]] = []
        n_active = 0
        for lb, a in list(self.active.items()):
            if lb not in alerts:
                keep_firing = False
                if a.state == AlertState.FIRING and self.keep_firing_for_s > 0:
                    if a.keep_firing_since is None:
                        a.keep_firing_since = ts
                    if ts - a.keep_firing_since < self.keep_firing_for_s:
                        keep_firing = True
                if a.state == AlertState.PENDING or (
                    a.resolved_at is not None and ts - a.resolved_at > RESOLVED_RETENTION_S
                ):
                    del self.active[lb]
                if a.state != AlertState.INACTIVE and not keep_firing:
                    was = a.state
                    a.state = AlertState.INACTIVE
                    a.resolved_at = ts
                    self.on_resolved(ts)
                    if was == AlertState.FIRING:
                        changed(a, "resolved", "firing")
                    else:
                        changed(a, "inactive", str(was))
                if not keep_firing:
                    continue
            else:
                a.keep_firing_since = None
            n_active += 1
            if a.state == AlertState.PENDING and ts - a.active_at >= self.for_s:
                a.state = AlertState.FIRING
                a.fired_at = ts
                changed(a, "firing", "pending")
            if self.restored:
                cache = a.series_labels
                lb_alerts = cache.get(a.state)
                if lb_alerts is None:
                    lb_alerts = cache[a.state] = self.alerts_labels(a)
                lb_for = cache.get(None)
                if lb_for is None:
                    lb_for = cache[None] = self.for_state_labels(a.labels)
                out.append((lb_alerts, 1.0))
                out.append((lb_for, float(math.floor(a.active_at))))

        if limit > 0 and n_active > limit:
            self.active = {}
            raise RuleError(f"exceeded limit of {limit} with {n_active} alerts")
        return out

    def on_resolved(self, ts: float) -> None:
        """Called when an alert of this rule becomes inactive (a hook for subclasses)."""

    def alerts_labels(self, a: ActiveAlert) -> Labels:
        d = dict(self.labels)
        d.update(a.labels.to_dict())
        d.update({METRIC_NAME: ALERTS_METRIC, "alertname": self.name, "alertstate": str(a.state)})
        return build_labels(d)

    def for_state_labels(self, alert_labels: Labels | None) -> Labels:
        d = dict(self.labels)
        if alert_labels is not None:
            d.update(alert_labels.to_dict())
        d.update({METRIC_NAME: ALERTS_FOR_STATE_METRIC, "alertname": self.name})
        return build_labels(d)

    def alerts_to_send(
        self, ts: float, resend_delay_s: float, interval_s: float, external_url: str
    ) -> list[Alert]:
        """Prometheus's ``sendAlerts``: what needs sending now, marking it sent."""
        out: list[Alert] = []
        gen = ""
        for a in self.active.values():
            if a.needs_sending(ts, resend_delay_s):
                if not gen:
                    gen = self._generator_url(external_url)
                a.last_sent_at = ts
                a.valid_until = ts + 4 * max(interval_s, resend_delay_s)
                out.append(a.to_alert(gen, ts))
        return out

    def _generator_url(self, external_url: str) -> str:
        cached = self._generator
        if cached is None or cached[0] != external_url:
            cached = self._generator = (
                external_url,
                generator_url(external_url, self.generator_expr()),
            )
        return cached[1]

    def generator_expr(self) -> str:
        return self.expr_text


class PythonRuleOptions(TypedDict, total=False):
    """The keyword options of a Python rule, wherever one is registered.

    ``severity`` (default ``"warning"``, empty for none) and ``labels`` go on the
    alert; ``annotations`` are templates as in rule files (``{{ $value }}`` is the
    returned number); ``cooldown`` (seconds) keeps the alert from starting again
    right after it resolved; ``for_s`` is the rule's ``for``.
    """

    severity: str
    cooldown: float
    labels: Mapping[str, str] | None
    annotations: Mapping[str, str] | None
    for_s: float


class PythonRule(AlertingRule):
    """An alert driven by a Python callable instead of a query (embedded mode).

    ``func()`` returning ``True`` (or a non-zero number) means "active" with value 1
    (or that number); ``False``, ``None`` or ``0`` means "not active". After an alert
    resolves, the rule stays quiet for ``cooldown_s`` seconds.
    """

    kind = "python"

    def __init__(
        self,
        name: str,
        func: Callable[[], object],
        *,
        cooldown_s: float = 0.0,
        for_s: float = 0.0,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self.func = func
        self.cooldown_s = cooldown_s
        self.cooldown_until: float | None = None
        super().__init__(
            name, "vector(1)", for_s=for_s, labels=labels, annotations=annotations, restored=True
        )
        self.expr_text = f"python:{getattr(func, '__qualname__', name)}"

    def identity(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return ("python", self.name, tuple(sorted(self.labels.items())))

    def generator_expr(self) -> str:
        return self.expr_text

    def samples(
        self, t_ms: int, ctx: RuleContext, query_offset_ms: int
    ) -> list[tuple[Labels, float]]:
        ts = t_ms / 1000.0
        try:
            result = self.func()
        except Exception as exc:
            raise RuleError(f"python rule {self.name!r} failed: {exc!r}") from exc
        if result is None or result is False or (isinstance(result, int | float) and result == 0):
            return []
        if isinstance(result, bool) or not isinstance(result, int | float):
            value = 1.0
        else:
            value = float(result)
        if self.cooldown_until is not None and ts < self.cooldown_until:
            return []
        return [(Labels(), value)]

    def on_resolved(self, ts: float) -> None:
        if self.cooldown_s > 0:
            self.cooldown_until = ts + self.cooldown_s
