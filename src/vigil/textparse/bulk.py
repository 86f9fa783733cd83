"""Whole import bodies (text with timestamps) parsed into columns, for backfill.

:func:`parse_columns` turns a Prometheus text or OpenMetrics body into one
array per column (series code, timestamp, value), plus the metric name and
labels of each distinct series text. Bodies of the common backfill shape (every
sample line ``series value timestamp`` with single blanks, integer
timestamps) take a vectorised path: NumPy finds the line ends and the last two
blanks of each line, converts the timestamps and values in bulk, and Python
touches each line only to look its series text up in a dict; each distinct
series text is parsed once by the real parser (so labels and validation are
exactly the parser's), and comment lines are checked by it too. Any body the
vectorised path does not accept as a whole goes through the real parser line
by line, which is what reports an error's ``line:col``: the vectorised path
never decides that a body is malformed, only that it is simple.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from vigil.model import Labels
from vigil.textparse.entries import Sample
from vigil.textparse.errors import ParseError
from vigil.textparse.negotiate import Format, format_for_content_type, new_parser

__all__ = ["Columns", "SeriesKeyCache", "parse_columns"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

SeriesKeyCache = MutableMapping[bytes, tuple[str, Labels]]
"""Series text -> (metric name, labels), kept by a caller between bodies of one format."""

_NL, _SP, _HASH, _TAB, _CR = 10, 32, 35, 9, 13
_MAX_VALUE_LEN = 32
_MAX_PROM_TS_DIGITS = 18  # below 2**63 ms whatever the digits
_MAX_OM_TS_DIGITS = 15  # seconds; times 1000 stays below 2**63
_MAX_INT_VALUE_DIGITS = 15  # below 2**53: exact as a float
_CACHE_LIMIT = 1_000_000

_VALUE_BYTES = np.zeros(256, dtype=np.bool_)
for _c in b"\x000123456789.+-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _VALUE_BYTES[_c] = True  # and the zero byte: padding
_DIGIT = np.full(256, -1, dtype=np.int64)
_DIGIT[48:58] = np.arange(10)
_DIGIT[0] = 0  # padding


@dataclass(frozen=True, slots=True)
class Columns:
    """The samples of a body, one entry per sample line in body order.

    ``names[codes[i]]`` is the (metric name, labels without ``__name__``) of
    sample ``i``; ``lines`` (1-based) is known only from the line-by-line path
    (``None`` from the vectorised one).
    """

    names: list[tuple[str, Labels]]
    codes: I64
    timestamps: I64
    values: F64
    lines: I64 | None

    def __len__(self) -> int:
        return len(self.codes)


def parse_columns(
    body: bytes,
    content_type: str | None,
    *,
    default_timestamp_ms: int,
    cache: SeriesKeyCache | None = None,
    vectorised: bool = True,
) -> Columns:
    """Parse *body* (format from *content_type*, as :func:`new_parser`) into columns.

    Samples without a timestamp get *default_timestamp_ms*. Raises
    :class:`ParseError` (with its line and column) for a malformed body and
    :class:`UnsupportedContentTypeError` for a format that is not text.
    *cache* remembers parsed series texts between calls (one per format);
    ``vectorised=False`` forces the line-by-line path.
    """
    om = format_for_content_type(content_type) is Format.OPENMETRICS
    if vectorised:
        cols = _vectorised(body, om, cache if cache is not None else {})
        if cols is not None:
            return cols
    return _line_by_line(body, content_type, default_timestamp_ms)


def _line_by_line(body: bytes, content_type: str | None, default_t: int) -> Columns:
    keys: dict[str, int] = {}
    names: list[tuple[str, Labels]] = []
    codes: list[int] = []
    ts: list[int] = []
    vs: list[float] = []
    lines: list[int] = []
    for e in new_parser(body, content_type):
        if type(e) is not Sample:
            continue
        code = keys.get(e.series)
        if code is None:
            code = keys[e.series] = len(names)
            names.append((e.name, e.labels))
        codes.append(code)
        ts.append(default_t if e.timestamp_ms is None else e.timestamp_ms)
        vs.append(e.value)
        lines.append(e.line)
    return Columns(
        names,
        np.array(codes, dtype=np.int64),
        np.array(ts, dtype=np.int64),
        np.array(vs, dtype=np.float64),
        np.array(lines, dtype=np.int64),
    )


def _vectorised(body: bytes, om: bool, cache: SeriesKeyCache) -> Columns | None:
    """The columns of a simple body, or None to have the line-by-line parser decide."""
    if b"\t" in body or b"\r" in body or b"\0" in body:
        return None  # (zero bytes pad the tokens below)
    if om:
        if body.endswith(b"# EOF\n"):
            body = body[:-6]
        elif body.endswith(b"# EOF"):
            body = body[:-5]
        else:
            return None
        if body and not body.endswith(b"\n"):
            return None
        if body.startswith(b"# EOF\n") or b"\n# EOF\n" in body:
            return None
    elif body and not body.endswith(b"\n"):
        body += b"\n"
    arr = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(arr == _NL)
    if not len(nl):
        return Columns([], *_empty(), None)
    starts = np.empty_like(nl)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    blank = starts == nl
    if om and bool(blank.any()):
        return None  # not allowed in OpenMetrics: let the parser say where
    first = arr[np.minimum(starts, len(arr) - 1)]
    if bool((first == _SP).any()):
        return None
    comment = (first == _HASH) & ~blank
    sample = ~(blank | comment)
    s_nl, s_start = nl[sample], starts[sample]
    n = len(s_nl)
    if not n:
        if not _comments_parse(body, om, starts[comment], nl[comment]):
            return None
        return Columns([], *_empty(), None)
    sp = np.flatnonzero(arr == _SP)
    j = np.searchsorted(sp, s_nl) - 1
    if bool((j < 1).any()):
        return None
    tsep, vsep = sp[j], sp[j - 1]
    if (
        bool((vsep <= s_start).any())
        or bool((tsep - vsep < 2).any())
        or bool((s_nl - tsep < 2).any())
    ):
        return None
    ts = _timestamps(arr, tsep + 1, s_nl, om)
    if ts is None:
        return None
    vs = _values(arr, vsep + 1, tsep)
    if vs is None:
        return None
    # Each sample line's series text, as bytes: cut the body at the blank before the value.
    cut = bytearray(body)
    np.frombuffer(cut, dtype=np.uint8)[vsep] = _NL
    pieces = bytes(cut).split(b"\n")
    if n == len(nl):
        keys: list[bytes] | tuple[bytes, ...] = pieces[0 : 2 * n : 2]
    else:
        # A sample line gives two pieces (series, rest), any other line one.
        before = np.cumsum(sample) - sample
        idx = (np.flatnonzero(sample) + before[sample]).tolist()
        keys = itemgetter(*idx)(pieces) if n > 1 else (pieces[idx[0]],)
        if not _comments_parse(body, om, starts[comment], nl[comment]):
            return None
    uniq: dict[bytes, int] = dict.fromkeys(keys, 0)
    names: list[tuple[str, Labels]] = []
    for k in uniq:
        hit = cache.get(k)
        if hit is None:
            hit = _parse_key(k, om)
            if hit is None:
                return None
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[k] = hit
        uniq[k] = len(names)
        names.append(hit)
    codes = np.fromiter(map(uniq.__getitem__, keys), dtype=np.int64, count=n)
    return Columns(names, codes, ts, vs, None)


def _empty() -> tuple[I64, I64, F64]:
    e = np.empty(0, dtype=np.int64)
    return e, e.copy(), np.empty(0, dtype=np.float64)


def _parse_key(key: bytes, om: bool) -> tuple[str, Labels] | None:
    """The real parser's reading of one series text, or None if it is not exactly one."""
    text = key + (b" 0 0\n# EOF\n" if om else b" 0 0\n")
    parser = new_parser(text, "application/openmetrics-text" if om else "text/plain")
    try:
        entries = list(parser)
    except ParseError:
        return None
    if len(entries) != 1 or type(entries[0]) is not Sample:
        return None
    e = entries[0]
    if e.timestamp_ms != 0 or e.value != 0.0 or e.exemplar is not None:
        return None
    return e.name, e.labels


def _comments_parse(body: bytes, om: bool, starts: I64, ends: I64) -> bool:
    """Whether the comment lines ``body[starts[i]:ends[i]]`` parse (with the real parser)."""
    if not len(starts):
        return True
    lines = [body[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    text = b"\n".join(lines) + (b"\n# EOF\n" if om else b"\n")
    try:
        for _ in new_parser(text, "application/openmetrics-text" if om else "text/plain"):
            pass
    except ParseError:
        return False
    return True


def _gather(arr: U8, start: I64, length: I64, width: int, right: bool) -> U8:
    """Tokens ``arr[start:start+length]`` as rows of *width* bytes, padded with zero bytes
    (the body has none), aligned to the right (for digits) or to the left. Built column by
    column (``width`` vectorised takes) rather than through an index matrix."""
    g = np.empty((len(start), width), dtype=np.uint8)
    base = start + length - width if right else start
    for k in range(width):
        g[:, k] = arr.take(base + k, mode="clip")
    if len(length) and int(length.min()) < width:
        col = np.arange(width, dtype=np.int64)
        pad = col < (width - length)[:, None] if right else col >= length[:, None]
        g[pad] = 0
    return g


def _digits(g: U8) -> I64 | None:
    """Each row's decimal digits as an integer (rows right-aligned, zero-byte padded);
    None if a row holds anything else."""
    d = _DIGIT[g]
    if not len(d) or bool((d < 0).any()):
        return None if len(d) else np.zeros(0, dtype=np.int64)
    out = d[:, 0].copy()
    for k in range(1, g.shape[1]):
        out *= 10
        out += d[:, k]
    return out


def _timestamps(arr: U8, start: I64, end: I64, om: bool) -> I64 | None:
    length = end - start
    width = int(length.max())
    if width > (_MAX_OM_TS_DIGITS if om else _MAX_PROM_TS_DIGITS):
        return None
    ts = _digits(_gather(arr, start, length, width, right=True))
    if ts is None:
        return None  # signs, fractions, exponents: the line-by-line parser
    return ts * 1000 if om else ts


def _values(arr: U8, start: I64, end: I64) -> F64 | None:
    length = end - start
    width = int(length.max())
    if width > _MAX_VALUE_LEN:
        return None
    g = _gather(arr, start, length, width, right=False)
    if not bool(_VALUE_BYTES[g].all()):
        return None  # blanks, '_', controls, non-ASCII: let the parser judge
    out = np.empty(len(start), dtype=np.float64)
    integer = (_DIGIT[g] >= 0).all(axis=1) & (length <= _MAX_INT_VALUE_DIGITS)
    if bool(integer.any()):
        gi = _gather(arr, start[integer], length[integer], _MAX_INT_VALUE_DIGITS, right=True)
        iv = _digits(gi)
        assert iv is not None
        out[integer] = iv.astype(np.float64)  # exact below 2**53
    rest = ~integer
    if bool(rest.any()):
        try:
            out[rest] = np.ascontiguousarray(g[rest]).view(f"S{width}").ravel().astype(np.float64)
        except ValueError:
            return None
    return out
