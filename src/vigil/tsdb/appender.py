"""A transaction on the head: the per-sample hot path of ingest."""

from __future__ import annotations

import numpy as np

from vigil.model.labels import Labels
from vigil.storage.interface import (
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    SeriesRef,
    StorageError,
)
from vigil.tsdb.head import EMPTY_T, REASONS, Head, same_bits

__all__ = ["HeadAppender"]


class HeadAppender:
    """One transaction on the head (not thread-safe; one per writer).

    The fast path is for the common case, a sample newer than anything the
    head held when the transaction began, for a known series: it cannot be
    out of order, a duplicate or out of bounds, so it costs one comparison, a
    list look-up and three list appends. Everything else takes the slow path,
    which checks against the series' newest sample. Commit rechecks the batch
    vectorised (concurrent transactions on one series), so the fast path is
    never wrong, only early.
    """

    __slots__ = ("_epoch", "_head", "_hmax", "_labels", "_refs", "_rej", "_touched", "_ts", "_vs")

    def __init__(self, head: Head) -> None:
        self._head = head
        self._labels = head._labels  # never replaced, only grown: safe to keep
        self._reset()

    def _reset(self) -> None:
        head = self._head
        self._hmax = max(head.maxt, head.min_valid_t - 1)
        self._epoch = head.gc_epoch
        self._refs: list[int] = []
        self._ts: list[int] = []
        self._vs: list[float] = []
        self._touched: list[int] = []
        self._rej = dict.fromkeys(REASONS, 0)

    def append(self, ref: SeriesRef, labels: Labels | None, t: int, v: float) -> SeriesRef:
        if t > self._hmax and ref > 0:
            try:
                if self._labels[ref] is not None:
                    self._refs.append(ref)
                    self._ts.append(t)
                    self._vs.append(v)
                    return ref
            except IndexError:
                pass
        return self._append_slow(ref, labels, t, v)

    def _append_slow(self, ref: SeriesRef, labels: Labels | None, t: int, v: float) -> SeriesRef:
        head = self._head
        known = head.labels_of(ref) if ref > 0 else None
        if known is None:
            if labels is None:
                labels = head.graveyard.get(ref)
                if labels is None:
                    raise StorageError(f"series ref {ref} is unknown and no labels were given")
            ref = head.get_or_create(labels)
            self._touched.append(ref)
        minv = head.min_valid_t
        if t < minv:
            self._rej["out_of_bounds"] += 1
            raise OutOfBoundsError(
                f"sample at {t} is older than the head's appendable window (from {minv})"
            )
        lt = int(head._lt[ref])
        if lt != EMPTY_T and t <= lt:
            if t < lt:
                self._rej["out_of_order"] += 1
                raise OutOfOrderError(f"sample at {t} is older than the newest one at {lt}")
            if same_bits(v, float(head._lv[ref])):
                return ref  # an exact duplicate is ignored, as in Prometheus
            self._rej["duplicate"] += 1
            raise DuplicateSampleError(f"sample at {t} has a different value than the stored one")
        self._refs.append(ref)
        self._ts.append(t)
        self._vs.append(v)
        return ref

    def commit(self) -> None:
        head = self._head
        n = len(self._refs)
        try:
            if n or self._touched:
                tl = self._ts
                if n and tl.count(tl[0]) == n:  # one scrape, one timestamp
                    ts = np.full(n, tl[0], dtype=np.int64)
                else:
                    ts = np.array(tl, dtype=np.int64)
                pos = head.commit(
                    np.array(self._refs, dtype=np.int64),
                    ts,
                    np.array(self._vs, dtype=np.float64),
                    self._touched,
                    self._epoch,
                )
                if pos and head.wal is not None:
                    head.wal.sync(pos)
        finally:
            self._count_rejections()
            self._reset()

    def rollback(self) -> None:
        self._count_rejections()
        self._reset()

    def _count_rejections(self) -> None:
        if any(self._rej.values()):
            with self._head.lock:
                for k, n in self._rej.items():
                    self._head.rejected[k] += n
