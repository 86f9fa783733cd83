"""``histogram_quantile``, ``histogram_quantiles`` and ``histogram_fraction`` over classic buckets.

Classic histogram buckets are series with an ``le`` label; the series that
agree on every other label except ``__name__`` form one histogram. At each
step the buckets present are sorted by bound, buckets with the same bound are
added together, counts within 1e-12 relative of the previous bucket are
treated as equal (float noise), and any remaining decrease is flattened to
the running maximum (Prometheus's monotonicity fix, reported as an info
annotation). The quantile is interpolated linearly inside its bucket, with 0
as the lower edge of a lowest bucket whose bound is positive; a quantile in
the +Inf bucket is the highest finite bound. Native histograms are not
stored by Vigil, so only classic buckets are read.

A group's buckets are processed for all steps at once; steps where a
different subset of buckets is present are processed as separate batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from vigil.model.labels import Labels
from vigil.promql.functions import EvalContext, FunctionImpl
from vigil.promql.functions import register as _register
from vigil.promql.functions._windows import quiet
from vigil.promql.functions.labels import set_label
from vigil.promql.parser.ast import Call, Expr
from vigil.promql.value import BoolArray, FloatArray, IntArray, Value, Vector

__all__ = ["bucket_fraction", "bucket_quantile", "parse_le"]

_MONOTONICITY = (
    "input to histogram_quantile needed to be fixed for monotonicity "
    "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) "
    'for metric name "{name}"'
)
_BAD_LE = 'bucket label "le" is missing or has a malformed value of "{le}" for metric name "{name}"'


def register(*names: str) -> Callable[[FunctionImpl], FunctionImpl]:
    def deco(fn: FunctionImpl) -> FunctionImpl:
        _register(*names)(quiet(fn))
        return fn

    return deco


def parse_le(text: str) -> float | None:
    """An ``le`` value as Go's ``strconv.ParseFloat`` reads it, or ``None``."""
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float.fromhex(text)
    except ValueError:
        return None


def go_float(v: float) -> str:
    """A float as Go's ``%g`` prints it in annotation texts."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(v)
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        text = f"{mant.removesuffix('.0')}e{sign}{digits}"
    return text.removesuffix(".0")


def openmetrics_float(v: float) -> str:
    """A float as Prometheus's ``FormatOpenMetricsFloat``: integers keep a ``.0``."""
    text = go_float(v)
    if math.isfinite(v) and not any(c in text for c in ".e"):
        text += ".0"
    return text


# -- the per-histogram kernels (buckets by steps) ------------------------------------


def _coalesce(les: FloatArray, counts: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Buckets with equal bounds added together (``les`` sorted ascending)."""
    if len(les) < 2:
        return les, counts
    starts = np.flatnonzero(np.concatenate(([True], les[1:] != les[:-1])))
    if len(starts) == len(les):
        return les, counts
    return les[starts], np.add.reduceat(counts, starts, axis=0)


def _fix_counts(counts: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Precision noise flattened, then the monotonic envelope; and where it was forced."""
    c = counts.copy()
    prev = c[0].copy()
    for i in range(1, len(c)):
        cur = c[i]
        delta = np.abs(cur - prev)
        noise = (delta != 0) & (delta / cur <= 1e-12)
        c[i] = np.where(noise, prev, cur)
        prev = np.where(noise | (delta == 0), prev, cur)
    forced = np.zeros(c.shape[1], dtype=bool)
    top = c[0].copy()
    for i in range(1, len(c)):
        cur = c[i]
        up = cur > top
        down = cur < top
        top = np.where(up, cur, top)
        c[i] = np.where(down, top, cur)
        forced |= down
    return c, forced


@quiet
def bucket_quantile(
    q: FloatArray, les: FloatArray, counts: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """Quantile ``q[k]`` of the histogram ``counts[:, k]`` with sorted bounds ``les``.

    Returns the values and whether the monotonicity fix changed the counts.
    """
    k = counts.shape[1]
    out = np.full(k, np.nan)
    forced = np.zeros(k, dtype=bool)
    if len(les) and math.isinf(les[-1]) and les[-1] > 0:
        les, counts = _coalesce(les, counts)
        fixed, forced = _fix_counts(counts)
        nb = len(les)
        if nb >= 2:
            obs = fixed[-1]
            rank = q * obs
            reached = fixed[: nb - 1] >= rank[None, :]
            b = np.where(reached.any(axis=0), np.argmax(reached, axis=0), nb - 1)
            cols = np.arange(k)
            below = np.where(b > 0, fixed[np.maximum(b - 1, 0), cols], 0.0)
            start = np.where(b > 0, les[np.maximum(b - 1, 0)], 0.0)
            end = les[b]
            interp = start + (end - start) * ((rank - below) / (fixed[b, cols] - below))
            res = np.where(b == nb - 1, les[nb - 2], interp)
            res = np.where((b == 0) & (les[0] <= 0), les[0], res)
            out = np.where(obs == 0, np.nan, res)
    out = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, out))
    out = np.where(np.isnan(q), np.nan, out)
    return out, forced & ~np.isnan(q) & (q >= 0) & (q <= 1)


@quiet
def bucket_fraction(
    lower: FloatArray, upper: FloatArray, les: FloatArray, counts: FloatArray
) -> FloatArray:
    """Fraction of observations in ``(lower, upper]`` of each histogram ``counts[:, k]``."""
    k = counts.shape[1]
    if not (len(les) and math.isinf(les[-1]) and les[-1] > 0):
        return np.full(k, np.nan)
    les, counts = _coalesce(les, counts)
    cum, _ = _fix_counts(counts)
    total = cum[-1]
    per_bucket = np.diff(cum, axis=0, prepend=np.zeros((1, k)))
    lows = np.concatenate(([0.0 if les[0] > 0 else -np.inf], les[:-1]))

    def rank_of(x: FloatArray) -> FloatArray:
        rank = np.zeros(k)
        done = np.zeros(k, dtype=bool)
        result = np.array(total, dtype=np.float64)
        for i in range(len(les)):
            lo, hi, n = lows[i], les[i], per_bucket[i]
            at_edge = ~done & (lo >= x)
            result = np.where(at_edge, rank, result)
            done |= at_edge
            inside = ~done & (lo < x) & (hi > x)
            part = np.zeros(k) if math.isinf(lo) or math.isinf(hi) else n * (x - lo) / (hi - lo)
            result = np.where(inside, rank + part, result)
            done |= inside
            rank = rank + n
        return np.asarray(np.minimum(result, total), dtype=np.float64)

    lo_rank = rank_of(lower)
    hi_rank = rank_of(upper)
    frac = (hi_rank - lo_rank) / total
    frac = np.where(lower >= upper, 0.0, frac)
    return np.asarray(
        np.where((total == 0) | np.isnan(lower) | np.isnan(upper), np.nan, frac), dtype=np.float64
    )


# -- grouping the vector into histograms --------------------------------------------


class _Histogram:
    __slots__ = ("labels", "les", "rows")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.rows: list[int] = []
        self.les: list[float] = []


def _histograms(ctx: EvalContext, v: Vector, arg: Expr) -> list[_Histogram]:
    groups: dict[Labels, _Histogram] = {}
    warned = False
    for i, lb in enumerate(v.labels):
        if not bool(v.present[i].any()):
            continue
        le = parse_le(lb.get("le"))
        if le is None:
            if not warned:
                ctx.warn(
                    _BAD_LE.format(le=lb.get("le"), name=lb.metric_name),
                    getattr(arg, "pos", None),
                )
                warned = True
            continue
        key = lb.without("__name__", "le")
        h = groups.get(key)
        if h is None:
            h = groups[key] = _Histogram(lb.without("le"))
        h.rows.append(i)
        h.les.append(le)
    return list(groups.values())


def _batches(v: Vector, h: _Histogram) -> list[tuple[IntArray, FloatArray, FloatArray]]:
    """``(steps, les, counts)`` batches: steps sharing the same set of present buckets."""
    order = np.argsort(np.asarray(h.les), kind="stable")
    rows = np.asarray(h.rows)[order]
    les = np.asarray(h.les)[order]
    present = v.present[rows]
    any_present = present.any(axis=0)
    steps = np.flatnonzero(any_present)
    if steps.size == 0:
        return []
    patterns, inverse = np.unique(present[:, steps].T, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    out = []
    for p in range(len(patterns)):
        cols = steps[inverse == p]
        sel = patterns[p]
        out.append((cols, les[sel], v.values[rows[sel]][:, cols]))
    return out


def _quantile_warning(ctx: EvalContext, q: FloatArray, arg: Expr) -> None:
    bad = np.isnan(q) | (q < 0) | (q > 1)
    if bool(bad.any()):
        value = float(q[np.flatnonzero(bad)[0]])
        ctx.warn(
            f"quantile value should be between 0 and 1, got {go_float(value)}",
            getattr(arg, "pos", None),
        )


def _quantiles(
    ctx: EvalContext, v: Vector, qs: list[FloatArray], vec_arg: Expr
) -> list[tuple[Labels, FloatArray, BoolArray]]:
    """Per histogram and per quantile: labels, values over steps, presence."""
    out: list[tuple[Labels, FloatArray, BoolArray]] = []
    forced_any = False
    forced_name = ""
    for h in _histograms(ctx, v, vec_arg):
        batches = _batches(v, h)
        for q in qs:
            values = np.full(ctx.n_steps, np.nan)
            present = np.zeros(ctx.n_steps, dtype=bool)
            for cols, les, counts in batches:
                res, forced = bucket_quantile(q[cols], les, counts)
                values[cols] = res
                present[cols] = True
                if bool(forced.any()) and not forced_any:
                    forced_any = True
                    forced_name = h.labels.metric_name
            out.append((h.labels, values, present))
    if forced_any:
        ctx.info(_MONOTONICITY.format(name=forced_name), getattr(vec_arg, "pos", None))
    return out


def _to_vector(ctx: EvalContext, rows: list[tuple[Labels, FloatArray, BoolArray]]) -> Vector:
    if not rows:
        return Vector.empty(ctx.n_steps)
    return Vector(
        [lb for lb, _, _ in rows],
        np.stack([vals for _, vals, _ in rows]),
        np.stack([p for _, _, p in rows]),
    ).pruned()


@register("histogram_quantile")
def _histogram_quantile(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    q = ctx.scalar_arg(args, 0)
    v = ctx.vector_arg(args, 1)
    _quantile_warning(ctx, q, call.args[0])
    return _to_vector(ctx, _quantiles(ctx, v, [q], call.args[1]))


@register("histogram_quantiles")
def _histogram_quantiles(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = ctx.vector_arg(args, 0)
    label = ctx.string_arg(args, 1)
    qs = [ctx.scalar_arg(args, i) for i in range(2, len(args))]
    for i, q in enumerate(qs, start=2):
        _quantile_warning(ctx, q, call.args[i])
    rows = _quantiles(ctx, v, qs, call.args[0])
    # Rows come histogram by histogram, quantile by quantile; the label value is q's.
    labelled: list[tuple[Labels, FloatArray, BoolArray]] = []
    n_q = len(qs)
    for j, (lb, vals, present) in enumerate(rows):
        q = qs[j % n_q]
        # Steps with different q values would need different labels; split them.
        for qv in np.unique(q[present]) if bool(present.any()) else []:
            mask = present & ((q == qv) | (np.isnan(q) & np.isnan(qv)))
            labelled.append((set_label(lb, label, openmetrics_float(float(qv))), vals, mask))
    return _to_vector(ctx, labelled)


@register("histogram_fraction")
def _histogram_fraction(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    lower = ctx.scalar_arg(args, 0)
    upper = ctx.scalar_arg(args, 1)
    v = ctx.vector_arg(args, 2)
    rows: list[tuple[Labels, FloatArray, BoolArray]] = []
    for h in _histograms(ctx, v, call.args[2]):
        values = np.full(ctx.n_steps, np.nan)
        present = np.zeros(ctx.n_steps, dtype=bool)
        for cols, les, counts in _batches(v, h):
            values[cols] = bucket_fraction(lower[cols], upper[cols], les, counts)
            present[cols] = True
        rows.append((h.labels, values, present))
    return _to_vector(ctx, rows)
