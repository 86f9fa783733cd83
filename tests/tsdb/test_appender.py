"""The appender: Prometheus's append rules, the fast path, and commit-time checks."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.storage.interface import (
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    StorageError,
)
from vigil.tsdb.head import Head

ALL = [Matcher(MatchType.REGEX, "__name__", ".+")]


def lbl(name: str, **kw: str) -> Labels:
    return Labels.from_dict({"__name__": name, **kw})


def dump(head: Head) -> list[tuple[str, list[int], list[int]]]:
    return [
        (str(s.labels), s.timestamps.tolist(), s.values.view(np.uint64).tolist())
        for s in head.querier(-(2**62), 2**62).select(ALL)
    ]


def test_repeats_within_a_transaction_are_ordered_at_commit() -> None:
    head = Head()
    app = head.appender()
    r = app.append(0, lbl("x"), 10, 1.0)
    app.append(r, None, 30, 3.0)
    app.append(r, None, 20, 2.0)  # older than 30 appended before it: dropped at commit
    app.append(r, None, 30, 3.0)  # exact duplicate: dropped silently
    app.append(r, None, 30, 4.0)  # same time, other value: a duplicate error, counted
    app.append(r, None, 40, 4.0)
    app.commit()
    assert dump(head) == [("x{}", [10, 30, 40], np.array([1.0, 3.0, 4.0]).view(np.uint64).tolist())]
    assert head.rejected == {"out_of_order": 1, "duplicate": 1, "out_of_bounds": 0}


def test_concurrent_transactions_on_one_series_never_store_disorder() -> None:
    head = Head()
    a, b = head.appender(), head.appender()
    r = a.append(0, lbl("c"), 100, 1.0)
    a.commit()
    a.append(r, None, 150, 1.5)  # both pass append (newer than the committed 100)
    b.append(r, None, 200, 2.0)
    b.commit()
    a.commit()  # 150 is now older than 200: refused at commit, counted
    [(_, ts, _)] = dump(head)
    assert ts == [100, 200]
    assert head.rejected["out_of_order"] == 1


def test_unknown_ref_needs_labels() -> None:
    head = Head()
    with pytest.raises(StorageError, match="unknown"):
        head.appender().append(12345, None, 1, 1.0)


def test_errors_are_raised_at_append_and_counted() -> None:
    head = Head()
    app = head.appender()
    r = app.append(0, lbl("e"), 100, 1.0)
    app.commit()
    head.min_valid_t = 50
    app = head.appender()
    with pytest.raises(OutOfOrderError):
        app.append(r, None, 99, 1.0)
    with pytest.raises(DuplicateSampleError):
        app.append(r, None, 100, 2.0)
    assert app.append(r, None, 100, 1.0) == r  # same bits: accepted, ignored
    with pytest.raises(DuplicateSampleError):
        app.append(r, None, 100, 1.0000000000000002)
    with pytest.raises(OutOfBoundsError):
        app.append(0, lbl("new"), 10, 1.0)
    app.rollback()
    assert head.rejected == {"out_of_order": 1, "duplicate": 2, "out_of_bounds": 1}


def test_nan_duplicates_compare_by_bits() -> None:
    from vigil.model.value import STALE_NAN

    head = Head()
    app = head.appender()
    r = app.append(0, lbl("n"), 1, float("nan"))
    app.commit()
    app = head.appender()
    assert app.append(r, None, 1, float("nan")) == r
    with pytest.raises(DuplicateSampleError):
        app.append(r, None, 1, STALE_NAN)
    app.rollback()


def test_the_fast_path_returns_the_same_ref() -> None:
    head = Head()
    app = head.appender()
    refs = [app.append(0, lbl("f", i=str(i)), 1000, 1.0) for i in range(100)]
    app.commit()
    app = head.appender()
    assert [app.append(r, None, 2000, 2.0) for r in refs] == refs
    app.commit()
    assert head.samples_appended == 200
