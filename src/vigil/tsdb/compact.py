"""Compaction: merge adjacent or overlapping blocks into one bigger block.

Leveled like Prometheus's ``tsdb/compact.go``: head blocks of ``block_duration``
(2h) are merged into windows of 3x that (6h), those into 3x again (18h), and
so on (:func:`compaction_ranges`). :func:`plan` picks the next group of blocks
to merge; :func:`compact` writes the merged block (streaming one series at a
time, duplicates across overlapping blocks removed) and records the merged ids
as its ``parents``. The caller then deletes the parents; after a crash between
the two steps, :func:`superseded` names the parents left behind.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.tsdb.block import DEFAULT_CHUNK_SAMPLES, Block, BlockMeta, write_block

__all__ = [
    "compact",
    "compaction_ranges",
    "merge_series",
    "plan",
    "superseded",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

HOUR_MS = 3_600_000


def compaction_ranges(block_duration_ms: int = 2 * HOUR_MS, levels: int = 4) -> list[int]:
    """Window sizes of each level: 2h, 6h, 18h, 54h for the defaults."""
    return [block_duration_ms * 3**i for i in range(levels)]


def merge_samples(parts: Sequence[tuple[I64, F64]]) -> tuple[I64, F64]:
    """One series' samples from several blocks: sorted by time, one sample per timestamp.

    For a timestamp present in several parts the value of the *last* part
    wins (callers pass blocks oldest first, so newer data replaces older).
    """
    if len(parts) == 1:
        return parts[0]
    ts = np.concatenate([p[0] for p in parts])
    vs = np.concatenate([p[1] for p in parts])
    order = np.argsort(ts, kind="stable")
    ts, vs = ts[order], vs[order]
    last = np.ones(len(ts), dtype=bool)
    last[:-1] = ts[1:] != ts[:-1]
    if not bool(last.all()):
        ts, vs = ts[last], vs[last]
    return ts, vs


def merge_series(blocks: Sequence[Block]) -> Iterator[tuple[Labels, I64, F64]]:
    """Every series of *blocks* in label order, samples merged (later blocks win ties)."""

    def keyed(pos: int, block: Block) -> Iterator[tuple[Labels, int, int]]:
        for sid in range(block.index.num_series):
            yield block.index.labels(sid), pos, sid

    streams = [keyed(pos, b) for pos, b in enumerate(blocks)]
    current: Labels | None = None
    group: list[tuple[int, int]] = []
    for labels, pos, sid in heapq.merge(*streams):
        if labels != current:
            if current is not None:
                yield current, *_read_group(blocks, group)
            current, group = labels, []
        group.append((pos, sid))
    if current is not None:
        yield current, *_read_group(blocks, group)


def _read_group(blocks: Sequence[Block], group: list[tuple[int, int]]) -> tuple[I64, F64]:
    parts = []
    for pos, sid in group:
        b = blocks[pos]
        parts.append(b.read_series(sid, b.meta.mint, b.meta.maxt - 1))
    return merge_samples(parts)


def compact(
    parent: Path | str,
    blocks: Sequence[Block],
    *,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
    now_ms: int | None = None,
) -> BlockMeta:
    """Merge *blocks* (any number >= 1, overlapping or not) into one new block in *parent*.

    The new block covers from the earliest ``mint`` to the latest ``maxt``; its
    level is one more than the highest merged; the sources blocks stay until
    the caller deletes them (their ids are the new block's ``parents``).
    """
    if not blocks:
        raise ValueError("compact needs at least one block")
    ordered = sorted(blocks, key=lambda b: (b.meta.mint, b.meta.ulid))
    metas = [b.meta for b in ordered]
    for b in ordered:
        b._acquire()  # keep the chunk mappings alive while merging
    try:
        return write_block(
            parent,
            merge_series(ordered),
            mint=min(m.mint for m in metas),
            maxt=max(m.maxt for m in metas),
            chunk_samples=chunk_samples,
            level=max(m.level for m in metas) + 1,
            sources=sorted({s for m in metas for s in (m.sources or (m.ulid,))}),
            parents=[m.ulid for m in metas],
            now_ms=now_ms,
        )
    finally:
        for b in ordered:
            b._release()


def superseded(metas: Sequence[BlockMeta]) -> set[str]:
    """Ids of blocks already merged into another present block (safe to delete)."""
    present = {m.ulid for m in metas}
    return {p for m in metas for p in m.parents if p in present}


def plan(metas: Sequence[BlockMeta], ranges: Sequence[int]) -> list[BlockMeta]:
    """The next group of blocks to compact together, oldest first; empty when none.

    Overlapping blocks (e.g. from backfill) are merged first. Then, for each
    window size in ``ranges[1:]`` (smallest first), the blocks that lie inside
    one aligned window are merged when they fill it, or when a newer block
    already starts past the window (so no more data will arrive for it).
    """
    dms = sorted(metas, key=lambda m: (m.mint, m.maxt))
    if len(dms) < 2:
        return []
    # Overlaps first.
    group = [dms[0]]
    hi = dms[0].maxt
    for m in dms[1:]:
        if m.mint < hi:
            group.append(m)
            hi = max(hi, m.maxt)
            continue
        if len(group) > 1:
            return group
        group, hi = [m], m.maxt
    if len(group) > 1:
        return group
    newest_mint = dms[-1].mint
    for r in ranges[1:]:
        windows: dict[int, list[BlockMeta]] = {}
        for m in dms:
            w = m.mint // r
            if (m.maxt - 1) // r == w and m.maxt - m.mint < r:
                windows.setdefault(w, []).append(m)
        for w in sorted(windows):
            group = windows[w]
            if len(group) < 2:
                continue
            start, end = w * r, (w + 1) * r
            full = group[0].mint == start and group[-1].maxt == end and _contiguous(group)
            if full or newest_mint >= end:
                return group
    return []


def _contiguous(group: Sequence[BlockMeta]) -> bool:
    return all(a.maxt == b.mint for a, b in itertools.pairwise(group))
