"""Chunk encoding: exact round-trips of every bit pattern, and clear errors for bad bytes."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

from vigil.model.value import STALE_NAN, STALE_NAN_BITS
from vigil.tsdb.chunkenc import (
    MODE_DECIMAL,
    MODE_XOR,
    ChunkError,
    decode,
    decode_many,
    decode_window,
    encode,
    encoded_count,
    parse_header,
    parse_headers,
)

T0 = 1_700_000_000_000


def assert_round_trip(ts: np.ndarray, vs: np.ndarray) -> bytes:
    data = encode(ts, vs)
    got_t, got_v = decode(data)
    assert got_t.dtype == np.int64
    assert got_v.dtype == np.float64
    np.testing.assert_array_equal(got_t, np.asarray(ts, dtype=np.int64))
    # Bit for bit: NaN payloads, the staleness marker and -0.0 included.
    np.testing.assert_array_equal(
        got_v.view(np.uint64), np.asarray(vs, dtype=np.float64).view(np.uint64)
    )
    assert encoded_count(data) == len(ts)
    return data


def regular(n: int, step: int = 15_000) -> np.ndarray:
    return T0 + np.arange(n, dtype=np.int64) * step


@pytest.mark.parametrize("n", [0, 1, 2, 3, 120, 1000])
def test_sizes_round_trip(n: int) -> None:
    rng = np.random.default_rng(n)
    assert_round_trip(regular(n), np.cumsum(rng.poisson(3, n)).astype(np.float64))
    assert_round_trip(regular(n), rng.normal(size=n))


def test_special_values_round_trip_in_both_modes() -> None:
    specials = [math.inf, -math.inf, math.nan, STALE_NAN, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
    payload_nan = np.array([0x7FF8_0000_DEAD_BEEF, 0xFFF0_0000_0000_0001], dtype=np.uint64)
    odd = np.concatenate([np.array(specials), payload_nan.view(np.float64)])
    # Mostly integers (decimal mode with exceptions) and mostly random floats (xor mode).
    ints = np.arange(200, dtype=np.float64)
    ints[::20] = odd[: len(ints[::20])]
    assert _mode(encode(regular(200), ints)) == MODE_DECIMAL
    assert_round_trip(regular(200), ints)
    floats = np.random.default_rng(0).random(200)
    floats[::20] = odd[: len(floats[::20])]
    assert _mode(encode(regular(200), floats)) == MODE_XOR
    assert_round_trip(regular(200), floats)
    _, got = decode(encode(regular(3), [1.0, 2.0, STALE_NAN]))
    assert got.view(np.uint64)[2] == STALE_NAN_BITS


def _mode(data: bytes) -> int:
    """Value mode byte: after version, count, first timestamp and the ts width."""
    pos = 1
    for _ in range(2):  # two varints
        while data[pos] & 0x80:
            pos += 1
        pos += 1
    return data[pos + 1]


def test_random_bit_patterns_round_trip() -> None:
    rng = np.random.default_rng(42)
    for _ in range(200):
        n = int(rng.integers(0, 300))
        ts = np.sort(rng.integers(-(2**62), 2**62, n))
        bits = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
        assert_round_trip(ts, bits.view(np.float64))


def test_arbitrary_int64_timestamps_round_trip() -> None:
    # Extreme, unsorted and overflowing deltas still come back exactly.
    ts = np.array([2**63 - 1, -(2**63), 0, -1, 2**63 - 1, 5], dtype=np.int64)
    assert_round_trip(ts, np.zeros(len(ts)))


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, 6, 9])
def test_decimal_values_round_trip(decimals: int) -> None:
    rng = np.random.default_rng(decimals)
    n = 500
    vs = np.round(np.cumsum(rng.normal(0, 10, n)), decimals)
    data = assert_round_trip(regular(n), vs)
    assert _mode(data) == MODE_DECIMAL


def test_realistic_series_are_small() -> None:
    rng = np.random.default_rng(7)
    n = 480
    jitter = regular(n) + rng.integers(-2, 3, n)
    counter = np.cumsum(rng.poisson(40, n)).astype(np.float64)
    constant = np.ones(n)
    assert len(assert_round_trip(regular(n), constant)) < 40
    assert len(assert_round_trip(regular(n), counter)) / n < 1.3
    assert len(assert_round_trip(jitter, counter)) / n < 1.8


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        encode([1, 2], [1.0])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x09\x01", "version 9"),
        (b"\x01\x80", "truncated"),
        (b"\x01\x05\x02", "truncated"),
    ],
)
def test_bad_bytes_raise_chunk_error(data: bytes, message: str) -> None:
    with pytest.raises(ChunkError, match=message):
        decode(data)


def test_truncated_and_corrupted_chunks_raise_chunk_error_only() -> None:
    rng = np.random.default_rng(3)
    good = [
        encode(regular(300), np.cumsum(rng.poisson(5, 300)).astype(np.float64)),
        encode(regular(300), rng.random(300)),
        encode(regular(10), np.arange(10.0)),  # small: stored raw
    ]
    for data in good:
        for cut in range(len(data)):
            with pytest.raises(ChunkError):
                decode(data[:cut])
        with pytest.raises(ChunkError):
            decode(data + b"\x00")
        for _ in range(200):
            bad = bytearray(data)
            bad[int(rng.integers(0, len(bad)))] ^= 1 << int(rng.integers(0, 8))
            # May decode to other samples (the block's CRC catches those), never crash.
            with contextlib.suppress(ChunkError):
                decode(bytes(bad))


def _batch_cases() -> list[bytes]:
    """Chunks of many shapes: equal ones (batched), odd ones, both value modes, exceptions."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(120):
        n = [0, 1, 2, 5, 120, 1440][i % 6]
        if i % 4:
            ts = T0 + np.arange(n, dtype=np.int64) * 15_000
        else:
            ts = T0 + np.cumsum(rng.integers(1, 40_000, n))
        kind = i % 5
        if kind == 0:
            vs = rng.random(n) * 1e6  # xor
        elif kind == 1:
            vs = np.cumsum(rng.integers(0, 100, n)).astype(np.float64)
        elif kind == 2:
            vs = np.round(rng.random(n) * 100, 2)
            if n > 3:
                vs[1], vs[-1] = STALE_NAN, -0.0  # exceptions
        elif kind == 3:
            vs = np.full(n, 3.5)
        else:
            vs = np.cumsum(rng.integers(0, 10**6, n)).astype(np.float64) / 1000
            if n > 10:
                vs[5] = math.inf
        out.append(encode(ts, vs))
    return out


def test_decode_many_equals_decode_bit_for_bit() -> None:
    chunks = _batch_cases()
    got = decode_many(chunks)
    assert len(got) == len(chunks)
    for data, (ts, vs) in zip(chunks, got, strict=True):
        want_t, want_v = decode(data)
        assert ts.dtype == np.int64
        assert vs.dtype == np.float64
        np.testing.assert_array_equal(ts, want_t)
        np.testing.assert_array_equal(vs.view(np.uint64), want_v.view(np.uint64))
    assert decode_many([]) == []


def test_decode_many_refuses_a_bad_chunk() -> None:
    chunks = _batch_cases()
    chunks[7] = chunks[7][:-3]
    with pytest.raises(ChunkError):
        decode_many(chunks)


@pytest.mark.parametrize(
    ("mint", "maxt"),
    [
        (-(2**62), 2**62),  # everything
        (T0 + 3_600_000, T0 + 7_200_000),  # a cut through most chunks
        (T0 + 1, T0 + 1),  # at most a sample or two
        (T0 - 10, T0 - 1),  # before every chunk
    ],
)
@pytest.mark.parametrize("given_headers", [False, True])
def test_decode_window_equals_decode_and_cut(mint: int, maxt: int, given_headers: bool) -> None:
    chunks = _batch_cases()
    headers = parse_headers(chunks) if given_headers else None
    ts, vs, counts = decode_window(chunks, mint, maxt, headers)
    want = []
    for data in chunks:
        t, v = decode(data)
        keep = (t >= mint) & (t <= maxt)
        want.append((t[keep], v[keep]))
    assert counts.tolist() == [len(t) for t, _ in want]
    assert ts.dtype == np.int64
    assert vs.dtype == np.float64
    np.testing.assert_array_equal(ts, np.concatenate([t for t, _ in want]))
    np.testing.assert_array_equal(
        vs.view(np.uint64), np.concatenate([v for _, v in want]).view(np.uint64)
    )


def test_decode_window_of_one_shape_and_of_nothing() -> None:
    ts = T0 + 15_000 * np.arange(100, dtype=np.int64)
    chunks = [encode(ts + i, np.arange(100, dtype=np.float64) * i) for i in range(8)]
    got_t, got_v, counts = decode_window(chunks, int(ts[10]), int(ts[19]) + 6)
    assert counts.tolist() == [10] * 7 + [9]
    np.testing.assert_array_equal(got_t[:10], ts[10:20])
    np.testing.assert_array_equal(got_v[10:20], np.arange(10, 20, dtype=np.float64))
    empty_t, empty_v, none = decode_window([], 0, 1)
    assert len(empty_t) == len(empty_v) == len(none) == 0


def test_parse_header_reads_without_decompressing() -> None:
    data = encode(T0 + 15_000 * np.arange(500), np.arange(500, dtype=np.float64))
    n, _, tw, mode, k, _, _, n_exc, codec, start = parse_header(data)
    assert (n, tw, mode, k, n_exc, codec) == (500, 2, MODE_DECIMAL, 0, 0, 1)  # 15,000: 2 bytes
    assert 0 < start < len(data)
    with pytest.raises(ChunkError, match="version"):
        parse_header(b"\x09" + data[1:])


def test_decode_window_refuses_a_bad_chunk() -> None:
    chunks = _batch_cases()
    chunks[10] = chunks[10][:-3]  # 1,440 samples, compressed: truncated payload
    with pytest.raises(ChunkError):
        decode_window(chunks, -(2**62), 2**62)
    chunks = _batch_cases()
    chunks[4] = chunks[4][:-5]  # 120 samples
    with pytest.raises(ChunkError):
        decode_window(chunks, -(2**62), 2**62, parse_headers(chunks))
