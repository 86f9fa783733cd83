"""Building Matrix/Vector arguments by hand for the function tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigil.model.labels import Labels
from vigil.promql.functions import EvalContext
from vigil.promql.value import Matrix, MatrixSeries, Vector


def ctx(steps: Sequence[int]) -> EvalContext:
    return EvalContext(steps=np.asarray(steps, dtype=np.int64))


def matrix(
    series: Sequence[tuple[Labels, Sequence[int], Sequence[float]]],
    steps: Sequence[int],
    range_ms: int,
    offset_ms: int = 0,
) -> Matrix:
    """A Matrix with windows ``(t - offset - range, t - offset]`` for each step ``t``."""
    ends = np.asarray(steps, dtype=np.int64) - offset_ms
    out = []
    for labels, ts, vs in series:
        t = np.asarray(ts, dtype=np.int64)
        first = np.searchsorted(t, ends - range_ms, side="right").astype(np.int64)
        last = np.searchsorted(t, ends, side="right").astype(np.int64)
        out.append(MatrixSeries(labels, t, np.asarray(vs, dtype=np.float64), first, last))
    return Matrix(out, range_ms=range_ms, window_end=ends)


def vector(
    rows: Sequence[tuple[Labels, Sequence[float]]], present: Sequence[Sequence[bool]] | None = None
) -> Vector:
    values = np.asarray([list(v) for _, v in rows], dtype=np.float64)
    mask = np.ones(values.shape, dtype=bool) if present is None else np.asarray(present, bool)
    return Vector([lb for lb, _ in rows], values, mask)
