"""Compaction: merged blocks hold exactly the union of their parents, duplicates removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.tsdb.block import Block, BlockMeta, write_block
from vigil.tsdb.compact import compact, compaction_ranges, merge_samples, plan, superseded

H = 3_600_000


def series_in(
    seed: int, mint: int, maxt: int, names: list[str]
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        ts = np.arange(mint, maxt, 15_000, dtype=np.int64)
        out.append(
            (Labels.from_dict({"__name__": name}), ts, np.round(rng.normal(size=len(ts)), 3))
        )
    return out


def read_all(b: Block) -> dict[Labels, tuple[np.ndarray, np.ndarray]]:
    q = b.querier(b.meta.mint, b.meta.maxt - 1)
    out = {s.labels: (s.timestamps, s.values) for s in q.select([])}
    q.close()
    return out


def test_adjacent_blocks_merge_into_their_union(tmp_path: Path) -> None:
    parts = [
        series_in(1, 0, 2 * H, ["a", "b"]),
        series_in(2, 2 * H, 4 * H, ["b", "c"]),
        series_in(3, 4 * H, 6 * H, ["a", "c", "d"]),
    ]
    blocks = [
        Block.open(write_block(tmp_path, p, mint=i * 2 * H, maxt=(i + 1) * 2 * H).path)
        for i, p in enumerate(parts)
    ]
    meta = compact(tmp_path, blocks, chunk_samples=300)
    assert (meta.mint, meta.maxt, meta.level) == (0, 6 * H, 2)
    assert meta.parents == tuple(b.meta.ulid for b in blocks)
    assert meta.sources == tuple(sorted(b.meta.ulid for b in blocks))
    merged = Block.open(meta.path)
    got = read_all(merged)
    assert sorted(got) == [Labels.from_dict({"__name__": n}) for n in "abcd"]
    expected: dict[Labels, list[tuple[np.ndarray, np.ndarray]]] = {}
    for p in parts:
        for lb, ts, vs in p:
            expected.setdefault(lb, []).append((ts, vs))
    for lb, pieces in expected.items():
        np.testing.assert_array_equal(got[lb][0], np.concatenate([t for t, _ in pieces]))
        np.testing.assert_array_equal(got[lb][1], np.concatenate([v for _, v in pieces]))
    assert meta.num_samples == sum(len(t) for p in parts for _, t, _ in p)
    assert merged.querier(H, 5 * H).label_values("__name__", [Matcher.equal("__name__", "d")]) == [
        "d"
    ]
    for b in [*blocks, merged]:
        b.close()
    assert superseded([*(b.meta for b in blocks), meta]) == {b.meta.ulid for b in blocks}


def test_overlapping_blocks_are_deduplicated_newer_wins(tmp_path: Path) -> None:
    lb = Labels.from_dict({"__name__": "x"})
    old = write_block(tmp_path, [(lb, [0, 10, 20, 30], [0.0, 1.0, 2.0, 3.0])], mint=0, maxt=100)
    new = write_block(
        tmp_path, [(lb, [20, 25, 30, 150], [-2.0, 2.5, -3.0, 15.0])], mint=20, maxt=200
    )
    assert plan([old, new], compaction_ranges(100)) == [old, new]
    blocks = [Block.open(new.path), Block.open(old.path)]  # order given does not matter
    meta = compact(tmp_path, blocks)
    merged = Block.open(meta.path)
    [(ts, vs)] = read_all(merged).values()
    assert ts.tolist() == [0, 10, 20, 25, 30, 150]
    assert vs.tolist() == [0.0, 1.0, -2.0, 2.5, -3.0, 15.0]
    for b in [*blocks, merged]:
        b.close()


def test_merge_samples_keeps_last_part_on_ties() -> None:
    a = (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]))
    b = (np.array([2, 4]), np.array([20.0, 40.0]))
    ts, vs = merge_samples([a, b])
    assert ts.tolist() == [1, 2, 3, 4]
    assert vs.tolist() == [1.0, 20.0, 3.0, 40.0]


def meta(mint: int, maxt: int, ulid: str = "") -> BlockMeta:
    return BlockMeta(ulid or f"B{mint}-{maxt}", mint, maxt, 1, 1, 1, 1, Path("/nonexistent"))


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([], []),
        ([(0, 2)], []),
        # A full 6h window of three 2h blocks.
        ([(0, 2), (2, 4), (4, 6)], [(0, 2), (2, 4), (4, 6)]),
        # Only part of the window, and nothing newer: wait for more.
        ([(0, 2), (2, 4)], []),
        # Part of the window but a newer block exists past it: merge what is there.
        ([(0, 2), (2, 4), (6, 8)], [(0, 2), (2, 4)]),
        # Three 6h blocks fill an 18h window.
        ([(0, 6), (6, 12), (12, 18), (18, 20)], [(0, 6), (6, 12), (12, 18)]),
        # Overlaps come first.
        ([(0, 2), (2, 4), (4, 6), (5, 7)], [(4, 6), (5, 7)]),
        # Unaligned blocks inside one window still merge once the window is past.
        ([(1, 3), (3, 5), (8, 9)], [(1, 3), (3, 5)]),
        # A block crossing a 6h window edge waits for an 18h window.
        ([(4, 8), (8, 10), (12, 13)], []),
        ([(4, 8), (8, 10), (12, 13), (19, 20)], [(4, 8), (8, 10), (12, 13)]),
    ],
)
def test_plan(blocks: list[tuple[int, int]], expected: list[tuple[int, int]]) -> None:
    ranges = compaction_ranges(2 * H)
    metas = [meta(a * H, b * H) for a, b in blocks]
    assert [(m.mint // H, m.maxt // H) for m in plan(metas, ranges)] == expected


def test_compaction_ranges() -> None:
    assert compaction_ranges(2 * H) == [2 * H, 6 * H, 18 * H, 54 * H]
