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
from vigil.promql.value import (
    BoolArray,
    FloatArray,
    IntArray,
    Matrix,
    MatrixSeries,
    PackedWindows,
    Vector,
)
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
    the samples' own timestamps in seconds (for ``timestamp()``).

    All series at once: their samples are concatenated and keyed by
    ``row * span + (t - lo)``, which increases along the whole concatenation, so
    one ``searchsorted`` finds every series' newest sample at or before every
    reference time (no Python work per series beyond collecting the arrays).
    """
    n_steps = len(ref)
    counts = np.fromiter((len(s.timestamps) for s in series), dtype=np.int64, count=len(series))
    total = int(counts.sum()) if len(series) else 0
    if total == 0 or n_steps == 0:
        return Vector.empty(n_steps)
    all_ts = np.concatenate([s.timestamps for s in series])
    all_vs = np.concatenate([s.values for s in series])
    lo = min(int(all_ts.min()), int(ref.min()) - lookback_ms)
    span = max(int(all_ts.max()), int(ref.max())) - lo + 2
    if span * len(series) >= 2**62:
        return _vector_per_series(series, ref, lookback_ms, timestamps=timestamps)
    starts = np.zeros(len(series), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    rows = np.repeat(np.arange(len(series), dtype=np.int64) * span, counts)
    keys = rows + (all_ts - lo)
    base = np.arange(len(series), dtype=np.int64)[:, None] * span
    idx = np.searchsorted(keys, base + (ref - lo)[None, :], side="right") - 1
    ok = idx >= starts[:, None]
    safe = np.where(ok, idx, 0)
    t = all_ts[safe]
    v = all_vs[safe]
    ok &= t > ref[None, :] - lookback_ms
    ok &= ~stale_mask(v)
    keep = np.flatnonzero(ok.any(axis=1))
    if not len(keep):
        return Vector.empty(n_steps)
    if len(keep) < len(series):
        t, v, ok = t[keep], v[keep], ok[keep]
    values = t.astype(np.float64) / 1000.0 if timestamps else v
    return Vector([series[i].labels for i in keep.tolist()], values, ok)


def _vector_per_series(
    series: list[Series], ref: IntArray, lookback_ms: int, *, timestamps: bool
) -> Vector:
    """:func:`vector_from_series` one series at a time (time spans too wide for one key)."""
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


def _packed_matrix(
    labels: list[Labels],
    counts: IntArray,
    all_ts: IntArray,
    all_vs: FloatArray,
    ends: IntArray,
    range_ms: int,
) -> Matrix:
    """Windows ``(end - range, end]`` of many series whose samples are concatenated
    (``counts[i]`` samples for ``labels[i]``), found by two ``searchsorted`` calls over
    all of them (keys ``row * span + (t - lo)`` increase along the concatenation).

    The Matrix keeps the concatenation (:class:`PackedWindows`) so the range
    functions need not concatenate it again; each series is a view into it.
    """
    n = len(labels)
    if n == 0 or not len(ends):
        return Matrix([], range_ms, ends)
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    lo = int(ends.min()) - range_ms
    if len(all_ts):
        lo = min(lo, int(all_ts.min()))
    hi = max(int(ends.max()), int(all_ts.max()) if len(all_ts) else lo)
    span = hi - lo + 2
    if span * n >= 2**62:  # too wide for one key: one series at a time
        out = []
        for i in range(n):
            a, b = int(offsets[i]), int(offsets[i] + counts[i])
            ms = matrix_from_samples(labels[i], all_ts[a:b], all_vs[a:b], ends, range_ms)
            if bool((ms.last > ms.first).any()):
                out.append(ms)
        return Matrix(out, range_ms, ends)
    rows = np.arange(n, dtype=np.int64) * span
    keys = np.repeat(rows, counts) + (all_ts - lo)
    base = rows[:, None]
    first = np.searchsorted(keys, base + (ends - range_ms - lo)[None, :], side="right")
    last = np.searchsorted(keys, base + (ends - lo)[None, :], side="right")
    keep = np.flatnonzero((last > first).any(axis=1))
    first = first[keep].astype(np.int64, copy=False)
    last = last[keep].astype(np.int64, copy=False)
    out = []
    for j, i in enumerate(keep.tolist()):
        a = int(offsets[i])
        b = a + int(counts[i])
        out.append(MatrixSeries(labels[i], all_ts[a:b], all_vs[a:b], first[j] - a, last[j] - a))
    packed = PackedWindows(all_ts, all_vs, first.reshape(-1), last.reshape(-1))
    return Matrix(out, range_ms, ends, packed)


def matrix_from_series(series: list[Series], ends: IntArray, range_ms: int) -> Matrix:
    """A range vector from raw series: stale markers removed, windows per step."""
    if not series:
        return Matrix([], range_ms, ends)
    counts = np.fromiter((len(s.timestamps) for s in series), dtype=np.int64, count=len(series))
    all_ts = np.concatenate([s.timestamps for s in series])
    all_vs = np.concatenate([s.values for s in series])
    stale = stale_mask(all_vs)
    if bool(stale.any()):
        keep = ~stale
        rows = np.repeat(np.arange(len(series)), counts)
        counts = np.bincount(rows[keep], minlength=len(series)).astype(np.int64)
        all_ts, all_vs = all_ts[keep], all_vs[keep]
    return _packed_matrix([s.labels for s in series], counts, all_ts, all_vs, ends, range_ms)


def matrix_from_vector(vec: Vector, steps: IntArray, ends: IntArray, range_ms: int) -> Matrix:
    """A subquery's result: the inner vector's points (at ``steps``) as windowed series.

    Rows marked for ``__name__`` removal lose the name here, as the subquery's
    result is a finished range vector.
    """
    drop = vec.drop_name
    has = np.flatnonzero(vec.present.any(axis=1)) if len(vec.labels) else np.zeros(0, np.intp)
    labels = []
    for i in has.tolist():
        lb = vec.labels[i]
        if drop is not None and bool(drop[i]):
            lb = lb.without_name()
        labels.append(lb)
    present = vec.present[has]
    counts = present.sum(axis=1).astype(np.int64)
    all_ts = np.broadcast_to(steps, present.shape)[present]
    all_vs = vec.values[has][present]
    return _packed_matrix(labels, counts, all_ts, all_vs, ends, range_ms)
