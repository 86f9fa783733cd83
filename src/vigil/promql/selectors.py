"""Instant and range selectors over all steps at once, and subquery results as matrices.

Instant lookup (Prometheus's ``vectorSelectorSingle``): at reference time
``r = t - offset`` (or ``@ - offset``) a series has the value of its newest
sample at or before ``r`` if that sample is newer than ``r - lookback`` and is
not a staleness marker. Range windows are ``(end - range, end]`` with stale
markers removed. Both are one ``searchsorted`` per series over all steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

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
    without_name,
)
from vigil.storage.interface import Queryable, Series

_T = TypeVar("_T", bound=np.generic)

__all__ = [
    "concat_series_arrays",
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


_VIEW_MIN = 1 << 16
"""Elements from which :func:`concat_series_arrays` looks for a view rather than copying."""


def concat_series_arrays(arrays: list[npt.NDArray[_T]]) -> npt.NDArray[_T]:
    """``np.concatenate(arrays)``, or a view without copying when they already lie back
    to back in one buffer (what the store's queriers return: series are views into one
    decoded concatenation)."""
    full = [a for a in arrays if len(a)]  # an empty view's address means nothing
    if sum(map(len, full)) < _VIEW_MIN or not full:
        return np.concatenate(arrays)  # copying is cheaper than checking the addresses
    first = full[0]
    base = first.base
    if (
        len(full) > 1
        and isinstance(base, np.ndarray)
        and base.dtype == first.dtype
        and base.flags.c_contiguous
        and all(a.base is base and a.strides == (base.itemsize,) for a in full)
    ):
        size = base.itemsize
        origin = base.__array_interface__["data"][0]
        ptrs = [a.__array_interface__["data"][0] for a in full]
        lens = [len(a) for a in full]
        if all(p + n * size == q for p, n, q in zip(ptrs, lens, ptrs[1:], strict=False)):
            start = (ptrs[0] - origin) // size
            flat: npt.NDArray[_T] = base.reshape(-1)[start : start + sum(lens)]
            return flat
    return np.concatenate(arrays)


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
    all_ts = concat_series_arrays([s.timestamps for s in series])
    all_vs = concat_series_arrays([s.values for s in series])
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
    step = int(ends[1] - ends[0]) if len(ends) > 1 else 0
    if step > 0 and len(all_ts) and bool((np.diff(ends) == step).all()):
        first = _count_upto(counts, offsets, all_ts, int(ends[0]) - range_ms, step, len(ends))
        last = _count_upto(counts, offsets, all_ts, int(ends[0]), step, len(ends))
    else:
        rows = np.arange(n, dtype=np.int64) * span
        keys = np.repeat(rows, counts) + (all_ts - lo)
        base = rows[:, None]
        first = np.searchsorted(keys, base + (ends - range_ms - lo)[None, :], side="right")
        last = np.searchsorted(keys, base + (ends - lo)[None, :], side="right")
    keep = np.flatnonzero((last > first).any(axis=1))
    first = first[keep].astype(np.int64, copy=False)
    last = last[keep].astype(np.int64, copy=False)
    base_k = offsets[keep]
    rel_first = first - base_k[:, None]  # per series, relative to its own samples
    rel_last = last - base_k[:, None]
    ends_k = (base_k + counts[keep]).tolist()
    out = []
    for j, (i, a) in enumerate(zip(keep.tolist(), base_k.tolist(), strict=True)):
        b = ends_k[j]
        out.append(MatrixSeries(labels[i], all_ts[a:b], all_vs[a:b], rel_first[j], rel_last[j]))
    packed = PackedWindows(all_ts, all_vs, first.reshape(-1), last.reshape(-1))
    return Matrix(out, range_ms, ends, packed)


_COUNT_CHUNK = 1 << 18
"""Samples per pass of :func:`_count_upto` (its temporaries stay small: see rollup's
``_RATE_CHUNK``)."""


def _count_upto(
    counts: IntArray, offsets: IntArray, all_ts: IntArray, e0: int, step: int, n_steps: int
) -> IntArray:
    """``offsets[i] + #{samples of series i at or before e0 + j * step}`` for every series
    ``i`` and step ``j``: what a ``searchsorted(side="right")`` per window gives, from one
    histogram of the samples over the steps and a running sum (no binary searches), a
    group of series of about ``_COUNT_CHUNK`` samples at a time.

    A sample at ``t`` is counted from step ``ceil((t - e0) / step)`` on.
    """
    n = len(counts)
    out = np.empty((n, n_steps), dtype=np.int64)
    ends = offsets + counts
    i0 = 0
    while i0 < n:
        i1 = int(np.searchsorted(ends, int(offsets[i0]) + _COUNT_CHUNK, side="right"))
        i1 = min(max(i1, i0 + 1), n)
        g = i1 - i0
        ts = all_ts[int(offsets[i0]) : int(ends[i1 - 1])]
        first_step = np.clip(-((e0 - ts) // step), 0, n_steps)  # n_steps: never counted
        rows = np.repeat(np.arange(g, dtype=np.int64) * (n_steps + 1), counts[i0:i1])
        hist = np.bincount(rows + first_step, minlength=g * (n_steps + 1))
        part = out[i0:i1]
        np.cumsum(hist.reshape(g, n_steps + 1)[:, :n_steps], axis=1, out=part)
        part += offsets[i0:i1, None]
        i0 = i1
    return out


def matrix_from_series(series: list[Series], ends: IntArray, range_ms: int) -> Matrix:
    """A range vector from raw series: stale markers removed, windows per step."""
    if not series:
        return Matrix([], range_ms, ends)
    counts = np.fromiter((len(s.timestamps) for s in series), dtype=np.int64, count=len(series))
    all_ts = concat_series_arrays([s.timestamps for s in series])
    all_vs = concat_series_arrays([s.values for s in series])
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
            lb = without_name(lb)
        labels.append(lb)
    present = vec.present[has]
    counts = present.sum(axis=1).astype(np.int64)
    all_ts = np.broadcast_to(steps, present.shape)[present]
    all_vs = vec.values[has][present]
    return _packed_matrix(labels, counts, all_ts, all_vs, ends, range_ms)
