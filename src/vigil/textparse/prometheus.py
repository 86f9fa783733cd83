"""The Prometheus text exposition format 0.0.4, parsed as a pull iterator.

Leniencies (as Prometheus's own parser): blank lines, any ``#`` line that is
not ``# HELP``/``# TYPE`` is a comment, blanks and tabs around every token
(also inside ``{}``), a trailing comma in a label set, no ``# EOF``, metric
families need not be contiguous, ``untyped``. Beyond Prometheus: a trailing
``\\r`` (CRLF bodies) is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.model import Labels, is_valid_metric_name
from vigil.textparse._scan import (
    EMPTY_LABELS,
    LineError,
    decode,
    describe,
    error_at,
    fast_label_set,
    name_end,
    parse_float,
    parse_label_set,
    parse_prom_timestamp,
    skip_ws,
    token_end,
    unescape,
    utf8_len,
)
from vigil.textparse.cache import SeriesCache
from vigil.textparse.entries import Comment, Entry, Help, MetricType, Sample, Type

__all__ = ["PrometheusTextParser"]

_TYPES = {
    "counter": MetricType.COUNTER,
    "gauge": MetricType.GAUGE,
    "histogram": MetricType.HISTOGRAM,
    "summary": MetricType.SUMMARY,
    "untyped": MetricType.UNKNOWN,
}


class PrometheusTextParser:
    """Iterate over the entries of a Prometheus text format 0.0.4 body.

    ``body`` is bytes (decoded as UTF-8) or text. Iterating yields
    :class:`Help`, :class:`Type`, :class:`Comment` and :class:`Sample` entries
    in order and raises :class:`ParseError` at the first error; entries
    yielded before it stay valid, so a caller treating one body as one
    transaction must discard them. ``series_cache`` (one per target) makes
    known series cost a dict look-up.
    """

    format = "prometheus"

    def __init__(self, body: bytes | str, *, series_cache: SeriesCache | None = None) -> None:
        self._body = body
        self._cache = series_cache

    def __iter__(self) -> Iterator[Entry]:
        return self._entries()

    def _entries(self) -> Iterator[Entry]:
        text = decode(self._body)
        cache = self._cache._for(self.format) if self._cache is not None else None
        is_name = is_valid_metric_name
        fast_labels = fast_label_set
        ascii_body = text.isascii()
        offset = 0
        lineno = 0
        value = 0.0
        ts: int | None = None
        for line in text.split("\n"):
            lineno += 1
            start = offset
            offset += (len(line) if ascii_body else utf8_len(line)) + 1
            if not line:
                continue
            try:
                c = line[0]
                if c == "#":
                    yield _meta(line, 0, lineno, start)
                    continue
                if c == " " or c == "\t":
                    i = skip_ws(line, 0)
                    if i == len(line) or line[i:] == "\r":
                        continue
                    if line[i] == "#":
                        yield _meta(line, i, lineno, start)
                        continue
                # Fast path: well-formed lines with single blanks. Anything it
                # does not accept goes to _sample(), which parses precisely and
                # reports errors; the fast path itself never raises.
                hit: tuple[str, Labels] | None = None
                series = vtok = ""
                ttok: str | None = None
                cb = line.rfind("}")
                if cb == -1:
                    parts = line.split(" ")
                    if len(parts) == 2 or len(parts) == 3:
                        series = parts[0]
                        vtok = parts[1]
                        ttok = parts[2] if len(parts) == 3 else None
                        if cache is not None:
                            hit = cache.get(series)
                        if hit is None and is_name(series):
                            hit = (series, EMPTY_LABELS)
                            if cache is not None:
                                cache[series] = hit
                else:
                    parts = line[cb + 1 :].split(" ")
                    if (len(parts) == 2 or len(parts) == 3) and not parts[0]:
                        vtok = parts[1]
                        ttok = parts[2] if len(parts) == 3 else None
                        series = line[: cb + 1]
                        if cache is not None:
                            hit = cache.get(series)
                        if hit is None:
                            ob = line.find("{")
                            name = line[:ob]
                            if ob > 0 and is_name(name):
                                labels = fast_labels(line[ob + 1 : cb], True)
                                if labels is not None:
                                    hit = (name, labels)
                                    if cache is not None:
                                        cache[series] = hit
                if hit is not None:
                    try:
                        value = float(vtok)
                    except ValueError:
                        hit = None
                    else:
                        if "_" in vtok or not (vtok.isascii() and vtok.isprintable()):
                            hit = None
                    if ttok is None:
                        ts = None
                    elif ttok.isdigit() and ttok.isascii() and len(ttok) < 19:
                        ts = int(ttok)
                    else:
                        hit = None
                if hit is None:
                    sample = _sample(line, lineno, start)
                    if sample is not None:
                        yield sample
                    continue
                yield Sample(hit[0], hit[1], value, ts, None, series, lineno, start)
            except LineError as exc:
                raise error_at(line, lineno, start, exc.col, exc.reason) from None


def _meta(line: str, i: int, lineno: int, offset: int) -> Entry:
    """A ``#`` line starting at index ``i``: HELP, TYPE or a comment."""
    if i == 0 and (line.startswith("# HELP ") or line.startswith("# TYPE ")):
        # Fast path for the usual "# KIND name text" with single blanks.
        sp = line.find(" ", 7)
        name = line[7:] if sp == -1 else line[7:sp]
        if is_valid_metric_name(name) and not line.endswith("\r"):
            text = "" if sp == -1 else line[sp + 1 :]
            if line[2] == "H":
                return Help(name, unescape(text, False), lineno, offset)
            type_ = _TYPES.get(text)
            if type_ is not None:
                return Type(name, type_, lineno, offset)
    if line.endswith("\r"):
        line = line[:-1]
    n = len(line)
    j = skip_ws(line, i + 1)
    kind = line[j : j + 4]
    if j == i + 1 or (kind != "HELP" and kind != "TYPE") or j + 4 >= n or line[j + 4] not in " \t":
        return Comment(line, lineno, offset)
    k = skip_ws(line, j + 4)
    e = name_end(line, k)
    name = line[k:e]
    if not name:
        got = describe(line[k] if k < n else "")
        raise LineError(k, f"expected a metric name after # {kind}, got {got}")
    if not is_valid_metric_name(name):
        raise LineError(k, f"invalid metric name {name!r} in # {kind}")
    if e < n and line[e] not in " \t":
        raise LineError(e, f"unexpected {line[e]!r} in metric name {name!r}")
    text = line[e + 1 :]
    if kind == "HELP":
        return Help(name, unescape(text, False), lineno, offset)
    type_ = _TYPES.get(text.strip(" \t"))
    if type_ is None:
        raise LineError(
            min(e + 1, n),
            f"invalid metric type {text.strip()!r}: "
            "expected counter, gauge, histogram, summary or untyped",
        )
    return Type(name, type_, lineno, offset)


def _sample(line: str, lineno: int, offset: int) -> Sample | None:
    """Parse a sample line precisely (the slow path); ``None`` for a blank line."""
    if line.endswith("\r"):
        line = line[:-1]
    n = len(line)
    i = skip_ws(line, 0)
    if i == n:
        return None
    j = name_end(line, i)
    name = line[i:j]
    if not name:
        if line[i] == "{":
            raise LineError(i, "missing metric name before '{'")
        raise LineError(i, f"expected a metric name, got {describe(line[i])}")
    if not is_valid_metric_name(name):
        raise LineError(i, f"invalid metric name {name!r}: must not start with a digit")
    k = skip_ws(line, j)
    if k < n and line[k] == "{":
        labels, k = parse_label_set(line, k + 1, True, True)
        series = line[i:k]
        k = skip_ws(line, k)
    elif k == j and k < n:
        raise LineError(j, f"unexpected {line[j]!r} in metric name {name!r}")
    else:
        labels = EMPTY_LABELS
        series = name
    if k >= n:
        raise LineError(k, f"missing value after {series!r}")
    e = token_end(line, k)
    value = parse_float(line[k:e], k, "value")
    k = skip_ws(line, e)
    ts = None
    if k < n:
        e = token_end(line, k)
        ts = parse_prom_timestamp(line[k:e], k)
        k = skip_ws(line, e)
        if k < n:
            raise LineError(k, f"unexpected {line[k:]!r} after the timestamp")
    return Sample(name, labels, value, ts, None, series, lineno, offset)
