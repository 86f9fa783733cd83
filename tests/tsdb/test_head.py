"""The head: append semantics, cuts and buffer read back together, truncation, concurrency."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.storage import MemoryStorage
from vigil.storage.interface import AppendError, OutOfBoundsError
from vigil.tsdb import head as head_mod
from vigil.tsdb.head import Head

ALL = [Matcher(MatchType.REGEX, "__name__", ".+")]


@pytest.fixture(autouse=True)
def small_cuts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut the buffer often, so reads always combine many cuts with the buffer."""
    monkeypatch.setattr(head_mod, "MIN_CUT_SAMPLES", 50)
    monkeypatch.setattr(head_mod, "CUT_SAMPLES_PER_SERIES", 3)


def lbl(name: str, **kw: str) -> Labels:
    return Labels.from_dict({"__name__": name, **kw})


def dump(
    store: Head | MemoryStorage, mint: int = -(2**62), maxt: int = 2**62
) -> list[tuple[str, list[int], list[int]]]:
    q = store.querier(mint, maxt)
    return [
        (str(s.labels), s.timestamps.tolist(), s.values.view(np.uint64).tolist())
        for s in q.select(ALL)
    ]


def test_random_workload_matches_the_reference_store() -> None:
    """Random transactions (out of order, duplicates, rollbacks, stale refs) on the head and
    on MemoryStorage give the same accepted samples and the same errors."""
    rng = np.random.default_rng(42)
    head, ref_store = Head(), MemoryStorage()
    names = [lbl("m", i=str(i)) for i in range(40)]
    head_refs: dict[int, int] = {}
    for txn in range(300):
        a, b = head.appender(), ref_store.appender()
        chosen = rng.choice(len(names), size=int(rng.integers(1, 25)), replace=False)
        base = txn * 100
        for i in chosen.tolist():
            t = int(base + rng.integers(-250, 50))
            v = float(rng.choice([1.0, 2.0, np.nan, float(t)]))
            use_ref = head_refs.get(i, 0) if rng.random() < 0.7 else 0
            err_a = err_b = None
            try:
                head_refs[i] = a.append(
                    use_ref, names[i] if not use_ref or rng.random() < 0.5 else None, t, v
                )
            except AppendError as exc:
                err_a = type(exc)
            try:
                b.append(0, names[i], t, v)
            except AppendError as exc:
                err_b = type(exc)
            assert err_a == err_b, (txn, i, t)
        if rng.random() < 0.15:
            a.rollback()
            b.rollback()
        else:
            a.commit()
            b.commit()
        if txn % 37 == 0:
            assert dump(head) == dump(ref_store)
    assert dump(head) == dump(ref_store)
    # Many small cuts, merged level by level (the reads above combined them all).
    assert len(head.cuts) >= head_mod.MERGE_FANIN
    assert {c.level for c in head.cuts} >= {0, head_mod.MERGE_LEVELS}
    for mint, maxt in [(0, 5000), (12_345, 12_345), (20_000, 29_999)]:
        assert dump(head, mint, maxt) == dump(ref_store, mint, maxt)


def test_rolled_back_series_are_invisible_and_collected() -> None:
    head = Head()
    app = head.appender()
    app.append(0, lbl("ghost"), 1, 1.0)
    app.rollback()
    app.append(0, lbl("real"), 1, 1.0)
    app.commit()
    q = head.querier(0, 10)
    assert q.label_values("__name__") == ["real"]
    assert q.label_names() == ["__name__"]
    assert head.series_count() == 2
    cuts = head.cuts
    head.truncate(cuts, cuts, 0)  # first sweep: the empty series is only noted
    assert head.series_count() == 2
    head.truncate(head.cuts, head.cuts, 0)
    assert head.series_count() == 1


def test_truncation_removes_old_samples_and_series_and_resurrects_refs() -> None:
    head = Head()
    app = head.appender()
    old = app.append(0, lbl("old"), 100, 1.0)
    live = app.append(0, lbl("live"), 100, 1.0)
    app.commit()
    app = head.appender()
    app.append(live, None, 300, 3.0)
    app.commit()
    head.force_cut()
    with head.lock:
        cuts = head.cuts
        head.min_valid_t = 200
        removed = head.truncate(cuts, head.truncated_cuts(cuts, 200), 200)
    assert removed == 1
    assert [s for s, _, _ in dump(head)] == ["live{}"]
    assert dump(head)[0][1] == [300]
    app = head.appender()
    with pytest.raises(OutOfBoundsError):
        app.append(live, None, 150, 1.0)
    # A caller still holding the removed ref (and no labels) gets the series back.
    new = app.append(old, None, 400, 4.0)
    assert new != old
    app.commit()
    assert [s for s, _, _ in dump(head)] == ["live{}", "old{}"]


def test_readers_run_while_writers_write() -> None:
    head = Head()
    stop = threading.Event()
    errors: list[BaseException] = []
    writers, per_writer, steps = 4, 50, 200

    def write(w: int) -> None:
        try:
            refs = [0] * per_writer
            for t in range(steps):
                app = head.appender()
                for i in range(per_writer):
                    refs[i] = app.append(refs[i], lbl("w", w=str(w), i=str(i)), t, float(t))
                app.commit()
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                for s in head.querier(0, 10**9).select([Matcher.equal("w", "1")]):
                    ts = s.timestamps
                    assert (np.diff(ts) > 0).all()
                    assert (s.values == ts).all()
                    assert ts.tolist() == list(range(len(ts)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in [*threads, *readers]:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    got = head.querier(0, 10**9).select(ALL)
    assert len(got) == writers * per_writer
    assert all(s.timestamps.tolist() == list(range(steps)) for s in got)
    assert head.samples_appended == writers * per_writer * steps


def test_samples_waiting_to_be_encoded_are_readable() -> None:
    head = Head()
    head.encode_hook = lambda: None  # nobody encodes: full buffers stay frozen
    refs = [0] * 10
    for t in range(40):
        app = head.appender()
        for i in range(10):
            refs[i] = app.append(refs[i], lbl("f", i=str(i)), t, float(t * i))
        app.commit()
    assert len(head.frozen) > 2
    before = dump(head)
    assert [len(ts) for _, ts, _ in before] == [40] * 10
    head.encode_frozen()
    assert not head.frozen
    assert dump(head) == before


def test_small_cuts_merge_level_by_level_and_read_the_same() -> None:
    head = Head()
    refs = [0] * 10
    seen: list[list[int]] = []
    for t in range(200):
        app = head.appender()
        for i in range(10):
            refs[i] = app.append(refs[i], lbl("g", i=str(i)), t * 10, float(t + i))
        app.commit()
        seen.append([c.level for c in head.cuts])
    levels = [c.level for c in head.cuts]
    # Never MERGE_FANIN cuts of one mergeable level at the end: they were merged.
    for lv in seen:
        tail = lv[-head_mod.MERGE_FANIN :]
        assert not (len(tail) == head_mod.MERGE_FANIN and len(set(tail)) == 1 and tail[0] < 2)
    assert levels == sorted(levels, reverse=True)
    assert levels[0] == head_mod.MERGE_LEVELS
    got = head.querier(0, 10**9).select(ALL)
    assert [s.timestamps.tolist() for s in got] == [list(range(0, 2000, 10))] * 10
    assert [s.values.tolist() for s in got] == [
        [float(t + i) for t in range(200)] for i in range(10)
    ]


def test_truncation_after_a_merge_replaced_its_cuts() -> None:
    """Compaction computes truncated cuts outside the lock; a merge swapping the same cuts
    meanwhile must not lose or keep samples."""
    head = Head()
    head.encode_hook = lambda: None  # merges only when the test says
    refs = [0] * 10
    for t in range(60):
        app = head.appender()
        for i in range(10):
            refs[i] = app.append(refs[i], lbl("g", i=str(i)), t * 10, float(t))
        app.commit()
    head.force_cut()
    with head.lock:
        cuts = head.cuts
    assert len(cuts) >= head_mod.MERGE_FANIN
    new_cuts = head.truncated_cuts(cuts, 300)
    head.encode_frozen()  # merges the tail
    assert head.cuts != cuts
    with head.lock:
        head.min_valid_t = 300
        head.truncate(cuts, new_cuts, 300)
    got = head.querier(-(10**9), 10**9).select(ALL)
    assert [s.timestamps.tolist() for s in got] == [list(range(300, 600, 10))] * 10


def test_decoded_pages_are_cached_and_callers_get_their_own_arrays() -> None:
    head = Head()
    refs = [0] * 5
    for t in range(40):
        app = head.appender()
        for i in range(5):
            refs[i] = app.append(refs[i], lbl("c", i=str(i)), t, float(t))
        app.commit()
    head.force_cut()
    first = head.querier(0, 100).select(ALL)
    assert head._page_cache
    for s in first:
        s.values[:] = -1.0  # the caller's copy: the cached page stays intact
    again = head.querier(0, 100).select(ALL)
    assert [s.values.tolist() for s in again] == [[float(t) for t in range(40)]] * 5
    assert head.querier(0, 100).select([Matcher.equal("__name__", "none")]) == []
    with head.lock:
        head.min_valid_t = 20
        head.truncate(head.cuts, head.truncated_cuts(head.cuts, 20), 20)
    live = {id(c) for c in head.cuts}
    assert all(id(v[0]) in live for v in head._page_cache.values())
    assert [s.timestamps.tolist() for s in head.querier(0, 100).select(ALL)] == [
        list(range(20, 40))
    ] * 5
