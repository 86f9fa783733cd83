"""The head's inverted index: label name -> label value -> sorted series refs.

Matchers are answered from the index, never by scanning every series:
``=`` reads one list, ``=~``/``!~`` test each *distinct value* of the label
once (not each series), and matchers that also match the empty string
(``x=""``, ``x!="a"``, ``x!~"a"``, ``x=~".*"``) are turned into a set to
subtract, as Prometheus's ``PostingsForMatchers`` does.

Refs are appended in increasing order when series are created, so each list
stays sorted without work; one written out of order (WAL replay of series
created by overlapping transactions) is inserted in place. Writers hold the
head's lock; readers don't lock: they copy a list (a single C-level operation
under the GIL) and work on the copy.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from itertools import chain

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType

__all__ = ["MemPostings", "Refs"]

Refs = npt.NDArray[np.int64]

_EMPTY: Refs = np.empty(0, dtype=np.int64)


def _as_refs(refs: Sequence[int]) -> Refs:
    return np.array(refs, dtype=np.int64) if refs else _EMPTY


def _union(lists: Iterable[Sequence[int]]) -> Refs:
    lists = [lst for lst in lists if lst]
    if not lists:
        return _EMPTY
    if len(lists) == 1:
        return _as_refs(lists[0])
    flat = np.fromiter(chain.from_iterable(lists), dtype=np.int64)
    return np.unique(flat)


class MemPostings:
    """name -> value -> sorted list of refs, plus the per-name value sets for label APIs."""

    __slots__ = ("_index",)

    def __init__(self) -> None:
        self._index: dict[str, dict[str, list[int]]] = {}

    # -- writing (under the head's lock) ---------------------------------------

    def add(self, ref: int, labels: Labels) -> None:
        index = self._index
        for name, value in labels.pairs:
            values = index.get(name)
            if values is None:
                values = index[name] = {}
            refs = values.get(value)
            if refs is None:
                values[value] = [ref]
            elif refs[-1] < ref:
                refs.append(ref)
            else:
                # Out of order (WAL replay): copy, so readers never see a list mid-shift.
                new = list(refs)
                bisect.insort(new, ref)
                values[value] = new

    def remove(self, dead: dict[int, Labels]) -> None:
        """Drop the given series (ref -> its labels) from every list they are in."""
        touched: dict[tuple[str, str], None] = {}
        for labels in dead.values():
            for pair in labels.pairs:
                touched[pair] = None
        for name, value in touched:
            values = self._index.get(name)
            if values is None:
                continue
            refs = values.get(value)
            if refs is None:
                continue
            kept = [r for r in refs if r not in dead]
            if kept:
                values[value] = kept  # a new list: readers holding the old one are unaffected
            else:
                del values[value]
                if not values:
                    del self._index[name]

    # -- reading ---------------------------------------------------------------

    def get(self, name: str, value: str) -> Refs:
        values = self._index.get(name)
        if values is None:
            return _EMPTY
        refs = values.get(value)
        return _as_refs(refs) if refs else _EMPTY

    def label_names(self) -> list[str]:
        return sorted(list(self._index))

    def label_values(self, name: str) -> list[str]:
        values = self._index.get(name)
        return sorted(list(values)) if values else []

    def value_refs(self, name: str) -> list[tuple[str, list[int]]]:
        """Every (value, refs) of label *name* (a snapshot)."""
        values = self._index.get(name)
        return list(values.items()) if values else []

    def _matching_values(self, m: Matcher, want: bool) -> Refs:
        """Union of the refs whose value of ``m.name`` matches (or, want=False, doesn't)."""
        values = self._index.get(m.name)
        if not values:
            return _EMPTY
        if m.type is MatchType.EQUAL and want:
            return self.get(m.name, m.value)
        if m.type is MatchType.NOT_EQUAL and not want:
            return self.get(m.name, m.value)
        matches = m.matches
        return _union(refs for value, refs in list(values.items()) if matches(value) is want)

    def select(self, matchers: Sequence[Matcher], all_refs: Callable[[], Refs]) -> Refs:
        """Sorted refs of the series that satisfy every matcher."""
        positive: list[Refs] = []
        negative: list[Refs] = []
        for m in matchers:
            if m.matches_empty():
                # Series without the label match too: subtract those whose value doesn't.
                negative.append(self._matching_values(m, want=False))
            else:
                positive.append(self._matching_values(m, want=True))
        if positive:
            positive.sort(key=len)
            result = positive[0]
            for other in positive[1:]:
                if not len(result):
                    break
                result = np.intersect1d(result, other, assume_unique=True)
        else:
            result = all_refs()
        for other in negative:
            if len(result) and len(other):
                result = np.setdiff1d(result, other, assume_unique=True)
        return result
