"""Reading: the head as of a moment, and blocks + head merged into one view."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.storage.interface import Querier, Series
from vigil.tsdb.compact import merge_samples

if TYPE_CHECKING:
    from vigil.tsdb.db import TSDB
    from vigil.tsdb.head import Head, HeadSnapshot

__all__ = ["DBQuerier", "HeadQuerier", "TSDBQuerier"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class HeadQuerier:
    """Reads the head's samples as of a snapshot; series are looked up in the live index.

    A series removed from the head (its samples now in a block) after the snapshot is
    missed: :class:`TSDBQuerier` notices from the GC epoch and reads again.
    """

    def __init__(self, head: Head, mint: int, maxt: int, snap: HeadSnapshot) -> None:
        self._head = head
        self._mint = mint
        self._maxt = maxt
        self._snap = snap

    def _overlaps(self) -> bool:
        s = self._snap
        return s.mint <= self._maxt and s.maxt >= self._mint

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        h = self._head
        if not self._overlaps():
            return []
        refs = h.select_refs(matchers, self._mint, self._maxt)
        out = []
        for ref, ts, vs in h.gather(self._snap, refs, self._mint, self._maxt):
            labels = h.labels_of(ref)
            if labels is not None:
                out.append(Series(labels, ts, vs))
        out.sort(key=lambda s: s.labels)
        return out

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        if not self._overlaps():
            return []
        h = self._head
        names: set[str] = set()
        for ref in h.select_refs(matchers, self._mint, self._maxt).tolist():
            labels = h.labels_of(ref)
            if labels is not None:
                names.update(labels.names())
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        if not self._overlaps():
            return []
        h = self._head
        values: set[str] = set()
        for ref in h.select_refs(matchers, self._mint, self._maxt).tolist():
            labels = h.labels_of(ref)
            if labels is not None:
                values.add(labels.get(name))
        values.discard("")
        return sorted(values)

    def close(self) -> None:
        pass


class DBQuerier:
    """Blocks and head merged: one series per label set, samples in time order, no duplicates."""

    def __init__(self, queriers: Sequence[Querier]) -> None:
        self._queriers = queriers

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        if len(self._queriers) == 1:
            return self._queriers[0].select(matchers)
        results = [r for r in (q.select(matchers) for q in self._queriers) if r]
        if len(results) <= 1:
            # each querier's series are already sorted by labels and unique
            return results[0] if results else []
        parts: dict[Labels, list[tuple[I64, F64]]] = {}
        for res in results:
            for s in res:
                parts.setdefault(s.labels, []).append((s.timestamps, s.values))
        # Every series' pieces in time order, back to back in one buffer (one copy; the
        # series are views into it, which the selectors take as they are).
        order = sorted(parts)
        ts_parts: list[I64] = []
        vs_parts: list[F64] = []
        counts: list[int] = []
        for labels in order:
            chunks = parts[labels]
            if len(chunks) == 1 or all(a[0][-1] < b[0][0] for a, b in itertools.pairwise(chunks)):
                ts_parts += [c[0] for c in chunks]
                vs_parts += [c[1] for c in chunks]
                counts.append(sum(len(c[0]) for c in chunks))
            else:
                ts, vs = merge_samples(chunks)
                ts_parts.append(ts)
                vs_parts.append(vs)
                counts.append(len(ts))
        all_ts = np.concatenate(ts_parts)
        all_vs = np.concatenate(vs_parts)
        out = []
        a = 0
        for labels, n in zip(order, counts, strict=True):
            out.append(Series(labels, all_ts[a : a + n], all_vs[a : a + n]))
            a += n
        return out

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        for q in self._queriers:
            names.update(q.label_names(matchers))
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values: set[str] = set()
        for q in self._queriers:
            values.update(q.label_values(name, matchers))
        return sorted(values)

    def close(self) -> None:
        for q in self._queriers:
            q.close()


_T = TypeVar("_T")


class TSDBQuerier:
    """The store's querier: each call reads the blocks and the head as one consistent view.

    Blocks and a head snapshot are taken together under the head's lock (compaction
    moves samples from the head into a new block under that lock), and a call is run
    again if the head dropped series meanwhile, so no sample is ever seen twice or
    missed while it moves.
    """

    def __init__(self, db: TSDB, mint: int, maxt: int) -> None:
        self._db = db
        self._mint = mint
        self._maxt = maxt

    def _run(self, fn: Callable[[DBQuerier], _T]) -> _T:
        db, head = self._db, self._db.head
        mint, maxt = self._mint, self._maxt
        for _ in range(4):
            with head.lock:
                qs: list[Querier] = [
                    b.querier(mint, maxt)
                    for b in db.blocks
                    if b.meta.mint <= maxt and b.meta.maxt > mint
                ]
                snap = head.snapshot_in_lock()
            view = DBQuerier([*qs, HeadQuerier(head, mint, maxt, snap)])
            try:
                result = fn(view)
            finally:
                view.close()
            if head.gc_epoch == snap.gc_epoch:
                break
        return result

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        return self._run(lambda q: q.select(matchers))

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self._run(lambda q: q.label_names(matchers))

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self._run(lambda q: q.label_values(name, matchers))

    def close(self) -> None:
        pass
