"""The values a PromQL expression evaluates to, over a whole grid of steps at once.

A query evaluates at ``steps`` (int64 milliseconds; one element for an instant
query) and every value covers all of them:

- :class:`Scalar`: one float per step.
- :class:`String`: one string (the same at every step).
- :class:`Vector`: ``nS`` series by ``nT`` steps; a sample exists at step ``j``
  of row ``i`` iff ``present[i, j]``.
- :class:`Matrix`: the raw samples of each series and, per step, the half-open
  index range of the samples inside that step's window ``(t - range, t]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from vigil.model.labels import METRIC_NAME, Labels

__all__ = [
    "FloatArray",
    "Matrix",
    "MatrixSeries",
    "PackedWindows",
    "Scalar",
    "String",
    "Value",
    "Vector",
    "without_name",
]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Scalar:
    """One float per step: ``values`` is float64[nT]."""

    values: FloatArray


@dataclass(slots=True)
class String:
    """A string literal's value (the same at every step)."""

    value: str


@dataclass(slots=True)
class Vector:
    """``values`` float64[nS, nT] and ``present`` bool[nS, nT]; row ``i`` is ``labels[i]``.

    Values where ``present`` is false are meaningless (keep them finite or NaN;
    never read them). Rows with no present step may be pruned at any time.

    ``drop_name`` (bool[nS], or ``None`` for all false) implements Prometheus's
    delayed ``__name__`` removal: a marked row still carries its ``__name__``
    label (so an outer ``label_replace`` can read it) and the engine removes it
    at the end of the query. Functions that keep rows one-to-one carry the mark
    along (see :meth:`take`); one that sets ``__name__`` clears it.
    """

    labels: list[Labels]
    values: FloatArray
    present: BoolArray
    drop_name: BoolArray | None = None

    @staticmethod
    def empty(n_steps: int) -> Vector:
        return Vector([], np.zeros((0, n_steps)), np.zeros((0, n_steps), dtype=bool))

    def take(self, rows: npt.NDArray[np.intp] | list[int]) -> Vector:
        """The rows ``rows`` of this vector, in that order (``drop_name`` carried along)."""
        idx = np.asarray(rows, dtype=np.intp)
        return Vector(
            [self.labels[i] for i in idx],
            self.values[idx],
            self.present[idx],
            None if self.drop_name is None else self.drop_name[idx],
        )

    def dropping_name(self) -> Vector:
        """This vector with every row marked for ``__name__`` removal."""
        return Vector(self.labels, self.values, self.present, np.ones(len(self.labels), dtype=bool))

    @property
    def n_series(self) -> int:
        return len(self.labels)

    @property
    def n_steps(self) -> int:
        return int(self.values.shape[1])

    def pruned(self) -> Vector:
        """This vector without the rows that have no sample at any step."""
        if not self.labels:
            return self
        keep = self.present.any(axis=1)
        if bool(keep.all()):
            return self
        return self.take(np.flatnonzero(keep))


@dataclass(slots=True)
class MatrixSeries:
    """The raw samples of one series (stale markers removed) and each step's window.

    For step ``j`` the samples in the window are ``ts[first[j]:last[j]]`` /
    ``vs[first[j]:last[j]]`` (empty when ``first[j] == last[j]``). ``ts`` are
    the samples' own timestamps (not shifted by ``offset``).
    """

    labels: Labels
    ts: IntArray
    vs: FloatArray
    first: IntArray
    last: IntArray


@dataclass(slots=True)
class PackedWindows:
    """A Matrix's samples as one concatenation, as the selectors build it.

    ``ts``/``vs`` hold every series' samples back to back (possibly with the
    samples of series that were left out in between); ``start``/``stop``
    (int64[nS * nT], series-major) index them directly: window ``(i, j)`` is
    ``vs[start[i * nT + j]:stop[i * nT + j]]``.
    """

    ts: IntArray
    vs: FloatArray
    start: IntArray
    stop: IntArray


@dataclass(slots=True)
class Matrix:
    """A range vector: the argument of range functions, or an instant query's result.

    ``range_ms`` is the selector's (or subquery's) range and ``window_end``
    (int64[nT]) the right, closed end of each step's window: the step time
    minus the offset, or the ``@`` time minus the offset. Rate-like functions
    extrapolate to ``(window_end - range_ms, window_end]``.
    """

    series: list[MatrixSeries]
    range_ms: int = 0
    window_end: IntArray | None = None
    packed: PackedWindows | None = None
    """The same windows over one concatenation (set by the selectors; never edit ``series``
    of a Matrix that has it)."""


Value: TypeAlias = Scalar | String | Vector | Matrix
"""Anything an expression can evaluate to."""


def merge_same_labels(vec: Vector) -> Vector:
    """Merge rows with equal label sets into one (Prometheus joins series by labels).

    Rows that carry the same labels at the same step are an error: "vector
    cannot contain metrics with the same labelset". The first row's
    ``drop_name`` mark wins, as in Prometheus.
    """
    from vigil.promql.errors import EvalError

    n = len(vec.labels)
    if n < 2:
        return vec
    index: dict[Labels, int] = {}
    rows: list[int] = []
    for lb in vec.labels:
        rows.append(index.setdefault(lb, len(index)))
    if len(index) == n:
        return vec
    dst = np.asarray(rows, dtype=np.intp)
    counts = np.zeros((len(index), vec.values.shape[1]), dtype=np.int64)
    np.add.at(counts, dst, vec.present.astype(np.int64))
    if bool((counts > 1).any()):
        raise EvalError("vector cannot contain metrics with the same labelset")
    values = np.zeros((len(index), vec.values.shape[1]), dtype=np.float64)
    present = counts > 0
    first = np.full(len(index), -1, dtype=np.intp)
    for i in range(n - 1, -1, -1):
        first[dst[i]] = i
    values[:] = vec.values[first]
    multi = np.flatnonzero(np.bincount(dst, minlength=len(index)) > 1)
    for g in multi.tolist():
        for r in np.flatnonzero(dst == g).tolist():
            p = vec.present[r]
            values[g, p] = vec.values[r, p]
    drop = None if vec.drop_name is None else vec.drop_name[first]
    return Vector(list(index), values, present, drop)


def without_name(lb: Labels) -> Labels:
    """``lb.without_name()``, quick when ``__name__`` is the first pair (label names are
    sorted, so it is unless a name sorts before it: upper case)."""
    pairs = lb.pairs
    if pairs and pairs[0][0] == METRIC_NAME:
        return Labels._trusted(pairs[1:])
    return lb.without_name()


def remove_dropped_names(vec: Vector) -> Vector:
    """Remove ``__name__`` from the rows marked for it (the end of delayed name removal)."""
    if vec.drop_name is None or not bool(vec.drop_name.any()):
        return Vector(vec.labels, vec.values, vec.present)
    labels = [
        without_name(lb) if d else lb
        for lb, d in zip(vec.labels, vec.drop_name.tolist(), strict=True)
    ]
    return Vector(labels, vec.values, vec.present)
