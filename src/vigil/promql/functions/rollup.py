"""Range-vector functions (rollups): ``rate``, ``*_over_time``, ``deriv``...

Each function turns a :class:`~vigil.promql.value.Matrix` into a Vector with
one row per series and one column per step, computed for all windows at once
by the kernels in :mod:`._windows`. Semantics follow Prometheus 3
(``promql/functions.go``):

- ``rate``/``increase``/``delta`` extrapolate the change between the first
  and last sample of the window towards the window's ends, by at most half an
  average sample interval past the last sample seen when the gap to the edge
  is more than 1.1 average intervals; a counter is never extrapolated below
  zero (the zero-point limit applies after the half-interval one, as since
  Prometheus 2.51, prometheus/prometheus#13725); counter resets add the
  value before the reset.
- ``sum_over_time``, ``avg_over_time``, the variance functions and the
  regression behind ``deriv``/``predict_linear`` use Neumaier-compensated
  sums in sample order, like Prometheus, so cancelling terms give the same
  result.
- A window with too few samples produces no sample at that step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vigil.model.labels import Labels
from vigil.model.matchers import MatchType
from vigil.promql.errors import EvalError
from vigil.promql.functions import EvalContext, FunctionImpl
from vigil.promql.functions import register as _register
from vigil.promql.functions._windows import (
    Windows,
    kahan_inc,
    pair_counts,
    positions,
    quiet,
    window_reduce,
)
from vigil.promql.parser.ast import Call, Expr, MatrixSelector, ParenExpr, VectorSelector
from vigil.promql.value import BoolArray, FloatArray, IntArray, Matrix, Value, Vector

__all__ = [
    "absent_labels",
    "avg_windows",
    "changes_windows",
    "extrapolated_rate",
    "instant_rate",
    "linear_regression",
    "quantile_windows",
    "resets_windows",
    "sum_windows",
    "variance_windows",
]

_Result = tuple[FloatArray, BoolArray]


# -- kernels (flat windows in, flat values and presence out) -----------------


_RATE_CHUNK = 1 << 16
"""Windows per pass of :func:`extrapolated_rate`: its temporaries (8 bytes a window) stay in
cache and below glibc's mmap threshold; a day at 1 m over 2,000 series is 2.9 M windows,
where whole-query temporaries of 23 MB each cost a fresh mapping (page faults) per step."""


def extrapolated_rate(w: Windows, range_ms: int, *, is_counter: bool, is_rate: bool) -> _Result:
    """``rate`` (counter, per second), ``increase`` (counter) or ``delta`` (gauge)."""
    resets = _resets(w.vs) if is_counter else np.zeros(0, dtype=np.int64)
    total = len(w.start)
    if total <= _RATE_CHUNK:
        return _extrapolated_rate(w, range_ms, resets, is_counter=is_counter, is_rate=is_rate)
    out = np.empty(total)
    ok = np.empty(total, dtype=bool)
    for a in range(0, total, _RATE_CHUNK):
        b = a + _RATE_CHUNK
        part = Windows(w.ts, w.vs, w.start[a:b], w.stop[a:b], w.end[a:b], 0, 0)
        out[a:b], ok[a:b] = _extrapolated_rate(
            part, range_ms, resets, is_counter=is_counter, is_rate=is_rate
        )
    return out, ok


def _resets(vs: FloatArray) -> IntArray:
    """Indices ``i`` where ``vs[i] < vs[i - 1]`` (a counter reset, if inside one window)."""
    if len(vs) < 2:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(vs[1:] < vs[:-1]) + 1


def _extrapolated_rate(
    w: Windows, range_ms: int, resets: IntArray, *, is_counter: bool, is_rate: bool
) -> _Result:
    n = w.count
    ok = n >= 2
    out = np.full(len(n), np.nan)
    sel = np.flatnonzero(ok)
    if sel.size == 0:
        return out, ok
    s = w.start[sel]
    e = w.stop[sel] - 1
    first_v = w.vs[s]
    result = w.vs[e] - first_v
    first_t = w.ts[s]
    last_t = w.ts[e]
    if is_counter:
        result = _add_counter_resets(w, sel, result, resets)
    range_end = w.end[sel]
    range_start = range_end - range_ms
    to_start = (first_t - range_start).astype(np.float64) / 1000
    to_end = (range_end - last_t).astype(np.float64) / 1000
    sampled = (last_t - first_t).astype(np.float64) / 1000
    avg_interval = sampled / (n[sel] - 1).astype(np.float64)
    threshold = avg_interval * 1.1
    to_start = np.where(to_start >= threshold, avg_interval / 2, to_start)
    if is_counter:
        # Do not extrapolate below zero: the counter's zero point bounds the start.
        # Order matters: the threshold test above sees the distance to the window's
        # start, not to the zero point, so a zero point between half an interval and
        # 1.1 intervals before the first sample does not lengthen the extrapolation
        # past half an interval. Prometheus <= 2.50 clamped to the zero point first
        # and extrapolated all the way to it (fixed in #13725; docs/promql.md).
        can_zero = (result > 0) & (first_v >= 0)
        safe = np.where(can_zero, result, 1.0)
        to_zero = np.where(can_zero, sampled * (first_v / safe), to_start)
        to_start = np.where(to_zero < to_start, to_zero, to_start)
    to_end = np.where(to_end >= threshold, avg_interval / 2, to_end)
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor = factor / (range_ms / 1000)
    out[sel] = result * factor
    return out, ok


def _add_counter_resets(
    w: Windows, sel: IntArray, result: FloatArray, resets: IntArray
) -> FloatArray:
    """``result`` plus, for each reset inside the window, the value before it (in order);
    ``resets`` is :func:`_resets` of ``w.vs``."""
    vs = w.vs
    if resets.size == 0:
        return result
    start = w.start[sel]
    stop = w.stop[sel]
    # Resets at sample index i in (start, stop): resets[lo:hi].
    lo = np.searchsorted(resets, start + 1, side="left")
    hi = np.searchsorted(resets, stop, side="left")
    counts = hi - lo
    has = np.flatnonzero(counts > 0)
    if has.size == 0:
        return result
    result = result.copy()
    for _, ww, ridx in positions(lo[has], hi[has]):
        rows = has[ww]
        result[rows] = result[rows] + vs[resets[ridx] - 1]
    return result


def instant_rate(w: Windows, *, is_rate: bool) -> _Result:
    """``irate`` (counter, per second) or ``idelta``: from the last two samples."""
    n = w.count
    ok = n >= 2
    out = np.full(len(n), np.nan)
    sel = np.flatnonzero(ok)
    if sel.size == 0:
        return out, ok
    last = w.stop[sel] - 1
    v1 = w.vs[last]
    v0 = w.vs[last - 1]
    interval = w.ts[last] - w.ts[last - 1]
    res = v1 - v0
    if is_rate:
        res = np.where(v1 < v0, v1, res)
        res = res / (interval.astype(np.float64) / 1000)
    out[sel] = res
    ok = ok.copy()
    ok[sel] = interval != 0
    return out, ok


def sum_windows(w: Windows) -> _Result:
    """``sum_over_time``: a compensated sum in sample order."""
    nw = len(w.start)
    s = np.zeros(nw)
    c = np.zeros(nw)
    for _, ww, idx in positions(w.start, w.stop):
        s[ww], c[ww] = kahan_inc(w.vs[idx], s[ww], c[ww])
    out = np.where(np.isinf(s), s, s + c)
    return out, w.count > 0


def avg_windows(w: Windows) -> _Result:
    """``avg_over_time``: a compensated sum divided by the count, switching to an
    incremental mean in the windows where the sum would overflow (Prometheus 3)."""
    nw = len(w.start)
    vs = w.vs
    total = np.zeros(nw)
    comp = np.zeros(nw)
    mean = np.zeros(nw)
    incremental = np.zeros(nw, dtype=bool)
    for k, ww, idx in positions(w.start, w.stop):
        f = vs[idx]
        if k == 0:
            total[ww] = f
            continue
        count = float(k + 1)
        direct = ww[~incremental[ww]]
        if direct.size:
            fd = vs[w.start[direct] + k]
            new_sum, new_c = kahan_inc(fd, total[direct], comp[direct])
            fine = ~np.isinf(new_sum)
            keep = direct[fine]
            total[keep] = new_sum[fine]
            comp[keep] = new_c[fine]
            switch = direct[~fine]
            if switch.size:
                incremental[switch] = True
                mean[switch] = total[switch] / (count - 1)
                comp[switch] = comp[switch] / (count - 1)
        inc = ww[incremental[ww]]
        if inc.size:
            fi = vs[w.start[inc] + k]
            q = (count - 1) / count
            mean[inc], comp[inc] = kahan_inc(fi / count, q * mean[inc], q * comp[inc])
    n = w.count.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct_result = total / n + comp / n
    out = np.where(incremental, mean + comp, direct_result)
    return out, w.count > 0


def variance_windows(w: Windows) -> _Result:
    """``stdvar_over_time`` (population variance): Welford's method with compensated sums."""
    nw = len(w.start)
    mean = np.zeros(nw)
    c_mean = np.zeros(nw)
    aux = np.zeros(nw)
    c_aux = np.zeros(nw)
    for k, ww, idx in positions(w.start, w.stop):
        f = w.vs[idx]
        count = float(k + 1)
        delta = f - (mean[ww] + c_mean[ww])
        mean[ww], c_mean[ww] = kahan_inc(delta / count, mean[ww], c_mean[ww])
        aux[ww], c_aux[ww] = kahan_inc(delta * (f - (mean[ww] + c_mean[ww])), aux[ww], c_aux[ww])
    n = w.count.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (aux + c_aux) / n
    return out, w.count > 0


def extreme_windows(w: Windows, *, largest: bool) -> _Result:
    """``max_over_time``/``min_over_time``: NaN only when every sample is NaN."""
    ufunc = np.fmax if largest else np.fmin
    out = window_reduce(ufunc, w.vs, w.start, w.stop, np.nan)
    return out, w.count > 0


def ts_of_extreme_windows(w: Windows, *, largest: bool) -> _Result:
    """``ts_of_max_over_time``/``ts_of_min_over_time``: the last time the extreme was reached."""
    nw = len(w.start)
    best = np.full(nw, np.nan)
    best_t = np.zeros(nw, dtype=np.int64)
    for _, ww, idx in positions(w.start, w.stop):
        f = w.vs[idx]
        cur = best[ww]
        take = ((f >= cur) if largest else (f <= cur)) | np.isnan(cur)
        rows = ww[take]
        best[rows] = f[take]
        best_t[rows] = w.ts[idx[take]]
    return best_t.astype(np.float64) / 1000, w.count > 0


def _padded(w: Windows, rows: IntArray) -> tuple[FloatArray, IntArray]:
    """The samples of windows ``rows`` as a 2-D array padded with +Inf, and the counts."""
    start = w.start[rows]
    n = w.stop[rows] - start
    width = int(n.max()) if n.size else 0
    col = np.arange(width)
    inside = col[None, :] < n[:, None]
    idx = np.where(inside, start[:, None] + col[None, :], 0)
    grid = np.where(inside, w.vs[idx], np.inf) if len(w.vs) else np.full(idx.shape, np.inf)
    return grid, n


def _sort_rows(grid: FloatArray) -> tuple[FloatArray, IntArray]:
    """Each row sorted, and its count of NaNs.

    Prometheus's ``vectorByValueHeap`` sorts NaNs first: element ``j`` of a row
    is NaN when ``j < n_nan`` and ``sorted[j - n_nan]`` otherwise (NumPy puts
    them last, after the +Inf padding, where they are never read).
    """
    n_nan = np.sum(np.isnan(grid), axis=1)
    return np.sort(grid, axis=1), n_nan


def _pick(grid: FloatArray, n_nan: IntArray, j: IntArray) -> FloatArray:
    r = np.arange(len(j))
    real = np.clip(j - n_nan, 0, max(grid.shape[1] - 1, 0))
    vals = grid[r, real] if grid.shape[1] else np.zeros(len(j))
    return np.where(j < n_nan, np.nan, vals)


def quantile_sorted(grid: FloatArray, n: IntArray, n_nan: IntArray, q: FloatArray) -> FloatArray:
    """Prometheus's ``quantile`` of each row: linear interpolation between closest ranks."""
    nf = n.astype(np.float64)
    qq = np.where(np.isnan(q), 0.0, np.clip(q, 0.0, 1.0))
    rank = qq * (nf - 1)
    lower = np.maximum(0.0, np.floor(rank))
    upper = np.minimum(nf - 1, lower + 1)
    weight = rank - np.floor(rank)
    lo = _pick(grid, n_nan, lower.astype(np.int64))
    hi = _pick(grid, n_nan, upper.astype(np.int64))
    res = lo * (1 - weight) + hi * weight
    res = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res))
    return np.where(np.isnan(q) | (n == 0), np.nan, res)


_CHUNK = 1 << 22


def _row_chunks(rows: IntArray, n: IntArray) -> list[IntArray]:
    """Split ``rows`` so that each chunk's padded 2-D array stays small."""
    if rows.size == 0:
        return []
    width = max(int(n[rows].max()), 1)
    per = max(1, _CHUNK // width)
    return [rows[i : i + per] for i in range(0, rows.size, per)]


def quantile_windows(w: Windows, q: FloatArray) -> _Result:
    """``quantile_over_time`` with ``q`` per window."""
    n = w.count
    out = np.full(len(n), np.nan)
    for rows in _row_chunks(np.flatnonzero(n > 0), n):
        grid, nn = _padded(w, rows)
        srt, n_nan = _sort_rows(grid)
        out[rows] = quantile_sorted(srt, nn, n_nan, q[rows])
    return out, n > 0


def mad_windows(w: Windows) -> _Result:
    """``mad_over_time``: the median of the absolute deviations from the median."""
    n = w.count
    out = np.full(len(n), np.nan)
    for rows in _row_chunks(np.flatnonzero(n > 0), n):
        half = np.full(rows.size, 0.5)
        grid, nn = _padded(w, rows)
        srt, n_nan = _sort_rows(grid)
        median = quantile_sorted(srt, nn, n_nan, half)
        inside = np.arange(grid.shape[1])[None, :] < nn[:, None]
        with np.errstate(invalid="ignore"):
            dev = np.where(inside, np.abs(grid - median[:, None]), np.inf)
        srt2, n_nan2 = _sort_rows(dev)
        mad = quantile_sorted(srt2, nn, n_nan2, half)
        # A NaN sample makes the result NaN (Prometheus 3.x).
        out[rows] = np.where(n_nan > 0, np.nan, mad)
    return out, n > 0


def changes_windows(w: Windows) -> _Result:
    """``changes``: consecutive samples that differ (two NaNs are equal here)."""
    vs = w.vs
    flags = np.zeros(len(vs), dtype=bool)
    if len(vs) > 1:
        a, b = vs[1:], vs[:-1]
        flags[1:] = (a != b) & ~(np.isnan(a) & np.isnan(b))
    return pair_counts(flags, w.start, w.stop).astype(np.float64), w.count > 0


def resets_windows(w: Windows) -> _Result:
    """``resets``: consecutive samples where the value decreases."""
    vs = w.vs
    flags = np.zeros(len(vs), dtype=bool)
    if len(vs) > 1:
        flags[1:] = vs[1:] < vs[:-1]
    return pair_counts(flags, w.start, w.stop).astype(np.float64), w.count > 0


def linear_regression(
    w: Windows, intercept_ms: IntArray
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Least-squares slope and intercept (at ``intercept_ms``) per window of two or more samples."""
    nw = len(w.start)
    n = w.count
    ok = n >= 2
    sums = np.zeros((4, nw))
    comps = np.zeros((4, nw))
    for _, ww, idx in positions(w.start, w.stop):
        x = (w.ts[idx] - intercept_ms[ww]).astype(np.float64) / 1e3
        y = w.vs[idx]
        for i, term in enumerate((x, y, x * y, x * x)):
            sums[i, ww], comps[i, ww] = kahan_inc(term, sums[i, ww], comps[i, ww])
    vs = w.vs
    neq = np.zeros(len(vs), dtype=bool)
    if len(vs) > 1:
        neq[1:] = ~(vs[1:] == vs[:-1])
    const_y = pair_counts(neq, w.start, w.stop) == 0
    init_y = vs[np.minimum(w.start, max(len(vs) - 1, 0))] if len(vs) else np.zeros(nw)
    sum_x, sum_y, sum_xy, sum_x2 = sums + comps
    nf = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov_xy = sum_xy - sum_x * sum_y / nf
        var_x = sum_x2 - sum_x * sum_x / nf
        slope = cov_xy / var_x
        intercept = sum_y / nf - slope * sum_x / nf
    const_inf = const_y & np.isinf(init_y)
    slope = np.where(const_y, np.where(const_inf, np.nan, 0.0), slope)
    intercept = np.where(const_y, np.where(const_inf, np.nan, init_y), intercept)
    return slope, intercept, ok


def smoothing_windows(w: Windows, sf: FloatArray, tf: FloatArray) -> _Result:
    """``double_exponential_smoothing`` (formerly ``holt_winters``) per window."""
    nw = len(w.start)
    s0 = np.zeros(nw)
    s1 = np.zeros(nw)
    b = np.zeros(nw)
    for k, ww, idx in positions(w.start, w.stop):
        f = w.vs[idx]
        if k == 0:
            s1[ww] = f
            continue
        if k == 1:
            b[ww] = f - s1[ww]
        else:
            b[ww] = tf[ww] * (s1[ww] - s0[ww]) + (1 - tf[ww]) * b[ww]
        x = sf[ww] * f
        y = (1 - sf[ww]) * (s1[ww] + b[ww])
        s0[ww] = s1[ww]
        s1[ww] = x + y
    return s1, w.count >= 2


# -- registrations -------------------------------------------------------------


def register(*names: str) -> Callable[[FunctionImpl], FunctionImpl]:
    """Register with NumPy's floating-point warnings silenced (NaN/Inf are valid results)."""

    def deco(fn: FunctionImpl) -> FunctionImpl:
        _register(*names)(quiet(fn))
        return fn

    return deco


def _matrix_arg(args: list[Value], i: int = 0) -> Matrix:
    a = args[i]
    if not isinstance(a, Matrix):
        raise TypeError(f"argument {i} is {type(a).__name__}, not Matrix")
    return a


def _windows(ctx: EvalContext, args: list[Value], i: int = 0) -> tuple[Matrix, Windows]:
    m = _matrix_arg(args, i)
    return m, Windows.from_matrix(m, ctx.n_steps)


def _vector(m: Matrix, w: Windows, result: _Result, *, keep_marks: bool = False) -> Vector:
    values, present = result
    drop: BoolArray | None = None
    if keep_marks:
        marks = getattr(m, "drop_name", None)
        drop = None if marks is None else np.asarray(marks, dtype=bool)
    vec = Vector(
        [s.labels for s in m.series],
        np.asarray(w.shape(values), dtype=np.float64),
        np.asarray(w.shape(present), dtype=bool),
        drop,
    )
    return vec.pruned()


@register("rate")
def _rate(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, extrapolated_rate(w, m.range_ms, is_counter=True, is_rate=True))


@register("increase")
def _increase(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, extrapolated_rate(w, m.range_ms, is_counter=True, is_rate=False))


@register("delta")
def _delta(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, extrapolated_rate(w, m.range_ms, is_counter=False, is_rate=False))


@register("irate")
def _irate(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, instant_rate(w, is_rate=True))


@register("idelta")
def _idelta(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, instant_rate(w, is_rate=False))


@register("deriv")
def _deriv(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    first_t = w.ts[np.minimum(w.start, max(len(w.ts) - 1, 0))] if len(w.ts) else w.start
    slope, _, ok = linear_regression(w, first_t)
    return _vector(m, w, (slope, ok))


@register("predict_linear")
def _predict_linear(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    duration = w.per_window(ctx.scalar_arg(args, 1))
    at = np.broadcast_to(ctx.steps, (w.n_series, w.n_steps)).reshape(-1)
    slope, intercept, ok = linear_regression(w, at)
    return _vector(m, w, (slope * duration + intercept, ok))


@register("count_over_time")
def _count_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    n = w.count
    return _vector(m, w, (n.astype(np.float64), n > 0))


@register("present_over_time")
def _present_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    n = w.count
    return _vector(m, w, (np.ones(len(n)), n > 0))


@register("max_over_time")
def _max_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, extreme_windows(w, largest=True))


@register("min_over_time")
def _min_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, extreme_windows(w, largest=False))


@register("stddev_over_time")
def _stddev_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    var, ok = variance_windows(w)
    with np.errstate(invalid="ignore"):
        return _vector(m, w, (np.sqrt(var), ok))


def _edge(w: Windows, *, last: bool) -> tuple[IntArray, BoolArray]:
    ok = w.count > 0
    idx = np.where(ok, w.stop - 1 if last else w.start, 0)
    return idx, ok


@register("last_over_time")
def _last_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    idx, ok = _edge(w, last=True)
    vals = w.vs[idx] if len(w.vs) else np.zeros(len(idx))
    return _vector(m, w, (vals, ok), keep_marks=True)


@register("first_over_time")
def _first_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    idx, ok = _edge(w, last=False)
    vals = w.vs[idx] if len(w.vs) else np.zeros(len(idx))
    return _vector(m, w, (vals, ok), keep_marks=True)


@register("ts_of_last_over_time")
def _ts_of_last_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    idx, ok = _edge(w, last=True)
    ts = w.ts[idx] if len(w.ts) else np.zeros(len(idx), dtype=np.int64)
    return _vector(m, w, (ts.astype(np.float64) / 1000, ok))


@register("ts_of_first_over_time")
def _ts_of_first_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    idx, ok = _edge(w, last=False)
    ts = w.ts[idx] if len(w.ts) else np.zeros(len(idx), dtype=np.int64)
    return _vector(m, w, (ts.astype(np.float64) / 1000, ok))


@register("ts_of_max_over_time")
def _ts_of_max_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, ts_of_extreme_windows(w, largest=True))


@register("ts_of_min_over_time")
def _ts_of_min_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    return _vector(m, w, ts_of_extreme_windows(w, largest=False))


def _quantile_warning(ctx: EvalContext, q: FloatArray, call: Call, arg: int) -> None:
    bad = np.isnan(q) | (q < 0) | (q > 1)
    if bool(bad.any()):
        value = float(q[np.flatnonzero(bad)[0]])
        ctx.warn(
            f"quantile value should be between 0 and 1, got {_go_float(value)}",
            getattr(call.args[arg], "pos", None),
        )


def _go_float(v: float) -> str:
    """Go's ``%g``-like rendering used in Prometheus's annotation texts."""
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v) if v != int(v) else str(int(v))


@register("quantile_over_time")
def _quantile_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    q = ctx.scalar_arg(args, 0)
    m, w = _windows(ctx, args, 1)
    result = quantile_windows(w, w.per_window(q))
    if bool(result[1].any()):
        _quantile_warning(ctx, q, call, 0)
    return _vector(m, w, result)


@register("double_exponential_smoothing", "holt_winters")
def _double_exponential_smoothing(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    m, w = _windows(ctx, args)
    sf = ctx.scalar_arg(args, 1)
    tf = ctx.scalar_arg(args, 2)
    used = w.shape(w.count >= 1).any(axis=0) if w.n_series else np.zeros(ctx.n_steps, dtype=bool)
    bad_sf = used & ~((sf > 0) & (sf < 1))
    if bool(bad_sf.any()):
        raise EvalError(
            f"invalid smoothing factor. Expected: 0 < sf < 1, got: {float(sf[np.flatnonzero(bad_sf)[0]]):f}"
        )
    bad_tf = used & ~((tf > 0) & (tf < 1))
    if bool(bad_tf.any()):
        raise EvalError(
            f"invalid trend factor. Expected: 0 < tf < 1, got: {float(tf[np.flatnonzero(bad_tf)[0]]):f}"
        )
    return _vector(m, w, smoothing_windows(w, w.per_window(sf), w.per_window(tf)))


def absent_labels(expr: Expr) -> Labels:
    """The labels ``absent``/``absent_over_time`` give their one sample.

    Equality matchers of a selector argument become labels, except the metric
    name and a label matched more than once (Prometheus's historic rule).
    """
    while isinstance(expr, ParenExpr):
        expr = expr.expr
    if isinstance(expr, MatrixSelector):
        expr = expr.vector_selector
    if not isinstance(expr, VectorSelector):
        return Labels()
    out: dict[str, str] = {}
    seen: set[str] = set()
    for matcher in expr.matchers:
        if matcher.name == "__name__":
            continue
        if matcher.type is MatchType.EQUAL and matcher.name not in seen:
            out[matcher.name] = matcher.value
            seen.add(matcher.name)
        else:
            out.pop(matcher.name, None)
    return Labels.from_dict(out)


def absent_vector(ctx: EvalContext, covered: BoolArray, arg: Expr) -> Vector:
    """One series valued 1 at the steps not ``covered``."""
    missing = ~covered
    if not bool(missing.any()):
        return Vector.empty(ctx.n_steps)
    return Vector(
        [absent_labels(arg)],
        np.ones((1, ctx.n_steps)),
        missing.reshape(1, -1).copy(),
    )


@register("absent_over_time")
def _absent_over_time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    _, w = _windows(ctx, args)
    if w.n_series:
        covered = np.asarray(np.asarray(w.shape(w.count > 0), dtype=bool).any(axis=0), dtype=bool)
    else:
        covered = np.zeros(ctx.n_steps, dtype=bool)
    return absent_vector(ctx, covered, call.args[0])


def _window_kernel(kernel: Callable[[Windows], _Result]) -> FunctionImpl:
    """A range function whose whole work is one kernel over the windows."""

    def impl(ctx: EvalContext, args: list[Value], call: Call) -> Value:
        m, w = _windows(ctx, args)
        return _vector(m, w, kernel(w))

    return impl


# Range functions that are a single window kernel each.
_WINDOW_KERNELS: dict[str, Callable[[Windows], _Result]] = {
    "resets": resets_windows,
    "changes": changes_windows,
    "sum_over_time": sum_windows,
    "avg_over_time": avg_windows,
    "stdvar_over_time": variance_windows,
    "mad_over_time": mad_windows,
}
for _name, _kernel in _WINDOW_KERNELS.items():
    register(_name)(_window_kernel(_kernel))
