"""Aggregation operators over all steps at once.

Rows are partitioned into groups by their ``by``/``without`` labels. Where
Prometheus accumulates sample by sample (Kahan sums, incremental means and
variances, ``min``/``max`` with NaN), the k-th member of every group is folded
in together, so the loop runs ``max(group size)`` times over arrays of shape
``(groups, steps)`` and results follow Prometheus's order of operations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from vigil.model.labels import METRIC_NAME, Labels, is_valid_label_name
from vigil.promql.errors import EvalError
from vigil.promql.parser.ast import AggregateExpr, AggregateOp
from vigil.promql.value import BoolArray, FloatArray, Scalar, String, Vector

__all__ = ["aggregate", "format_count_value", "kahan_inc"]

Warn = Callable[[str], None]


def kahan_inc(inc: FloatArray, total: FloatArray, c: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Prometheus's ``kahanSumInc`` (Neumaier's variant), elementwise."""
    with np.errstate(all="ignore"):
        t = total + inc
        big = np.abs(total) >= np.abs(inc)
        c2 = np.where(big, c + ((total - t) + inc), c + ((inc - t) + total))
        c2 = np.where(np.isinf(t), 0.0, c2)
    return t, c2


def _group_key(lb: Labels, grouping: list[str], without: bool) -> Labels:
    if without:
        drop = frozenset([METRIC_NAME, *grouping])
        return Labels._trusted(tuple(p for p in lb.pairs if p[0] not in drop))
    keep = frozenset(grouping)
    return Labels._trusted(tuple(p for p in lb.pairs if p[0] in keep))


def _groups(
    vec: Vector, grouping: list[str], without: bool
) -> tuple[list[Labels], npt.NDArray[np.intp]]:
    index: dict[Labels, int] = {}
    gid = np.empty(len(vec.labels), dtype=np.intp)
    for i, lb in enumerate(vec.labels):
        gid[i] = index.setdefault(_group_key(lb, grouping, without), len(index))
    return list(index), gid


def _ranks(
    gid: npt.NDArray[np.intp], n_groups: int
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """For k = 0, 1, ...: (rows that are the k-th member of their group, their groups)."""
    order = np.argsort(gid, kind="stable")
    sg = gid[order]
    starts = np.searchsorted(sg, np.arange(n_groups))
    rank = np.arange(len(sg)) - starts[sg]
    out = []
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == k
        out.append((order[sel], sg[sel]))
    return out


def format_count_value(v: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` prints it."""
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, trim="-")


def aggregate(
    expr: AggregateExpr, vec: Vector, param: Scalar | String | None, warn: Warn, *, instant: bool
) -> Vector:
    """Evaluate ``expr``'s aggregation over ``vec`` (its evaluated argument)."""
    op = expr.op
    grouping = sorted(expr.grouping)
    n_steps = vec.values.shape[1]
    if op is AggregateOp.COUNT_VALUES:
        assert isinstance(param, String)
        return _count_values(vec, param.value, grouping, expr.without)
    if op in (AggregateOp.TOPK, AggregateOp.BOTTOMK, AggregateOp.LIMITK, AggregateOp.LIMIT_RATIO):
        assert isinstance(param, Scalar)
        return _select_k(op, vec, param.values, grouping, expr.without, instant)
    if not vec.labels:
        return Vector.empty(n_steps)
    keys, gid = _groups(vec, grouping, expr.without)
    n_groups = len(keys)
    shape = (n_groups, n_steps)
    seen = np.zeros(shape, dtype=bool)
    val = np.zeros(shape)
    c = np.zeros(shape)
    mean = np.zeros(shape)
    count = np.zeros(shape)
    incr = np.zeros(shape, dtype=bool)

    if op is AggregateOp.QUANTILE:
        assert isinstance(param, Scalar)
        q = param.values
        if bool(np.isnan(q).any()):
            warn(f"quantile value should be between 0 and 1, got {np.nan}")
        if bool((q > 1).any()):
            warn(f"quantile value should be between 0 and 1, got {q.max()}")
        if bool((q < 0).any()):
            warn(f"quantile value should be between 0 and 1, got {q.min()}")
        values = _quantiles(vec, gid, n_groups, q)
        seen = np.zeros(shape, dtype=bool)
        np.logical_or.at(seen, gid, vec.present)
        return _finish(keys, values, seen, vec, gid)

    if op is AggregateOp.SUM or op is AggregateOp.AVG or op is AggregateOp.COUNT:
        fast = _sum_avg_count(op, vec, gid, n_groups)
        if fast is not None:
            values, seen = fast
            return _finish(keys, values, seen, vec, gid)

    with np.errstate(all="ignore"):
        for rows, g in _ranks(gid, n_groups):
            p = vec.present[rows]
            f = vec.values[rows]
            was = seen[g]
            new = p & ~was
            upd = p & was
            if op is AggregateOp.SUM:
                t, c2 = kahan_inc(f, val[g], c[g])
                val[g] = np.where(new, f, np.where(upd, t, val[g]))
                c[g] = np.where(new, 0.0, np.where(upd, c2, c[g]))
            elif op is AggregateOp.AVG:
                cnt = np.where(new, 1.0, np.where(upd, count[g] + 1, count[g]))
                v0, c0, m0, inc0 = val[g], c[g], mean[g], incr[g]
                nv, nc = kahan_inc(f, v0, c0)
                direct = upd & ~inc0 & ~np.isinf(nv)
                switch = upd & ~inc0 & np.isinf(nv)
                m1 = np.where(switch, v0 / (cnt - 1), m0)
                c1 = np.where(switch, c0 / (cnt - 1), c0)
                inc1 = inc0 | switch
                qq = (cnt - 1) / cnt
                im, ic = kahan_inc(f / cnt, qq * m1, qq * c1)
                use_inc = upd & inc1
                val[g] = np.where(new, f, np.where(direct, nv, v0))
                c[g] = np.where(new, 0.0, np.where(direct, nc, np.where(use_inc, ic, c1)))
                mean[g] = np.where(new, f, np.where(use_inc, im, m1))
                incr[g] = np.where(new, False, inc1)
                count[g] = cnt
            elif op is AggregateOp.COUNT or op is AggregateOp.GROUP:
                count[g] = count[g] + p
            elif op is AggregateOp.MAX:
                cur = val[g]
                take = new | (upd & ((cur < f) | np.isnan(cur)))
                val[g] = np.where(take, f, cur)
            elif op is AggregateOp.MIN:
                cur = val[g]
                take = new | (upd & ((cur > f) | np.isnan(cur)))
                val[g] = np.where(take, f, cur)
            elif op is AggregateOp.STDDEV or op is AggregateOp.STDVAR:
                cnt = np.where(new, 1.0, np.where(upd, count[g] + 1, count[g]))
                m0 = np.where(new, f, mean[g])
                delta = f - m0
                m1 = np.where(upd, m0 + delta / cnt, m0)
                v_new = np.where(np.isnan(f) | np.isinf(f), np.nan, 0.0)
                v0 = np.where(new, v_new, val[g])
                val[g] = np.where(upd, v0 + delta * (f - m1), v0)
                mean[g] = m1
                count[g] = cnt
            else:
                raise EvalError(f"aggregation {op.value} is not supported")
            seen[g] = was | p

        if op is AggregateOp.SUM:
            out = val + c
        elif op is AggregateOp.AVG:
            out = np.where(incr, mean + c, val / count + c / count)
        elif op is AggregateOp.COUNT:
            out = count
        elif op is AggregateOp.GROUP:
            out = np.ones(shape)
        elif op is AggregateOp.STDVAR:
            out = val / count
        elif op is AggregateOp.STDDEV:
            out = np.sqrt(val / count)
        else:
            out = val
    return _finish(keys, out, seen, vec, gid)


def _padded(vec: Vector, gid: npt.NDArray[np.intp], n_groups: int) -> FloatArray | None:
    """The rows as a ``(member rank, group, step)`` array, each group's members in input
    order; absent samples (and missing members) are ``-0.0`` (adding it changes no sum).
    ``None`` when groups are so uneven that the padding would outweigh the rows."""
    order = np.argsort(gid, kind="stable")
    sg = gid[order]
    starts = np.searchsorted(sg, np.arange(n_groups))
    rank = np.arange(len(sg)) - starts[sg]
    depth = int(rank.max()) + 1
    if depth * n_groups > 2 * len(sg) + 64:
        return None
    vals = np.full((depth, n_groups, vec.values.shape[1]), -0.0)
    vals[rank, sg] = np.where(vec.present[order], vec.values[order], -0.0)
    return vals


def _sum_avg_count(
    op: AggregateOp, vec: Vector, gid: npt.NDArray[np.intp], n_groups: int
) -> tuple[FloatArray, BoolArray] | None:
    """``sum``, ``avg`` and ``count`` with one pass per member rank over whole
    ``(group, step)`` arrays and no masking: Prometheus's Kahan sum starting from the
    first sample is the same sum started from ``-0.0`` (``-0.0 + x == x`` for every x,
    and its compensation stays 0), and an absent sample is a ``-0.0`` added. ``avg``
    takes this path when no running sum can overflow (Prometheus then divides the Kahan
    sum by the count); else ``None`` (the general fold)."""
    order = np.argsort(gid, kind="stable")
    starts = np.searchsorted(gid[order], np.arange(n_groups))  # every group has a row
    count = np.add.reduceat(vec.present[order].astype(np.float64), starts, axis=0)
    seen = count > 0
    if op is AggregateOp.COUNT:
        return count, seen
    vals = _padded(vec, gid, n_groups)
    if vals is None:
        return None
    with np.errstate(all="ignore"):
        if op is AggregateOp.AVG and not bool((np.abs(vals).sum(axis=0) < 1e300).all()):
            return None  # an infinity, a NaN or a sum that may overflow: the general fold
        total = vals[0].copy()
        c = np.zeros_like(total)
        for k in range(1, len(vals)):
            f = vals[k]
            t = total + f
            c += np.where(np.abs(total) >= np.abs(f), (total - t) + f, (f - t) + total)
            total = t
        if op is AggregateOp.SUM:
            c[np.isinf(total)] = 0.0
            return total + c, seen
        return total / count + c / count, seen


def _finish(
    keys: list[Labels], values: FloatArray, seen: BoolArray, vec: Vector, gid: npt.NDArray[np.intp]
) -> Vector:
    drop: BoolArray | None = None
    if vec.drop_name is not None and bool(vec.drop_name.any()):
        drop = np.zeros(len(keys), dtype=bool)
        np.logical_or.at(drop, gid, vec.drop_name)
    return Vector(keys, np.asarray(values, dtype=np.float64), seen, drop).pruned()


def _sorted_members(vals: FloatArray, pres: BoolArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Members sorted per step: present first, NaN before numbers (Prometheus's order)."""
    clean = np.where(np.isnan(vals), 0.0, vals)
    notnan = ~np.isnan(vals)
    order = np.lexsort((clean, notnan, ~pres), axis=0)
    return np.take_along_axis(vals, order, axis=0), order


def _quantiles(vec: Vector, gid: npt.NDArray[np.intp], n_groups: int, q: FloatArray) -> FloatArray:
    n_steps = vec.values.shape[1]
    out = np.full((n_groups, n_steps), np.nan)
    for g in range(n_groups):
        rows = np.flatnonzero(gid == g)
        pres = vec.present[rows]
        srt, _ = _sorted_members(vec.values[rows], pres)
        n = pres.sum(axis=0).astype(np.float64)
        with np.errstate(all="ignore"):
            rank = q * (n - 1)
            lower = np.maximum(0, np.floor(rank))
            upper = np.minimum(n - 1, lower + 1)
            weight = rank - np.floor(rank)
            li = np.clip(np.nan_to_num(lower), 0, max(len(rows) - 1, 0)).astype(np.intp)
            ui = np.clip(np.nan_to_num(upper), 0, max(len(rows) - 1, 0)).astype(np.intp)
            cols = np.arange(n_steps)
            res = srt[li, cols] * (1 - weight) + srt[ui, cols] * weight
        res = np.where(np.isnan(q), np.nan, res)
        res = np.where(q < 0, -np.inf, res)
        res = np.where(q > 1, np.inf, res)
        out[g] = res
    return out


def _select_k(
    op: AggregateOp,
    vec: Vector,
    param: FloatArray,
    grouping: list[str],
    without: bool,
    instant: bool,
) -> Vector:
    n_steps = vec.values.shape[1]
    if op is AggregateOp.LIMIT_RATIO:
        if float(np.max(param)) == 0 and float(np.min(param)) == 0:
            return Vector.empty(n_steps)
        if bool(np.isnan(param).any()):
            raise EvalError("Ratio value is NaN")
        raise EvalError("limit_ratio is not supported")
    if float(np.max(param)) < 1:
        return Vector.empty(n_steps)
    if bool(np.isnan(param).any()):
        raise EvalError("Parameter value is NaN")
    if float(np.min(param)) <= -9223372036854775808:
        raise EvalError(f"Scalar value {np.min(param)} underflows int64")
    if float(np.max(param)) >= 9223372036854774784:
        raise EvalError(f"Scalar value {np.max(param)} overflows int64")
    if not vec.labels:
        return Vector.empty(n_steps)
    k = np.minimum(np.trunc(param), len(vec.labels))
    keys, gid = _groups(vec, grouping, without)
    present = np.zeros_like(vec.present)
    row_order: list[int] = []
    for g in range(len(keys)):
        rows = np.flatnonzero(gid == g)
        pres = vec.present[rows]
        vals = vec.values[rows]
        idx = np.arange(len(rows))[:, None] * np.ones((1, n_steps), dtype=np.intp)
        if op is AggregateOp.LIMITK:
            order = np.lexsort((idx, ~pres), axis=0)
        else:
            isnan = np.isnan(vals)
            clean = np.where(isnan, 0.0, vals)
            key = -clean if op is AggregateOp.TOPK else clean
            order = np.lexsort((idx, key, isnan, ~pres), axis=0)
        rank = np.empty_like(order)
        np.put_along_axis(
            rank,
            order,
            np.arange(len(rows))[:, None] * np.ones((1, n_steps), dtype=np.intp),
            axis=0,
        )
        sel = pres & (rank < k[None, :])
        present[rows] = sel
        if instant:
            ranked = [int(r) for r in order[:, 0] if sel[int(r), 0]]
            row_order.extend(int(rows[r]) for r in ranked)
    out = Vector(vec.labels, vec.values, present, vec.drop_name)
    if instant:
        return out.take(row_order)
    return out.pruned()


def _count_values(vec: Vector, label: str, grouping: list[str], without: bool) -> Vector:
    if not is_valid_label_name(label):
        raise EvalError(f'invalid label name "{label}"')
    n_steps = vec.values.shape[1]
    if not without:
        grouping = sorted({*grouping, label})
    index: dict[Labels, int] = {}
    acc: list[npt.NDArray[np.int64]] = []
    for i, lb in enumerate(vec.labels):
        p = vec.present[i]
        if not bool(p.any()):
            continue
        v = vec.values[i]
        strs: dict[str, BoolArray] = {}
        nan = np.isnan(v) & p
        if bool(nan.any()):
            strs["NaN"] = nan
        for u in np.unique(v[p & ~np.isnan(v)]).tolist():
            s = format_count_value(u)
            m = p & (v == u)
            strs[s] = strs[s] | m if s in strs else m
        for s, m in strs.items():
            key = _group_key(lb.set(label, s), grouping, without)
            j = index.setdefault(key, len(index))
            if j == len(acc):
                acc.append(np.zeros(n_steps, dtype=np.int64))
            acc[j] += m
    if not index:
        return Vector.empty(n_steps)
    counts = np.stack(acc)
    return Vector(list(index), counts.astype(np.float64), counts > 0).pruned()
