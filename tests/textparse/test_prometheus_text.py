"""The Prometheus text format 0.0.4: bodies, values, leniencies, errors with positions."""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vigil.model import Labels
from vigil.textparse import (
    Comment,
    Help,
    MetricType,
    ParseError,
    PrometheusTextParser,
    Sample,
    SeriesCache,
    Type,
)
from vigil.textparse.prometheus import _sample

from ._conformance import textparse_body


def samples(body: bytes | str, cache: SeriesCache | None = None) -> list[Sample]:
    return [e for e in PrometheusTextParser(body, series_cache=cache) if isinstance(e, Sample)]


def one(line: str) -> Sample:
    (s,) = samples(line)
    return s


@pytest.mark.parametrize(
    ("name", "count", "types", "helps"),
    [
        ("alltypes.237mfs.prom.txt", 1857, 237, 237),
        ("alltypes.237mfs.nometa.prom.txt", 1857, 0, 0),
        ("1histogram.om.txt", 42, 1, 1),
    ],
)
def test_textparse_bodies(name: str, count: int, types: int, helps: int) -> None:
    entries = list(PrometheusTextParser(textparse_body(name)))
    assert sum(isinstance(e, Sample) for e in entries) == count
    assert sum(isinstance(e, Type) for e in entries) == types
    assert sum(isinstance(e, Help) for e in entries) == helps
    # "# EOF" is a plain comment in this format.
    assert [e.text for e in entries if isinstance(e, Comment)] == ["# EOF"]


def test_type_counts_of_the_alltypes_body() -> None:
    entries = list(PrometheusTextParser(textparse_body("alltypes.237mfs.prom.txt")))
    kinds = [e.type for e in entries if isinstance(e, Type)]
    assert kinds.count(MetricType.COUNTER) == 112
    assert kinds.count(MetricType.GAUGE) == 97
    assert kinds.count(MetricType.HISTOGRAM) == 15
    assert kinds.count(MetricType.SUMMARY) == 13


def _oracle(body: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


@pytest.mark.parametrize("name", ["alltypes.237mfs.prom.txt", "alltypes.237mfs.nometa.prom.txt"])
def test_values_match_prometheus_client(name: str) -> None:
    body = textparse_body(name).decode()
    ours = [(s.name, s.labels.to_dict(), s.value) for s in samples(body)]
    theirs = _oracle(body)
    assert len(ours) == len(theirs) == 1857
    for (n1, l1, v1), (n2, l2, v2) in zip(ours, theirs, strict=True):
        # prometheus_client renames samples of counters without _total to name_total.
        assert n2 in (n1, n1 + "_total")
        assert l1 == l2
        assert v1 == v2 or (math.isnan(v1) and math.isnan(v2))


def test_sample_fields_and_positions() -> None:
    body = b'# HELP a Some help.\n# TYPE a counter\na{x="1",b="2"} 3.5 1700000000000\nb 1\n'
    help_, type_, s1, s2 = list(PrometheusTextParser(body))
    assert isinstance(help_, Help)
    assert help_.text == "Some help."
    assert help_.line == 1
    assert isinstance(type_, Type)
    assert type_.type is MetricType.COUNTER
    assert isinstance(s1, Sample)
    assert isinstance(s2, Sample)
    assert s1.name == "a"
    assert s1.labels == Labels(b="2", x="1")
    assert s1.labels.pairs == (("b", "2"), ("x", "1"))
    assert (s1.value, s1.timestamp_ms, s1.exemplar) == (3.5, 1700000000000, None)
    assert s1.series == 'a{x="1",b="2"}'
    assert (s1.line, s1.offset) == (3, 37)
    assert (s2.line, s2.offset, s2.series, s2.timestamp_ms) == (4, 70, "b", None)
    assert str(s2.position) == "4:1"


@pytest.mark.parametrize(
    ("line", "name", "labels", "value", "ts"),
    [
        ("a 1", "a", {}, 1.0, None),
        ("a\t1", "a", {}, 1.0, None),
        ("a   1   2  ", "a", {}, 1.0, 2),
        ("   a 1", "a", {}, 1.0, None),
        ('a {b="c"} 1', "a", {"b": "c"}, 1.0, None),
        ('a{ b = "c" , d="e" , } 1', "a", {"b": "c", "d": "e"}, 1.0, None),
        ('a{b="c",} 1', "a", {"b": "c"}, 1.0, None),
        ('a{b="c"}1', "a", {"b": "c"}, 1.0, None),
        ("a{} 1", "a", {}, 1.0, None),
        ("a 1\r", "a", {}, 1.0, None),
        ("a:b_c 1", "a:b_c", {}, 1.0, None),
        ("a NaN", "a", {}, math.nan, None),
        ("a +Inf", "a", {}, math.inf, None),
        ("a -Inf", "a", {}, -math.inf, None),
        ("a 1e3", "a", {}, 1000.0, None),
        ("a -0.5 0", "a", {}, -0.5, 0),
        ('a{b="x} 1"} 2', "a", {"b": "x} 1"}, 2.0, None),
        ('a{b="#"} 2', "a", {"b": "#"}, 2.0, None),
    ],
)
def test_leniencies(
    line: str, name: str, labels: dict[str, str], value: float, ts: int | None
) -> None:
    s = one(line)
    assert (s.name, s.labels.to_dict(), s.timestamp_ms) == (name, labels, ts)
    assert s.value == value or (math.isnan(s.value) and math.isnan(value))


def test_blank_lines_comments_and_no_eof() -> None:
    body = "\n\n# just a comment\n#no space\n  \n# HELP\na 1\n\n"
    entries = list(PrometheusTextParser(body))
    assert [type(e).__name__ for e in entries] == ["Comment", "Comment", "Comment", "Sample"]


def test_families_need_not_be_contiguous_and_untyped_is_unknown() -> None:
    body = "# TYPE a untyped\na 1\nb 2\na 3\n"
    entries = list(PrometheusTextParser(body))
    assert isinstance(entries[0], Type)
    assert entries[0].type is MetricType.UNKNOWN
    assert [s.value for s in entries if isinstance(s, Sample)] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (r"a\\b", "a\\b"),
        (r"a\"b", 'a"b'),
        (r"a\nb", "a\nb"),
        (r"a\tb", r"a\tb"),  # unknown escapes stay as written
        ("a\\\\", "a\\"),
        ("\\\\\\n", "\\\n"),
        ("ünï ☃", "ünï ☃"),
    ],
)
def test_label_value_escaping(raw: str, value: str) -> None:
    assert one(f'a{{b="{raw}"}} 1').labels["b"] == value


def test_help_escaping_keeps_quotes() -> None:
    (h,) = list(PrometheusTextParser('# HELP a x\\\\y\\nz \\"q\\"\n'))
    assert isinstance(h, Help)
    assert h.text == 'x\\y\nz \\"q\\"'


def test_non_ascii_positions_are_byte_offsets() -> None:
    body = '# HELP a ☃\na{b="☃"} 1\nb x\n'
    with pytest.raises(ParseError) as info:
        list(PrometheusTextParser(body.encode()))
    err = info.value
    assert (err.line, err.col) == (3, 3)
    assert err.position is not None
    assert err.position.offset == len('# HELP a ☃\na{b="☃"} 1\nb '.encode())
    s = samples(body.split("b x")[0])[0]
    assert s.offset == len("# HELP a ☃\n".encode())


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ("a 1\nb x\n", "2:3", "invalid value 'x'"),
        ("a 1_0", "1:3", "invalid value '1_0'"),
        ("a 0x1p3", "1:3", "invalid value"),
        ("a 1 1.5", "1:5", "invalid timestamp '1.5'"),
        ("a 1 -5", "1:5", "invalid timestamp"),
        ("a 1 99999999999999999999", "1:5", "out of range"),
        ("a 1 2 3", "1:7", "after the timestamp"),
        ("a", "1:2", "missing value"),
        ('a{b="c"}', "1:9", "missing value"),
        ("0a 1", "1:1", "invalid metric name '0a'"),
        ("a.b 1", "1:2", "unexpected '.'"),
        ('{b="c"} 1', "1:1", "missing metric name"),
        ('a{b="c" 1', "1:9", "expected ',' or '}'"),
        ('a{b="c} 1', "1:5", "unterminated value of label 'b'"),
        ("a{b} 1", "1:4", "expected '=' after label name 'b'"),
        ('a{b="c\\"} 1', "1:5", "unterminated"),
        ("a{b=c} 1", "1:5", "expected '\"'"),
        ('a{1="c"} 1', "1:3", "invalid label name '1'"),
        ('a{b="1",b="2"} 1', "1:9", "duplicate label name 'b'"),
        ('a{__name__="x"} 1', "1:3", "__name__"),
        ("# TYPE a gauge_x\n", "1:10", "invalid metric type 'gauge_x'"),
        ("# TYPE 0a gauge\n", "1:8", "invalid metric name '0a'"),
        ("# HELP a.b x\n", "1:9", "unexpected '.'"),
        (b"a 1\nb\xff 2\n", "2:2", "invalid UTF-8"),
    ],
)
def test_errors_have_positions(body: str | bytes, where: str, words: str) -> None:
    with pytest.raises(ParseError) as info:
        list(PrometheusTextParser(body))
    assert str(info.value).startswith(where + ": "), str(info.value)
    assert words in info.value.reason
    assert info.value.format("target.txt").startswith("target.txt:" + where + ": ")


def test_entries_before_an_error_are_yielded() -> None:
    it = iter(PrometheusTextParser("a 1\nb x\n"))
    first = next(it)
    assert isinstance(first, Sample)
    assert first.name == "a"
    with pytest.raises(ParseError):
        next(it)


def _fields(s: Sample) -> tuple[Any, ...]:
    return (s.name, s.labels, repr(s.value), s.timestamp_ms, s.series)


@pytest.mark.parametrize("name", ["alltypes.237mfs.prom.txt", "alltypes.237mfs.nometa.prom.txt"])
def test_fast_path_agrees_with_the_precise_path(name: str) -> None:
    """Every sample the fast path accepts, the precise parser reads the same way."""
    text = textparse_body(name).decode()
    lines = text.split("\n")
    for s in samples(text):
        slow = _sample(lines[s.line - 1], s.line, s.offset)
        assert slow is not None
        assert _fields(slow) == _fields(s)


def test_series_cache_reuses_labels_and_stays_correct() -> None:
    body = textparse_body("alltypes.237mfs.prom.txt")
    cache = SeriesCache()
    cold = samples(body, cache)
    assert len(cache) == 1857
    warm = samples(body, cache)
    assert [_fields(s) for s in warm] == [_fields(s) for s in cold]
    assert all(a.labels is b.labels for a, b in zip(cold, warm, strict=True))
    # A changed value or an invalid tail is still parsed and checked.
    changed = body.replace(b"go_gc_gogc_percent 75", b"go_gc_gogc_percent 76")
    assert 76.0 in [s.value for s in samples(changed, cache)]
    with pytest.raises(ParseError):
        samples(body.replace(b"go_gc_gogc_percent 75", b"go_gc_gogc_percent x"), cache)


def test_series_cache_is_cleared_for_another_format_or_when_full() -> None:
    from vigil.textparse import OpenMetricsParser

    cache = SeriesCache(max_entries=2)
    samples('a{b="c",} 1\n', cache)
    assert cache.mode == "prometheus"
    assert len(cache) == 1
    # The trailing comma that text format allows must not leak into strict OpenMetrics.
    with pytest.raises(ParseError):
        list(OpenMetricsParser('a{b="c",} 1\n# EOF\n', series_cache=cache))
    samples("a 1\nb 1\nc 1\n", cache)
    samples("d 1\n", cache)
    assert len(cache) == 1


@pytest.mark.parametrize(
    "inner",
    [
        "",
        'a="1"',
        'a="1",b="2"',
        'b="2",a="1"',
        'a="1",',
        'a="1",,b="2"',
        'a="1",a="2"',
        '__name__="x"',
        'a="}{,="',
        'a = "1"',
        'a="1" ,b="2"',
        '1a="1"',
        'a:b="1"',
        'a="1"b="2"',
        'a="1",b=2',
        'a="☃",b="x"',
        'ä="1"',
        'a="x\\"y"',
        "a",
        '"a"="1"',
        'a="1"}x{b="2"',
    ],
)
def test_fast_label_set_agrees_with_the_precise_parser(inner: str) -> None:
    from vigil.textparse._scan import LineError, fast_label_set, parse_label_set

    for ws in (False, True):
        fast = fast_label_set(inner, True)
        try:
            precise, end = parse_label_set(inner + "}", 0, ws, True)
        except LineError:
            assert fast is None
            continue
        if end != len(inner) + 1:
            assert fast is None
        elif fast is not None:
            assert fast == precise
