"""``label_replace`` and ``label_join``: rewrite each series' labels, keep its samples.

Regular expressions are RE2, anchored like Prometheus's (``^(?s:...)$``), and
the replacement is expanded like Go's ``Regexp.ExpandString``: ``$1``,
``${1}``, ``$name``, ``${name}``; ``$$`` is a dollar; a reference to a group
that does not exist or did not take part expands to nothing. Setting a label
to the empty string removes it. Series that end up with the same labels are
merged when they never have a sample at the same step, and are an error
otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import re2

from vigil.model.labels import METRIC_NAME, Labels
from vigil.promql.errors import EvalError
from vigil.promql.functions import EvalContext, register
from vigil.promql.parser.ast import Call
from vigil.promql.value import BoolArray, Value, Vector

__all__ = ["expand_template", "merge_same_labels", "set_label"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.dot_nl = True

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _valid_label_name(name: str) -> bool:
    """Prometheus 3's (UTF-8) label-name rule: non-empty, valid UTF-8."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def set_label(labels: Labels, name: str, value: str) -> Labels:
    """``labels`` with ``name`` set to ``value``, or removed when ``value`` is empty."""
    pairs = [p for p in labels.pairs if p[0] != name]
    if value:
        pairs.append((name, value))
        pairs.sort()
    return Labels._trusted(tuple(pairs))


def _extract(template: str) -> tuple[str, str, bool]:
    """Go's ``extract``: the group name at the start of ``template`` (after ``$``)."""
    brace = template.startswith("{")
    i = 1 if brace else 0
    j = i
    while j < len(template) and template[j] in _NAME_CHARS:
        j += 1
    if j == i:
        return "", template, False
    name = template[i:j]
    if brace:
        if j >= len(template) or template[j] != "}":
            return "", template, False
        j += 1
    return name, template[j:], True


def expand_template(template: str, groups: dict[int | str, str | None]) -> str:
    """Expand ``template`` with ``groups`` (by number and by name), like Go's ``ExpandString``."""
    out: list[str] = []
    while True:
        before, dollar, after = template.partition("$")
        out.append(before)
        if not dollar:
            break
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        name, rest, ok = _extract(template)
        if not ok:
            out.append("$")
            continue
        template = rest
        key: int | str = int(name) if name.isdigit() and len(name) < 9 else name
        if name.isdigit() and len(name) >= 9:
            continue
        value = groups.get(key)
        if value:
            out.append(value)
    return "".join(out)


def _groups(match: Any, regex: Any) -> dict[int | str, str | None]:
    groups: dict[int | str, str | None] = {0: match.group(0)}
    for i, g in enumerate(match.groups(), start=1):
        groups[i] = g
    for name, index in regex.groupindex.items():
        groups.setdefault(name, match.group(index))
    return groups


def merge_same_labels(v: Vector, marks: BoolArray | None) -> Vector:
    """Merge rows with equal labels that never overlap; raise if they do."""
    first: dict[Labels, int] = {}
    groups: list[list[int]] = []
    for i, lb in enumerate(v.labels):
        g = first.get(lb)
        if g is None:
            first[lb] = len(groups)
            groups.append([i])
        else:
            groups[g].append(i)
    if len(groups) == len(v.labels):
        return Vector(v.labels, v.values, v.present, marks)
    values = np.empty((len(groups), v.n_steps))
    present = np.zeros((len(groups), v.n_steps), dtype=bool)
    labels: list[Labels] = []
    out_marks = np.zeros(len(groups), dtype=bool)
    for gi, rows in enumerate(groups):
        labels.append(v.labels[rows[0]])
        if marks is not None:
            out_marks[gi] = bool(marks[rows[0]])
        if len(rows) == 1:
            values[gi] = v.values[rows[0]]
            present[gi] = v.present[rows[0]]
            continue
        count = v.present[rows].sum(axis=0)
        if bool((count > 1).any()):
            raise EvalError("vector cannot contain metrics with the same labelset")
        row_at = np.asarray(rows)[np.argmax(v.present[rows], axis=0)]
        values[gi] = v.values[row_at, np.arange(v.n_steps)]
        present[gi] = count == 1
    return Vector(labels, values, present, None if marks is None else out_marks)


def _relabelled(v: Vector, new_labels: list[Labels], dst: str) -> Vector:
    marks = v.drop_name
    if dst == METRIC_NAME and marks is not None:
        marks = np.zeros(len(new_labels), dtype=bool)
    return merge_same_labels(Vector(new_labels, v.values, v.present, None), marks)


@register("label_replace")
def _label_replace(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = ctx.vector_arg(args, 0).pruned()
    dst = ctx.string_arg(args, 1)
    repl = ctx.string_arg(args, 2)
    src = ctx.string_arg(args, 3)
    pattern = ctx.string_arg(args, 4)
    try:
        regex = re2.compile(f"^(?s:{pattern})$", _OPTIONS)
    except re2.error:
        raise EvalError(f"invalid regular expression in label_replace(): {pattern}") from None
    if not _valid_label_name(dst):
        raise EvalError(f"invalid destination label name in label_replace(): {dst}")
    new_labels: list[Labels] = []
    for lb in v.labels:
        match = regex.match(lb.get(src))
        if match is None:
            new_labels.append(lb)
            continue
        new_labels.append(set_label(lb, dst, expand_template(repl, _groups(match, regex))))
    return _relabelled(v, new_labels, dst)


@register("label_join")
def _label_join(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = ctx.vector_arg(args, 0).pruned()
    dst = ctx.string_arg(args, 1)
    sep = ctx.string_arg(args, 2)
    sources = [ctx.string_arg(args, i) for i in range(3, len(args))]
    for src in sources:
        if not _valid_label_name(src):
            raise EvalError(f"invalid source label name in label_join(): {src}")
    if not _valid_label_name(dst):
        raise EvalError(f"invalid destination label name in label_join(): {dst}")
    new_labels = [set_label(lb, dst, sep.join(lb.get(s) for s in sources)) for lb in v.labels]
    return _relabelled(v, new_labels, dst)
