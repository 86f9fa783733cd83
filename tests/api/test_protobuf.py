"""The hand-written WriteRequest codec: round trips, odd encodings, and positioned errors."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from vigil.api.protobuf import (
    ProtobufError,
    decode_labels,
    decode_write_request,
    encode_write_request,
)
from vigil.model.value import STALE_NAN, is_stale_nan


def _bits(v: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


def test_round_trip_of_labels_timestamps_and_every_float_bit_pattern() -> None:
    rng = np.random.default_rng(7)
    values = [
        0.0,
        -0.0,
        1.5,
        math.inf,
        -math.inf,
        math.nan,
        STALE_NAN,
        5e-324,
        1.7976931348623157e308,
    ]
    values += [float(x) for x in rng.normal(size=50)]
    stamps = [0, 1, -1, -(2**63), 2**63 - 1, 1700000000123, *list(range(50))]
    series = [
        (
            [("__name__", "up"), ("job", "a"), ("ünï", "cödé ✓")],
            list(zip(stamps, values, strict=False)),
        ),
        ([("__name__", "empty")], []),
    ]
    decoded = decode_write_request(encode_write_request(series))
    assert len(decoded) == 2
    assert decode_labels(decoded[0].key) == series[0][0]
    assert decoded[0].timestamps == [t for t, _ in series[0][1]]
    assert [_bits(v) for v in decoded[0].values] == [_bits(v) for _, v in series[0][1]]
    assert is_stale_nan(decoded[0].values[6])
    assert decoded[1].timestamps == []
    assert decode_labels(decoded[1].key) == [("__name__", "empty")]


def test_the_same_labels_give_the_same_key() -> None:
    body = encode_write_request(
        [
            ([("__name__", "x"), ("a", "1")], [(1, 1.0)]),
            ([("__name__", "x"), ("a", "1")], [(2, 2.0)]),
        ]
    )
    a, b = decode_write_request(body)
    assert a.key == b.key


def _field(tag: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([tag, len(payload)]) + payload


def test_unknown_fields_metadata_exemplars_and_histograms_are_skipped_and_counted() -> None:
    label = _field(0x0A, _field(0x0A, b"__name__") + _field(0x12, b"m"))
    # sample fields in reverse order, with an unknown varint field 7 inside
    sample = _field(0x12, b"\x10\x05" + b"\x38\x01" + b"\x09" + struct.pack("<d", 2.5))
    ts = label + sample + _field(0x1A, b"\x08\x01") + _field(0x22, b"\x08\x01")
    ts += b"\x2d\x00\x00\x00\x00"  # unknown fixed32 field 5
    metadata = _field(0x1A, _field(0x12, b"m"))
    body = _field(0x0A, ts) + metadata + b"\x20\x07"  # unknown varint field 4
    (s,) = decode_write_request(body)
    assert s.timestamps == [5]
    assert s.values == [2.5]
    assert (s.exemplars, s.histograms) == (1, 1)
    assert decode_labels(s.key) == [("__name__", "m")]


def test_labels_interleaved_with_samples_are_joined() -> None:
    l1 = _field(0x0A, _field(0x0A, b"__name__") + _field(0x12, b"m"))
    l2 = _field(0x0A, _field(0x0A, b"a") + _field(0x12, b"b"))
    sample = _field(0x12, b"\x09" + struct.pack("<d", 1.0) + b"\x10\x01")
    (s,) = decode_write_request(_field(0x0A, l1 + sample + l2))
    assert decode_labels(s.key) == [("__name__", "m"), ("a", "b")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x0a", "offset 1: truncated varint"),
        (b"\x0a\x05\x0a\x01", "offset 0: timeseries of 5 bytes runs past the end"),
        (b"\x0a\x04\x12\x02\x09\x00", "offset 4: truncated sample value"),
        (b"\x0b", "offset 0: invalid tag 0xb"),
        (b"\x0a\x02\x0b\x00", "offset 2: unsupported wire type 3"),
        (b"\x0a\x0b" + b"\xff" * 11, "varint longer than 10 bytes"),
    ],
)
def test_malformed_bodies_name_the_offset(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode_write_request(body)


def test_invalid_utf8_in_a_label_is_an_error() -> None:
    label = _field(0x0A, _field(0x0A, b"__name__") + _field(0x12, b"\xff"))
    (s,) = decode_write_request(_field(0x0A, label))
    with pytest.raises(ProtobufError, match="label value is not valid UTF-8"):
        decode_labels(s.key)


def _decoded(body: bytes, known: set[bytes] | None) -> list[tuple[bytes, list[int], list[int]]]:
    return [
        (s.key, s.timestamps, [_bits(v) for v in s.values])
        for s in decode_write_request(body, known)
    ]


def test_the_known_series_fast_path_agrees_with_the_full_decoder() -> None:
    rng = np.random.default_rng(3)
    now = 1_700_000_000_000
    series = []
    for i in range(300):
        labels = [("__name__", f"m{i % 7}"), ("i", str(i))]
        if i % 5 == 0:  # label values holding the bytes of a sample field
            labels.append(("v", "\x12\x10\x09" + "x" * int(rng.integers(0, 20))))
        n = int(rng.integers(0, 3))
        t = [now + int(x) for x in rng.integers(-(10**9), 10**9, size=n)]
        if i % 11 == 0:
            t = [int(x) for x in rng.integers(-5, 2**40, size=n)]  # short and negative varints
        series.append((labels, list(zip(t, rng.normal(size=n).tolist(), strict=True))))
    body = encode_write_request(series)
    slow = _decoded(body, None)
    known = {k for k, _, _ in slow}
    assert _decoded(body, known) == slow
    # A prefix of a known key is never mistaken for a key.
    assert _decoded(body, {k[:-3] for k in known}) == slow
