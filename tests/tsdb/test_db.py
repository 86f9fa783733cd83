"""The TSDB as a whole: the storage contract, reopening, compaction into blocks, retention, stats."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
from vigil.tsdb.db import TSDB

from ..storage.contract import Store, all_contract_checks

HOUR = 3_600_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TSDB]:
    store = TSDB.open(tmp_path / "data", background=False)
    yield store
    store.close()


def lbl(**kw: str) -> Labels:
    return Labels.from_dict(kw)


@pytest.mark.parametrize("check", all_contract_checks(), ids=lambda f: f.__name__)
def test_tsdb_meets_the_contract(check: Callable[[Store], None], db: TSDB) -> None:
    check(db)


@pytest.mark.parametrize("check", all_contract_checks(), ids=lambda f: f.__name__)
def test_tsdb_meets_the_contract_after_reopen(
    check: Callable[[Store], None], tmp_path: Path
) -> None:
    """Run the check, reopen the store from its WAL, and the data reads the same."""
    path = tmp_path / "data"
    with TSDB.open(path, background=False) as store:
        check(store)
        before = store.querier(-(2**62), 2**62).select([Matcher(MatchType.REGEX, "__name__", ".+")])
    with TSDB.open(path, background=False) as store:
        after = store.querier(-(2**62), 2**62).select([Matcher(MatchType.REGEX, "__name__", ".+")])
    assert [s.labels for s in after] == [s.labels for s in before]
    for a, b in zip(after, before, strict=True):
        assert a.timestamps.tolist() == b.timestamps.tolist()
        assert a.values.view(np.uint64).tolist() == b.values.view(np.uint64).tolist()


def fill(db: TSDB, series: int, start: int, end: int, step: int) -> None:
    refs = [0] * series
    for t in range(start, end, step):
        app = db.appender()
        for i in range(series):
            refs[i] = app.append(refs[i], lbl(__name__="m", i=str(i)), t, float(t // step + i))
        app.commit()


def read_all(
    db: TSDB, mint: int = -(2**62), maxt: int = 2**62
) -> dict[str, tuple[list[int], list[float]]]:
    out = {}
    for s in db.querier(mint, maxt).select([Matcher.equal("__name__", "m")]):
        out[s.labels.get("i")] = (s.timestamps.tolist(), s.values.tolist())
    return out


def test_head_compaction_writes_blocks_and_keeps_every_sample(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with TSDB.open(path, background=False, block_duration_ms=HOUR, retention_ms=None) as db:
        fill(db, 20, 0, 5 * HOUR, 60_000)
        expected = read_all(db)
        assert db.compact()
        st = db.stats()
        # head spanned 5h > 1.5h: [0,1h), [1h,2h), [2h,3h) ... until the head spans <= 1.5h
        assert st.head_compactions >= 3
        assert st.blocks >= 1
        assert read_all(db) == expected
        assert db.head.min_valid_t >= 3 * HOUR
        app = db.appender()
        with pytest.raises(OutOfBoundsError):
            app.append(0, lbl(__name__="m", i="0"), HOUR, 1.0)
        app.rollback()
    with TSDB.open(path, background=False, block_duration_ms=HOUR, retention_ms=None) as db:
        assert read_all(db) == expected
        # a range inside blocks only, and one spanning blocks and head
        part = read_all(db, HOUR, 4 * HOUR)
        assert part["3"][0][0] == HOUR
        assert part["3"][0][-1] == 4 * HOUR


def test_retention_by_time_deletes_old_blocks(tmp_path: Path) -> None:
    now = [10 * HOUR]
    with TSDB.open(
        tmp_path / "d",
        background=False,
        block_duration_ms=HOUR,
        retention_ms=3 * HOUR,
        clock=lambda: now[0],
    ) as db:
        fill(db, 5, 0, 10 * HOUR, 300_000)
        db.compact()
        assert all(b.meta.maxt > 7 * HOUR for b in db.blocks)
        data = read_all(db)
        assert min(data["0"][0]) >= 6 * HOUR


def test_retention_by_size_keeps_the_newest(tmp_path: Path) -> None:
    with TSDB.open(
        tmp_path / "d",
        background=False,
        block_duration_ms=HOUR,
        retention_ms=None,
        retention_bytes=1,
    ) as db:
        fill(db, 5, 0, 6 * HOUR, 300_000)
        db.compact()
        assert db.blocks == ()
        assert read_all(db)  # the head is never dropped by retention


def test_the_data_directory_is_locked(tmp_path: Path) -> None:
    with TSDB.open(tmp_path / "d", background=False), pytest.raises(StorageError, match="in use"):
        TSDB.open(tmp_path / "d", background=False)


def test_stats_count_appends_and_rejections(db: TSDB) -> None:
    app = db.appender()
    ref = app.append(0, lbl(__name__="s"), 2000, 1.0)
    app.commit()
    app = db.appender()
    with pytest.raises(OutOfOrderError):
        app.append(ref, None, 1000, 1.0)
    with pytest.raises(DuplicateSampleError):
        app.append(ref, None, 2000, 2.0)
    app.append(ref, None, 3000, 3.0)
    app.append(ref, None, 2500, 3.0)  # in-transaction disorder: dropped and counted at commit
    app.commit()
    st = db.stats()
    assert st.head_series == 1
    assert st.head_samples_appended == 2
    assert st.rejected == {"out_of_order": 2, "duplicate": 1, "out_of_bounds": 0}
    assert st.wal_bytes > 0
    assert read_ts(db, "s") == [2000, 3000]


def read_ts(db: TSDB, name: str) -> list[int]:
    got = db.querier(0, 2**62).select([Matcher.equal("__name__", name)])
    return got[0].timestamps.tolist() if got else []


def test_background_compaction_runs(tmp_path: Path) -> None:
    with TSDB.open(
        tmp_path / "d", block_duration_ms=HOUR, retention_ms=None, compact_interval_s=0.05
    ) as db:
        fill(db, 3, 0, 3 * HOUR, 600_000)
        for _ in range(200):
            if db.stats().head_compactions:
                break
            time.sleep(0.02)
        assert db.stats().head_compactions >= 1


def test_reads_see_every_sample_while_compaction_moves_them(tmp_path: Path) -> None:
    """Samples move from the head into blocks under readers' feet: never missed, never twice."""
    db = TSDB.open(
        tmp_path / "d", block_duration_ms=100, retention_ms=None, compact_interval_s=0.01
    )
    committed = [-1]
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            refs = [0] * 20
            for step in range(800):
                app = db.appender()
                for i in range(20):
                    refs[i] = app.append(refs[i], lbl(__name__="mv", i=str(i)), step, float(step))
                app.commit()
                committed[0] = step
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                last = committed[0]
                got = db.querier(0, 10**6).select([Matcher.equal("__name__", "mv")])
                if last < 0:
                    continue
                assert len(got) == 20
                for s in got:
                    ts = s.timestamps.tolist()
                    assert ts[: last + 1] == list(range(last + 1))
                    assert ts == list(range(len(ts)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert db.stats().head_compactions >= 3
    finally:
        db.close()
