"""Blocks: atomic writes, queries equal to a scan, corruption detected with the file named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.model.value import STALE_NAN, is_stale_nan
from vigil.storage.interface import StorageError
from vigil.tsdb.block import Block, BlockMeta, CorruptBlockError, remove_tmp_dirs, write_block

H = 3_600_000
T0 = 1_700_000_000_000 // (2 * H) * (2 * H)


def make_series(
    seed: int, count: int, mint: int, maxt: int
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        step = int(rng.choice([1_000, 15_000, 60_000]))
        start = mint + int(rng.integers(0, step * 50))
        ts = np.arange(start, maxt, step, dtype=np.int64)
        ts = ts[: int(rng.integers(1, len(ts) + 1))]
        if i % 3 == 0:
            vs = np.cumsum(rng.poisson(5, len(ts))).astype(np.float64)
            vs[-1] = STALE_NAN
        else:
            vs = rng.normal(size=len(ts))
        labels = Labels.from_dict(
            {"__name__": f"m{i % 4}", "job": ["api", "db"][i % 2], "i": str(i)}
        )
        out.append((labels, ts, vs))
    return out


@pytest.fixture
def data() -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    return make_series(5, 40, T0, T0 + 2 * H)


@pytest.fixture
def block(tmp_path: Path, data: list[tuple[Labels, np.ndarray, np.ndarray]]) -> Iterator[Block]:
    meta = write_block(
        tmp_path, reversed(data), mint=T0, maxt=T0 + 2 * H, chunk_samples=500, now_ms=T0
    )
    b = Block.open(meta.path)
    yield b
    b.close()


def test_meta_describes_the_block(
    tmp_path: Path, data: list[tuple[Labels, np.ndarray, np.ndarray]]
) -> None:
    meta = write_block(tmp_path, data, mint=T0, maxt=T0 + 2 * H, chunk_samples=500, now_ms=T0)
    assert meta.path == tmp_path / meta.ulid
    assert len(meta.ulid) == 26
    assert meta.num_series == 40
    assert meta.num_samples == sum(len(t) for _, t, _ in data)
    assert meta.num_chunks == sum(-(-len(t) // 500) for _, t, _ in data)
    assert (
        meta.size_bytes
        == (meta.path / "chunks").stat().st_size + (meta.path / "index").stat().st_size
    )
    assert BlockMeta.read(meta.path) == meta
    doc = json.loads((meta.path / "meta.json").read_text())
    assert doc["minTime"] == T0
    assert doc["maxTime"] == T0 + 2 * H
    assert sorted(p.name for p in tmp_path.iterdir()) == [meta.ulid]


@pytest.mark.parametrize(
    "matchers",
    [
        [Matcher.equal("job", "api")],
        [Matcher(MatchType.REGEX, "__name__", "m[12]"), Matcher(MatchType.NOT_EQUAL, "i", "5")],
        [Matcher.equal("env", "")],
        [Matcher.equal("env", "prod")],
    ],
)
def test_select_equals_a_scan(
    block: Block, data: list[tuple[Labels, np.ndarray, np.ndarray]], matchers: list[Matcher]
) -> None:
    rng = np.random.default_rng(1)
    ranges = [
        (T0, T0 + 2 * H),
        (T0 - 10 * H, T0 + 10 * H),
        (T0 + 2 * H, T0 + 3 * H),
        (T0 + 5, T0 + 5),
    ]
    for _ in range(20):
        a, b = sorted(int(x) for x in rng.integers(T0, T0 + 2 * H, 2))
        ranges.append((a, b))
    for mint, maxt in ranges:
        q = block.querier(mint, maxt)
        got = q.select(matchers)
        expected = []
        for labels, ts, vs in sorted(data, key=lambda s: s[0]):
            if not all(m.matches(labels.get(m.name)) for m in matchers):
                continue
            keep = (ts >= mint) & (ts <= maxt)
            if keep.any():
                expected.append((labels, ts[keep], vs[keep]))
        assert [s.labels for s in got] == [e[0] for e in expected]
        for s, (_, ts, vs) in zip(got, expected, strict=True):
            np.testing.assert_array_equal(s.timestamps, ts)
            np.testing.assert_array_equal(s.values.view(np.uint64), vs.view(np.uint64))
        names = sorted({n for e in expected for n in e[0].names()})
        assert q.label_names(matchers) == names
        assert q.label_values("i", matchers) == sorted({e[0].get("i") for e in expected})
        q.close()


def test_label_queries_without_matchers(block: Block) -> None:
    q = block.querier(T0, T0 + 2 * H)
    assert q.label_names() == ["__name__", "i", "job"]
    assert q.label_values("job") == ["api", "db"]
    q.close()
    assert block.querier(T0 + 2 * H, T0 + 3 * H).label_names() == []


def test_stale_markers_survive(block: Block) -> None:
    [s] = block.querier(T0, T0 + 2 * H).select([Matcher.equal("i", "0")])
    assert is_stale_nan(float(s.values[-1]))


def test_querier_outlives_block_close(block: Block) -> None:
    q = block.querier(T0, T0 + 2 * H)
    block.close()
    assert len(q.select([Matcher.equal("job", "db")])) == 20
    q.close()
    with pytest.raises(StorageError, match="closed"):
        q.select([])
    with pytest.raises(StorageError, match="closed"):
        block.querier(T0, T0 + H)


def test_failed_write_leaves_nothing(
    tmp_path: Path, data: list[tuple[Labels, np.ndarray, np.ndarray]]
) -> None:
    def broken() -> Iterator[tuple[Labels, np.ndarray, np.ndarray]]:
        yield data[0]
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        write_block(tmp_path, broken(), mint=T0, maxt=T0 + 2 * H)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([(Labels(a="1"), [T0 - 1], [1.0])], "outside the block range"),
        ([(Labels(a="1"), [T0 + 2 * H], [1.0])], "outside the block range"),
        ([(Labels(a="1"), [T0 + 5, T0 + 5], [1.0, 2.0])], "must increase"),
        ([(Labels(a="1"), [T0], [1.0]), (Labels(a="1"), [T0 + 1], [1.0])], "given twice"),
        ([(Labels(a="1"), [T0], [1.0, 2.0])], "differ"),
    ],
)
def test_bad_input_is_refused(
    tmp_path: Path, series: list[tuple[Labels, list[int], list[float]]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_block(tmp_path, series, mint=T0, maxt=T0 + 2 * H)
    assert list(tmp_path.iterdir()) == []


def test_empty_series_are_skipped_and_empty_blocks_work(tmp_path: Path) -> None:
    meta = write_block(tmp_path, [(Labels(a="1"), [], [])], mint=0, maxt=10)
    assert meta.num_series == 0
    b = Block.open(meta.path)
    assert b.querier(0, 10).select([]) == []
    b.close()


def test_remove_tmp_dirs(tmp_path: Path) -> None:
    (tmp_path / "01ABC.tmp").mkdir()
    (tmp_path / "01ABC.tmp" / "chunks").write_bytes(b"x")
    (tmp_path / "keep").mkdir()
    assert remove_tmp_dirs(tmp_path) == [tmp_path / "01ABC.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_corrupted_chunk_is_detected_with_its_file(
    tmp_path: Path, data: list[tuple[Labels, np.ndarray, np.ndarray]]
) -> None:
    meta = write_block(tmp_path, data, mint=T0, maxt=T0 + 2 * H)
    chunks = meta.path / "chunks"
    raw = bytearray(chunks.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    chunks.write_bytes(bytes(raw))
    b = Block.open(meta.path)
    q = b.querier(T0, T0 + 2 * H)
    with pytest.raises(
        CorruptBlockError, match=rf"{chunks}: checksum mismatch in chunk at offset \d+"
    ):
        q.select([])
    q.close()
    b.close()


def test_damaged_block_files_are_reported(
    tmp_path: Path, data: list[tuple[Labels, np.ndarray, np.ndarray]]
) -> None:
    meta = write_block(tmp_path, data[:3], mint=T0, maxt=T0 + 2 * H)
    index = meta.path / "index"
    good_index = index.read_bytes()
    index.write_bytes(good_index[:-1] + bytes([good_index[-1] ^ 0xFF]))
    with pytest.raises(CorruptBlockError, match=rf"{index}: index checksum mismatch"):
        Block.open(meta.path)
    index.write_bytes(good_index)

    chunks = meta.path / "chunks"
    good_chunks = chunks.read_bytes()
    chunks.write_bytes(b"XXXXXXXX" + good_chunks[8:])
    with pytest.raises(CorruptBlockError, match="not a vigil chunks file"):
        Block.open(meta.path)
    chunks.write_bytes(good_chunks[: len(good_chunks) // 2])
    b = Block.open(meta.path)
    with pytest.raises(CorruptBlockError, match="past the end of the file"):
        b.querier(T0, T0 + 2 * H).select([])
    b.close()

    (meta.path / "meta.json").write_text("{not json")
    with pytest.raises(CorruptBlockError, match=r"meta\.json: unreadable block meta"):
        Block.open(meta.path)
    (meta.path / "meta.json").unlink()
    with pytest.raises(CorruptBlockError, match=r"meta\.json: missing"):
        Block.open(meta.path)


def test_read_many_equals_read_series(tmp_path: Path) -> None:
    # many equal series (decoded as one batch) and the fixture's odd ones, several chunks each
    same = [
        (
            Labels.from_dict({"__name__": "eq", "i": str(i)}),
            np.arange(T0 + 7_000, T0 + 2 * H, 15_000, dtype=np.int64),
            np.arange(480, dtype=np.float64) * (i + 1),
        )
        for i in range(30)
    ]
    meta = write_block(
        tmp_path,
        same + make_series(9, 30, T0, T0 + 2 * H),
        mint=T0,
        maxt=T0 + 2 * H,
        chunk_samples=100,
    )
    b = Block.open(meta.path)
    try:
        sids = list(range(b.index.num_series))
        for mint, maxt in [(T0, T0 + 2 * H), (T0 + H - 1, T0 + H + 300_000), (T0 - H, T0 - 1)]:
            got = b.read_many(sids, mint, maxt)
            assert len(got) == len(sids)
            for sid, (ts, vs) in zip(sids, got, strict=True):
                want_t, want_v = b.read_series(sid, mint, maxt)
                np.testing.assert_array_equal(ts, want_t)
                np.testing.assert_array_equal(vs.view(np.uint64), want_v.view(np.uint64))
        assert b.read_many([], T0, T0 + H) == []
    finally:
        b.close()


def test_read_packed_equals_read_series_back_to_back(tmp_path: Path) -> None:
    same = [
        (
            Labels.from_dict({"__name__": "eq", "i": str(i)}),
            np.arange(T0 + 7_000, T0 + 2 * H, 15_000, dtype=np.int64),
            np.arange(480, dtype=np.float64) * (i + 1),
        )
        for i in range(30)
    ]
    meta = write_block(
        tmp_path,
        same + make_series(9, 30, T0, T0 + 2 * H),
        mint=T0,
        maxt=T0 + 2 * H,
        chunk_samples=100,
    )
    b = Block.open(meta.path)
    try:
        everything = list(range(b.index.num_series))
        picks = [everything, everything[::3], [5, 2, 40], []]
        windows = [(T0, T0 + 2 * H), (T0 + H - 1, T0 + H + 300_000), (T0 - H, T0 - 1)]
        for _ in range(2):  # the second time from the kept headers
            for sids in picks:
                for mint, maxt in windows:
                    ts, vs, counts = b.read_packed(sids, mint, maxt)
                    want = [b.read_series(sid, mint, maxt) for sid in sids]
                    assert counts.tolist() == [len(t) for t, _ in want]
                    if want:
                        np.testing.assert_array_equal(ts, np.concatenate([t for t, _ in want]))
                        np.testing.assert_array_equal(
                            vs.view(np.uint64),
                            np.concatenate([v for _, v in want]).view(np.uint64),
                        )
                    else:
                        assert len(ts) == len(vs) == 0
        assert b.labels(3) == b.index.labels(3)
        assert b.labels(3) is b.labels(3)
    finally:
        b.close()


def test_read_packed_names_a_corrupted_chunk(tmp_path: Path) -> None:
    meta = write_block(tmp_path, make_series(4, 5, T0, T0 + H), mint=T0, maxt=T0 + H)
    b = Block.open(meta.path)
    ref, length = int(b.index.chunk_ref[2]), int(b.index.chunk_len[2])
    b.close()
    with open(meta.path / "chunks", "r+b") as f:
        f.seek(ref + length - 1)
        last = f.read(1)
        f.seek(ref + length - 1)
        f.write(bytes([last[0] ^ 0xFF]))
    b = Block.open(meta.path)
    try:
        with pytest.raises(CorruptBlockError, match="checksum mismatch"):
            b.read_packed(list(range(5)), T0, T0 + H)
    finally:
        b.close()
