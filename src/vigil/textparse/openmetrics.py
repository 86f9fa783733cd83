"""OpenMetrics 1.0 text format, parsed as a pull iterator, strict or lenient.

``strict=True`` (the default) is OpenMetrics 1.0 as the conformance vectors
read it: syntax plus the semantic rules of families (see ``_omcheck``).
``strict=False`` accepts what Prometheus's own OpenMetrics parser (and so
its scraper) accepts: the same line syntax (single blanks, ``# EOF`` last,
known types, a unit that is a suffix of the name) plus free trailing commas
in label sets, but none of the family rules: negative or NaN counters,
histograms with negative buckets and a ``_sum``, unordered buckets, families
or label sets that are not contiguous, repeated or late metadata, name
clashes, info/stateset values, exemplars on any sample and of any size.
"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.model import Labels, Position, is_valid_metric_name
from vigil.textparse._omcheck import FamilyChecker
from vigil.textparse._scan import (
    EMPTY_LABELS,
    LineError,
    decode,
    describe,
    error_at,
    fast_label_set,
    name_end,
    om_ms,
    parse_float,
    parse_label_set,
    parse_om_timestamp,
    unescape,
    utf8_len,
)
from vigil.textparse.cache import SeriesCache
from vigil.textparse.entries import Entry, Exemplar, Help, MetricType, Sample, Type, Unit
from vigil.textparse.errors import ParseError

__all__ = ["OpenMetricsParser"]

_TYPES = {t.value: t for t in MetricType}
_KINDS = ("HELP", "TYPE", "UNIT")


class OpenMetricsParser:
    """Iterate over the entries of an OpenMetrics 1.0 text body.

    Yields :class:`Help`, :class:`Type`, :class:`Unit` and :class:`Sample`
    entries in order; raises :class:`ParseError` at the first error (also for
    a body without ``# EOF`` or with text after it), so treat one body as one
    transaction. See the module docstring for ``strict``.
    """

    def __init__(
        self,
        body: bytes | str,
        *,
        strict: bool = True,
        series_cache: SeriesCache | None = None,
    ) -> None:
        self._body = body
        self.strict = strict
        self.format = "openmetrics-strict" if strict else "openmetrics"
        self._cache = series_cache

    def __iter__(self) -> Iterator[Entry]:
        return self._entries()

    def _entries(self) -> Iterator[Entry]:
        text = decode(self._body)
        if not text:
            raise ParseError("empty body: an OpenMetrics exposition ends with '# EOF'", _START)
        cache = self._cache._for(self.format) if self._cache is not None else None
        strict = self.strict
        trailing_comma = not strict
        checker = FamilyChecker() if strict else None
        is_name = is_valid_metric_name
        fast_labels = fast_label_set
        ascii_body = text.isascii()
        lines = text.split("\n")
        last = len(lines)
        offset = 0
        lineno = 0
        value = 0.0
        ts_s: float | None = None
        ts_ms: int | None = None
        for line in lines:
            lineno += 1
            start = offset
            offset += (len(line) if ascii_body else utf8_len(line)) + 1
            try:
                if not line:
                    if lineno == last:
                        break  # the body ended with a newline but no # EOF
                    raise LineError(0, "blank line (not allowed in OpenMetrics)")
                if line[0] == "#":
                    if line == "# EOF":
                        if lineno < last and not (lineno == last - 1 and not lines[-1]):
                            raise LineError(0, "text after '# EOF'", lineno + 1)
                        if checker is not None:
                            checker.finish()
                        return
                    entry = _meta(line, lineno, start)
                    if checker is not None:
                        checker.meta(*_meta_args(entry), lineno)
                    yield entry
                    continue
                # Fast path for lines without exemplars and with well-formed
                # blanks; everything else goes to _sample(), which parses
                # precisely and reports errors. The fast path never raises.
                hit: tuple[str, Labels] | None = None
                series = vtok = ""
                ttok: str | None = None
                if " #" not in line:
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
                                    labels = fast_labels(line[ob + 1 : cb], trailing_comma)
                                    if labels is not None:
                                        hit = (name, labels)
                                        if cache is not None:
                                            cache[series] = hit
                if hit is not None:
                    try:
                        value = float(vtok)
                        ts_s = None if ttok is None else float(ttok)
                    except ValueError:
                        hit = None
                    else:
                        if "_" in vtok or not (vtok.isascii() and vtok.isprintable()):
                            hit = None
                        elif ts_s is None:
                            ts_ms = None
                        elif (
                            ttok
                            and "_" not in ttok
                            and ttok.isascii()
                            and ttok.isprintable()
                            and ts_s - ts_s == 0.0
                        ):
                            ts_ms = om_ms(ttok, ts_s)
                        else:
                            hit = None
                if hit is None:
                    sample, ts_s = _sample(line, lineno, start, trailing_comma)
                else:
                    sample = Sample(hit[0], hit[1], value, ts_ms, None, series, lineno, start)
                if checker is not None:
                    checker.sample(
                        sample.name, sample.labels, sample.value, ts_s, sample.exemplar, lineno
                    )
                yield sample
            except LineError as exc:
                if exc.line is None or exc.line == lineno:
                    raise error_at(line, lineno, start, exc.col, exc.reason) from None
                raise _error_on_line(lines, exc.line, exc.col, exc.reason) from None
        # The loop ended without '# EOF'.
        if checker is not None:
            try:
                checker.finish()
            except LineError as exc:
                raise _error_on_line(lines, exc.line or last, exc.col, exc.reason) from None
        tail = lines[-1] if lines[-1] or last == 1 else lines[-2]
        at = last if lines[-1] or last == 1 else last - 1
        raise _error_on_line(lines, at, len(tail), "missing '# EOF' at the end of the body")


_START = Position(1, 1, 0)


def _error_on_line(lines: list[str], lineno: int, col: int, reason: str) -> ParseError:
    offset = sum(utf8_len(line) + 1 for line in lines[: lineno - 1])
    return error_at(lines[lineno - 1], lineno, offset, col, reason)


def _meta_args(entry: Entry) -> tuple[str, str, str]:
    if isinstance(entry, Help):
        return "HELP", entry.name, entry.text
    if isinstance(entry, Type):
        return "TYPE", entry.name, entry.type.value
    assert isinstance(entry, Unit)
    return "UNIT", entry.name, entry.unit


def _meta(line: str, lineno: int, offset: int) -> Entry:
    parts = line.split(" ", 3)
    kind = parts[1] if len(parts) > 1 else ""
    if parts[0] != "#" or kind not in _KINDS:
        raise LineError(
            0, "invalid line: '#' starts only '# HELP', '# TYPE', '# UNIT' or '# EOF' lines"
        )
    if len(parts) < 3 or not parts[2]:
        raise LineError(len(line), f"expected a metric name after '# {kind} '")
    name = parts[2]
    if not is_valid_metric_name(name):
        e = name_end(name, 0)
        if e and e < len(name) and is_valid_metric_name(name[:e]):
            raise LineError(7 + e, f"unexpected {describe(name[e])} after metric name {name[:e]!r}")
        raise LineError(7, f"invalid metric name {name!r} in # {kind}")
    if len(parts) < 4:
        raise LineError(len(line), f"expected ' ' and text after '# {kind} {name}'")
    text = parts[3]
    if kind == "HELP":
        return Help(name, unescape(text, True), lineno, offset)
    if kind == "TYPE":
        type_ = _TYPES.get(text)
        if type_ is None:
            hint = " (OpenMetrics calls it 'unknown')" if text == "untyped" else ""
            raise LineError(8 + len(name), f"invalid metric type {text!r}{hint}")
        return Type(name, type_, lineno, offset)
    if text and not name.endswith("_" + text):
        raise LineError(8 + len(name), f"unit {text!r} is not a suffix of metric name {name!r}")
    return Unit(name, text, lineno, offset)


def _sample(
    line: str, lineno: int, offset: int, trailing_comma: bool
) -> tuple[Sample, float | None]:
    """Parse a sample line precisely (the slow path); also return its timestamp in seconds."""
    n = len(line)
    j = name_end(line, 0)
    name = line[:j]
    if not name:
        if line[0] == "{":
            raise LineError(0, "missing metric name before '{'")
        raise LineError(0, f"expected a metric name, got {describe(line[0])}")
    if not is_valid_metric_name(name):
        raise LineError(0, f"invalid metric name {name!r}: must not start with a digit")
    if j < n and line[j] == "{":
        labels, k = parse_label_set(line, j + 1, False, trailing_comma)
    else:
        labels, k = EMPTY_LABELS, j
    series = line[:k]
    if k >= n:
        raise LineError(k, f"expected ' ' and a value after {series!r}")
    if line[k] != " ":
        if k == j:
            raise LineError(k, f"unexpected {describe(line[k])} in metric name {name!r}")
        raise LineError(k, f"expected ' ' after the label set, got {describe(line[k])}")
    k += 1
    e = _space(line, k)
    if e == k:
        raise LineError(k, f"expected a value, got {describe(line[k] if k < n else '')}")
    value = parse_float(line[k:e], k, "value")
    ts_s: float | None = None
    ts_ms: int | None = None
    exemplar = None
    if e < n:
        k = e + 1
        if k >= n:
            raise LineError(e, "trailing blank after the value")
        if line[k] != "#":
            e = _space(line, k)
            if e == k:
                raise LineError(k, "expected a timestamp, got ' '")
            ts_s, ts_ms = parse_om_timestamp(line[k:e], k)
            if e < n:
                k = e + 1
                if k >= n:
                    raise LineError(e, "trailing blank after the timestamp")
        if e < n:
            exemplar = _exemplar(line, k, trailing_comma)
    return Sample(name, labels, value, ts_ms, exemplar, series, lineno, offset), ts_s


def _exemplar(line: str, k: int, trailing_comma: bool) -> Exemplar:
    n = len(line)
    if not line.startswith("# {", k):
        raise LineError(k, "expected '# {' to start an exemplar")
    labels, k = parse_label_set(line, k + 3, False, trailing_comma)
    if k >= n or line[k] != " ":
        got = describe(line[k] if k < n else "")
        raise LineError(k, f"expected ' ' and a value after the exemplar labels, got {got}")
    k += 1
    e = _space(line, k)
    if e == k:
        raise LineError(k, f"expected the exemplar value, got {describe(line[k] if k < n else '')}")
    value = parse_float(line[k:e], k, "exemplar value")
    ts_ms = None
    if e < n:
        k = e + 1
        if k >= n:
            raise LineError(e, "trailing blank after the exemplar value")
        e = _space(line, k)
        if e == k:
            raise LineError(k, "expected the exemplar timestamp, got ' '")
        if e < n:
            raise LineError(e, "unexpected text after the exemplar timestamp")
        ts_ms = parse_om_timestamp(line[k:e], k, "exemplar timestamp")[1]
    return Exemplar(labels, value, ts_ms)


def _space(line: str, i: int) -> int:
    e = line.find(" ", i)
    return len(line) if e == -1 else e
