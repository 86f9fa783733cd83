"""AST to canonical PromQL text, the way Prometheus's ``String()`` methods print it.

This is what ``/api/v1/format_query`` returns: single spaces around binary
operators, ``sum by (job) (x)``, matchers sorted, ``offset``/``@`` after the
range, numbers in Go's shortest form, durations like ``1h30m``. Printing and
parsing again gives an equal tree.
"""

from __future__ import annotations

import math

from vigil.model.labels import METRIC_NAME
from vigil.model.matchers import Matcher, MatchType
from vigil.promql.parser.ast import (
    AggregateExpr,
    BinaryExpr,
    BinaryOp,
    Call,
    Cardinality,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from vigil.promql.parser.literals import format_duration, format_number
from vigil.promql.parser.quoting import go_quote, is_legacy_label_name

__all__ = ["format_matcher", "to_string"]


def _labels(names: list[str]) -> str:
    return ", ".join(n if is_legacy_label_name(n) else go_quote(n) for n in names)


def format_matcher(m: Matcher) -> str:
    """``name="value"``, with the name quoted when it is not a legacy label name."""
    name = m.name if is_legacy_label_name(m.name) else go_quote(m.name)
    return f"{name}{m.type.value}{go_quote(m.value)}"


def _at(timestamp: int | None, start_or_end: str | None) -> str:
    if timestamp is not None:
        return f" @ {timestamp / 1000:.3f}"
    if start_or_end is not None:
        return f" @ {start_or_end}()"
    return ""


def _offset(offset: int) -> str:
    if offset == 0:
        return ""
    return f" offset {format_duration(offset)}"


def _selector(node: VectorSelector, modifiers: bool = True) -> str:
    parts = [
        format_matcher(m)
        for m in node.matchers
        if not (
            m.name == METRIC_NAME
            and m.type is MatchType.EQUAL
            and m.value == node.name
            and m.value != ""
        )
    ]
    text = node.name
    if parts:
        parts.sort()
        text += "{" + ",".join(parts) + "}"
    if modifiers:
        text += _at(node.timestamp, node.start_or_end) + _offset(node.offset)
    return text


def to_string(node: Expr) -> str:
    """Canonical PromQL text for ``node``."""
    if isinstance(node, BinaryExpr):
        lhs = node.lhs
        if node.op is BinaryOp.POW and isinstance(lhs, NumberLiteral) and lhs.value == math.inf:
            # "+Inf ^ 2" would read back as +(Inf ^ 2); "Inf" is the same number.
            text = "Inf ^"
        else:
            text = to_string(lhs) + " " + node.op.value
        if node.return_bool:
            text += " bool"
        vm = node.matching
        if vm is not None:
            grouped = vm.card in (Cardinality.MANY_TO_ONE, Cardinality.ONE_TO_MANY)
            if vm.matching_labels or vm.on or grouped:
                text += f" {'on' if vm.on else 'ignoring'} ({_labels(vm.matching_labels)})"
            if grouped:
                side = "left" if vm.card is Cardinality.MANY_TO_ONE else "right"
                text += f" group_{side} ({_labels(vm.include)})"
        return text + " " + to_string(node.rhs)
    if isinstance(node, VectorSelector):
        return _selector(node)
    if isinstance(node, NumberLiteral):
        if node.duration:
            return format_duration(round(node.value * 1000))
        return format_number(node.value)
    if isinstance(node, Call):
        return node.func.name + "(" + ", ".join(to_string(a) for a in node.args) + ")"
    if isinstance(node, AggregateExpr):
        text = node.op.value
        if node.without:
            text += f" without ({_labels(node.grouping)}) "
        elif node.grouping:
            text += f" by ({_labels(node.grouping)}) "
        text += "("
        if node.param is not None:
            text += to_string(node.param) + ", "
        return text + to_string(node.expr) + ")"
    if isinstance(node, MatrixSelector):
        vs = node.vector_selector
        if isinstance(vs, VectorSelector):
            return (
                _selector(vs, modifiers=False)
                + f"[{format_duration(node.range)}]"
                + _at(vs.timestamp, vs.start_or_end)
                + _offset(vs.offset)
            )
        return to_string(vs) + f"[{format_duration(node.range)}]"
    if isinstance(node, SubqueryExpr):
        step = format_duration(node.step) if node.step else ""
        return (
            to_string(node.expr)
            + f"[{format_duration(node.range)}:{step}]"
            + _at(node.timestamp, node.start_or_end)
            + _offset(node.offset)
        )
    if isinstance(node, ParenExpr):
        return "(" + to_string(node.expr) + ")"
    if isinstance(node, UnaryExpr):
        return node.op.value + to_string(node.expr)
    if isinstance(node, StringLiteral):
        return go_quote(node.value)
    raise TypeError(f"not a PromQL expression node: {node!r}")
