"""Window kernels shared by the range functions: every window of every series at once.

A :class:`~vigil.promql.value.Matrix` gives, per series, its samples and per
step the half-open index range of the samples in that step's window.
:class:`Windows` concatenates the samples of all series into one pair of
arrays and flattens the ``(series, step)`` windows into one axis, so a kernel
is a handful of NumPy operations over all windows of the query, never a Python
loop per sample or per step.

Three building blocks cover the range functions:

- *Gathers*: the first/last sample of each window are ``vs[start]`` /
  ``vs[stop - 1]``.
- *Pair counts*: a property of consecutive samples (a counter reset, a
  change) counted per window from an integer prefix sum, which is exact.
  Pairs straddling two series are counted in the prefix sum but never fall
  inside a window, because a window lies inside one series.
- *Sequential reductions*: where Prometheus accumulates sample by sample
  (Kahan sums, running means), :func:`positions` walks the ``k``-th sample of
  all windows at once, so results follow Prometheus's order of operations
  exactly while the loop runs only ``max(window length)`` times.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from vigil.promql.value import BoolArray, FloatArray, IntArray, Matrix

__all__ = [
    "Windows",
    "kahan_inc",
    "pair_counts",
    "positions",
    "quiet",
    "window_reduce",
]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def quiet(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with NumPy's floating-point warnings off: NaN and Inf are PromQL values."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


@dataclass(slots=True)
class Windows:
    """The windows of a Matrix, flattened: window ``w`` is ``vs[start[w]:stop[w]]``.

    ``start``/``stop`` have ``n_series * n_steps`` elements (series-major), so
    a result reshaped to ``(n_series, n_steps)`` lines up with the Matrix's
    series. ``end`` is each window's right (closed) end in ms.
    """

    ts: IntArray
    vs: FloatArray
    start: IntArray
    stop: IntArray
    end: IntArray
    n_series: int
    n_steps: int

    @classmethod
    def from_matrix(cls, m: Matrix, n_steps: int) -> Windows:
        n_series = len(m.series)
        if m.window_end is not None:
            ends = np.asarray(m.window_end, dtype=np.int64)
        else:
            ends = np.zeros(n_steps, dtype=np.int64)
        if n_series == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, np.zeros(0), empty, empty, empty, 0, n_steps)
        end = np.broadcast_to(ends, (n_series, n_steps)).reshape(-1)
        pk = m.packed
        if pk is not None and len(pk.start) == n_series * n_steps:
            return cls(pk.ts, pk.vs, pk.start, pk.stop, end, n_series, n_steps)
        sizes = np.fromiter((len(s.ts) for s in m.series), dtype=np.int64, count=n_series)
        offsets = np.zeros(n_series, dtype=np.int64)
        np.cumsum(sizes[:-1], out=offsets[1:])
        ts = np.concatenate([np.asarray(s.ts, dtype=np.int64) for s in m.series])
        vs = np.concatenate([np.asarray(s.vs, dtype=np.float64) for s in m.series])
        first = np.stack([np.asarray(s.first, dtype=np.int64) for s in m.series])
        last = np.stack([np.asarray(s.last, dtype=np.int64) for s in m.series])
        start = (first + offsets[:, None]).reshape(-1)
        stop = (last + offsets[:, None]).reshape(-1)
        return cls(ts, vs, start, stop, end, n_series, n_steps)

    @property
    def count(self) -> IntArray:
        return self.stop - self.start

    def shape(self, flat: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return flat.reshape(self.n_series, self.n_steps)

    def per_window(self, per_step: FloatArray) -> FloatArray:
        """A per-step array (a scalar argument) repeated for every series' windows."""
        return np.broadcast_to(per_step, (self.n_series, self.n_steps)).reshape(-1)


def kahan_inc(inc: FloatArray, s: FloatArray, c: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Neumaier-compensated ``s + inc`` elementwise, as Prometheus's ``kahansum.Inc``.

    The compensation resets to 0 when the sum overflows to an infinity.
    """
    t = s + inc
    big = np.abs(s) >= np.abs(inc)
    comp = c + np.where(big, (s - t) + inc, (inc - t) + s)
    return t, np.where(np.isinf(t), 0.0, comp)


def positions(start: IntArray, stop: IntArray) -> Iterator[tuple[int, IntArray, IntArray]]:
    """For ``k = 0, 1, ...``: the windows with more than ``k`` samples and their ``k``-th sample.

    Yields ``(k, windows, index)`` where ``windows`` indexes ``start`` and
    ``index = start[windows] + k`` indexes the samples. Windows are visited
    longest first, so the active set is a prefix of one ordering.
    """
    n = stop - start
    if n.size == 0:
        return
    order = np.argsort(-n, kind="stable")
    sorted_n = n[order]
    longest = int(sorted_n[0])
    # active[k] = how many windows have more than k samples.
    active = np.searchsorted(-sorted_n, -np.arange(longest), side="left")
    for k in range(longest):
        w = order[: int(active[k])]
        yield k, w, start[w] + k


def pair_counts(flags: BoolArray, start: IntArray, stop: IntArray) -> IntArray:
    """Per window, how many consecutive pairs ``(i - 1, i)`` inside it have ``flags[i]``.

    ``flags[0]`` is ignored. Empty and one-sample windows count 0.
    """
    prefix = np.zeros(len(flags) + 1, dtype=np.int64)
    if len(flags) > 1:
        np.cumsum(flags[1:], out=prefix[2:])
    # Pairs i in (start, stop - 1]: prefix[stop] - prefix[start + 1].
    lo = np.minimum(start + 1, stop)
    return prefix[stop] - prefix[lo]


def window_reduce(
    ufunc: np.ufunc, values: FloatArray, start: IntArray, stop: IntArray, empty: float
) -> FloatArray:
    """``ufunc.reduce(values[start:stop])`` for every window, ``empty`` for empty ones."""
    out = np.full(len(start), empty, dtype=np.float64)
    nonempty = np.flatnonzero(stop > start)
    if nonempty.size == 0:
        return out
    ext = np.append(values, 0.0)
    idx = np.empty(2 * nonempty.size, dtype=np.int64)
    idx[0::2] = start[nonempty]
    idx[1::2] = stop[nonempty]
    out[nonempty] = ufunc.reduceat(ext, idx)[0::2]
    return out
