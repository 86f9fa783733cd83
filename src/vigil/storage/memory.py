"""A small in-memory store implementing the storage seams with Prometheus's append rules.

It is the reference the tests of the layers above run against (scrape, PromQL,
rules), and what an embedded server uses when asked to keep nothing on disk.
Not built for volume: samples live in Python lists per series.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.model.value import is_stale_nan
from vigil.storage.interface import (
    BATCH_DUPLICATE,
    BATCH_OUT_OF_ORDER,
    BATCH_UNKNOWN_REF,
    DuplicateSampleError,
    ImportStats,
    OutOfOrderError,
    Series,
    SeriesRef,
    StorageError,
)

__all__ = ["MemoryStorage"]


@dataclass
class _MemSeries:
    labels: Labels
    ts: list[int] = field(default_factory=list)
    vs: list[float] = field(default_factory=list)


def _same_value(a: float, b: float) -> bool:
    # Prometheus compares bit patterns: NaN == NaN, but the stale marker differs from NaN.
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b) and is_stale_nan(a) == is_stale_nan(b)
    return a == b


class _MemAppender:
    def __init__(self, store: MemoryStorage) -> None:
        self._store = store
        self._pending: list[tuple[SeriesRef, Labels | None, int, float]] = []
        self._last: dict[SeriesRef, tuple[int, float]] = {}
        self._new: dict[Labels, SeriesRef] = {}

    def append(self, ref: SeriesRef, labels: Labels | None, t: int, v: float) -> SeriesRef:
        store = self._store
        series = store._series.get(ref) if ref else None
        if series is None:
            if labels is None:
                raise StorageError(f"series ref {ref} is unknown and no labels were given")
            ref = store._refs.get(labels) or self._new.get(labels) or 0
            if not ref:
                ref = store._next_ref()
                self._new[labels] = ref
        last = self._last.get(ref)
        if last is None and (series := store._series.get(ref)) is not None and series.ts:
            last = (series.ts[-1], series.vs[-1])
        if last is not None:
            if t < last[0]:
                raise OutOfOrderError(f"sample at {t} is older than the newest one at {last[0]}")
            if t == last[0]:
                if _same_value(v, last[1]):
                    return ref  # an exact duplicate is silently ignored, as in Prometheus
                raise DuplicateSampleError(
                    f"sample at {t} has a different value than the stored one"
                )
        self._last[ref] = (t, v)
        self._pending.append((ref, labels, t, v))
        return ref

    def append_many(
        self, refs: npt.NDArray[np.int64], t: int, values: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.uint8] | None:
        """Many known series at one timestamp (see ``BatchAppender``): append's rules per sample."""
        known = self._store._series
        codes: npt.NDArray[np.uint8] | None = None
        for i, (ref, v) in enumerate(zip(refs.tolist(), values.tolist(), strict=True)):
            if ref not in known:
                code = BATCH_UNKNOWN_REF
            else:
                try:
                    self.append(ref, None, t, v)
                    continue
                except OutOfOrderError:
                    code = BATCH_OUT_OF_ORDER
                except DuplicateSampleError:
                    code = BATCH_DUPLICATE
            if codes is None:
                codes = np.zeros(len(refs), dtype=np.uint8)
            codes[i] = code
        return codes

    def commit(self) -> None:
        store = self._store
        with store._lock:
            for labels, ref in self._new.items():
                store._refs[labels] = ref
                store._series[ref] = _MemSeries(labels)
            for ref, _labels, t, v in self._pending:
                s = store._series[ref]
                s.ts.append(t)
                s.vs.append(v)
            store.samples_appended += len(self._pending)
        self._reset()

    def rollback(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pending.clear()
        self._last.clear()
        self._new.clear()


class _MemQuerier:
    def __init__(self, store: MemoryStorage, mint: int, maxt: int) -> None:
        self._store = store
        self._mint = mint
        self._maxt = maxt

    def _matching(self, matchers: Sequence[Matcher]) -> list[Series]:
        out: list[Series] = []
        with self._store._lock:
            candidates = list(self._store._series.values())
        for s in candidates:
            if not all(m.matches(s.labels.get(m.name, "")) for m in matchers):
                continue
            ts = np.asarray(s.ts, dtype=np.int64)
            lo = int(np.searchsorted(ts, self._mint, side="left"))
            hi = int(np.searchsorted(ts, self._maxt, side="right"))
            if hi > lo:
                out.append(Series(s.labels, ts[lo:hi], np.asarray(s.vs[lo:hi], dtype=np.float64)))
        out.sort(key=lambda x: x.labels)
        return out

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        return self._matching(matchers)

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return sorted({n for s in self._matching(matchers) for n in s.labels.names()})

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return sorted({v for s in self._matching(matchers) if (v := s.labels.get(name, ""))})

    def close(self) -> None:
        pass


class MemoryStorage:
    """Appendable and Queryable, all in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[SeriesRef, _MemSeries] = {}
        self._refs: dict[Labels, SeriesRef] = {}
        self._last_ref = 0
        self.samples_appended = 0

    def _next_ref(self) -> SeriesRef:
        with self._lock:
            self._last_ref += 1
            return self._last_ref

    def appender(self) -> _MemAppender:
        return _MemAppender(self)

    def querier(self, mint: int, maxt: int) -> _MemQuerier:
        return _MemQuerier(self, mint, maxt)

    def import_series(self, series: Sequence[Series]) -> ImportStats:
        """Bulk import (``BulkImportable``): imported samples merge with the stored ones,
        the imported value winning at an equal timestamp; all or nothing."""
        batch: dict[Labels, Series] = {}
        for s in series:
            _check_import(s)
            if s.labels in batch:
                raise ValueError(f"series {s.labels} is given twice")
            if len(s):
                batch[s.labels] = s
        samples = 0
        with self._lock:
            for labels, s in batch.items():
                ref = self._refs.get(labels)
                if ref is None:
                    self._last_ref += 1
                    ref = self._refs[labels] = self._last_ref
                    self._series[ref] = _MemSeries(labels)
                m = self._series[ref]
                ts = np.concatenate([np.asarray(m.ts, dtype=np.int64), s.timestamps])
                vs = np.concatenate([np.asarray(m.vs, dtype=np.float64), s.values])
                order = np.argsort(ts, kind="stable")
                ts, vs = ts[order], vs[order]
                last = np.ones(len(ts), dtype=np.bool_)
                last[:-1] = ts[1:] != ts[:-1]  # the later (imported) one of equal timestamps
                m.ts, m.vs = ts[last].tolist(), vs[last].tolist()
                samples += len(s)
            self.samples_appended += samples
        return ImportStats(series=len(batch), samples=samples)


def _check_import(s: Series) -> None:
    ts = s.timestamps
    if ts.ndim != 1 or ts.shape != s.values.shape:
        raise ValueError(f"series {s.labels}: timestamps and values differ in shape")
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise ValueError(f"series {s.labels}: timestamps must increase")
