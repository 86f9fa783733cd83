"""The head: the recent, still-writable part of the store, in memory and in the WAL.

Layout (no Python object per sample, few per series):

* series state in parallel NumPy arrays indexed by ref: last timestamp, last
  value, first timestamp, "in the WAL" flag; labels in a list, interned;
* committed samples in a raw columnar buffer (ref, t, v, 24 bytes a sample);
  a full buffer (CUT_SAMPLES_PER_SERIES a series) is *cut* into compressed
  pages (:mod:`vigil.tsdb.pages`, 1-3 bytes a sample), and runs of MERGE_FANIN
  small cuts are merged into one larger cut (up to MERGE_LEVELS times): small
  cuts keep the raw buffer short, merged ones compress better and make fewer
  cuts for a query to visit;
* a :class:`~vigil.tsdb.postings.MemPostings` index for matchers.

One writer lock guards every change; readers take it only to snapshot a few
references (the cut list, the buffer arrays and their length), then work on
immutable data or on regions of the buffer the writer no longer touches.

Append semantics follow Prometheus: a sample older than its series' newest
is out of order, one at the same time with other bits is a duplicate (the
same bits: silently ignored), one before the head's appendable window is out
of bounds. ``append`` checks against committed state; samples of one series
appended twice in a transaction are ordered at commit, where violations are
dropped and counted (as Prometheus's ``Commit`` does).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.storage.interface import (
    StorageError,
)
from vigil.tsdb.pages import Cut, build_cut, merge_cuts, range_samples
from vigil.tsdb.postings import MemPostings, Refs
from vigil.tsdb.wal import REC_SAMPLES, REC_SERIES, WAL, encode_samples, encode_series, frame

if TYPE_CHECKING:
    from vigil.tsdb.appender import HeadAppender
    from vigil.tsdb.querier import HeadQuerier

__all__ = ["DEAD_T", "EMPTY_T", "REASONS", "Frozen", "Head", "HeadSnapshot", "same_bits"]

log = logging.getLogger("vigil.tsdb.head")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

EMPTY_T = -(2**63)  # last timestamp of a series without samples
DEAD_T = 2**63 - 1  # last timestamp of a removed ref (forces the slow path)
CUT_SAMPLES_PER_SERIES = 16
"""The buffer is cut when it holds this many samples per live series (on average)."""
MIN_CUT_SAMPLES = 1 << 16
MERGE_FANIN = 3
"""Consecutive cuts of one level at the end of the head merged into one of the next level."""
MERGE_LEVELS = 2
"""Merges per sample at most: 16 -> 48 -> 144 samples a series per cut at the defaults."""
REASONS = ("out_of_order", "duplicate", "out_of_bounds")
PAGE_CACHE = 32
"""Decoded pages kept (most recently used; 128 KiB each at most): rule evaluations and
dashboards select the same recent series again and again."""


def same_bits(a: float, b: float) -> bool:
    """Prometheus compares values by their bits (NaN == NaN, stale marker != NaN, 0 != -0)."""
    return struct.pack("<d", a) == struct.pack("<d", b)


class Frozen:
    """A full buffer waiting to be encoded into a cut (outside the lock); read like the buffer."""

    __slots__ = ("_order", "mint", "refs", "ts", "vs")

    def __init__(self, refs: I64, ts: I64, vs: F64) -> None:
        self.refs, self.ts, self.vs = refs, ts, vs
        self.mint = int(ts.min())
        self._order: I64 | None = None

    def order(self) -> I64:
        """Indices sorted by ref, stable (so each series stays in time order); computed once."""
        order = self._order
        if order is None:
            order = self._order = np.argsort(self.refs, kind="stable")
        return order

    def build(self) -> Cut:
        order = self.order()
        return build_cut(self.refs[order], self.ts[order], self.vs[order])


@dataclass(frozen=True, slots=True)
class HeadSnapshot:
    """An immutable view of the head's samples at one moment."""

    cuts: tuple[Cut, ...]
    frozen: tuple[Frozen, ...]
    buf_refs: I64
    buf_ts: I64
    buf_vs: F64
    order: I64 | None  # buffer indices sorted by ref (lazily built by readers)
    mint: int  # of the head's samples then (DEAD_T: none)
    maxt: int
    gc_epoch: int  # series removed after this epoch may still have samples here


class Head:
    def __init__(self, *, on_write_error: Callable[[StorageError], None] | None = None) -> None:
        self.lock = threading.Lock()
        self.wal: WAL | None = None
        self.postings = MemPostings()
        self.min_valid_t = EMPTY_T
        self.mint = DEAD_T  # of committed samples (DEAD_T: none)
        self.maxt = EMPTY_T
        self.seq = 0  # bumped by every commit and truncation
        self.gc_epoch = 0
        self.graveyard: dict[int, Labels] = {}  # refs removed by the last GC
        self.on_write_error = on_write_error
        self.compact_hook: Callable[[], None] | None = None
        self.compact_span = 2**62  # head span (ms) past which compact_hook is called
        self.encode_hook: Callable[[], None] | None = None  # called when a buffer is frozen
        self._labels: list[Labels | None] = [None]
        self._by_labels: dict[Labels, int] = {}
        self._interned: dict[tuple[str, str], tuple[str, str]] = {}
        self._cap = 0
        self._lt: I64 = np.empty(0, dtype=np.int64)
        self._lv: F64 = np.empty(0, dtype=np.float64)
        self._mark: I64 = np.empty(0, dtype=np.int64)  # scratch: finds repeated refs in a batch
        self._arange: I64 = np.arange(1024, dtype=np.int64)
        self._logged = np.empty(0, dtype=np.bool_)
        self._grow(1024)
        self.live_series = 0
        self.cuts: tuple[Cut, ...] = ()
        self.frozen: tuple[Frozen, ...] = ()  # full buffers, oldest first, newer than the cuts
        self._encoding = threading.Lock()
        self._page_lock = threading.Lock()
        self._page_cache: OrderedDict[tuple[int, int], tuple[Cut, tuple[I64, F64, int]]] = (
            OrderedDict()
        )
        self._bcap = 0
        self._bn = 0
        self._br: I64 = np.empty(0, dtype=np.int64)
        self._bt: I64 = np.empty(0, dtype=np.int64)
        self._bv: F64 = np.empty(0, dtype=np.float64)
        self._sorted: tuple[I64, int, I64] | None = None  # (buffer, length, order)
        self._empty_seen: set[int] = set()
        self._new_buffer(MIN_CUT_SAMPLES)
        self.samples_appended = 0
        self.series_created = 0
        self.series_removed = 0
        self.rejected = dict.fromkeys(REASONS, 0)
        self.write_errors = 0

    # -- series ------------------------------------------------------------------

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self._cap, 1024)
        lt = np.full(cap, DEAD_T, dtype=np.int64)
        lv = np.zeros(cap, dtype=np.float64)
        logged = np.zeros(cap, dtype=np.bool_)
        n = self._cap
        lt[:n] = self._lt
        lv[:n] = self._lv
        logged[:n] = self._logged
        self._lt, self._lv, self._logged = lt, lv, logged
        self._mark = np.zeros(cap, dtype=np.int64)
        self._cap = cap

    def _intern(self, labels: Labels) -> Labels:
        table = self._interned
        pairs = []
        for pair in labels.pairs:
            got = table.get(pair)
            if got is None:
                got = table[pair] = (pair[0], pair[1])
            pairs.append(got)
        return Labels._trusted(tuple(pairs))

    def _create(self, ref: int, labels: Labels) -> None:
        if ref >= self._cap:
            self._grow(ref + 1)
        while len(self._labels) <= ref:
            self._labels.append(None)
        self._labels[ref] = labels
        self._by_labels[labels] = ref
        self._lt[ref] = EMPTY_T
        self._logged[ref] = False
        self.postings.add(ref, labels)
        self.live_series += 1
        self.series_created += 1

    def get_or_create(self, labels: Labels) -> int:
        """The ref of *labels*, creating the series if needed.

        Labels are stored as given (callers drop empty values, as Prometheus's do).
        """
        ref = self._by_labels.get(labels)
        if ref is not None:
            return ref
        if not labels:
            raise StorageError("a series needs at least one non-empty label")
        with self.lock:
            ref = self._by_labels.get(labels)
            if ref is None:
                # Kept as given: the scrape cache holds this very object, so nothing is copied.
                ref = len(self._labels)
                self._create(ref, labels)
            return ref

    def create_with_ref(self, ref: int, labels: Labels) -> int:
        """Replay: recreate *labels* as *ref*; returns the ref now holding those labels."""
        existing = self._by_labels.get(labels)
        if existing is not None:
            return existing
        if ref < len(self._labels) and self._labels[ref] is not None:
            ref = len(self._labels)  # taken by other labels: should not happen, stay correct
        self._create(ref, self._intern(labels))
        self._logged[ref] = True
        return ref

    def labels_of(self, ref: int) -> Labels | None:
        labels = self._labels
        return labels[ref] if 0 < ref < len(labels) else None

    def series_count(self) -> int:
        return self.live_series

    def all_refs(self) -> Refs:
        n = len(self._labels)
        lt = self._lt[:n]
        return np.flatnonzero(lt != DEAD_T).astype(np.int64)

    def live_labels(self) -> list[tuple[int, Labels]]:
        return [(r, lb) for r, lb in enumerate(self._labels) if lb is not None]

    # -- appending -----------------------------------------------------------------

    def appender(self) -> HeadAppender:
        from vigil.tsdb.appender import HeadAppender

        return HeadAppender(self)

    def _new_buffer(self, cap: int) -> None:
        self._bcap = cap
        self._bn = 0
        self._br = np.empty(cap, dtype=np.int64)
        self._bt = np.empty(cap, dtype=np.int64)
        self._bv = np.empty(cap, dtype=np.float64)

    def _cut_threshold(self) -> int:
        return max(MIN_CUT_SAMPLES, CUT_SAMPLES_PER_SERIES * self.live_series)

    def _validate(
        self, refs: I64, ts: I64, vs: F64, gc_epoch: int, tmin: int
    ) -> tuple[I64, I64, F64, bool]:
        """Recheck a batch against the current state (under the lock); returns the accepted
        samples and whether a series occurs more than once."""
        n = len(refs)
        if not n:
            return refs, ts, vs, False
        if gc_epoch != self.gc_epoch:
            refs = self._resurrect(refs)
        if n > len(self._arange):
            self._arange = np.arange(max(n, 2 * len(self._arange)), dtype=np.int64)
        idx = self._arange[:n]
        mark = self._mark
        mark[refs] = idx
        repeats = not bool((mark[refs] == idx).all())
        if tmin >= self.min_valid_t:
            if not repeats:
                if bool((ts > self._lt[refs]).all()):
                    return refs, ts, vs, False
            else:
                # Several samples per series (remote write, backfill): each must be newer
                # than the one before it in the batch, the first newer than the stored one.
                order = np.argsort(refs, kind="stable")
                r, t = refs[order], ts[order]
                prev = np.empty(n, dtype=np.int64)
                prev[1:] = t[:-1]
                group = np.empty(n, dtype=np.bool_)
                group[0] = True
                np.not_equal(r[1:], r[:-1], out=group[1:])
                prev[group] = self._lt[r[group]]
                if bool((t > prev).all()):
                    return refs, ts, vs, True
        return (*self._validate_slow(refs, ts, vs), repeats)

    def _resurrect(self, refs: I64) -> I64:
        """Refs removed by a GC during the transaction get their series back (new refs)."""
        dead = self._lt[refs] == DEAD_T
        if not dead.any():
            return refs
        refs = refs.copy()
        for i in np.flatnonzero(dead).tolist():
            labels = self.graveyard.get(int(refs[i]))
            if labels is None:
                raise StorageError(f"series ref {int(refs[i])} was removed during the transaction")
            ref = self._by_labels.get(labels)
            if ref is None:
                ref = len(self._labels)
                self._create(ref, labels)
            refs[i] = ref
        return refs

    def _validate_slow(self, refs: I64, ts: I64, vs: F64) -> tuple[I64, I64, F64]:
        order = np.argsort(refs, kind="stable")
        keep: list[int] = []
        last: dict[int, tuple[int, float]] = {}
        minv = self.min_valid_t
        rl, tl, vl = refs.tolist(), ts.tolist(), vs.tolist()
        for i in order.tolist():
            r, t, v = rl[i], tl[i], vl[i]
            prev = last.get(r)
            if prev is None:
                lt = int(self._lt[r])
                prev = (lt, float(self._lv[r])) if lt != EMPTY_T else None
            if t < minv:
                self.rejected["out_of_bounds"] += 1
                continue
            if prev is not None and t <= prev[0]:
                if t < prev[0]:
                    self.rejected["out_of_order"] += 1
                elif not same_bits(v, prev[1]):
                    self.rejected["duplicate"] += 1
                continue
            last[r] = (t, v)
            keep.append(i)
        idx = np.array(sorted(keep), dtype=np.int64)
        return refs[idx], ts[idx], vs[idx]

    def commit(self, refs: I64, ts: I64, vs: F64, touched: Sequence[int], gc_epoch: int) -> int:
        """Validate, log and apply a batch; returns the WAL position to sync (0: none)."""
        tmin = int(ts.min()) if len(ts) else 0
        with self.lock:
            refs, ts, vs, repeats = self._validate(refs, ts, vs, gc_epoch, tmin)
            new = [
                (r, lb)
                for r in touched
                if not self._logged[r] and (lb := self._labels[r]) is not None
            ]
            pos = 0
            if self.wal is not None and (len(refs) or new):
                data = b""
                if new:
                    data = frame(REC_SERIES, encode_series(new))
                if len(refs):
                    data += frame(REC_SAMPLES, encode_samples(refs, ts, vs))
                try:
                    pos = self.wal.log(data)
                except StorageError as exc:
                    self.write_errors += 1
                    if self.on_write_error is not None:
                        self.on_write_error(exc)
                    raise
            for r, _ in new:
                self._logged[r] = True
            if len(refs):
                self._apply(refs, ts, vs, repeats)
                if self.compact_hook is not None and self.maxt - self.mint > self.compact_span:
                    self.compact_hook()
        if self.frozen:
            if self.encode_hook is not None:
                self.encode_hook()  # a background thread encodes it
            else:
                self.encode_frozen()
        return pos

    def encode_frozen(self) -> None:
        """Turn full buffers into compressed cuts, and merge small cuts, without holding
        the writer lock."""
        if not self._encoding.acquire(blocking=False):
            return  # another committer is at it
        try:
            while self.frozen:
                fz = self.frozen[0]
                cut = fz.build()
                with self.lock:
                    if self.frozen and self.frozen[0] is fz:
                        self.cuts = (*self.cuts, cut)
                        self.frozen = self.frozen[1:]
            while self._merge_tail():
                pass
        finally:
            self._encoding.release()

    def _merge_tail(self) -> bool:
        """Merge the last MERGE_FANIN cuts when they share a level below MERGE_LEVELS
        (holding ``_encoding``); returns whether it did."""
        cuts = self.cuts
        if len(cuts) < MERGE_FANIN:
            return False
        run = cuts[-MERGE_FANIN:]
        level = run[0].level
        if level >= MERGE_LEVELS or any(c.level != level for c in run):
            return False
        merged = merge_cuts(run, level + 1)
        with self.lock:
            now = self.cuts
            # Cuts are only appended meanwhile (compaction's force_cut), unless a truncation
            # replaced them: then the merge is dropped and the next call looks again.
            if len(now) < len(cuts) or any(a is not b for a, b in zip(now, cuts, strict=False)):
                return False
            self.cuts = (*cuts[:-MERGE_FANIN], merged, *now[len(cuts) :])
            self._prune_pages()
        return True

    def _apply(self, refs: I64, ts: I64, vs: F64, repeats: bool) -> None:
        n = len(refs)
        m = self._bn
        if m + n > self._bcap:
            cap = max(2 * self._bcap, m + n)
            br, bt, bv = self._br, self._bt, self._bv
            self._new_buffer(cap)
            self._br[:m], self._bt[:m], self._bv[:m] = br[:m], bt[:m], bv[:m]
        self._br[m : m + n] = refs
        self._bt[m : m + n] = ts
        self._bv[m : m + n] = vs
        if repeats:
            order = np.argsort(refs, kind="stable")  # validated: time order within a series
            r, t, v = refs[order], ts[order], vs[order]
            last = np.flatnonzero(np.append(r[1:] != r[:-1], True))
            self._lt[r[last]] = t[last]
            self._lv[r[last]] = v[last]
        else:
            self._lt[refs] = ts
            self._lv[refs] = vs
        self._bn = m + n  # publish to readers last
        self.samples_appended += n
        tmin, tmax = int(ts.min()), int(ts.max())
        if tmin < self.mint:
            self.mint = tmin
        if tmax > self.maxt:
            self.maxt = tmax
        self.seq += 1
        if self._bn >= self._cut_threshold():
            self._freeze()

    def _freeze(self) -> None:
        """Hand the buffer over for encoding and start a new one (under the lock)."""
        n = self._bn
        if n == 0:
            return
        self.frozen = (*self.frozen, Frozen(self._br[:n], self._bt[:n], self._bv[:n]))
        self._new_buffer(max(MIN_CUT_SAMPLES, min(self._bcap, self._cut_threshold() + 4096)))
        self._sorted = None

    def force_cut(self) -> None:
        with self.lock:
            self.force_cut_locked()

    def force_cut_locked(self) -> None:
        """Every committed sample into cuts, now (compaction and tests); no merging."""
        self._freeze()
        if self.frozen:
            self.cuts = (*self.cuts, *(fz.build() for fz in self.frozen))
            self.frozen = ()

    def snapshot_locked(self) -> tuple[I64, I64, F64]:
        """The samples not in cuts (frozen buffers and the buffer), for a checkpoint."""
        n = self._bn
        parts = [(fz.refs, fz.ts, fz.vs) for fz in self.frozen]
        parts.append((self._br[:n], self._bt[:n], self._bv[:n]))
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    # -- reading -------------------------------------------------------------------

    def snapshot(self) -> HeadSnapshot:
        with self.lock:
            return self.snapshot_in_lock()

    def snapshot_in_lock(self) -> HeadSnapshot:
        """A snapshot; the caller holds the lock (to take it together with other state)."""
        n = self._bn
        br, bt, bv = self._br[:n], self._bt[:n], self._bv[:n]
        cached = self._sorted
        order = None
        if cached is not None and cached[0] is br.base and cached[1] == n:
            order = cached[2]
        return HeadSnapshot(
            self.cuts, self.frozen, br, bt, bv, order, self.mint, self.maxt, self.gc_epoch
        )

    def sorted_order(self, snap: HeadSnapshot) -> I64:
        """Buffer indices sorted by ref (stable), merged incrementally into the last result."""
        if snap.order is not None:
            return snap.order
        refs = snap.buf_refs
        n = len(refs)
        cached = self._sorted
        prev_n, prev = 0, np.empty(0, dtype=np.int64)
        if cached is not None and cached[0] is refs.base and cached[1] <= n:
            prev_n, prev = cached[1], cached[2]
        new = prev_n + np.argsort(refs[prev_n:n], kind="stable")
        if len(prev):
            pos = np.searchsorted(refs[prev], refs[new], side="right")
            order = np.insert(prev, pos, new)
        else:
            order = new
        if refs.base is not None:
            self._sorted = (refs.base, n, order)
        return order

    def _page(self, cut: Cut, page: int) -> tuple[I64, F64, int]:
        """A page of *cut* decoded (read-only arrays), from the cache when it is there."""
        key = (id(cut), page)
        cache = self._page_cache
        with self._page_lock:
            hit = cache.get(key)
            if hit is not None and hit[0] is cut:
                cache.move_to_end(key)
                return hit[1]
        got = cut.decode(page)
        got[0].flags.writeable = False
        got[1].flags.writeable = False
        with self._page_lock:
            cache[key] = (cut, got)
            while len(cache) > PAGE_CACHE:
                cache.popitem(last=False)
        return got

    def _prune_pages(self) -> None:
        """Forget decoded pages of cuts the head no longer has (they would pin them)."""
        live = {id(c) for c in self.cuts}
        with self._page_lock:
            for key in [k for k, v in self._page_cache.items() if id(v[0]) not in live]:
                del self._page_cache[key]

    def querier(self, mint: int, maxt: int) -> HeadQuerier:
        from vigil.tsdb.querier import HeadQuerier

        return HeadQuerier(self, mint, maxt, self.snapshot())

    def gather(
        self, snap: HeadSnapshot, refs: Refs, mint: int, maxt: int
    ) -> Iterator[tuple[int, I64, F64]]:
        """Per ref (ascending), its samples in [mint, maxt] from the snapshot."""
        if not len(refs):
            return
        parts: dict[int, list[tuple[I64, F64]]] = {}
        for cut in snap.cuts:
            if cut.maxt < mint or cut.mint > maxt or not len(cut.refs):
                continue
            idx = np.searchsorted(cut.refs, refs)
            idx_c = np.minimum(idx, len(cut.refs) - 1)
            present = cut.refs[idx_c] == refs
            if not present.any():
                continue
            sidx = idx_c[present]
            pages = cut.page_of(sidx)
            decoded = {p: self._page(cut, p) for p in np.unique(pages).tolist()}
            starts = cut.starts
            for r, i, p in zip(refs[present].tolist(), sidx.tolist(), pages.tolist(), strict=True):
                ts, vs, base = decoded[p]
                lo, hi = int(starts[i]) - base, int(starts[i + 1]) - base
                parts.setdefault(r, []).append((ts[lo:hi], vs[lo:hi]))
        raw = [(fz.refs, fz.ts, fz.vs, fz.order) for fz in snap.frozen]
        if len(snap.buf_refs):
            raw.append((snap.buf_refs, snap.buf_ts, snap.buf_vs, lambda: self.sorted_order(snap)))
        table = None
        for b_refs, b_ts, b_vs, get_order in raw:
            if len(refs) * 64 < len(b_refs):
                # A few series: one pass over the raw samples beats sorting them all.
                if table is None:
                    table = np.zeros(len(self._lt), dtype=np.bool_)  # every ref is below
                    table[refs] = True
                hit = np.flatnonzero(table[b_refs])
                order = hit[np.argsort(b_refs[hit], kind="stable")]
            else:
                order = get_order()
            sref = b_refs[order]
            lo_a = np.searchsorted(sref, refs, side="left")
            hi_a = np.searchsorted(sref, refs, side="right")
            has = hi_a > lo_a
            for r, lo, hi in zip(
                refs[has].tolist(), lo_a[has].tolist(), hi_a[has].tolist(), strict=True
            ):
                sel = order[lo:hi]
                parts.setdefault(r, []).append((b_ts[sel], b_vs[sel]))
        for r in sorted(parts):
            chunks = parts[r]
            if len(chunks) == 1:
                ts, vs = chunks[0]
            else:
                ts = np.concatenate([c[0] for c in chunks])
                vs = np.concatenate([c[1] for c in chunks])
            lo = int(np.searchsorted(ts, mint, side="left"))
            hi = int(np.searchsorted(ts, maxt, side="right"))
            if hi > lo:
                ts, vs = ts[lo:hi], vs[lo:hi]
                if not ts.flags.writeable:  # a slice of a cached page: callers get their own
                    ts = ts.copy()
                if not vs.flags.writeable:
                    vs = vs.copy()
                yield r, ts, vs

    def select_refs(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> Refs:
        refs = self.postings.select(matchers, self.all_refs)
        if not len(refs):
            return refs
        lt = self._lt[refs]
        # No per-series first timestamp is kept: a series counts as in range when its
        # newest sample is at or after mint (select() then filters samples exactly).
        keep = (lt != DEAD_T) & (lt != EMPTY_T) & (lt >= mint)
        out: Refs = refs[keep]
        return out

    def iter_range(
        self, cuts: tuple[Cut, ...], start: int, end: int
    ) -> Iterator[tuple[Labels, I64, F64]]:
        """Series with samples in ``[start, end)`` in *cuts* (for a block), by ref."""
        for ref, ts, vs in range_samples(cuts, start, end):
            labels = self.labels_of(ref)
            if labels is not None:
                yield labels, ts, vs

    def truncated_cuts(self, cuts: tuple[Cut, ...], before: int) -> tuple[Cut, ...]:
        """The cuts without samples older than *before* (re-encoding the straddling ones)."""
        out: list[Cut] = []
        for cut in cuts:
            if cut.maxt < before:
                continue
            if cut.mint >= before:
                out.append(cut)
                continue
            ts, vs = cut.decode_all()
            refs = np.repeat(cut.refs, np.diff(cut.starts))
            keep = ts >= before
            if keep.any():
                out.append(build_cut(refs[keep], ts[keep], vs[keep], cut.level))
        return tuple(out)

    def truncate(self, old_cuts: tuple[Cut, ...], new_cuts: tuple[Cut, ...], before: int) -> int:
        """Swap in truncated cuts and remove series left without samples; returns how many.

        Called under the lock; *old_cuts* are the cuts *new_cuts* were made from. When a
        merge replaced some of them meanwhile, the current cuts are truncated here instead.
        """
        now = self.cuts
        if len(now) >= len(old_cuts) and all(a is b for a, b in zip(now, old_cuts, strict=False)):
            self.cuts = (*new_cuts, *now[len(old_cuts) :])
        else:
            self.cuts = self.truncated_cuts(now, before)
        self._prune_pages()
        n = len(self._labels)
        lt = self._lt[:n]
        gone = np.flatnonzero((lt < before) & (lt != EMPTY_T))
        # Series created but never committed go one truncation later (an appender may hold them).
        empty = np.flatnonzero(lt == EMPTY_T).tolist()
        stale_empty = [r for r in empty if r in self._empty_seen]
        self._empty_seen = set(empty) - set(stale_empty)
        dead: dict[int, Labels] = {}
        for r in [*gone.tolist(), *stale_empty]:
            labels = self._labels[r]
            if labels is None:
                continue
            dead[r] = labels
            self._labels[r] = None
            del self._by_labels[labels]
            self._lt[r] = DEAD_T
        if dead:
            self.postings.remove(dead)
        self.live_series -= len(dead)
        self.series_removed += len(dead)
        self.graveyard = dead
        self.gc_epoch += 1
        self.min_valid_t = max(self.min_valid_t, before)
        mins = [c.mint for c in self.cuts if len(c.refs)] + [fz.mint for fz in self.frozen]
        if self._bn:
            mins.append(int(self._bt[: self._bn].min()))
        self.mint = min(mins) if mins else DEAD_T
        if not mins:
            self.maxt = EMPTY_T
        self.seq += 1
        return len(dead)

    # -- replay ---------------------------------------------------------------------

    def add_cut(self, cut: Cut) -> None:
        """Replay a checkpointed cut: its samples become head samples as they are (the level
        is not stored: such a cut is not merged again)."""
        self.cuts = (*self.cuts, replace(cut, level=MERGE_LEVELS))
        if not len(cut.refs):
            return
        counts = np.diff(cut.starts)
        last_idx = cut.starts[1:] - 1
        ts, vs = cut.decode_all()
        refs = cut.refs
        self._lt[refs] = np.maximum(self._lt[refs], ts[last_idx])
        self._lv[refs] = vs[last_idx]
        self.samples_appended += int(counts.sum())
        self.mint = min(self.mint, cut.mint)
        self.maxt = max(self.maxt, cut.maxt)

    def replay_samples(self, refs: I64, ts: I64, vs: F64, alias: dict[int, int]) -> int:
        """Apply a WAL samples record; returns how many samples were dropped."""
        if alias:
            refs = np.array([alias.get(r, r) for r in refs.tolist()], dtype=np.int64)
        n = len(self._labels)
        known = (refs > 0) & (refs < n)
        if not known.all():
            refs, ts, vs = refs[known], ts[known], vs[known]
        alive = self._lt[refs] != DEAD_T
        if not alive.all():
            refs, ts, vs = refs[alive], ts[alive], vs[alive]
        before = len(refs)
        saved = dict(self.rejected)
        if not len(refs):
            return 0
        refs, ts, vs, repeats = self._validate(refs, ts, vs, self.gc_epoch, int(ts.min()))
        self.rejected = saved  # samples already in the checkpoint: not real rejections
        if len(refs):
            self._apply(refs, ts, vs, repeats)
            if self.frozen:
                self.encode_frozen()
        return before - len(refs)
