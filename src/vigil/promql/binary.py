"""Binary operators between scalars and vectors, over all steps at once.

Vector matching follows Prometheus's ``VectorBinop``/``VectorAnd``/``VectorOr``/
``VectorUnless``: rows are joined by a signature (the ``on`` labels, or all
labels but ``__name__`` and the ``ignoring`` ones); a join that is ambiguous
at some step is an error with Prometheus's message. Arithmetic drops
``__name__`` at once; ``bool`` comparisons and vector/scalar arithmetic mark it
for delayed removal; filtering comparisons keep it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from vigil.model.labels import METRIC_NAME, Labels
from vigil.promql.errors import EvalError
from vigil.promql.parser.ast import BinaryOp, Cardinality, VectorMatching
from vigil.promql.value import BoolArray, FloatArray, Scalar, Vector, merge_same_labels

__all__ = ["arithmetic", "scalar_binop", "set_binop", "vector_binop", "vector_scalar_binop"]

_ARITH: dict[BinaryOp, Callable[[FloatArray, FloatArray], FloatArray]] = {
    BinaryOp.ADD: np.add,
    BinaryOp.SUB: np.subtract,
    BinaryOp.MUL: np.multiply,
    BinaryOp.DIV: np.divide,
    BinaryOp.MOD: np.fmod,
    BinaryOp.POW: np.power,
    BinaryOp.ATAN2: np.arctan2,
}

_CMP: dict[BinaryOp, Callable[[FloatArray, FloatArray], BoolArray]] = {
    BinaryOp.EQL: np.equal,
    BinaryOp.NEQ: np.not_equal,
    BinaryOp.GTR: np.greater,
    BinaryOp.LSS: np.less,
    BinaryOp.GTE: np.greater_equal,
    BinaryOp.LTE: np.less_equal,
}


def _changes_schema(op: BinaryOp) -> bool:
    return op in _ARITH


def arithmetic(op: BinaryOp, lhs: FloatArray, rhs: FloatArray) -> FloatArray:
    """``lhs op rhs`` for an arithmetic operator, IEEE semantics (x/0 is ±Inf, no errors)."""
    with np.errstate(all="ignore"):
        out: FloatArray = np.asarray(_ARITH[op](lhs, rhs), dtype=np.float64)
    return out


def _compare(op: BinaryOp, lhs: FloatArray, rhs: FloatArray) -> BoolArray:
    with np.errstate(all="ignore"):
        out: BoolArray = np.asarray(_CMP[op](lhs, rhs), dtype=bool)
    return out


def scalar_binop(op: BinaryOp, lhs: Scalar, rhs: Scalar) -> Scalar:
    if op in _CMP:
        return Scalar(_compare(op, lhs.values, rhs.values).astype(np.float64))
    return Scalar(arithmetic(op, lhs.values, rhs.values))


def _elem(
    op: BinaryOp, lv: FloatArray, rv: FloatArray, return_bool: bool
) -> tuple[FloatArray, BoolArray | None]:
    """Value and keep mask (None: keep all) of ``lv op rv``; comparisons keep ``lv``."""
    if op in _CMP:
        keep = _compare(op, lv, rv)
        if return_bool:
            return keep.astype(np.float64), None
        return lv, keep
    return arithmetic(op, lv, rv), None


def vector_scalar_binop(
    op: BinaryOp, vec: Vector, scalar: Scalar, *, swap: bool, return_bool: bool
) -> Vector:
    """``vec op scalar`` (or ``scalar op vec`` with ``swap``); comparisons keep the vector's value."""
    s = np.broadcast_to(scalar.values[None, :], vec.values.shape)
    lv, rv = (s, vec.values) if swap else (vec.values, s)
    value, keep = _elem(op, np.asarray(lv), np.asarray(rv), return_bool)
    if keep is not None:
        value = vec.values  # the vector's value, whichever side it is on
    present = vec.present if keep is None else vec.present & keep
    drop = vec.drop_name
    if _changes_schema(op) or return_bool:
        drop = np.ones(len(vec.labels), dtype=bool)
    return Vector(vec.labels, np.array(value, dtype=np.float64), present, drop).pruned()


def _go_labels(lb: Labels) -> str:
    """Labels as Go's ``labels.Labels.String()`` prints them: ``{__name__="x", a="b"}``."""
    return "{" + ", ".join(f"{n}={json.dumps(v, ensure_ascii=False)}" for n, v in lb.pairs) + "}"


def _signature_fn(matching: VectorMatching) -> Callable[[Labels], object]:
    names = sorted(set(matching.matching_labels))
    if matching.on:
        return lambda lb: tuple(lb.get(n) for n in names)
    ignored = frozenset([METRIC_NAME, *names])
    return lambda lb: tuple(p for p in lb.pairs if p[0] not in ignored)


def _match_labels(lb: Labels, matching: VectorMatching) -> Labels:
    names = set(matching.matching_labels)
    if matching.on:
        return Labels._trusted(tuple(p for p in lb.pairs if p[0] in names))
    names.add(METRIC_NAME)
    return Labels._trusted(tuple(p for p in lb.pairs if p[0] not in names))


def _result_labels(many: Labels, one: Labels, op: BinaryOp, matching: VectorMatching) -> Labels:
    pairs = dict(many.pairs)
    if _changes_schema(op):
        pairs.pop(METRIC_NAME, None)
    if matching.card is Cardinality.ONE_TO_ONE:
        if matching.on:
            keep = set(matching.matching_labels)
            pairs = {k: v for k, v in pairs.items() if k in keep}
        else:
            for n in matching.matching_labels:
                pairs.pop(n, None)
    for n in matching.include:
        v = one.get(n)
        if v:
            pairs[n] = v
        else:
            pairs.pop(n, None)
    return Labels._trusted(tuple(sorted(pairs.items())))


def vector_binop(
    op: BinaryOp, lhs: Vector, rhs: Vector, matching: VectorMatching, *, return_bool: bool
) -> Vector:
    """Arithmetic or comparison between two vectors with one-to-one or many-to-one matching."""
    n_steps = lhs.values.shape[1]
    if matching.card is Cardinality.MANY_TO_MANY:
        raise EvalError("many-to-many only allowed for set operators")
    swapped = matching.card is Cardinality.ONE_TO_MANY
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    if not many.labels or not one.labels:
        return Vector.empty(n_steps)
    sig = _signature_fn(matching)
    any_many = many.present.any(axis=0)
    any_one = one.present.any(axis=0)
    both_sides = any_many & any_one

    one_rows: dict[object, list[int]] = {}
    for i, lb in enumerate(one.labels):
        one_rows.setdefault(sig(lb), []).append(i)
    one_sig_present: dict[object, BoolArray] = {}
    for s, rows in one_rows.items():
        if len(rows) == 1:
            one_sig_present[s] = one.present[rows[0]]
            continue
        counts = one.present[rows].sum(axis=0)
        bad = (counts > 1) & both_sides
        if bool(bad.any()):
            j = int(np.flatnonzero(bad)[0])
            a, b = sorted(one.labels[r] for r in rows if one.present[r, j])[:2]
            side = "left" if swapped else "right"
            group = _go_labels(_match_labels(a, matching))
            raise EvalError(
                f"found duplicate series for the match group {group} on the {side} hand-side of "
                f"the operation: [{_go_labels(a)}, {_go_labels(b)}];many-to-many matching "
                "not allowed: matching labels must be unique on one side"
            )
        one_sig_present[s] = counts > 0

    pm: list[int] = []
    po: list[int] = []
    many_sigs: dict[object, list[int]] = {}
    for i, lb in enumerate(many.labels):
        s = sig(lb)
        matched = one_rows.get(s)
        if matched is None:
            continue
        many_sigs.setdefault(s, []).append(i)
        for r in matched:
            pm.append(i)
            po.append(r)
    if not pm:
        return Vector.empty(n_steps)

    if matching.card is Cardinality.ONE_TO_ONE:
        for s, rows in many_sigs.items():
            if len(rows) < 2:
                continue
            counts = (many.present[rows] & one_sig_present[s][None, :]).sum(axis=0)
            if bool((counts > 1).any()):
                raise EvalError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )

    ipm = np.asarray(pm, dtype=np.intp)
    ipo = np.asarray(po, dtype=np.intp)
    both = many.present[ipm] & one.present[ipo]
    labels = [
        _result_labels(many.labels[i], one.labels[r], op, matching)
        for i, r in zip(pm, po, strict=True)
    ]
    if matching.card is not Cardinality.ONE_TO_ONE:
        groups: dict[Labels, list[int]] = {}
        for k, lb in enumerate(labels):
            groups.setdefault(lb, []).append(k)
        for ks in groups.values():
            if len(ks) > 1 and bool((both[ks].sum(axis=0) > 1).any()):
                raise EvalError(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                )

    mv = many.values[ipm]
    ov = one.values[ipo]
    lv, rv = (ov, mv) if swapped else (mv, ov)
    value, keep = _elem(op, lv, rv, return_bool)
    present = both if keep is None else both & keep
    drop: BoolArray | None = None
    if return_bool:
        drop = np.ones(len(labels), dtype=bool)
    elif many.drop_name is not None:
        drop = many.drop_name[ipm]
    out = Vector(labels, np.array(value, dtype=np.float64), present, drop).pruned()
    return merge_same_labels(out)


def set_binop(op: BinaryOp, lhs: Vector, rhs: Vector, matching: VectorMatching) -> Vector:
    """``and``, ``or`` and ``unless``: per step, by signature presence on the other side."""
    n_steps = lhs.values.shape[1]
    sig = _signature_fn(matching)

    def sig_presence(vec: Vector) -> tuple[list[object], dict[object, BoolArray]]:
        sigs = [sig(lb) for lb in vec.labels]
        acc: dict[object, BoolArray] = {}
        for i, s in enumerate(sigs):
            p = vec.present[i]
            prev = acc.get(s)
            acc[s] = p.copy() if prev is None else prev | p
        return sigs, acc

    none = np.zeros(n_steps, dtype=bool)
    if op is BinaryOp.AND or op is BinaryOp.UNLESS:
        lsigs = [sig(lb) for lb in lhs.labels]
        _, rpres = sig_presence(rhs)
        if lsigs:
            other = np.stack([rpres.get(s, none) for s in lsigs])
        else:
            other = np.zeros((0, n_steps), dtype=bool)
        present = lhs.present & (other if op is BinaryOp.AND else ~other)
        return Vector(lhs.labels, lhs.values, present, lhs.drop_name).pruned()
    # OR
    _, lpres = sig_presence(lhs)
    rsigs = [sig(lb) for lb in rhs.labels]
    if rsigs:
        blocked = np.stack([lpres.get(s, none) for s in rsigs])
    else:
        blocked = np.zeros((0, n_steps), dtype=bool)
    rpresent = rhs.present & ~blocked
    n_l, n_r = len(lhs.labels), len(rhs.labels)
    ldrop = lhs.drop_name if lhs.drop_name is not None else np.zeros(n_l, dtype=bool)
    rdrop = rhs.drop_name if rhs.drop_name is not None else np.zeros(n_r, dtype=bool)
    out = Vector(
        lhs.labels + rhs.labels,
        np.concatenate([lhs.values, rhs.values]),
        np.concatenate([lhs.present, rpresent]),
        np.concatenate([ldrop, rdrop]),
    ).pruned()
    return merge_same_labels(out)
