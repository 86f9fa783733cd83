"""Immutable blocks: the samples of a time range, written once, read by many queries.

A block is a directory named by its id (a ULID) holding ``meta.json``, ``index``
(see :mod:`vigil.tsdb.index`) and ``chunks`` (encoded with
:mod:`vigil.tsdb.chunkenc`, each followed by its CRC32), as Prometheus's blocks
are. :func:`write_block` builds it in ``<id>.tmp`` and renames it into place
after every file is fsynced, so a crash leaves either the whole block or a
``.tmp`` directory that :func:`remove_tmp_dirs` clears on the next start.

A block covers ``[mint, maxt)`` (``maxt`` exclusive, as in Prometheus's
``meta.json``); a querier's range is inclusive at both ends like every
:class:`~vigil.storage.interface.Querier`. Reading decodes only the chunks of
the selected series that overlap the query range.
"""

from __future__ import annotations

import itertools
import json
import logging
import mmap
import os
import shutil
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher
from vigil.storage.interface import Series, StorageError
from vigil.tsdb import chunkenc
from vigil.tsdb.index import ChunkRefs, CorruptIndexError, IndexReader, write_index

__all__ = [
    "CHUNKS_MAGIC",
    "DEFAULT_CHUNK_SAMPLES",
    "Block",
    "BlockMeta",
    "BlockQuerier",
    "CorruptBlockError",
    "new_ulid",
    "remove_tmp_dirs",
    "write_block",
]

log = logging.getLogger(__name__)

CHUNKS_MAGIC = b"VIGILCK1"
META_VERSION = 1
DEFAULT_CHUNK_SAMPLES = 480
"""Samples per chunk at most (2 h at 15 s). Reads decode whole chunks, so an instant query
or a 1 h range decodes about one chunk per series; chunks of one shape decode as one batch
(:func:`chunkenc.decode_many`), so long ranges pay little per extra chunk. Measured against
240, 1024 and 4096 in bench/RESULTS.md (H7b); costs ~15% bytes/sample against 4096."""

TMP_SUFFIX = ".tmp"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class CorruptBlockError(StorageError):
    """A block's files fail their checks; the message names the file and what is wrong."""


def new_ulid(now_ms: int) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32 (sorts by time)."""
    value = (now_ms & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


@dataclass(frozen=True, slots=True)
class BlockMeta:
    """What ``meta.json`` says about a block, plus where it is."""

    ulid: str
    mint: int  # inclusive, ms
    maxt: int  # exclusive, ms
    num_series: int
    num_samples: int
    num_chunks: int
    size_bytes: int  # chunks + index files
    path: Path
    level: int = 1
    sources: tuple[str, ...] = ()  # ids of the level-1 blocks merged into this one
    parents: tuple[str, ...] = ()  # ids of the blocks compacted into this one (deletable)

    def to_json(self) -> dict[str, object]:
        return {
            "ulid": self.ulid,
            "minTime": self.mint,
            "maxTime": self.maxt,
            "stats": {
                "numSeries": self.num_series,
                "numSamples": self.num_samples,
                "numChunks": self.num_chunks,
                "numBytes": self.size_bytes,
            },
            "compaction": {
                "level": self.level,
                "sources": list(self.sources),
                "parents": list(self.parents),
            },
            "version": META_VERSION,
        }

    @classmethod
    def read(cls, block_dir: Path) -> BlockMeta:
        path = block_dir / "meta.json"
        try:
            doc = json.loads(path.read_text())
            if doc["version"] != META_VERSION:
                raise CorruptBlockError(
                    f"{path}: meta version {doc['version']} is not supported (reads {META_VERSION})"
                )
            stats, comp = doc["stats"], doc["compaction"]
            return cls(
                ulid=str(doc["ulid"]),
                mint=int(doc["minTime"]),
                maxt=int(doc["maxTime"]),
                num_series=int(stats["numSeries"]),
                num_samples=int(stats["numSamples"]),
                num_chunks=int(stats["numChunks"]),
                size_bytes=int(stats["numBytes"]),
                path=block_dir,
                level=int(comp["level"]),
                sources=tuple(comp["sources"]),
                parents=tuple(comp["parents"]),
            )
        except FileNotFoundError:
            raise CorruptBlockError(f"{path}: missing (not a block directory?)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptBlockError(f"{path}: unreadable block meta: {exc!r}") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tmp_dirs(parent: Path | str) -> list[Path]:
    """Delete the ``*.tmp`` directories a crashed block write left in *parent*; returns them."""
    removed = []
    for p in Path(parent).iterdir():
        if p.name.endswith(TMP_SUFFIX) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def write_block(
    parent: Path | str,
    series: Iterable[tuple[Labels, npt.ArrayLike, npt.ArrayLike]],
    *,
    mint: int,
    maxt: int,
    chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
    level: int = 1,
    sources: Sequence[str] = (),
    parents: Sequence[str] = (),
    now_ms: int | None = None,
) -> BlockMeta:
    """Write a block of *series* covering ``[mint, maxt)`` into ``parent/<ulid>``, atomically.

    *series* yields ``(labels, timestamps, values)`` with strictly increasing
    int64 ms timestamps inside the range, in any label order (each labels at
    most once); series without samples are skipped. Only chunks are written as
    the series stream in, so memory stays at one series plus the index.
    Returns the block's meta; ``Block.open(meta.path)`` reads it.
    Raises ValueError for bad input and StorageError when the disk fails.
    """
    if maxt <= mint:
        raise ValueError(f"block range [{mint}, {maxt}) is empty")
    if chunk_samples < 1:
        raise ValueError(f"chunk_samples must be positive, got {chunk_samples}")
    parent = Path(parent)
    ulid = new_ulid(time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    tmp = parent / (ulid + TMP_SUFFIX)
    final = parent / ulid
    entries: list[tuple[Labels, ChunkRefs]] = []
    num_samples = 0
    try:
        tmp.mkdir(parents=True)
        with open(tmp / "chunks", "wb") as f:
            f.write(CHUNKS_MAGIC)
            offset = len(CHUNKS_MAGIC)
            for labels, ts_in, vs_in in series:
                ts = np.ascontiguousarray(ts_in, dtype=np.int64)
                vs = np.ascontiguousarray(vs_in, dtype=np.float64)
                _check_series(labels, ts, vs, mint, maxt)
                n = len(ts)
                if n == 0:
                    continue
                num_samples += n
                cuts = list(range(0, n, chunk_samples))
                refs = np.empty(len(cuts), dtype=np.uint64)
                lens = np.empty(len(cuts), dtype=np.uint32)
                for i, start in enumerate(cuts):
                    data = chunkenc.encode(
                        ts[start : start + chunk_samples], vs[start : start + chunk_samples]
                    )
                    f.write(data)
                    f.write(zlib.crc32(data).to_bytes(4, "little"))
                    refs[i] = offset
                    lens[i] = len(data)
                    offset += len(data) + 4
                starts = np.asarray(cuts, dtype=np.intp)
                ends = np.minimum(starts + chunk_samples, n)
                entries.append(
                    (
                        labels,
                        ChunkRefs(
                            mint=ts[starts],
                            maxt=ts[ends - 1],
                            ref=refs,
                            length=lens,
                            count=(ends - starts).astype(np.uint32),
                        ),
                    )
                )
            f.flush()
            os.fsync(f.fileno())
        entries.sort(key=lambda e: e[0])
        for (a, _), (b, _) in itertools.pairwise(entries):
            if a == b:
                raise ValueError(f"series {a} is given twice")
        index_size = write_index(tmp / "index", entries)
        _fsync_file(tmp / "index")
        meta = BlockMeta(
            ulid=ulid,
            mint=mint,
            maxt=maxt,
            num_series=len(entries),
            num_samples=num_samples,
            num_chunks=sum(len(c.mint) for _, c in entries),
            size_bytes=offset + index_size,
            path=final,
            level=level,
            sources=tuple(sources) or (ulid,),
            parents=tuple(parents),
        )
        with open(tmp / "meta.json", "w") as mf:
            json.dump(meta.to_json(), mf, indent=1)
            mf.flush()
            os.fsync(mf.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise StorageError(f"writing block {final}: {exc}") from exc
        raise
    return meta


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_series(labels: Labels, ts: I64, vs: F64, mint: int, maxt: int) -> None:
    if ts.ndim != 1 or ts.shape != vs.shape:
        raise ValueError(f"series {labels}: timestamps {ts.shape} and values {vs.shape} differ")
    if not len(ts):
        return
    if int(ts[0]) < mint or int(ts[-1]) >= maxt:
        raise ValueError(
            f"series {labels}: samples [{int(ts[0])}, {int(ts[-1])}] fall outside the block range "
            f"[{mint}, {maxt})"
        )
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        bad = int(np.flatnonzero(ts[1:] <= ts[:-1])[0])
        raise ValueError(
            f"series {labels}: timestamps must increase, but {int(ts[bad + 1])} follows {int(ts[bad])}"
        )


class Block:
    """An open block: its meta, its index in memory and its chunks file mapped.

    Thread-safe for reading. :meth:`close` waits for nothing: queriers still
    open keep the chunk mapping alive until they close.
    """

    def __init__(self, meta: BlockMeta, index: IndexReader, chunks_path: Path) -> None:
        self.meta = meta
        self.index = index
        self._chunks_path = chunks_path
        self._lock = threading.Lock()
        self._users = 1  # the block itself; each open querier adds one
        self._closed = False
        self._chunk_off: list[int] | None = None
        self._chunk_off_arr: npt.NDArray[np.int64] | None = None
        # Filled as queries read (the block never changes): each series' labels, and each
        # chunk's parsed header (its checksum verified when it was parsed).
        self._labels: list[Labels | None] = [None] * index.num_series
        n_chunks = len(index.chunk_ref)
        self._headers = np.zeros((n_chunks, chunkenc.HEADER_FIELDS), dtype=np.uint64)
        self._parsed = np.zeros(n_chunks, dtype=bool)
        try:
            with open(chunks_path, "rb") as f:
                self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise CorruptBlockError(f"{chunks_path}: cannot map chunks file: {exc}") from None
        if self._mm[: len(CHUNKS_MAGIC)] != CHUNKS_MAGIC:
            self._mm.close()
            raise CorruptBlockError(f"{chunks_path}: not a vigil chunks file (bad magic)")

    @classmethod
    def open(cls, path: Path | str) -> Block:
        """Open the block directory *path*; raises CorruptBlockError naming what is wrong."""
        path = Path(path)
        meta = BlockMeta.read(path)
        try:
            index = IndexReader(path / "index")
        except FileNotFoundError:
            raise CorruptBlockError(f"{path / 'index'}: missing") from None
        except CorruptIndexError as exc:
            raise CorruptBlockError(str(exc)) from None
        if index.num_series != meta.num_series:
            raise CorruptBlockError(
                f"{path}: index has {index.num_series} series, meta.json says {meta.num_series}"
            )
        return cls(meta, index, path / "chunks")

    @property
    def path(self) -> Path:
        return self.meta.path

    def __repr__(self) -> str:
        return f"Block({self.meta.ulid}, [{self.meta.mint}, {self.meta.maxt}), {self.meta.num_series} series)"

    # -- lifetime -------------------------------------------------------------

    def _acquire(self) -> None:
        with self._lock:
            if self._users <= 0:
                raise StorageError(f"block {self.meta.ulid} is closed")
            self._users += 1

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._mm.close()

    def close(self) -> None:
        """Release the block; the mapping goes when the last open querier closes too."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()

    # -- reading ----------------------------------------------------------------

    def chunk_bytes(self, i: int) -> bytes:
        """The checked bytes of chunk *i* (an index into the index's ``chunk_*`` arrays)."""
        idx = self.index
        off, length = int(idx.chunk_ref[i]), int(idx.chunk_len[i])
        end = off + length
        if end + 4 > len(self._mm):
            raise CorruptBlockError(
                f"{self._chunks_path}: chunk at offset {off} runs past the end of the file"
            )
        data = self._mm[off:end]
        if zlib.crc32(data) != int.from_bytes(self._mm[end : end + 4], "little"):
            raise CorruptBlockError(
                f"{self._chunks_path}: checksum mismatch in chunk at offset {off} (file corrupted)"
            )
        return data

    def read_series(self, sid: int, mint: int, maxt: int) -> tuple[I64, F64]:
        """Samples of series *sid* with ``mint <= t <= maxt``, decoding only overlapping chunks."""
        idx = self.index
        start, end = idx.chunk_range(sid)
        cmin, cmax = idx.chunk_mint[start:end], idx.chunk_maxt[start:end]
        hit = np.flatnonzero((cmax >= mint) & (cmin <= maxt)) + start
        if not len(hit):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        parts = []
        for i in hit.tolist():
            try:
                parts.append(chunkenc.decode(self.chunk_bytes(i)))
            except chunkenc.ChunkError as exc:
                raise CorruptBlockError(
                    f"{self._chunks_path}: chunk {i} of series {idx.labels(sid)}: {exc}"
                ) from None
        if len(parts) == 1:
            ts, vs = parts[0]
        else:
            ts = np.concatenate([p[0] for p in parts])
            vs = np.concatenate([p[1] for p in parts])
        if int(ts[0]) < mint or int(ts[-1]) > maxt:
            lo = int(np.searchsorted(ts, mint, side="left"))
            hi = int(np.searchsorted(ts, maxt, side="right"))
            ts, vs = ts[lo:hi], vs[lo:hi]
        return ts, vs

    def _chunk_offsets(self) -> list[int]:
        """Series ``i``'s chunks are ``[off[i], off[i + 1])``, as Python ints (built once)."""
        off = self._chunk_off
        if off is None:
            idx = self.index
            off = [idx.chunk_range(sid)[0] for sid in range(idx.num_series)]
            off.append(idx.chunk_range(idx.num_series - 1)[1] if idx.num_series else 0)
            self._chunk_off = off
        return off

    def read_many(self, sids: Sequence[int], mint: int, maxt: int) -> list[tuple[I64, F64]]:
        """:meth:`read_series` of each of *sids*, with every chunk decoded in one batch
        (:func:`chunkenc.decode_many`): what a query selecting many series calls."""
        idx = self.index
        off = self._chunk_offsets()
        cmin, cmax = idx.chunk_mint, idx.chunk_maxt
        hits: list[int] = []
        spans: list[tuple[int, int]] = []
        for sid in sids:
            start, end = off[sid], off[sid + 1]
            first = len(hits)
            if end - start == 1:
                if int(cmax[start]) >= mint and int(cmin[start]) <= maxt:
                    hits.append(start)
            else:
                sel = np.flatnonzero((cmax[start:end] >= mint) & (cmin[start:end] <= maxt))
                hits += (sel + start).tolist()
            spans.append((first, len(hits)))
        try:
            decoded = chunkenc.decode_many([self.chunk_bytes(i) for i in hits])
        except chunkenc.ChunkError:
            # name the chunk: the one-by-one path says which series and chunk is bad
            return [self.read_series(sid, mint, maxt) for sid in sids]
        out: list[tuple[I64, F64]] = []
        for a, b in spans:
            if a == b:
                out.append((np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)))
                continue
            if b - a == 1:
                ts, vs = decoded[a]
            else:
                ts = np.concatenate([p[0] for p in decoded[a:b]])
                vs = np.concatenate([p[1] for p in decoded[a:b]])
            if int(ts[0]) < mint or int(ts[-1]) > maxt:
                lo = int(np.searchsorted(ts, mint, side="left"))
                hi = int(np.searchsorted(ts, maxt, side="right"))
                ts, vs = ts[lo:hi], vs[lo:hi]
            out.append((ts, vs))
        return out

    def labels(self, sid: int) -> Labels:
        """Series *sid*'s labels (kept after the first call)."""
        got = self._labels[sid]
        if got is None:
            got = self._labels[sid] = self.index.labels(sid)
        return got

    def _offsets_array(self) -> npt.NDArray[np.int64]:
        arr = self._chunk_off_arr
        if arr is None:
            arr = self._chunk_off_arr = np.asarray(self._chunk_offsets(), dtype=np.int64)
        return arr

    def read_packed(
        self, sids: Sequence[int] | npt.NDArray[np.intp], mint: int, maxt: int
    ) -> tuple[I64, F64, I64]:
        """The samples with ``mint <= t <= maxt`` of each of *sids*, back to back in that
        order, and how many each series has: :meth:`read_many` as one concatenation.

        No Python step per series: the overlapping chunks of all series are found by
        one mask, decoded and cut by :func:`chunkenc.decode_window`; a chunk's header is
        parsed (and its checksum verified) on its first read only.
        """
        sid_arr = np.asarray(sids, dtype=np.int64)
        n = len(sid_arr)
        if n == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), np.zeros(0, np.int64)
        off = self._offsets_array()
        starts, ends = off[sid_arr], off[sid_arr + 1]
        per = ends - starts
        total = int(per.sum())
        first = np.zeros(n, dtype=np.int64)
        np.cumsum(per[:-1], out=first[1:])
        cidx = np.repeat(starts - first, per) + np.arange(total, dtype=np.int64)
        idx = self.index
        hit = (idx.chunk_maxt[cidx] >= mint) & (idx.chunk_mint[cidx] <= maxt)
        owner = np.repeat(np.arange(n, dtype=np.int64), per)[hit]
        hits = cidx[hit]
        fresh = hits[~self._parsed[hits]]
        try:
            for i in fresh.tolist():
                self._headers[i] = chunkenc.parse_header(self.chunk_bytes(i))
                self._parsed[i] = True
            data = self._raw_chunks(hits)
            ts, vs, cnt = chunkenc.decode_window(data, mint, maxt, self._headers[hits])
        except chunkenc.ChunkError:
            # name the chunk: the one-by-one path says which series and chunk is bad
            pairs = [self.read_series(int(s), mint, maxt) for s in sid_arr.tolist()]
            counts = np.array([len(p[0]) for p in pairs], dtype=np.int64)
            if not pairs or not int(counts.sum()):
                return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), counts
            return (
                np.concatenate([p[0] for p in pairs]),
                np.concatenate([p[1] for p in pairs]),
                counts,
            )
        counts = np.bincount(owner, weights=cnt, minlength=n).astype(np.int64)
        return ts, vs, counts

    def _raw_chunks(self, hits: npt.NDArray[np.int64]) -> list[bytes]:
        """The bytes of chunks *hits* (their checksums were verified on their first read)."""
        idx = self.index
        refs = idx.chunk_ref[hits].astype(np.int64)
        lens = idx.chunk_len[hits].astype(np.int64)
        if len(refs) and int((refs + lens).max()) + 4 > len(self._mm):
            return [self.chunk_bytes(int(i)) for i in hits.tolist()]  # names the bad one
        mm = self._mm
        return [mm[o : o + n] for o, n in zip(refs.tolist(), lens.tolist(), strict=True)]

    def series(self) -> Iterator[tuple[Labels, I64, F64]]:
        """Every series with all its samples, in label order (what compaction reads)."""
        self._acquire()
        try:
            for sid in range(self.index.num_series):
                ts, vs = self.read_series(sid, self.meta.mint, self.meta.maxt)
                yield self.index.labels(sid), ts, vs
        finally:
            self._release()

    def querier(self, mint: int, maxt: int) -> BlockQuerier:
        """A Querier over ``[mint, maxt]`` (inclusive); close it when done."""
        self._acquire()
        return BlockQuerier(self, mint, maxt)


@dataclass
class BlockQuerier:
    """Implements :class:`~vigil.storage.interface.Querier` over one block."""

    block: Block
    mint: int
    maxt: int
    _closed: bool = field(default=False, repr=False)

    def _covers_block(self) -> bool:
        m = self.block.meta
        return self.mint <= m.mint and self.maxt >= m.maxt - 1

    def _disjoint(self) -> bool:
        m = self.block.meta
        return self.maxt < m.mint or self.mint >= m.maxt or self.maxt < self.mint

    def _ids(self, matchers: Sequence[Matcher]) -> npt.NDArray[np.intp]:
        if self._closed:
            raise StorageError("querier is closed")
        if self._disjoint():
            return np.empty(0, dtype=np.intp)
        return self.block.index.postings_for_matchers(matchers)

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        b = self.block
        sids = self._ids(matchers)
        ts, vs, counts = b.read_packed(sids, self.mint, self.maxt)
        ends = np.cumsum(counts).tolist()
        out = []
        a = 0
        for sid, e in zip(sids.tolist(), ends, strict=True):
            if e > a:
                out.append(Series(b.labels(sid), ts[a:e], vs[a:e]))
            a = e
        return out

    def _ids_in_range(self, matchers: Sequence[Matcher]) -> list[int]:
        ids: list[int] = self._ids(matchers).tolist()
        if self._covers_block():
            return ids
        idx = self.block.index
        keep = []
        for sid in ids:
            s, e = idx.chunk_range(sid)
            cmin, cmax = idx.chunk_mint[s:e], idx.chunk_maxt[s:e]
            inside = (cmin >= self.mint) & (cmax <= self.maxt)
            if bool(inside.any()) or len(self.block.read_series(sid, self.mint, self.maxt)[0]):
                keep.append(sid)
        return keep

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        idx = self.block.index
        if not matchers and self._covers_block():
            return idx.label_names()
        names: set[str] = set()
        for sid in self._ids_in_range(matchers):
            names.update(n for n, v in idx.labels(sid).pairs if v)
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        idx = self.block.index
        if not matchers and self._covers_block():
            return idx.label_values(name)
        values = {idx.labels(sid).get(name) for sid in self._ids_in_range(matchers)}
        values.discard("")
        return sorted(values)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.block._release()
