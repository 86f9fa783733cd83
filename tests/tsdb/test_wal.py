"""WAL records, segments, group commit, torn and corrupted tails, failing writes."""

from __future__ import annotations

import errno
import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.storage.interface import StorageError
from vigil.tsdb.wal import (
    REC_SAMPLES,
    REC_SERIES,
    WAL,
    decode_samples,
    decode_series,
    encode_samples,
    encode_series,
    frame,
    list_segments,
    read_records,
)


def samples_round_trip(refs: list[int], ts: list[int], vs: list[float]) -> None:
    r, t, v = (np.array(refs, np.int64), np.array(ts, np.int64), np.array(vs, np.float64))
    got = decode_samples(memoryview(encode_samples(r, t, v)))
    assert got[0].tolist() == refs
    assert got[1].tolist() == ts
    assert got[2].view(np.uint64).tolist() == v.view(np.uint64).tolist()


@pytest.mark.parametrize(
    ("refs", "ts"),
    [
        ([1, 2, 3, 4], [1000] * 4),  # a scrape: refs ascend by one, one timestamp
        ([5], [7]),
        ([9, 3, 2**40, 1], [1, 2, 3, 2**62]),  # wide deltas both ways
        ([1, 1, 1], [-5, 0, 5]),
        ([2**62, 1], [-(2**62), 2**62]),  # deltas overflow int64: wrap and come back
    ],
)
def test_samples_record_round_trips(refs: list[int], ts: list[int]) -> None:
    vs = [float("nan"), -0.0, 1.5, float("inf"), 2.0][: len(refs)]
    vs += [0.0] * (len(refs) - len(vs))
    samples_round_trip(refs, ts, vs)


def test_samples_record_is_small_for_a_scrape() -> None:
    n = 1000
    data = encode_samples(
        np.arange(100, 100 + n, dtype=np.int64), np.full(n, 1_700_000_000_000), np.ones(n)
    )
    assert len(data) < 9.1 * n


def test_series_record_round_trips() -> None:
    series = [
        (1, Labels.from_dict({"__name__": "up", "job": "a"})),
        (2**40, Labels.from_dict({"__name__": "x", "v": 'ünïcödé \n"quoted"', "e": ""})),
    ]
    assert decode_series(memoryview(encode_series(series))) == series


def write_some(wal_dir: Path, records: list[bytes], segment_size: int = 1 << 20) -> WAL:
    wal = WAL(wal_dir, 0, segment_size=segment_size)
    for rec in records:
        wal.sync(wal.log(rec))
    return wal


def series_rec(i: int) -> bytes:
    return frame(REC_SERIES, encode_series([(i, Labels.from_dict({"__name__": f"m{i}"}))]))


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    recs = [series_rec(i) for i in range(1, 200)]
    write_some(tmp_path, recs, segment_size=1000).close()
    assert len(list_segments(tmp_path)) > 3
    got = [decode_series(r.payload)[0][0] for r in read_records(tmp_path, 0)]
    assert got == list(range(1, 200))


@pytest.mark.parametrize("cut", [1, 5, 9, 20])
def test_torn_tail_is_cut_with_a_warning(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    write_some(tmp_path, [series_rec(i) for i in range(1, 11)]).close()
    [(_, seg)] = list_segments(tmp_path)
    size = seg.stat().st_size
    with open(seg, "r+b") as f:
        f.truncate(size - cut)  # the last record loses its end
    with caplog.at_level(logging.WARNING, logger="vigil.tsdb.wal"):
        got = [decode_series(r.payload)[0][0] for r in read_records(tmp_path, 0)]
    assert got == list(range(1, 10))
    assert "torn record" in caplog.text
    assert str(seg) in caplog.text
    # the segment was repaired: a second read is clean and silent
    caplog.clear()
    assert len(list(read_records(tmp_path, 0))) == 9
    assert caplog.text == ""


def test_corruption_drops_the_rest_and_later_segments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_some(tmp_path, [series_rec(i) for i in range(1, 100)], segment_size=600).close()
    segs = list_segments(tmp_path)
    _, victim = segs[1]
    data = bytearray(victim.read_bytes())
    data[30] ^= 0xFF  # inside the first or second record of segment 1
    victim.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        got = [decode_series(r.payload)[0][0] for r in read_records(tmp_path, 0)]
    assert got == list(range(1, len(got) + 1))  # a clean prefix
    assert 0 < len(got) < 99
    assert "checksum mismatch" in caplog.text or "corrupt record header" in caplog.text
    assert [n for n, _ in list_segments(tmp_path)] == [segs[0][0], segs[1][0]]


def test_failed_write_leaves_no_partial_record(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            return os.write(fd, bytes(data[:7]))  # a short write, then the disk is full
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    wal = WAL(tmp_path, 0, write=flaky)
    wal.sync(wal.log(series_rec(1)))
    with pytest.raises(StorageError, match="No space left"):
        wal.log(series_rec(2))
    wal.sync(wal.log(series_rec(3)))  # space is back
    wal.close()
    got = [decode_series(r.payload)[0][0] for r in read_records(tmp_path, 0)]
    assert got == [1, 3]


def test_group_commit_shares_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = WAL(tmp_path, 0)
    lock = threading.Lock()  # stands for the head's writer lock
    fsyncs = {"n": 0}
    real = os.fsync

    def counting(fd: int) -> None:
        fsyncs["n"] += 1
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    per_thread = 50

    def writer(k: int) -> None:
        for i in range(per_thread):
            with lock:
                pos = wal.log(
                    frame(
                        REC_SAMPLES, encode_samples(np.array([k]), np.array([i]), np.array([1.0]))
                    )
                )
            wal.sync(pos)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wal.close()
    assert len(list(read_records(tmp_path, 0))) == 8 * per_thread
    # 8 threads committing at once: most commits find their bytes already fsynced
    # by another's fsync (measured here: about a third of the commits fsync).
    assert fsyncs["n"] <= 0.75 * 8 * per_thread
