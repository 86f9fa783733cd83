"""A minimal protobuf codec for Prometheus remote-write 1.0 (``prometheus.WriteRequest``).

Only the messages the receiver needs, written by hand (no protobuf runtime)::

    message WriteRequest { repeated TimeSeries timeseries = 1; reserved 2;
                           repeated MetricMetadata metadata = 3; }
    message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
                           repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
    message Label        { string name = 1; string value = 2; }
    message Sample       { double value = 1; int64 timestamp = 2; }

Decoding keeps a series' label fields as raw bytes (:attr:`RawSeries.key`):
senders repeat the same series in every request, so the receiver maps those
bytes to its parsed labels with one dict look-up, and :func:`decode_labels` runs
only for series it has not seen. Unknown fields are skipped by wire type, as
protobuf requires; every malformed input raises :class:`ProtobufError` naming
the byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterable, Sequence

__all__ = [
    "ProtobufError",
    "RawSeries",
    "decode_labels",
    "decode_write_request",
    "encode_write_request",
]

_DOUBLE = struct.Struct("<d")
_unpack_double = _DOUBLE.unpack_from
_TWO_63 = 1 << 63
_TWO_64 = 1 << 64


class ProtobufError(ValueError):
    """The body is not a valid WriteRequest; the message names the byte offset."""


class RawSeries:
    """One ``TimeSeries``: raw label bytes, and its samples as parallel lists."""

    __slots__ = ("exemplars", "histograms", "key", "timestamps", "values")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.timestamps: list[int] = []
        self.values: list[float] = []
        self.histograms = 0
        self.exemplars = 0

    def __repr__(self) -> str:
        return f"RawSeries({decode_labels(self.key)!r}, {len(self.timestamps)} samples)"


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a varint at *pos*; returns ``(value, new_pos)`` (value is unsigned, < 2**64)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ProtobufError(f"offset {pos}: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >= _TWO_64:
                raise ProtobufError(f"offset {pos - 1}: varint overflows 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"offset {pos}: varint longer than 10 bytes")


def _skip(buf: bytes, pos: int, end: int, wire: int, at: int) -> int:
    """Skip the value of an unknown field with wire type *wire* starting at *pos*."""
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        n, pos = _varint(buf, pos, end)
        pos += n
    elif wire == 5:
        pos += 4
    else:
        raise ProtobufError(f"offset {at}: unsupported wire type {wire}")
    if pos > end:
        raise ProtobufError(f"offset {at}: field runs past the end of its message")
    return pos


def _len_prefixed(buf: bytes, pos: int, end: int, at: int, what: str) -> tuple[int, int]:
    """Read a length prefix at *pos*; returns ``(start, stop)`` of the payload."""
    n, pos = _varint(buf, pos, end)
    stop = pos + n
    if stop > end:
        raise ProtobufError(f"offset {at}: {what} of {n} bytes runs past the end of its message")
    return pos, stop


def _decode_sample(buf: bytes, pos: int, end: int, out: RawSeries) -> None:
    value = 0.0
    ts = 0
    # Fast path: the canonical encoding ``09 <8 bytes> 10 <varint>`` that every sender uses.
    if end - pos >= 11 and buf[pos] == 0x09 and buf[pos + 9] == 0x10:
        value = _unpack_double(buf, pos + 1)[0]
        ts, p = _varint(buf, pos + 10, end)
        if p == end:
            out.values.append(value)
            out.timestamps.append(ts - _TWO_64 if ts >= _TWO_63 else ts)
            return
    while pos < end:
        at = pos
        tag, pos = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 1 and wire == 1:
            if pos + 8 > end:
                raise ProtobufError(f"offset {at}: truncated sample value")
            value = _unpack_double(buf, pos)[0]
            pos += 8
        elif field == 2 and wire == 0:
            ts, pos = _varint(buf, pos, end)
        else:
            pos = _skip(buf, pos, end, wire, at)
    out.values.append(value)
    out.timestamps.append(ts - _TWO_64 if ts >= _TWO_63 else ts)


def _decode_series(buf: bytes, pos: int, end: int) -> RawSeries:
    label_start = label_end = -1
    label_spans: list[tuple[int, int]] = []
    series = RawSeries(b"")
    timestamps = series.timestamps
    values = series.values
    while pos < end:
        at = pos
        tag = buf[pos]
        # Lengths under 128 (every label and sample in practice) are read inline.
        if tag & 7 == 2 and pos + 1 < end and buf[pos + 1] < 0x80:
            start = pos + 2
            stop = start + buf[pos + 1]
            if stop > end:
                raise ProtobufError(f"offset {at}: field runs past the end of its message")
        elif tag < 0x80 and tag & 7 == 2:
            start, stop = _len_prefixed(buf, pos + 1, end, at, "field")
        else:
            if tag >= 0x80:
                tag, pos = _varint(buf, pos, end)
            else:
                pos += 1
            pos = _skip(buf, pos, end, tag & 7, at)
            continue
        pos = stop
        if tag == 0x12:  # field 2, samples
            # Fast path: the canonical ``09 <8 bytes> 10 <varint>`` that every sender writes.
            if stop - start >= 11 and buf[start] == 0x09 and buf[start + 9] == 0x10:
                ts = shift = 0
                p = start + 10
                while p < stop:
                    b = buf[p]
                    ts |= (b & 0x7F) << shift
                    p += 1
                    if b < 0x80:
                        break
                    shift += 7
                else:
                    ts = -1  # truncated: let the general decoder report it
                if p == stop and ts >= 0 and shift < 64:
                    values.append(_unpack_double(buf, start + 1)[0])
                    timestamps.append(ts - _TWO_64 if ts >= _TWO_63 else ts)
                    continue
            _decode_sample(buf, start, stop, series)
        elif tag == 0x0A:  # field 1, labels
            if label_end == at:
                label_end = stop
            else:
                if label_start >= 0:
                    label_spans.append((label_start, label_end))
                label_start, label_end = at, stop
        elif tag == 0x1A:  # field 3, exemplars (not stored)
            series.exemplars += 1
        elif tag == 0x22:  # field 4, native histograms (not supported)
            series.histograms += 1
    if label_start >= 0:
        label_spans.append((label_start, label_end))
    if len(label_spans) == 1:
        s, e = label_spans[0]
        series.key = bytes(buf[s:e])
    else:
        series.key = b"".join(buf[s:e] for s, e in label_spans)
    return series


def decode_write_request(buf: bytes, known: Container[bytes] | None = None) -> list[RawSeries]:
    """The time series of a (decompressed) WriteRequest; metadata is skipped.

    *known* holds label keys of earlier requests (always produced by this
    decoder, so each is a complete run of label fields). A series made of a
    known key followed by one canonical sample with a millisecond timestamp
    (6-byte varint) is split without walking its labels: the key ends on a
    field boundary because identical bytes parse identically.
    """
    out: list[RawSeries] = []
    pos = 0
    end = len(buf)
    unpack = _unpack_double
    while pos < end:
        at = pos
        tag = buf[pos]
        if tag != 0x0A:
            tag, pos = _varint(buf, pos, end)
            if tag & 7 in (3, 4) or tag >> 3 == 0:
                raise ProtobufError(f"offset {at}: invalid tag {tag:#x}")
            pos = _skip(buf, pos, end, tag & 7, at)
            continue
        n = buf[pos + 1] if pos + 1 < end else 0x80
        if n < 0x80:
            start = pos + 2
            stop = start + n
            if stop > end:
                raise ProtobufError(
                    f"offset {at}: timeseries of {n} bytes runs past the end of its message"
                )
        else:
            start, stop = _len_prefixed(buf, pos + 1, end, at, "timeseries")
        pos = stop
        q = stop - 18
        if (
            known is not None
            and q > start
            and buf[q] == 0x12
            and buf[q + 1] == 0x10
            and buf[q + 2] == 0x09
            and buf[q + 11] == 0x10
            and buf[q + 12] & buf[q + 13] & buf[q + 14] & buf[q + 15] & buf[q + 16] & 0x80
            and buf[q + 17] < 0x80
        ):
            key = buf[start:q]
            if key in known:
                series = RawSeries(key)
                series.values.append(unpack(buf, q + 3)[0])
                series.timestamps.append(
                    (buf[q + 12] & 0x7F)
                    | (buf[q + 13] & 0x7F) << 7
                    | (buf[q + 14] & 0x7F) << 14
                    | (buf[q + 15] & 0x7F) << 21
                    | (buf[q + 16] & 0x7F) << 28
                    | buf[q + 17] << 35
                )
                out.append(series)
                continue
        out.append(_decode_series(buf, start, stop))
    return out


def _utf8(buf: bytes, start: int, stop: int, at: int, what: str) -> str:
    try:
        return buf[start:stop].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"offset {at}: {what} is not valid UTF-8 ({exc.reason})") from None


def decode_labels(key: bytes) -> list[tuple[str, str]]:
    """Parse the raw label fields of a :class:`RawSeries` into ``(name, value)`` pairs.

    Offsets in errors are relative to the start of the series' label bytes.
    """
    pairs: list[tuple[str, str]] = []
    pos = 0
    end = len(key)
    while pos < end:
        at = pos
        tag, pos = _varint(key, pos, end)
        if tag != 0x0A:
            pos = _skip(key, pos, end, tag & 7, at)
            continue
        start, stop = _len_prefixed(key, pos, end, at, "label")
        name = value = ""
        p = start
        while p < stop:
            fat = p
            ftag, p = _varint(key, p, stop)
            if ftag == 0x0A:
                s, p = _len_prefixed(key, p, stop, fat, "label name")
                name = _utf8(key, s, p, fat, "label name")
            elif ftag == 0x12:
                s, p = _len_prefixed(key, p, stop, fat, "label value")
                value = _utf8(key, s, p, fat, "label value")
            else:
                p = _skip(key, p, stop, ftag & 7, fat)
        pairs.append((name, value))
        pos = stop
    return pairs


# -- encoding (tests, benchmarks, and a client for `vigil` itself) -----------


def _put_varint(out: bytearray, n: int) -> None:
    if n < 0:
        n += _TWO_64
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _put_bytes(out: bytearray, tag: int, data: bytes) -> None:
    out.append(tag)
    _put_varint(out, len(data))
    out += data


def encode_write_request(
    series: Iterable[tuple[Sequence[tuple[str, str]], Sequence[tuple[int, float]]]],
) -> bytes:
    """Encode ``(label pairs, [(timestamp_ms, value), ...])`` per series as a WriteRequest."""
    out = bytearray()
    for labels, samples in series:
        ts_msg = bytearray()
        for name, value in labels:
            label = bytearray()
            _put_bytes(label, 0x0A, name.encode())
            _put_bytes(label, 0x12, value.encode())
            _put_bytes(ts_msg, 0x0A, bytes(label))
        for t, v in samples:
            sample = bytearray(b"\x09")
            sample += _DOUBLE.pack(v)
            sample.append(0x10)
            _put_varint(sample, t)
            _put_bytes(ts_msg, 0x12, bytes(sample))
        _put_bytes(out, 0x0A, bytes(ts_msg))
    return bytes(out)
