"""What every rule shares: the evaluation context, health, and label building.

A rule reaches the world only through :class:`RuleContext`: a query callable
(an instant vector at a time), an :class:`~vigil.storage.interface.Appendable`
for its results, and a notify callable for alerts. Tests pass fakes or the real
engine over a :class:`~vigil.storage.memory.MemoryStorage`.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from vigil.model import METRIC_NAME, Labels, VigilError
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher
from vigil.promql import Expr, ParseOptions, parse_expr
from vigil.promql.parser import Call, VectorSelector, children
from vigil.storage.interface import Appendable

__all__ = [
    "NotifyFunc",
    "QueryFunc",
    "Rule",
    "RuleContext",
    "RuleError",
    "RuleHealth",
    "StateFunc",
    "build_labels",
    "parse_rule_expr",
]

QueryFunc = Callable[[str | Expr, int], list[tuple[Labels, float]]]
"""``query(expr, t_ms)``: the instant vector of ``expr`` at ``t_ms`` (a scalar is one sample
with empty labels); raises on failure."""

NotifyFunc = Callable[[Sequence[Alert]], None]
"""Receives the alerts an evaluation wants sent (firing, re-sent, or resolved)."""

StateFunc = Callable[[str, Labels, str, str, float, float], None]
"""``on_state(rule, alert_labels, new_state, old_state, value, t)`` for each alert transition:
``pending``, ``firing``, ``resolved`` (was firing) or ``inactive`` (was pending); ``t`` in seconds."""

PARSE_OPTIONS = ParseOptions(enable_experimental_functions=True)


@dataclass
class RuleContext:
    """The seams a rule group evaluates through; times are seconds from ``clock``."""

    query: QueryFunc
    appendable: Appendable | None = None
    notify: NotifyFunc | None = None
    external_labels: Mapping[str, str] | Labels = field(default_factory=dict)
    external_url: str = ""
    clock: Callable[[], float] = time.time
    resend_delay_s: float = 60.0
    on_state: StateFunc | None = None

    def external_labels_dict(self) -> dict[str, str]:
        el = self.external_labels
        return el.to_dict() if isinstance(el, Labels) else dict(el)


class RuleHealth(enum.StrEnum):
    UNKNOWN = "unknown"
    GOOD = "ok"
    BAD = "err"


class RuleError(VigilError):
    """A rule evaluation that failed (the message is Prometheus's where it has one)."""


def parse_rule_expr(text: str) -> Expr:
    return parse_expr(text, PARSE_OPTIONS)


def name_matchers(expr: Expr) -> list[tuple[Matcher, ...]] | None:
    """The ``__name__`` matchers of each selector in ``expr`` (empty: any name).

    None when the expression reads series no selector names (``info()``).
    """
    out: list[tuple[Matcher, ...]] = []
    todo = [expr]
    while todo:
        node = todo.pop()
        if isinstance(node, VectorSelector):
            out.append(tuple(m for m in node.matchers if m.name == METRIC_NAME))
        elif isinstance(node, Call) and node.func.name == "info":
            return None
        todo.extend(children(node))
    return out


def build_labels(base: Labels | Mapping[str, str], updates: Mapping[str, str] = {}) -> Labels:
    """``base`` with ``updates`` applied (an empty value deletes the label), as a label set."""
    d = base.to_dict() if isinstance(base, Labels) else dict(base)
    for k, v in updates.items():
        if v == "":
            d.pop(k, None)
        else:
            d[k] = v
    try:
        return Labels.from_dict({k: v for k, v in d.items() if v != ""})
    except ValueError as exc:
        raise RuleError(str(exc)) from None


class Rule(abc.ABC):
    """State common to recording and alerting rules."""

    kind = "rule"

    def __init__(self, name: str, expr: str | Expr, labels: Mapping[str, str]) -> None:
        self.name = name
        self.expr: Expr = parse_rule_expr(expr) if isinstance(expr, str) else expr
        self.expr_text = str(self.expr)
        self.labels: dict[str, str] = dict(labels)
        self.health = RuleHealth.UNKNOWN
        self.last_error: str | None = None
        self.last_evaluation: float | None = None
        """Wall-clock seconds (from the context's clock) of the last evaluation."""
        self.evaluation_duration: float = 0.0
        self._reads = name_matchers(self.expr)

    def may_read(self, names: Collection[str]) -> bool:
        """Whether evaluating this rule may read a series named one of ``names``.

        A group writes its rules' results in one transaction; before a rule that may
        read what an earlier rule of the evaluation wrote, it commits, so the rule
        sees those results as it would in Prometheus (one commit per rule).
        """
        if not names:
            return False
        if self._reads is None:
            return True
        return any(all(m.matches(n) for m in sel) for sel in self._reads for n in names)

    def identity(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """What state carries over a reload by: kind, name and labels (Prometheus's ``nameAndLabels``)."""
        return (self.kind, self.name, tuple(sorted(self.labels.items())))

    @abc.abstractmethod
    def eval(
        self, t_ms: int, ctx: RuleContext, query_offset_ms: int, limit: int
    ) -> list[tuple[Labels, float]]:
        """Evaluate at ``t_ms``: the samples to write at ``t_ms - query_offset_ms``."""

    def query(self, ctx: RuleContext, t_ms: int) -> list[tuple[Labels, float]]:
        return ctx.query(self.expr, t_ms)


def drop_name(labels: Labels) -> Labels:
    return labels.without(METRIC_NAME) if METRIC_NAME in labels else labels
