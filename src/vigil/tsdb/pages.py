"""Compressed pages of the head: the samples of many series, encoded in one vectorised pass.

The head buffers committed samples raw (three columns: ref, timestamp,
value). When the buffer is full it is *cut*: sorted by series (a stable sort,
so each series stays in time order) and encoded into pages of a few thousand
samples each. A :class:`Cut` keeps, per series, only its ref and the offset
of its first sample (16 bytes), never a Python object per series or sample.

A page's encoding works across series boundaries without a loop: timestamps
become deltas of deltas, values XOR their predecessor, restarting at each
series' first sample; both streams are zigzagged/byte-shuffled and handed to
zstd. Decoding uses segmented ``cumsum`` / ``bitwise_xor.accumulate``.
Every timestamp and every float bit pattern round-trips exactly.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import zstandard

__all__ = [
    "PAGE_SAMPLES",
    "Cut",
    "build_cut",
    "decode_cut",
    "decode_page",
    "encode_cut",
    "encode_page",
    "merge_cuts",
    "range_samples",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
Mask = npt.NDArray[np.bool_]

PAGE_SAMPLES = 8192
"""Samples per page (a page holds whole series, so it may be larger)."""

_LEVEL = 1
_ZC = zstandard.ZstdCompressor(level=_LEVEL)
_PAGE_HEADER = struct.Struct("<IqBBBB")  # samples, base t, value mode, decimals, widths t/v


def _zigzag(x: I64) -> U64:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: U64) -> I64:
    return ((u >> np.uint64(1)) ^ (np.uint64(0) - (u & np.uint64(1)))).view(np.int64)


def _width(u: U64) -> int:
    """Bytes the largest element needs (0 when all are zero)."""
    return (int(u.max()).bit_length() + 7) // 8 if len(u) else 0


def _shuffle(u: U64) -> tuple[int, bytes]:
    """The low bytes each element needs, plane by plane (all first bytes, then all second...)."""
    w = _width(u)
    if not w:
        return 0, b""
    return w, u.astype("<u8", copy=False).view(np.uint8).reshape(-1, 8)[:, :w].T.tobytes()


def _unshuffle(buf: bytes | memoryview, offset: int, n: int, w: int) -> U64:
    planes = np.frombuffer(buf, dtype=np.uint8, count=w * n, offset=offset).reshape(w, n)
    if w > 3:
        out = np.zeros((n, 8), dtype=np.uint8)
        out[:, :w] = planes.T
        return out.view("<u8").reshape(n).astype(np.uint64, copy=False)
    u = np.zeros(n, dtype=np.uint64)
    for i in range(w):  # narrow streams (the usual case): a few whole-array shifts
        u |= planes[i].astype(np.uint64) << np.uint64(8 * i)
    return u


def _masks(n: int, firsts: I64) -> tuple[Mask, Mask]:
    first = np.zeros(n, dtype=np.bool_)
    first[firsts] = True
    reset = first.copy()
    reset[1:] |= first[:-1]  # the first delta of a series is stored raw too
    return first, reset


def _seg_cumsum(x: I64, mask: Mask) -> I64:
    """Cumulative sum restarting where *mask* is set (mask[0] must be)."""
    c = np.cumsum(x)
    idx = np.flatnonzero(mask)
    base = c[idx] - x[idx]
    out: I64 = c - np.repeat(base, np.diff(idx, append=len(x)))
    return out


def _seg_xor(x: U64, mask: Mask) -> U64:
    """Cumulative XOR restarting where *mask* is set (mask[0] must be)."""
    p: U64 = np.bitwise_xor.accumulate(x)
    idx = np.flatnonzero(mask)
    base: U64 = p[idx] ^ x[idx]
    rep: U64 = np.repeat(base, np.diff(idx, append=len(x)))
    out: U64 = p ^ rep
    return out


_MODE_XOR = 0
_MODE_DECIMAL = 1
_MAX_DECIMALS = 9
_MAX_MANTISSA = float(2**53)
_MAX_EXCEPTIONS = 0.1  # share of samples; past it the page uses XOR


def _decimals(vs: F64) -> int | None:
    """The fewest decimals k with ``rint(v * 10**k) / 10**k == v`` for values sampled over the
    page (None: more than _MAX_DECIMALS)."""
    sample = vs[:: max(1, len(vs) // 256)]
    sample = sample[np.isfinite(sample)]
    if not len(sample):
        return 0
    bits = sample.view(np.uint64)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(_MAX_DECIMALS + 1):
            scale = float(10**k)
            if bool(((np.rint(sample * scale) / scale).view(np.uint64) == bits).all()):
                return k
    return None


def _encode_decimal(vs: F64, first: Mask) -> tuple[int, int, bytes] | None:
    """Values as integer mantissas at one scale: deltas per series, exceptions kept raw."""
    k = _decimals(vs)
    if k is None:
        return None
    scale = float(10**k)
    with np.errstate(invalid="ignore", over="ignore"):
        m_f = np.rint(vs * scale)
        fits = np.abs(m_f) < _MAX_MANTISSA
        m = np.where(fits, m_f, 0.0).astype(np.int64)
        back = m.astype(np.float64) / scale
    ok = fits & (back.view(np.uint64) == vs.view(np.uint64))
    exc = np.flatnonzero(~ok)
    if len(exc) > _MAX_EXCEPTIONS * len(vs):
        return None
    if len(exc):
        idx = np.where(ok, np.arange(len(vs)), 0)
        np.maximum.accumulate(idx, out=idx)
        m = np.where(ok, m, 0)[idx]  # an exception repeats the previous mantissa (delta 0)
    dm = m.copy()
    dm[1:] -= m[:-1]
    dm[first] = m[first]
    tail = exc.astype("<u4").tobytes() + vs.view(np.uint64)[exc].astype("<u8").tobytes()
    w, planes = _shuffle(_zigzag(dm))
    return k, w, planes + struct.pack("<I", len(exc)) + tail


def encode_page(ts: I64, vs: F64, firsts: I64) -> bytes:
    """Encode samples of consecutive series; *firsts* are the offsets where each series starts.

    Timestamps: deltas of deltas. Values: integer mantissas at one decimal scale for the page
    (counters, buckets, gauges read from text), their deltas per series, with the few values
    that don't fit kept as exceptions; otherwise each value's bits XOR its predecessor's.
    """
    n = len(ts)
    first, reset = _masks(n, firsts)
    d = np.empty(n, dtype=np.int64)
    d[0] = ts[0]
    np.subtract(ts[1:], ts[:-1], out=d[1:])
    base = int(ts[0])
    d[first] = ts[first] - base  # series' first timestamps relative to the page's: small
    dd = d.copy()
    dd[1:] -= d[:-1]
    dd[reset] = d[reset]
    dec = _encode_decimal(vs, first)
    if dec is not None:
        mode, (k, vw, values) = _MODE_DECIMAL, dec
    else:
        bits = vs.view(np.uint64)
        x = bits.copy()
        x[1:] ^= bits[:-1]
        x[first] = bits[first]
        mode, k = _MODE_XOR, 0
        vw, values = _shuffle(x)
    tw, times = _shuffle(_zigzag(dd))
    return _PAGE_HEADER.pack(n, base, mode, k, tw, vw) + _ZC.compress(times + values)


def decode_page(data: bytes, firsts: I64) -> tuple[I64, F64]:
    n, base, mode, k, tw, vw = _PAGE_HEADER.unpack_from(data, 0)
    raw = zstandard.ZstdDecompressor().decompress(
        memoryview(data)[_PAGE_HEADER.size :], max_output_size=16 * n + 4 + 12 * n
    )
    first, reset = _masks(n, firsts)
    dd = _unzigzag(_unshuffle(raw, 0, n, tw))
    d = _seg_cumsum(dd, reset)
    ts = _seg_cumsum(d, first) + np.int64(base)
    off = tw * n
    if mode == _MODE_XOR:
        if len(raw) != off + vw * n:
            raise ValueError(f"head page holds {len(raw)} bytes, expected {off + vw * n}")
        bits = _seg_xor(_unshuffle(raw, off, n, vw), first)
        return ts, bits.view(np.float64)
    m = _seg_cumsum(_unzigzag(_unshuffle(raw, off, n, vw)), first)
    vs = m.astype(np.float64) / float(10**k)
    off += vw * n
    (n_exc,) = struct.unpack_from("<I", raw, off)
    if len(raw) != off + 4 + 12 * n_exc:
        raise ValueError(f"head page holds {len(raw)} bytes, its header says otherwise")
    if n_exc:
        off += 4
        idx = np.frombuffer(raw, dtype="<u4", count=n_exc, offset=off).astype(np.intp)
        exc = np.frombuffer(raw, dtype="<u8", count=n_exc, offset=off + 4 * n_exc)
        vs.view(np.uint64)[idx] = exc
    return ts, vs


@dataclass(frozen=True, slots=True, eq=False)
class Cut:
    """Samples of many series over one stretch of time, in compressed pages (immutable).

    Series ``i`` (ref ``refs[i]``) owns samples ``starts[i]:starts[i+1]``;
    page ``p`` holds series ``page_series[p]:page_series[p+1]``. ``level`` counts the
    merges behind it (0: cut from the buffer; the head merges runs of one level into
    the next, see :func:`merge_cuts`); it is the head's bookkeeping, not stored.
    """

    mint: int
    maxt: int
    refs: I64
    starts: I64
    page_series: I64
    pages: tuple[bytes, ...]
    level: int = 0

    @property
    def samples(self) -> int:
        return int(self.starts[-1])

    @property
    def nbytes(self) -> int:
        return (
            self.refs.nbytes
            + self.starts.nbytes
            + self.page_series.nbytes
            + sum(len(p) for p in self.pages)
        )

    def page_of(self, series_idx: I64) -> I64:
        return np.searchsorted(self.page_series, series_idx, side="right") - 1

    def decode(self, page: int) -> tuple[I64, F64, int]:
        """A page's (timestamps, values) and the sample offset its first sample has in the cut."""
        s0 = int(self.page_series[page])
        s1 = int(self.page_series[page + 1])
        base = int(self.starts[s0])
        ts, vs = decode_page(self.pages[page], self.starts[s0:s1] - base)
        return ts, vs, base

    def decode_all(self) -> tuple[I64, F64]:
        if not self.pages:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        parts = [self.decode(p) for p in range(len(self.pages))]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _empty_cut(level: int = 0) -> Cut:
    empty = np.empty(0, dtype=np.int64)
    zero = np.zeros(1, dtype=np.int64)
    return Cut(0, -1, empty, zero, zero.copy(), (), level)


def _page_bounds(starts: I64) -> I64:
    """``page_series`` for series starting at *starts*: pages of about PAGE_SAMPLES, whole series."""
    k, n = len(starts) - 1, int(starts[-1])
    cuts_at = np.searchsorted(starts[:-1], np.arange(PAGE_SAMPLES, n, PAGE_SAMPLES), side="left")
    out: I64 = np.unique(np.concatenate(([0], cuts_at, [k]))).astype(np.int64)
    return out


def build_cut(refs: I64, ts: I64, vs: F64, level: int = 0) -> Cut:
    """Encode samples sorted by (ref, time) into a cut."""
    n = len(refs)
    if n == 0:
        return _empty_cut(level)
    bounds = np.flatnonzero(refs[1:] != refs[:-1]) + 1
    starts = np.concatenate(([0], bounds, [n])).astype(np.int64)
    page_series = _page_bounds(starts)
    pages = []
    for p in range(len(page_series) - 1):
        s0, s1 = int(page_series[p]), int(page_series[p + 1])
        lo, hi = int(starts[s0]), int(starts[s1])
        pages.append(encode_page(ts[lo:hi], vs[lo:hi], starts[s0:s1] - lo))
    return Cut(
        mint=int(ts.min()),
        maxt=int(ts.max()),
        refs=refs[starts[:-1]].copy(),
        starts=starts,
        page_series=page_series,
        pages=tuple(pages),
        level=level,
    )


class _CutReader:
    """Reads a cut's series in ascending ref ranges, decoding each page once."""

    __slots__ = ("_cut", "_decoded", "_page")

    def __init__(self, cut: Cut) -> None:
        self._cut = cut
        self._page = -1
        self._decoded: tuple[I64, F64, int] = (np.empty(0, np.int64), np.empty(0), 0)

    def take(self, r0: int, r1: int) -> tuple[I64, I64, F64] | None:
        """(refs repeated per sample, timestamps, values) of the series with refs in [r0, r1)."""
        c = self._cut
        i0 = int(np.searchsorted(c.refs, r0))
        i1 = int(np.searchsorted(c.refs, r1))
        if i1 <= i0:
            return None
        p0, p1 = (int(x) for x in c.page_of(np.array([i0, i1 - 1])))
        rs: list[I64] = []
        tss: list[I64] = []
        vss: list[F64] = []
        for p in range(p0, p1 + 1):
            if p != self._page:
                self._decoded, self._page = c.decode(p), p
            ts, vs, base = self._decoded
            a = max(int(c.page_series[p]), i0)
            b = min(int(c.page_series[p + 1]), i1)
            lo, hi = int(c.starts[a]) - base, int(c.starts[b]) - base
            rs.append(np.repeat(c.refs[a:b], np.diff(c.starts[a : b + 1])))
            tss.append(ts[lo:hi])
            vss.append(vs[lo:hi])
        if len(rs) == 1:
            return rs[0], tss[0], vss[0]
        return np.concatenate(rs), np.concatenate(tss), np.concatenate(vss)


def _union(arrays: Sequence[I64]) -> I64:
    """The sorted union of sorted arrays without repeats (cuts' refs: usually all equal)."""
    first = arrays[0]
    if all(len(a) == len(first) and np.array_equal(a, first) for a in arrays[1:]):
        return first
    u = np.concatenate(arrays)
    u.sort()
    keep = np.empty(len(u), dtype=np.bool_)
    keep[:1] = True
    np.not_equal(u[1:], u[:-1], out=keep[1:])
    out: I64 = u[keep]
    return out


def merge_cuts(cuts: Sequence[Cut], level: int) -> Cut:
    """One cut holding the samples of consecutive *cuts* (oldest first, so each series'
    samples are in time order across them), built page by page: the temporaries stay
    the size of a page, whatever the size of the cuts."""
    parts = [c for c in cuts if len(c.refs)]
    if not parts:
        return _empty_cut(level)
    refs = _union([c.refs for c in parts])
    counts = np.zeros(len(refs), dtype=np.int64)
    for c in parts:
        counts[np.searchsorted(refs, c.refs)] += np.diff(c.starts)  # a cut's refs are unique
    starts = np.zeros(len(refs) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    page_series = _page_bounds(starts)
    readers = [_CutReader(c) for c in parts]
    pages = []
    for p in range(len(page_series) - 1):
        s0, s1 = int(page_series[p]), int(page_series[p + 1])
        r0, r1 = int(refs[s0]), int(refs[s1 - 1]) + 1
        got = [x for x in (rd.take(r0, r1) for rd in readers) if x is not None]
        r = np.concatenate([g[0] for g in got])
        order = np.argsort(r, kind="stable")  # per series: cut order, which is time order
        ts = np.concatenate([g[1] for g in got])[order]
        vs = np.concatenate([g[2] for g in got])[order]
        pages.append(encode_page(ts, vs, starts[s0:s1] - starts[s0]))
    return Cut(
        mint=min(c.mint for c in parts),
        maxt=max(c.maxt for c in parts),
        refs=refs,
        starts=starts,
        page_series=page_series,
        pages=tuple(pages),
        level=level,
    )


_CUT_HEADER = struct.Struct("<qqII")


def encode_cut(cut: Cut) -> bytes:
    """``mint i64, maxt i64, series u32, pages u32``, refs, starts, page_series (i64 LE each),
    page lengths (u32 LE), then the pages: how a checkpoint stores a cut, as is."""
    k, p = len(cut.refs), len(cut.pages)
    lens = np.array([len(pg) for pg in cut.pages], dtype="<u4")
    return b"".join(
        (
            _CUT_HEADER.pack(cut.mint, cut.maxt, k, p),
            cut.refs.astype("<i8").tobytes(),
            cut.starts.astype("<i8").tobytes(),
            cut.page_series.astype("<i8").tobytes(),
            lens.tobytes(),
            *cut.pages,
        )
    )


def decode_cut(data: bytes | memoryview) -> Cut:
    mint, maxt, k, p = _CUT_HEADER.unpack_from(data, 0)
    pos = _CUT_HEADER.size

    def take(count: int, dtype: str) -> npt.NDArray[np.generic]:
        nonlocal pos
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
        pos += arr.nbytes
        return arr

    refs = take(k, "<i8").astype(np.int64)
    starts = take(k + 1, "<i8").astype(np.int64)
    page_series = take(p + 1, "<i8").astype(np.int64)
    lens = take(p, "<u4").tolist()
    pages = []
    for n in lens:
        pages.append(bytes(data[pos : pos + n]))
        pos += n
    if pos != len(data):
        raise ValueError(f"cut record has {len(data) - pos} trailing bytes")
    return Cut(mint, maxt, refs, starts, page_series, tuple(pages))


def range_samples(
    cuts: tuple[Cut, ...], start: int, end: int, batch: int = 4096
) -> Iterator[tuple[int, I64, F64]]:
    """(ref, timestamps, values) of every series with samples in ``[start, end)`` in *cuts*
    (consecutive, oldest first), by ref; decoded a batch of series at a time."""
    cuts = tuple(c for c in cuts if len(c.refs) and c.mint < end and c.maxt >= start)
    if not cuts:
        return
    refs_all = _union([c.refs for c in cuts])
    for b0 in range(0, len(refs_all), batch):
        r0 = int(refs_all[b0])
        r1 = int(refs_all[min(b0 + batch, len(refs_all)) - 1]) + 1
        rs: list[I64] = []
        tss: list[I64] = []
        vss: list[F64] = []
        for c in cuts:
            i0 = int(np.searchsorted(c.refs, r0))
            i1 = int(np.searchsorted(c.refs, r1))
            if i1 <= i0:
                continue
            p0, p1 = (int(x) for x in c.page_of(np.array([i0, i1 - 1])))
            for p in range(p0, p1 + 1):
                ts, vs, base = c.decode(p)
                a = max(int(c.page_series[p]), i0)
                b = min(int(c.page_series[p + 1]), i1)
                lo, hi = int(c.starts[a]) - base, int(c.starts[b]) - base
                rep = np.repeat(c.refs[a:b], np.diff(c.starts[a : b + 1]))
                tt, vv = ts[lo:hi], vs[lo:hi]
                keep = (tt >= start) & (tt < end)
                rs.append(rep[keep])
                tss.append(tt[keep])
                vss.append(vv[keep])
        if not rs:
            continue
        r = np.concatenate(rs)
        if not len(r):
            continue
        order = np.argsort(r, kind="stable")  # per series: cut order, which is time order
        r, t, v = r[order], np.concatenate(tss)[order], np.concatenate(vss)[order]
        bounds = [0, *(np.flatnonzero(r[1:] != r[:-1]) + 1).tolist(), len(r)]
        for lo, hi in itertools.pairwise(bounds):
            yield int(r[lo]), t[lo:hi], v[lo:hi]
