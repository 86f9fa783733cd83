"""TSDB.import_series: backfill straight into blocks, with the head's rules for recent samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.storage.interface import BulkImportable, OutOfOrderError, Series
from vigil.tsdb.db import TSDB

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 100 * DAY + 30 * 60_000  # 00:30 on day 100


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TSDB]:
    store = TSDB.open(tmp_path / "data", background=False, retention_ms=None, clock=lambda: NOW)
    yield store
    store.close()


def lbl(**kw: str) -> Labels:
    return Labels.from_dict(kw)


def series(labels: Labels, start: int, end: int, step: int, seed: int = 0) -> Series:
    ts = np.arange(start, end, step, dtype=np.int64)
    vs = np.random.default_rng(seed).normal(size=len(ts)).cumsum()
    return Series(labels, ts, vs)


def read_all(db: TSDB, mint: int = -(2**62), maxt: int = 2**62) -> dict[Labels, Series]:
    q = db.querier(mint, maxt)
    try:
        return {s.labels: s for s in q.select([Matcher(MatchType.REGEX, "__name__", ".+")])}
    finally:
        q.close()


def same(a: Series, b: Series) -> None:
    assert a.timestamps.tolist() == b.timestamps.tolist()
    assert a.values.view(np.uint64).tolist() == b.values.view(np.uint64).tolist()


def test_the_tsdb_is_bulk_importable(db: TSDB) -> None:
    assert isinstance(db, BulkImportable)


def test_an_import_spanning_several_block_ranges_reads_back_exactly(db: TSDB) -> None:
    start = 90 * DAY + 17 * 60_000  # not aligned
    data = [
        series(lbl(__name__="m", i=str(i)), start, start + 7 * HOUR, 15_000, i) for i in range(20)
    ]
    stats = db.import_series(data)
    assert (stats.series, stats.samples, stats.head_samples) == (20, 20 * 1680, 0)
    assert stats.blocks == 4  # [0h,2h) [2h,4h) [4h,6h) [6h,8h) of day 90
    assert sorted((b.meta.mint, b.meta.maxt) for b in db.blocks) == [
        (90 * DAY + h * HOUR, 90 * DAY + (h + 2) * HOUR) for h in (0, 2, 4, 6)
    ]
    got = read_all(db)
    assert len(got) == 20
    for s in data:
        same(got[s.labels], s)
    # a range query cuts inside blocks
    part = read_all(db, start + HOUR, start + 3 * HOUR)[data[3].labels]
    assert part.timestamps[0] == start + HOUR
    assert part.timestamps[-1] == start + 3 * HOUR
    assert db.head.series_count() == 0


def test_imported_blocks_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data"
    s = series(lbl(__name__="m"), 50 * DAY, 51 * DAY, 60_000)
    with TSDB.open(path, background=False, retention_ms=None, clock=lambda: NOW) as db:
        db.import_series([s])
    with TSDB.open(path, background=False, retention_ms=None, clock=lambda: NOW) as db:
        same(read_all(db)[s.labels], s)
        assert len(db.blocks) == 12


def test_an_import_overlapping_the_head_and_blocks_merges_and_compacts(db: TSDB) -> None:
    a, b = lbl(__name__="m", x="a"), lbl(__name__="m", x="b")
    # the head holds the last 20 minutes of "a"
    app = db.appender()
    for t in range(NOW - 20 * 60_000, NOW, 60_000):
        app.append(0, a, t, 1.0)
    app.commit()
    head_before = read_all(db)[a]
    # backfill "a" before the head's block range (00:00), and "b" over the 3 hours up to
    # now: b's samples from 00:00 go through the head, the rest into blocks
    cutoff = (NOW // (2 * HOUR)) * 2 * HOUR
    old = series(a, NOW - 3 * HOUR, cutoff, 60_000, 1)
    other = series(b, NOW - 3 * HOUR, NOW + 60_000, 60_000, 2)
    stats = db.import_series([old, other])
    assert stats.head_samples == (NOW + 60_000 - cutoff) // 60_000
    assert stats.blocks == 2
    got = read_all(db)
    want_a = np.concatenate([old.timestamps, head_before.timestamps])
    assert got[a].timestamps.tolist() == want_a.tolist()
    same(got[b], other)
    # the head now refuses what belongs in the blocks
    assert db.head.min_valid_t == cutoff
    # importing the same old samples again (a retried request) changes nothing
    again = Series(b, other.timestamps[:60], other.values[:60] + 1)  # new values win
    db.import_series([again])
    got = read_all(db)
    assert got[b].values[:60].tolist() == (other.values[:60] + 1).tolist()
    assert got[b].values[60:].tolist() == other.values[60:].tolist()
    # compaction merges the overlapping blocks and keeps the newest values
    overlapping = len(db.blocks)
    db.compact()
    assert len(db.blocks) < overlapping
    after = read_all(db)
    same(after[b], got[b])
    same(after[a], got[a])


def test_a_sample_the_head_refuses_fails_the_whole_import(db: TSDB) -> None:
    a = lbl(__name__="m")
    app = db.appender()
    app.append(0, a, NOW, 1.0)
    app.commit()
    late = Series(a, np.array([NOW - DAY, NOW - 1000], dtype=np.int64), np.array([1.0, 2.0]))
    with pytest.raises(OutOfOrderError, match="m"):
        db.import_series([late, series(lbl(__name__="n"), NOW - DAY, NOW - HOUR, 60_000)])
    assert db.blocks == ()
    assert list(read_all(db)) == [a]
    assert not [p for p in (db.path).iterdir() if p.name not in ("wal", "lock")]


def test_bad_input_is_refused(db: TSDB) -> None:
    a = lbl(__name__="m")
    ts = np.array([2, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="increase"):
        db.import_series([Series(a, ts, np.zeros(2))])
    s = series(a, 0, 10, 1)
    with pytest.raises(ValueError, match="twice"):
        db.import_series([s, s])
    assert db.blocks == ()


def test_an_empty_import_does_nothing(db: TSDB) -> None:
    stats = db.import_series([Series(lbl(__name__="m"), np.empty(0, np.int64), np.empty(0))])
    assert (stats.samples, stats.blocks) == (0, 0)
    assert db.head.min_valid_t < 0
