"""A block's index: symbols, series labels, chunk references and postings.

The index answers "which series match these label matchers" without decoding
any chunk: *postings* map each ``(label name, label value)`` pair to the sorted
ids of the series that carry it (as in Prometheus's ``tsdb/index``), so ``=`` is
one dictionary look-up and ``=~`` / ``!~`` evaluate the regular expression once
per distinct value of the label, never per series.

Series ids are positions in label order, so a sorted id array gives series in
the order :class:`~vigil.storage.interface.Querier` returns them. The file is a
small header followed by one zstd frame holding flat little-endian arrays; the
layout is in ``FORMAT.md`` ("Blocks", "index").
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import zstandard

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.storage.interface import StorageError

__all__ = [
    "INDEX_MAGIC",
    "ChunkRefs",
    "CorruptIndexError",
    "IndexReader",
    "write_index",
]

INDEX_MAGIC = b"VIGILIX1"
_HEADER = struct.Struct("<8s6QQQI")  # magic, 6 counts, compressed len, raw len, crc32
_EMPTY = np.empty(0, dtype=np.uint32)

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


class CorruptIndexError(StorageError):
    """An index file that cannot be read: wrong magic, bad checksum, truncated."""


@dataclass(frozen=True, slots=True)
class ChunkRefs:
    """The chunks of one series, as parallel arrays (oldest chunk first)."""

    mint: I64
    maxt: I64
    ref: U64  # offset of the chunk's bytes in the block's chunks file
    length: U32  # bytes, without the trailing CRC32
    count: U32  # samples


def write_index(path: Path, series: Sequence[tuple[Labels, ChunkRefs]]) -> int:
    """Write the index for *series* (sorted by labels, distinct); returns the file size.

    The caller fsyncs (the whole block directory is made durable at once).
    """
    symbols: set[str] = set()
    for labels, _ in series:
        for n, v in labels.pairs:
            symbols.add(n)
            symbols.add(v)
    sym_list = sorted(symbols)
    sym_id = {s: i for i, s in enumerate(sym_list)}
    encoded = [s.encode() for s in sym_list]
    sym_off = np.zeros(len(encoded) + 1, dtype=np.uint64)
    np.cumsum([len(e) for e in encoded], out=sym_off[1:])
    if len(sym_off) and int(sym_off[-1]) >= 2**32:
        raise ValueError("index symbols exceed 4 GiB")
    blob = b"".join(encoded)

    label_off = np.zeros(len(series) + 1, dtype=np.uint32)
    np.cumsum([len(lb) for lb, _ in series], out=label_off[1:])
    pairs = np.fromiter(
        (sym_id[x] for lb, _ in series for p in lb.pairs for x in p),
        dtype=np.uint32,
        count=2 * int(label_off[-1]),
    ).reshape(-1, 2)
    chunk_off = np.zeros(len(series) + 1, dtype=np.uint32)
    np.cumsum([len(c.mint) for _, c in series], out=chunk_off[1:])

    def cat(arrays: list[npt.NDArray[np.generic]], dtype: str) -> bytes:
        if not arrays:
            return b""
        return np.concatenate(arrays).astype(dtype).tobytes()

    refs = [c for _, c in series]
    # Postings: series ids grouped by (name, value), empty values left out (a series
    # with name="" behaves exactly like one without the label, as in Prometheus).
    sids = np.repeat(np.arange(len(series), dtype=np.uint32), np.diff(label_off))
    names, values = pairs[:, 0], pairs[:, 1]
    if "" in sym_id:
        keep = values != sym_id[""]
        sids, names, values = sids[keep], names[keep], values[keep]
    order = np.lexsort((sids, values, names))
    sids, names, values = sids[order], names[order], values[order]
    if len(sids):
        starts = np.flatnonzero(
            np.concatenate(([True], (names[1:] != names[:-1]) | (values[1:] != values[:-1])))
        )
    else:
        starts = np.empty(0, dtype=np.intp)
    post_off = np.append(starts, len(sids)).astype(np.uint32)

    counts = (len(sym_list), len(series), len(pairs), int(chunk_off[-1]), len(starts), len(sids))
    raw = b"".join(
        [
            sym_off.astype("<u4").tobytes(),
            blob,
            label_off.astype("<u4").tobytes(),
            pairs.astype("<u4").tobytes(),
            chunk_off.astype("<u4").tobytes(),
            cat([c.mint for c in refs], "<i8"),
            cat([c.maxt for c in refs], "<i8"),
            cat([c.ref for c in refs], "<u8"),
            cat([c.length for c in refs], "<u4"),
            cat([c.count for c in refs], "<u4"),
            names[starts].astype("<u4").tobytes(),
            values[starts].astype("<u4").tobytes(),
            post_off.astype("<u4").tobytes(),
            sids.astype("<u4").tobytes(),
        ]
    )
    packed = zstandard.ZstdCompressor(level=3).compress(raw)
    header = _HEADER.pack(INDEX_MAGIC, *counts, len(packed), len(raw), zlib.crc32(packed))
    with open(path, "wb") as f:
        f.write(header)
        f.write(packed)
    return len(header) + len(packed)


class IndexReader:
    """An index file loaded into memory (flat arrays; labels built only for selected series)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = path.read_bytes()
        if len(data) < _HEADER.size:
            raise CorruptIndexError(f"{path}: index is truncated ({len(data)} bytes)")
        magic, *counts, packed_len, raw_len, crc = _HEADER.unpack_from(data)
        if magic != INDEX_MAGIC:
            raise CorruptIndexError(f"{path}: not a vigil index (magic {magic!r})")
        packed = data[_HEADER.size :]
        if len(packed) != packed_len:
            raise CorruptIndexError(
                f"{path}: index body has {len(packed)} bytes, header says {packed_len}"
            )
        if zlib.crc32(packed) != crc:
            raise CorruptIndexError(f"{path}: index checksum mismatch (file corrupted)")
        try:
            raw = zstandard.ZstdDecompressor().decompress(packed, max_output_size=raw_len)
        except zstandard.ZstdError as exc:
            raise CorruptIndexError(f"{path}: index does not decompress: {exc}") from None
        if len(raw) != raw_len:
            raise CorruptIndexError(
                f"{path}: index body has {len(raw)} bytes, header says {raw_len}"
            )
        n_sym, n_series, n_pairs, n_chunks, n_keys, n_post = counts
        pos = 0

        def take(dtype: str, count: int) -> npt.NDArray[np.generic]:
            nonlocal pos
            arr = np.frombuffer(raw, dtype=dtype, count=count, offset=pos)
            pos += arr.nbytes
            return arr

        try:
            sym_off = take("<u4", n_sym + 1).astype(np.intp)
            blob = raw[pos : pos + int(sym_off[-1])]
            pos += len(blob)
            self._label_off = take("<u4", n_series + 1).astype(np.intp)
            self._pairs = take("<u4", 2 * n_pairs).astype(np.intp)
            self._chunk_off = take("<u4", n_series + 1).astype(np.intp)
            self.chunk_mint = take("<i8", n_chunks).astype(np.int64)
            self.chunk_maxt = take("<i8", n_chunks).astype(np.int64)
            self.chunk_ref = take("<u8", n_chunks).astype(np.uint64)
            self.chunk_len = take("<u4", n_chunks).astype(np.uint32)
            self.chunk_count = take("<u4", n_chunks).astype(np.uint32)
            key_name = take("<u4", n_keys).astype(np.intp)
            key_value = take("<u4", n_keys).astype(np.intp)
            self._post_off = take("<u4", n_keys + 1).astype(np.intp)
            self._postings = take("<u4", n_post).astype(np.intp)
        except ValueError as exc:
            raise CorruptIndexError(f"{path}: index arrays are inconsistent: {exc}") from None
        if pos != len(raw):
            raise CorruptIndexError(f"{path}: index has {len(raw) - pos} unexpected trailing bytes")
        offs = sym_off.tolist()
        self.symbols: list[str] = [blob[offs[i] : offs[i + 1]].decode() for i in range(n_sym)]
        self.num_series = n_series
        self._key_value = key_value
        # name -> [start, end) of its keys; the value -> key map is built on first use.
        self._names: dict[str, tuple[int, int]] = {}
        if n_keys:
            bounds = np.flatnonzero(np.diff(key_name)) + 1
            starts = [0, *bounds.tolist()]
            ends = [*bounds.tolist(), n_keys]
            for s, e in zip(starts, ends, strict=True):
                self._names[self.symbols[int(key_name[s])]] = (s, e)
        self._values: dict[str, dict[str, int]] = {}
        self._all = np.arange(n_series, dtype=np.intp)

    # -- series -------------------------------------------------------------

    def labels(self, sid: int) -> Labels:
        sym = self.symbols
        p = self._pairs[2 * self._label_off[sid] : 2 * self._label_off[sid + 1]].tolist()
        return Labels._trusted(tuple((sym[p[i]], sym[p[i + 1]]) for i in range(0, len(p), 2)))

    def chunk_range(self, sid: int) -> tuple[int, int]:
        """[start, end) into the ``chunk_*`` arrays for series *sid*."""
        return int(self._chunk_off[sid]), int(self._chunk_off[sid + 1])

    # -- postings -----------------------------------------------------------

    def label_names(self) -> list[str]:
        return sorted(self._names)

    def _value_keys(self, name: str) -> dict[str, int]:
        got = self._values.get(name)
        if got is None:
            s, e = self._names.get(name, (0, 0))
            sym = self.symbols
            got = {sym[v]: s + i for i, v in enumerate(self._key_value[s:e].tolist())}
            self._values[name] = got
        return got

    def label_values(self, name: str) -> list[str]:
        return sorted(self._value_keys(name))

    def _key_postings(self, keys: list[int]) -> npt.NDArray[np.intp]:
        if not keys:
            return _EMPTY.astype(np.intp)
        po, posts = self._post_off, self._postings
        if len(keys) == 1:
            k = keys[0]
            return posts[po[k] : po[k + 1]]
        return np.unique(np.concatenate([posts[po[k] : po[k + 1]] for k in keys]))

    def postings(self, name: str, value: str) -> npt.NDArray[np.intp]:
        """Sorted ids of the series with ``name="value"`` (value non-empty)."""
        k = self._value_keys(name).get(value)
        return self._key_postings([] if k is None else [k])

    def _matching_keys(self, m: Matcher, want: bool) -> list[int]:
        values = self._value_keys(m.name)
        if m.type is MatchType.EQUAL or m.type is MatchType.NOT_EQUAL:
            if want == (m.type is MatchType.EQUAL):
                k = values.get(m.value)
                return [] if k is None else [k]
            return [k for v, k in values.items() if v != m.value]
        return [k for v, k in values.items() if m.matches(v) == want]

    def postings_for_matcher(self, m: Matcher) -> npt.NDArray[np.intp]:
        """Sorted ids of the series that *m* matches (a missing label counts as ``""``)."""
        if m.matches(""):
            # Every series except those whose (non-empty) value the matcher rejects.
            rejected = self._key_postings(self._matching_keys(m, False))
            if not len(rejected):
                return self._all
            return np.setdiff1d(self._all, rejected, assume_unique=True)
        return self._key_postings(self._matching_keys(m, True))

    def postings_for_matchers(self, matchers: Sequence[Matcher]) -> npt.NDArray[np.intp]:
        """Sorted ids of the series every matcher matches (all series for no matchers)."""
        # Cheapest first: equality look-ups narrow the set before regexes run.
        ordered = sorted(matchers, key=lambda m: (m.type is not MatchType.EQUAL, m.matches("")))
        result: npt.NDArray[np.intp] | None = None
        for m in ordered:
            if result is not None and not len(result):
                break
            ids = self.postings_for_matcher(m)
            result = ids if result is None else np.intersect1d(result, ids, assume_unique=True)
        return self._all if result is None else result
