"""Vectorised chunk encoding: one series' samples in a time range as a few hundred bytes.

Every step is a whole-array NumPy operation, never a Python loop per sample:

* **timestamps**: the first one in the header, then the first delta and the
  deltas of deltas (``np.diff`` twice), zigzag-mapped to unsigned integers.
  Regular scrapes give a run of zeros.
* **values**, one of two modes chosen per chunk:

  - *decimal*: when (nearly) every value is ``m / 10**k`` for an integer
    ``m`` below 2**53 and one ``k`` (counters, histogram buckets, gauges read
    from text with a few decimals), the deltas of ``m``, zigzag-mapped. Values
    that don't fit (NaN, the staleness marker, infinities, ``-0.0``, an odd
    value with more digits) are kept as *exceptions*: index and raw bits.
  - *xor*: otherwise each value's IEEE-754 bits XOR the previous value's bits,
    as in Gorilla / Prometheus's XOR chunks.

* both integer streams are cut to the bytes their largest element needs and
  **byte-shuffled** (all first bytes, then all second bytes, ...), so the
  runs of equal bytes that remain are what zstd compresses best.

Decoding reverses each step (``np.cumsum``, ``np.bitwise_xor.accumulate``);
every int64 timestamp and every float64 bit pattern (NaN payloads, the
staleness marker, ``-0.0``) round-trips exactly. The byte layout is in
``FORMAT.md`` ("Chunk encoding").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import zstandard

__all__ = [
    "CHUNK_VERSION",
    "ChunkError",
    "decode",
    "decode_many",
    "decode_window",
    "encode",
    "encoded_count",
    "parse_header",
    "parse_headers",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]

CHUNK_VERSION = 1
MODE_XOR = 0
MODE_DECIMAL = 1
CODEC_RAW = 0
CODEC_ZSTD = 1

ZSTD_LEVEL = 3
"""Measured in bench/chunk_size.py: higher levels shave little off these small, shuffled inputs."""

_MAX_DECIMALS = 15
_MAX_EXCEPTION_SHARE = 0.25
_MAX_MANTISSA = float(2**53)
_MAX_SAMPLES = 2**32 - 1


class ChunkError(ValueError):
    """The bytes are not a valid chunk (truncated, corrupted or from a newer version)."""


# -- small helpers ------------------------------------------------------------


def _zigzag(x: I64) -> U64:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: U64) -> I64:
    return ((u >> np.uint64(1)) ^ (np.uint64(0) - (u & np.uint64(1)))).view(np.int64)


def _unzigzag_inplace(u: U64) -> I64:
    """:func:`_unzigzag` reusing *u*'s memory (one temporary instead of four)."""
    sign = u & np.uint64(1)
    np.negative(sign, out=sign)  # 0 or all ones (modular)
    u >>= np.uint64(1)
    u ^= sign
    return u.view(np.int64)


def _width(u: U64) -> int:
    """Bytes needed by the largest element (0 for an empty or all-zero array)."""
    if len(u) == 0:
        return 0
    return (int(u.max()).bit_length() + 7) // 8


def _shuffle(u: U64, width: int) -> bytes:
    """The low *width* bytes of each element, byte plane by byte plane (least significant first)."""
    if width == 0:
        return b""
    planes = u.astype("<u8", copy=False).view(np.uint8).reshape(-1, 8)[:, :width]
    return planes.T.tobytes()


def _unshuffle(buf: memoryview, count: int, width: int) -> U64:
    out = np.zeros((count, 8), dtype=np.uint8)
    if width and count:
        planes = np.frombuffer(buf, dtype=np.uint8, count=width * count).reshape(width, count)
        out[:, :width] = planes.T
    return out.view("<u8").reshape(count).astype(np.uint64, copy=False)


def _put_uvarint(out: bytearray, x: int) -> None:
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)


def _get_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    x = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ChunkError("chunk header is truncated")
        b = buf[pos]
        pos += 1
        x |= (b & 0x7F) << shift
        if b < 0x80:
            return x, pos
        shift += 7
        if shift > 70:
            raise ChunkError("chunk header has an overlong varint")


def _zz(x: int) -> int:
    return (x << 1) ^ (x >> 63) if x >= 0 else ((-x) << 1) - 1


def _unzz(u: int) -> int:
    return (u >> 1) ^ -(u & 1)


# -- value modes -----------------------------------------------------------------


def _decimals_needed(vs: F64) -> int | None:
    """The decimals a sample of the values needs to be ``m / 10**k``, or None if too many."""
    need = 0
    picked = 0
    for v in vs[:64].tolist():
        if not math.isfinite(v) or v == 0.0:
            continue
        text = repr(v)
        mantissa, _, exp = text.partition("e")
        digits = len(mantissa.partition(".")[2].rstrip("0"))
        k = digits - int(exp) if exp else digits
        if k > _MAX_DECIMALS:
            return None
        need = max(need, k)
        picked += 1
        if picked == 8:
            break
    return need


def _decimal_mantissas(vs: F64, k: int) -> tuple[I64, npt.NDArray[np.bool_]]:
    """``m`` with ``m / 10**k`` bit-identical to each value, and the mask where that holds."""
    scale = float(10**k)
    with np.errstate(invalid="ignore", over="ignore"):
        m_f = np.rint(vs * scale)
        fits = np.abs(m_f) < _MAX_MANTISSA  # False for NaN and infinities
        m = np.where(fits, m_f, 0.0).astype(np.int64)
        back = m.astype(np.float64) / scale  # exactly what decode computes (so -0.0 fails)
    ok = fits & (back.view(np.uint64) == vs.view(np.uint64))
    return m, ok


def _encode_values(vs: F64, out_header: bytearray) -> bytes:
    """Append the value-mode bytes to the header and return the value payload."""
    n = len(vs)
    bits = vs.view(np.uint64)
    k = _decimals_needed(vs)
    if k is not None:
        m, ok = _decimal_mantissas(vs, k)
        n_exc = n - int(np.count_nonzero(ok))
        if n_exc <= n * _MAX_EXCEPTION_SHARE:
            if n_exc:
                # Carry the previous representable mantissa over each exception (delta 0).
                idx = np.where(ok, np.arange(n), 0)
                np.maximum.accumulate(idx, out=idx)
                m = np.where(ok, m, 0)[idx]
            deltas = _zigzag(np.diff(m))
            w = _width(deltas)
            out_header.append(MODE_DECIMAL)
            out_header.append(k)
            out_header.append(w)
            _put_uvarint(out_header, _zz(int(m[0])))
            _put_uvarint(out_header, n_exc)
            payload = _shuffle(deltas, w)
            if n_exc:
                exc = np.flatnonzero(~ok)
                payload += exc.astype("<u4").tobytes() + bits[exc].astype("<u8").tobytes()
            return payload
    x = bits[1:] ^ bits[:-1]
    w = _width(x)
    out_header.append(MODE_XOR)
    out_header.append(w)
    out_header += bits[:1].astype("<u8").tobytes()
    return _shuffle(x, w)


# -- public API ------------------------------------------------------------------


def encode(
    ts: npt.ArrayLike,
    vs: npt.ArrayLike,
    *,
    level: int = ZSTD_LEVEL,
) -> bytes:
    """Encode samples (int64 ms timestamps, float64 values) into one chunk.

    Any int64 timestamps are accepted (callers keep them increasing; the
    encoding itself does not need it). ``decode(encode(ts, vs))`` returns
    arrays equal bit for bit.
    """
    t = np.ascontiguousarray(ts, dtype=np.int64)
    v = np.ascontiguousarray(vs, dtype=np.float64)
    if t.ndim != 1 or v.ndim != 1 or len(t) != len(v):
        raise ValueError(f"timestamps {t.shape} and values {v.shape} must be 1-D of one length")
    n = len(t)
    if n > _MAX_SAMPLES:
        raise ValueError(f"a chunk holds at most {_MAX_SAMPLES} samples, got {n}")
    header = bytearray()
    header.append(CHUNK_VERSION)
    _put_uvarint(header, n)
    if n == 0:
        return bytes(header)
    _put_uvarint(header, _zz(int(t[0])))
    # First delta, then deltas of deltas (modular int64 arithmetic round-trips).
    d = np.diff(t)
    tstream = np.empty(max(n - 1, 0), dtype=np.int64)
    if n > 1:
        tstream[0] = d[0]
        np.subtract(d[1:], d[:-1], out=tstream[1:])
    tz = _zigzag(tstream)
    tw = _width(tz)
    header.append(tw)
    payload = _shuffle(tz, tw) + _encode_values(v, header)
    if len(payload) > 32:
        params = zstandard.ZstdCompressionParameters.from_level(
            level,
            format=zstandard.FORMAT_ZSTD1_MAGICLESS,
            write_checksum=False,
            write_content_size=False,
            write_dict_id=False,
        )
        packed = zstandard.ZstdCompressor(compression_params=params).compress(payload)
        if len(packed) < len(payload):
            header.append(CODEC_ZSTD)
            _put_uvarint(header, len(payload))
            return bytes(header) + packed
    header.append(CODEC_RAW)
    return bytes(header) + payload


def encoded_count(data: bytes) -> int:
    """The number of samples in a chunk, read from its header only."""
    if not data or data[0] != CHUNK_VERSION:
        raise ChunkError(_bad_version(data))
    return _get_uvarint(data, 1)[0]


def _bad_version(data: bytes) -> str:
    if not data:
        return "chunk is empty"
    return f"chunk version {data[0]} is not supported (this build reads version {CHUNK_VERSION})"


HEADER_FIELDS = 10
"""Fields of :func:`parse_header`'s tuple."""


def parse_header(data: bytes) -> tuple[int, int, int, int, int, int, int, int, int, int]:
    """A chunk's header, checked, without touching its payload:
    ``(n, t0 zigzagged, t width, mode, decimals, v width, first value, exceptions, codec,
    payload start)`` where the first value is the zigzagged first mantissa (decimal) or
    the raw bits (xor), and the payload (compressed when the codec says so) starts at
    ``data[payload start:]``, after the raw size varint for zstd."""
    if not data or data[0] != CHUNK_VERSION:
        raise ChunkError(_bad_version(data))
    n, pos = _get_uvarint(data, 1)
    if n == 0:
        return 0, 0, 0, MODE_XOR, 0, 0, 0, 0, CODEC_RAW, len(data)
    try:
        t0z, pos = _get_uvarint(data, pos)
        tw = data[pos]
        mode = data[pos + 1]
        pos += 2
        if mode == MODE_DECIMAL:
            k, vw = data[pos], data[pos + 1]
            v0, pos = _get_uvarint(data, pos + 2)
            n_exc, pos = _get_uvarint(data, pos)
        elif mode == MODE_XOR:
            vw = data[pos]
            v0 = int.from_bytes(data[pos + 1 : pos + 9], "little")
            if pos + 9 > len(data):
                raise IndexError
            pos += 9
            k = n_exc = 0
        else:
            raise ChunkError(f"chunk value mode {mode} is unknown")
        codec = data[pos]
        pos += 1
    except IndexError:
        raise ChunkError("chunk header is truncated") from None
    if tw > 8 or vw > 8 or k > _MAX_DECIMALS or n_exc > n:
        raise ChunkError("chunk header is corrupted (impossible widths or counts)")
    size = tw * (n - 1) + vw * (n - 1) + 12 * n_exc
    if codec == CODEC_ZSTD:
        raw_size, pos = _get_uvarint(data, pos)
        if raw_size != size:
            raise ChunkError(f"chunk payload size {raw_size} does not match its header ({size})")
    elif codec != CODEC_RAW:
        raise ChunkError(f"chunk codec {codec} is unknown")
    return n, t0z, tw, mode, k, vw, v0, n_exc, codec, pos


def _payload_size(h: Sequence[int]) -> int:
    n, tw, vw, n_exc = h[0], h[2], h[5], h[7]
    return int(tw * (n - 1) + vw * (n - 1) + 12 * n_exc) if n else 0


def _parse(
    data: bytes, dctx: zstandard.ZstdDecompressor | None = None
) -> tuple[int, int, int, int, int, int, int, int, bytes]:
    """A chunk's header fields and its raw (decompressed) payload:
    ``(n, t0 zigzagged, t width, mode, decimals, v width, first value, exceptions, payload)``
    (see :func:`parse_header`)."""
    h = parse_header(data)
    n, t0z, tw, mode, k, vw, v0, n_exc, codec, pos = h
    if n == 0:
        return 0, 0, 0, MODE_XOR, 0, 0, 0, 0, b""
    size = _payload_size(h)
    if codec == CODEC_ZSTD:
        try:
            # A streaming decompressor grows its output as it goes, so a corrupted
            # header cannot make it allocate more than the data really expands to.
            if dctx is None:
                dctx = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
            dobj = dctx.decompressobj()
            payload = dobj.decompress(data[pos:])
            if not dobj.eof:
                raise ChunkError("chunk payload is truncated")
            if dobj.unused_data:
                raise ChunkError(f"chunk has {len(dobj.unused_data)} unexpected trailing bytes")
        except zstandard.ZstdError as exc:
            raise ChunkError(f"chunk payload does not decompress: {exc}") from None
    else:
        payload = data[pos:]
    if len(payload) != size:
        raise ChunkError(f"chunk payload has {len(payload)} bytes, its header says {size}")
    return n, t0z, tw, mode, k, vw, v0, n_exc, payload


def decode(data: bytes) -> tuple[I64, F64]:
    """Decode a chunk made by :func:`encode` into (timestamps, values).

    Raises :class:`ChunkError` for bytes that are not a well-formed chunk.
    """
    n, t0z, tw, mode, k, vw, v0, n_exc, payload = _parse(data)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    v0_bits, m0z = v0, v0
    buf = memoryview(payload)

    ts = np.empty(n, dtype=np.int64)
    ts[0] = _unzz(t0z)
    if n > 1:
        tstream = _unzigzag(_unshuffle(buf, n - 1, tw))
        deltas = np.cumsum(tstream)  # first delta, then running sum of deltas of deltas
        np.cumsum(deltas, out=ts[1:])
        ts[1:] += ts[0]
    off = tw * (n - 1)

    if mode == MODE_XOR:
        bits = np.empty(n, dtype=np.uint64)
        bits[0] = v0_bits
        if n > 1:
            bits[1:] = _unshuffle(buf[off:], n - 1, vw)
            np.bitwise_xor.accumulate(bits, out=bits)
        return ts, bits.view(np.float64)

    m = np.empty(n, dtype=np.int64)
    m[0] = _unzz(m0z)
    if n > 1:
        m[1:] = _unzigzag(_unshuffle(buf[off:], n - 1, vw))
        np.cumsum(m, out=m)
    vs = m.astype(np.float64) / float(10**k)
    if n_exc:
        off += vw * (n - 1)
        idx = np.frombuffer(buf[off:], dtype="<u4", count=n_exc).astype(np.intp)
        if int(idx.max()) >= n:
            raise ChunkError("chunk exception index is out of range")
        raw = np.frombuffer(buf[off + 4 * n_exc :], dtype="<u8", count=n_exc)
        vs.view(np.uint64)[idx] = raw
    return ts, vs


# -- batch decoding ----------------------------------------------------------------

_BATCH_MIN = 4
"""Chunks of one shape decoded together from this many; fewer go through :func:`decode`."""
_BATCH_SAMPLES = 131_072
"""Samples per batch at most: each temporary (8 bytes a sample, 1 MiB) stays below glibc's
mmap threshold (4 MiB, fixed by :mod:`vigil.tsdb.db`), where every allocation would be a fresh
mapping, page-faulted in and unmapped again (measured: 10x slower per NumPy operation)."""


def _unshuffle_rows(planes: npt.NDArray[np.uint8], width: int) -> U64:
    """:func:`_unshuffle` of many equal-length streams: ``planes`` is uint8[g, width, count].

    The planes go into the smallest unsigned container that holds *width* bytes (2, 4
    or 8), one contiguous plane copy each, then widen: a quarter of the memory traffic
    of always building 8-byte rows when most streams are 1-3 bytes wide."""
    g, _, count = planes.shape
    if width == 1:
        return planes[:, 0, :].astype(np.uint64)
    if width == 0:
        return np.zeros((g, count), dtype=np.uint64)
    cont = 2 if width <= 2 else 4 if width <= 4 else 8
    out = np.zeros((g, count, cont), dtype=np.uint8)
    for b in range(width):
        out[:, :, b] = planes[:, b, :]
    return out.view(f"<u{cont}").reshape(g, count).astype(np.uint64)


def decode_many(chunks: Sequence[bytes]) -> list[tuple[I64, F64]]:
    """``[decode(c) for c in chunks]``, bit for bit, but vectorised across chunks.

    Chunks of one shape (sample count, widths, value mode, decimals), as a block's
    series scraped at one interval mostly are, are decoded as the rows of 2-D
    arrays: every step is one NumPy call for the whole group instead of one per
    chunk. The arrays returned are rows of those (read-only use). Raises
    :class:`ChunkError` for a malformed chunk.
    """
    out: list[tuple[I64, F64] | None] = [None] * len(chunks)
    parsed = []
    groups: dict[tuple[int, int, int, int, int], list[int]] = {}
    dctx = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
    for i, data in enumerate(chunks):
        p = _parse(data, dctx)
        parsed.append(p)
        n, _, tw, mode, k, vw = p[:6]
        if n > 1:
            groups.setdefault((n, tw, vw, mode, k), []).append(i)
        else:
            out[i] = decode(data)
    batches: list[tuple[tuple[int, int, int, int, int], list[int]]] = []
    for key, members in groups.items():
        if len(members) < _BATCH_MIN:
            for i in members:
                out[i] = decode(chunks[i])
            continue
        per = max(_BATCH_MIN, _BATCH_SAMPLES // key[0])
        batches += [(key, members[j : j + per]) for j in range(0, len(members), per)]
    for (n, tw, vw, mode, k), members in batches:
        g = len(members)
        c = n - 1
        size = (tw + vw) * c
        rows = [parsed[i] for i in members]
        arr = np.frombuffer(b"".join(r[8][:size] for r in rows), dtype=np.uint8).reshape(g, size)
        ts = np.empty((g, n), dtype=np.int64)
        ts[:, 0] = _unzigzag(np.array([r[1] for r in rows], dtype=np.uint64))
        dod = _unzigzag(_unshuffle_rows(arr[:, : tw * c].reshape(g, tw, c), tw))
        np.cumsum(dod, axis=1, out=dod)
        np.cumsum(dod, axis=1, out=ts[:, 1:])
        ts[:, 1:] += ts[:, :1]
        first = np.array([r[6] for r in rows], dtype=np.uint64)
        u = _unshuffle_rows(arr[:, tw * c :].reshape(g, vw, c), vw)
        if mode == MODE_XOR:
            bits = np.empty((g, n), dtype=np.uint64)
            bits[:, 0] = first
            bits[:, 1:] = u
            np.bitwise_xor.accumulate(bits, axis=1, out=bits)
            vs = bits.view(np.float64)
        else:
            m = np.empty((g, n), dtype=np.int64)
            m[:, 0] = _unzigzag(first)
            m[:, 1:] = _unzigzag(u)
            np.cumsum(m, axis=1, out=m)
            vs = m.astype(np.float64) / float(10**k)
        for j, i in enumerate(members):
            row_v = vs[j]
            n_exc = rows[j][7]
            if n_exc:
                buf = memoryview(rows[j][8])
                idx = np.frombuffer(buf[size:], dtype="<u4", count=n_exc).astype(np.intp)
                if int(idx.max()) >= n:
                    raise ChunkError("chunk exception index is out of range")
                raw = np.frombuffer(buf[size + 4 * n_exc :], dtype="<u8", count=n_exc)
                row_v.view(np.uint64)[idx] = raw
            out[i] = (ts[j], row_v)
    return [o for o in out if o is not None]


# -- windowed batch decoding ---------------------------------------------------------

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
"""Prefixed to a chunk's magicless zstd frame, so that zstd's batch decoder (which reads
standard frames only) decompresses many payloads in one call."""


def parse_headers(chunks: Sequence[bytes]) -> U64:
    """:func:`parse_header` of each chunk as the rows of a uint64[len, HEADER_FIELDS] array."""
    out = np.empty((len(chunks), HEADER_FIELDS), dtype=np.uint64)
    for i, data in enumerate(chunks):
        out[i] = parse_header(data)
    return out


def _payloads(chunks: Sequence[bytes], headers: U64) -> list[bytes | memoryview]:
    """Each chunk's raw payload; the zstd ones decompressed in one call."""
    h = headers.astype(np.int64)
    n = h[:, 0]
    sizes = np.where(n > 0, (h[:, 2] + h[:, 5]) * (n - 1) + 12 * h[:, 7], 0)
    start = h[:, 9].tolist()
    out: list[bytes | memoryview] = [b""] * len(chunks)
    zstd = (n > 0) & (h[:, 8] == CODEC_ZSTD)
    for i in np.flatnonzero((n > 0) & ~zstd).tolist():
        out[i] = chunks[i][start[i] :]
        if len(out[i]) != int(sizes[i]):
            raise ChunkError(f"chunk payload has {len(out[i])} bytes, its header says {sizes[i]}")
    zidx = np.flatnonzero(zstd).tolist()
    if zidx:
        frames: list[bytes | bytearray | memoryview] = [
            _ZSTD_MAGIC + chunks[i][start[i] :] for i in zidx
        ]
        zsizes = sizes[zidx]
        dctx = zstandard.ZstdDecompressor()
        try:
            got = dctx.multi_decompress_to_buffer(
                frames, decompressed_sizes=zsizes.astype(np.uint64).tobytes(), threads=0
            )
        except zstandard.ZstdError:
            for i in zidx:  # the one-by-one path says what is wrong
                _parse(chunks[i])
            raise ChunkError("chunk payloads do not decompress") from None
        got_sizes = [len(memoryview(got[j])) for j in range(len(zidx))]  # type: ignore[arg-type]
        if got_sizes != zsizes.tolist():
            raise ChunkError("chunk payload sizes do not match their headers")
        for j, i in enumerate(zidx):
            out[i] = memoryview(got[j])  # type: ignore[arg-type]  # a buffer, untyped in the stubs
    return out


def decode_window(
    chunks: Sequence[bytes], mint: int, maxt: int, headers: U64 | None = None
) -> tuple[I64, F64, I64]:
    """The samples of *chunks* with ``mint <= t <= maxt``: timestamps and values of all
    chunks concatenated in chunk order, and how many samples each chunk gave.

    What :func:`decode_many` does plus the cut to the window, without a Python step per
    chunk beyond the header (*headers*, :func:`parse_headers` of the chunks, may be
    given when the caller keeps them): zstd payloads are decompressed in one call,
    chunks of one shape decode as the rows of 2-D arrays and are cut by one mask.
    Bit for bit what ``decode`` and a cut per chunk give. Raises :class:`ChunkError`.
    """
    m = len(chunks)
    counts = np.zeros(m, dtype=np.int64)
    if m == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), counts
    hdr = parse_headers(chunks) if headers is None else headers
    payloads = _payloads(chunks, hdr)
    n_arr = hdr[:, 0].astype(np.int64)
    key = (
        (n_arr << 24)
        | (hdr[:, 2].astype(np.int64) << 20)
        | (hdr[:, 5].astype(np.int64) << 16)
        | (hdr[:, 3].astype(np.int64) << 8)
        | hdr[:, 4].astype(np.int64)
    )
    # pieces: (chunk ids, their counts, timestamps, values), each in chunk-id order inside
    pieces: list[tuple[npt.NDArray[np.intp], I64, I64, F64]] = []
    single: list[int] = []
    multi = np.flatnonzero(n_arr > 1)
    if len(multi):
        uniq, inv = np.unique(key[multi], return_inverse=True)
        for u in range(len(uniq)):
            members = multi[inv == u] if len(uniq) > 1 else multi
            if len(members) < _BATCH_MIN:
                single += members.tolist()
                continue
            n = int(n_arr[members[0]])
            per = max(_BATCH_MIN, _BATCH_SAMPLES // n)
            for j in range(0, len(members), per):
                pieces.append(_decode_batch(members[j : j + per], hdr, payloads, mint, maxt))
    single += np.flatnonzero(n_arr == 1).tolist()
    for i in sorted(single):
        ts, vs = decode(chunks[i])
        keep = (ts >= mint) & (ts <= maxt)
        pieces.append(
            (np.array([i], dtype=np.intp), np.array([int(keep.sum())]), ts[keep], vs[keep])
        )
    if not pieces:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), counts
    ids_all = np.concatenate([p[0] for p in pieces])
    if len(ids_all) == m and bool((ids_all == np.arange(m)).all()):
        # the pieces are the chunks in order (one shape, cut into batches): no gather
        if len(pieces) == 1:
            return pieces[0][2], pieces[0][3], pieces[0][1]
        return (
            np.concatenate([p[2] for p in pieces]),
            np.concatenate([p[3] for p in pieces]),
            np.concatenate([p[1] for p in pieces]),
        )
    src = np.zeros(m, dtype=np.int64)
    base = 0
    for ids, cnt, _, _ in pieces:
        counts[ids] = cnt
        starts = np.zeros(len(cnt), dtype=np.int64)
        np.cumsum(cnt[:-1], out=starts[1:])
        src[ids] = starts + base
        base += int(cnt.sum())
    all_ts = np.concatenate([p[2] for p in pieces])
    all_vs = np.concatenate([p[3] for p in pieces])
    dst = np.zeros(m, dtype=np.int64)
    np.cumsum(counts[:-1], out=dst[1:])
    gather = np.repeat(src - dst, counts) + np.arange(base, dtype=np.int64)
    return all_ts[gather], all_vs[gather], counts


def _decode_batch(
    members: npt.NDArray[np.intp],
    hdr: U64,
    payloads: list[bytes | memoryview],
    mint: int,
    maxt: int,
) -> tuple[npt.NDArray[np.intp], I64, I64, F64]:
    """Chunks of one shape (count, widths, mode, decimals) decoded as rows and cut."""
    h = hdr[members]
    n, tw, mode, k, vw = (int(x) for x in h[0, [0, 2, 3, 4, 5]])
    g = len(members)
    c = n - 1
    size = (tw + vw) * c
    ids = members.tolist()
    n_exc = h[:, 7]
    arr = np.frombuffer(b"".join([payloads[i][:size] for i in ids]), dtype=np.uint8)
    arr = arr.reshape(g, size)
    ts = np.empty((g, n), dtype=np.int64)
    ts[:, 0] = _unzigzag(h[:, 1].copy())
    dod = _unzigzag_inplace(_unshuffle_rows(arr[:, : tw * c].reshape(g, tw, c), tw))
    np.cumsum(dod, axis=1, out=dod)
    np.cumsum(dod, axis=1, out=ts[:, 1:])
    ts[:, 1:] += ts[:, :1]
    u = _unshuffle_rows(arr[:, tw * c :].reshape(g, vw, c), vw)
    if mode == MODE_XOR:
        bits = np.empty((g, n), dtype=np.uint64)
        bits[:, 0] = h[:, 6]
        bits[:, 1:] = u
        np.bitwise_xor.accumulate(bits, axis=1, out=bits)
        vs = bits.view(np.float64)
    else:
        mm = np.empty((g, n), dtype=np.int64)
        mm[:, 0] = _unzigzag(h[:, 6].copy())
        mm[:, 1:] = _unzigzag_inplace(u)
        np.cumsum(mm, axis=1, out=mm)
        vs = mm.astype(np.float64)
        if k:
            vs /= float(10**k)
    if bool(n_exc.any()):
        for j in np.flatnonzero(n_exc).tolist():
            ne = int(n_exc[j])
            buf = memoryview(payloads[ids[j]])
            idx = np.frombuffer(buf[size:], dtype="<u4", count=ne).astype(np.intp)
            if int(idx.max()) >= n:
                raise ChunkError("chunk exception index is out of range")
            raw = np.frombuffer(buf[size + 4 * ne :], dtype="<u8", count=ne)
            vs[j].view(np.uint64)[idx] = raw
    if int(ts[:, 0].min()) >= mint and int(ts[:, -1].max()) <= maxt:
        return members, np.full(g, n, dtype=np.int64), ts.reshape(-1), vs.reshape(-1)
    keep = (ts >= mint) & (ts <= maxt)
    return members, keep.sum(axis=1).astype(np.int64), ts[keep], vs[keep]
