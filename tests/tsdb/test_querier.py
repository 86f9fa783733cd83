"""Queriers: the head's label APIs, and blocks + head merged."""

from __future__ import annotations

import numpy as np

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.storage import MemoryStorage
from vigil.tsdb.head import Head
from vigil.tsdb.querier import DBQuerier


def lbl(**kw: str) -> Labels:
    return Labels.from_dict(kw)


def store_with(samples: list[tuple[Labels, int, float]]) -> MemoryStorage:
    s = MemoryStorage()
    app = s.appender()
    for labels, t, v in samples:
        app.append(0, labels, t, v)
    app.commit()
    return s


def test_merged_view_concatenates_and_dedupes() -> None:
    a, b = lbl(__name__="m", k="a"), lbl(__name__="m", k="b")
    older = store_with([(a, 1, 1.0), (a, 2, 2.0), (b, 5, 5.0)])
    newer = store_with([(a, 3, 3.0), (b, 5, 50.0), (b, 6, 6.0)])
    q = DBQuerier([older.querier(0, 10), newer.querier(0, 10)])
    got = q.select([Matcher.equal("__name__", "m")])
    assert [s.labels for s in got] == [a, b]
    assert got[0].timestamps.tolist() == [1, 2, 3]
    # overlap at t=5: one sample, the later source wins (as block compaction does)
    assert got[1].timestamps.tolist() == [5, 6]
    assert got[1].values.tolist() == [50.0, 6.0]
    assert q.label_values("k") == ["a", "b"]
    assert q.label_names() == ["__name__", "k"]
    q.close()


def test_merged_view_is_one_buffer_in_label_order() -> None:
    a, b, c = (lbl(__name__="m", k=k) for k in "abc")
    older = store_with([(c, 1, 1.0), (a, 1, 10.0), (a, 2, 20.0)])
    newer = store_with([(b, 4, 4.0), (a, 3, 30.0), (c, 5, 5.0)])
    empty = store_with([])
    got = DBQuerier([older.querier(0, 10), newer.querier(0, 10)]).select(
        [Matcher.equal("__name__", "m")]
    )
    assert [s.labels for s in got] == [a, b, c]
    assert [s.timestamps.tolist() for s in got] == [[1, 2, 3], [4], [1, 5]]
    assert [s.values.tolist() for s in got] == [[10.0, 20.0, 30.0], [4.0], [1.0, 5.0]]
    base = got[0].timestamps.base
    assert base is not None
    assert all(s.timestamps.base is base for s in got)
    # one source with series: its answer as it is
    only = DBQuerier([empty.querier(0, 10), newer.querier(0, 10)]).select(
        [Matcher.equal("__name__", "m")]
    )
    assert [s.labels for s in only] == [a, b, c]
    assert DBQuerier([empty.querier(0, 10)]).select([Matcher.equal("__name__", "m")]) == []


def test_head_label_apis_follow_matchers_and_range() -> None:
    head = Head()
    app = head.appender()
    app.append(0, lbl(__name__="up", job="a", zone="x"), 1000, 1.0)
    app.append(0, lbl(__name__="up", job="b"), 5000, 1.0)
    app.append(0, lbl(__name__="other", job="c"), 5000, 1.0)
    app.commit()
    q = head.querier(0, 10_000)
    assert q.label_values("job", [Matcher.equal("__name__", "up")]) == ["a", "b"]
    assert q.label_names([Matcher.equal("job", "a")]) == ["__name__", "job", "zone"]
    assert q.label_values("nope") == []
    late = head.querier(2000, 10_000)  # the series whose newest sample is older drops out
    assert late.label_values("job") == ["b", "c"]
    assert head.querier(6000, 7000).select([Matcher.equal("__name__", "up")]) == []
    assert head.querier(20_000, 30_000).label_names() == []
    [s] = head.querier(0, 10_000).select([Matcher.equal("job", "b")])
    assert isinstance(s.timestamps, np.ndarray)
    assert s.timestamps.dtype == np.int64
