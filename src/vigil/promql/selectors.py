"""Instant and range selectors over all steps at once, and subquery results as matrices.

Instant lookup (Prometheus's ``vectorSelectorSingle``): at reference time
``r = t - offset`` (or ``@ - offset``) a series has the value of its newest
sample at or before ``r`` if that sample is newer than ``r - lookback`` and is
not a staleness marker. Range windows are ``(end - range, end]`` with stale
markers removed. Both are one ``searchsorted`` per series over all steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.model.value import STALE_NAN_BITS
from vigil.promql.value import BoolArray, FloatArray, IntArray, Matrix, MatrixSeries, Vector
from vigil.storage.interface import Queryable, Series

__all__ = [
    "instant_lookup",
    "matrix_from_samples",
    "matrix_from_vector",
    "select",
    "stale_mask",
    "vector_from_series",
]


def select(queryable: Queryable, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
    """The series matching ``matchers`` with samples in ``[mint, maxt]``."""
    querier = queryable.querier(mint, maxt)
    try:
        return querier.select(matchers)
    finally:
        querier.close()


def stale_mask(values: FloatArray) -> BoolArray:
    """Where ``values`` holds the staleness marker (bit-exact, not any NaN)."""
    bits = np.asarray(values, dtype=np.float64).view(np.uint64)
    out: BoolArray = bits == np.uint64(STALE_NAN_BITS)
    return out


def instant_lookup(
    ts: IntArray, vs: FloatArray, ref: IntArray, lookback_ms: int
) -> tuple[FloatArray, BoolArray, IntArray]:
    """Values, presence and sample timestamps of one series at reference times ``ref``."""
    idx = np.searchsorted(ts, ref, side="right") - 1
    ok = idx >= 0
    safe = np.where(ok, idx, 0)
    if len(ts) == 0:
        n = len(ref)
        return np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    t = ts[safe]
    v = vs[safe]
    ok &= t > ref - lookback_ms
    ok &= ~stale_mask(v)
    return v, ok, t


def vector_from_series(
    series: list[Series], ref: IntArray, lookback_ms: int, *, timestamps: bool = False
) -> Vector:
    """An instant vector at reference times ``ref``; with ``timestamps`` the values are
    the samples' own timestamps in seconds (for ``timestamp()``)."""
    n_steps = len(ref)
    labels: list[Labels] = []
    rows_v: list[FloatArray] = []
    rows_p: list[BoolArray] = []
    for s in series:
        v, p, t = instant_lookup(s.timestamps, s.values, ref, lookback_ms)
        if not bool(p.any()):
            continue
        labels.append(s.labels)
        rows_v.append(t.astype(np.float64) / 1000.0 if timestamps else v)
        rows_p.append(p)
    if not labels:
        return Vector.empty(n_steps)
    return Vector(labels, np.stack(rows_v), np.stack(rows_p))


def matrix_from_samples(
    labels: Labels, ts: IntArray, vs: FloatArray, ends: IntArray, range_ms: int
) -> MatrixSeries:
    """One series' windows ``(end - range, end]`` over its (stale-free) samples."""
    first = np.searchsorted(ts, ends - range_ms, side="right").astype(np.int64)
    last = np.searchsorted(ts, ends, side="right").astype(np.int64)
    return MatrixSeries(labels, ts, vs, first, last)


def matrix_from_series(series: list[Series], ends: IntArray, range_ms: int) -> Matrix:
    """A range vector from raw series: stale markers removed, windows per step."""
    out: list[MatrixSeries] = []
    for s in series:
        ts, vs = s.timestamps, s.values
        stale = stale_mask(vs)
        if bool(stale.any()):
            keep = ~stale
            ts, vs = ts[keep], vs[keep]
        ms = matrix_from_samples(s.labels, ts, vs, ends, range_ms)
        if bool((ms.last > ms.first).any()):
            out.append(ms)
    return Matrix(out, range_ms, ends)


def matrix_from_vector(vec: Vector, steps: IntArray, ends: IntArray, range_ms: int) -> Matrix:
    """A subquery's result: the inner vector's points (at ``steps``) as windowed series.

    Rows marked for ``__name__`` removal lose the name here, as the subquery's
    result is a finished range vector.
    """
    out: list[MatrixSeries] = []
    drop = vec.drop_name
    for i, lb in enumerate(vec.labels):
        p = vec.present[i]
        if not bool(p.any()):
            continue
        if drop is not None and bool(drop[i]):
            lb = lb.without_name()
        ms = matrix_from_samples(lb, steps[p], vec.values[i, p], ends, range_ms)
        if bool((ms.last > ms.first).any()):
            out.append(ms)
    return Matrix(out, range_ms, ends)
