"""A transaction on the head: the per-sample hot path of ingest."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.storage.interface import (
    BATCH_DUPLICATE,
    BATCH_OUT_OF_BOUNDS,
    BATCH_OUT_OF_ORDER,
    BATCH_UNKNOWN_REF,
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    SeriesRef,
    StorageError,
)
from vigil.tsdb.head import DEAD_T, EMPTY_T, REASONS, Head, same_bits

__all__ = ["HeadAppender"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


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

    __slots__ = (
        "_chunks",
        "_epoch",
        "_head",
        "_hmax",
        "_labels",
        "_refs",
        "_rej",
        "_touched",
        "_ts",
        "_vs",
    )

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
        self._chunks: list[tuple[I64, I64, F64]] = []  # batches, in order with the lists
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

    def append_many(self, refs: I64, t: int, values: F64) -> npt.NDArray[np.uint8] | None:
        """Samples of known series at one timestamp, checked vectorised (``BatchAppender``).

        The same rules as :meth:`append`: a batch newer than anything the head held when
        the transaction began only needs its refs checked; otherwise each sample is
        compared with its series' newest committed one.
        """
        n = len(refs)
        if not n:
            return None
        head = self._head
        lt_all = head._lt
        cap = len(lt_all)
        lo, hi = int(refs.min()), int(refs.max())
        if lo > 0 and hi < cap:
            last = lt_all[refs]
        else:
            inside = (refs > 0) & (refs < cap)
            last = np.full(n, DEAD_T, dtype=np.int64)
            last[inside] = lt_all[refs[inside]]
        codes: npt.NDArray[np.uint8] | None = None
        keep: npt.NDArray[np.bool_] | None = None
        dead = last == DEAD_T
        if t > self._hmax:
            if bool(dead.any()):
                codes = np.where(dead, BATCH_UNKNOWN_REF, 0).astype(np.uint8)
                keep = ~dead
        else:
            codes = np.zeros(n, dtype=np.uint8)
            codes[dead] = BATCH_UNKNOWN_REF
            live = ~dead
            if t < head.min_valid_t:
                codes[live] = BATCH_OUT_OF_BOUNDS
                self._rej["out_of_bounds"] += int(live.sum())
                keep = np.zeros(n, dtype=np.bool_)
            else:
                has = live & (last != EMPTY_T)
                ooo = has & (t < last)
                same_t = has & (t == last)
                codes[ooo] = BATCH_OUT_OF_ORDER
                self._rej["out_of_order"] += int(ooo.sum())
                keep = live & ~ooo & ~same_t
                if bool(same_t.any()):
                    idx = np.flatnonzero(same_t)
                    stored = head._lv[refs[idx]].view(np.uint64)
                    differs = stored != values[idx].view(np.uint64)
                    codes[idx[differs]] = BATCH_DUPLICATE  # the same bits: ignored, accepted
                    self._rej["duplicate"] += int(differs.sum())
            if not bool(codes.any()):
                codes = None
        if keep is not None:
            refs, values = refs[keep], values[keep]
        if len(refs):
            if self._refs:
                self._flush_lists()
            self._chunks.append((refs, np.full(len(refs), t, dtype=np.int64), values))
        return codes

    def _flush_lists(self) -> None:
        """The samples appended one by one so far, as a chunk (keeps the order of appends)."""
        tl = self._ts
        n = len(tl)
        if tl.count(tl[0]) == n:  # one scrape, one timestamp
            ts = np.full(n, tl[0], dtype=np.int64)
        else:
            ts = np.array(tl, dtype=np.int64)
        self._chunks.append(
            (np.array(self._refs, dtype=np.int64), ts, np.array(self._vs, dtype=np.float64))
        )
        self._refs, self._ts, self._vs = [], [], []

    def commit(self) -> None:
        head = self._head
        try:
            if self._refs:
                self._flush_lists()
            chunks = self._chunks
            if chunks or self._touched:
                if len(chunks) == 1:
                    refs, ts, vs = chunks[0]
                elif chunks:
                    refs = np.concatenate([c[0] for c in chunks])
                    ts = np.concatenate([c[1] for c in chunks])
                    vs = np.concatenate([c[2] for c in chunks])
                else:
                    refs = ts = np.empty(0, dtype=np.int64)
                    vs = np.empty(0, dtype=np.float64)
                pos = head.commit(refs, ts, vs, self._touched, self._epoch)
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
