"""OpenMetrics beyond the vectors: the strictness trap, exemplars, positions, the fast path."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.model import Labels
from vigil.textparse import (
    Exemplar,
    MetricType,
    OpenMetricsParser,
    ParseError,
    Sample,
    SeriesCache,
    Type,
    Unit,
)
from vigil.textparse.openmetrics import _sample

from ._conformance import textparse_body


def samples(body: bytes | str, strict: bool = True, **kw: Any) -> list[Sample]:
    return [e for e in OpenMetricsParser(body, strict=strict, **kw) if isinstance(e, Sample)]


def test_strictness_trap_lenient_accepts_strict_rejects() -> None:
    body = textparse_body("alltypes.5mfs.om.txt")
    lenient = samples(body, strict=False)
    assert len(lenient) == 53
    assert sum(s.name.endswith("_created") for s in lenient) == 9
    exemplars = [s.exemplar for s in lenient if s.exemplar is not None]
    assert len(exemplars) == 6
    assert exemplars[0] == Exemplar(Labels(dummyID="17783"), -0.0003825067330956884, 1726839814223)
    with pytest.raises(ParseError) as info:
        samples(body, strict=True)
    assert info.value.line == 33
    assert "negative" in info.value.reason


def test_one_histogram_body() -> None:
    body = textparse_body("1histogram.om.txt")
    assert not body.endswith(b"\n")
    for strict in (True, False):
        got = samples(body, strict=strict)
        assert len(got) == 42
        suffixes = [s.name.rsplit("_", 1)[1] for s in got]
        assert (suffixes.count("bucket"), suffixes.count("sum"), suffixes.count("count")) == (
            36,
            3,
            3,
        )


def test_metadata_entries() -> None:
    body = '# TYPE a_seconds gauge\n# UNIT a_seconds seconds\n# HELP a_seconds x\\"y\\\\\na_seconds 1\n# EOF\n'
    t, u, h, s = list(OpenMetricsParser(body))
    assert isinstance(t, Type)
    assert t.type is MetricType.GAUGE
    assert isinstance(u, Unit)
    assert u.unit == "seconds"
    assert h.text == 'x"y\\'  # type: ignore[attr-defined]
    assert isinstance(s, Sample)
    assert (s.line, s.offset) == (4, body.index("a_seconds 1"))


def test_timestamps_are_seconds_converted_to_ms() -> None:
    body = "a 1 1.5\na 1 1700000000.123456\na 1 1.5e3\na 1 -0.25\n# EOF\n"
    got = [s.timestamp_ms for s in samples(body, strict=False)]
    assert got == [1500, 1700000000123, 1500000, -250]


def test_exemplar_on_counter_with_timestamps() -> None:
    (s,) = samples('# TYPE a counter\na_total 3 1 # {id="x",u="☃"} 0.5 2.5\n# EOF')
    assert (s.value, s.timestamp_ms) == (3.0, 1000)
    assert s.exemplar == Exemplar(Labels(id="x", u="☃"), 0.5, 2500)


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ("a 1\n", "1:4", "missing '# EOF'"),
        ("a 1", "1:4", "missing '# EOF'"),
        ("a 1\n# EOF\n\n", "3:1", "after '# EOF'"),
        ("# EOF\n# EOF\n", "2:1", "after '# EOF'"),
        ("# comment\n# EOF\n", "1:1", "'#' starts only"),
        ("a\t1\n# EOF\n", "1:2", "unexpected '\\t'"),
        ('a{b="c"}  1\n# EOF\n', "1:10", "expected a value"),
        ('a{b="c"} 1 \n# EOF\n', "1:11", "trailing blank"),
        ('a{b = "c"} 1\n# EOF\n', "1:4", "expected '='"),
        ('a 1\n{b="c"} 1\n# EOF\n', "2:1", "missing metric name"),
        ("a 1 2 3\n# EOF\n", "1:7", "'# {'"),
        ("a 1\r\n# EOF\n", "1:3", "invalid value"),
    ],
)
def test_syntax_errors_have_positions(body: str, where: str, words: str) -> None:
    for strict in (True, False):
        with pytest.raises(ParseError) as info:
            list(OpenMetricsParser(body, strict=strict))
        assert str(info.value).startswith(where + ": "), str(info.value)
        assert words in info.value.reason


def test_error_for_an_earlier_line_names_that_line() -> None:
    body = '# TYPE a histogram\na_bucket{le="1"} 1\na_sum 1\na_count 1\nb 1\n# EOF\n'
    with pytest.raises(ParseError) as info:
        list(OpenMetricsParser(body))
    assert info.value.line == 4
    assert 'no le="+Inf" bucket' in info.value.reason
    assert info.value.line_text == "a_count 1"


def _fields(s: Sample) -> tuple[Any, ...]:
    return (s.name, s.labels, repr(s.value), s.timestamp_ms, s.exemplar, s.series)


@pytest.mark.parametrize("name", ["alltypes.5mfs.om.txt", "1histogram.om.txt"])
def test_fast_path_agrees_with_the_precise_path(name: str) -> None:
    text = textparse_body(name).decode()
    lines = text.split("\n")
    for s in samples(text, strict=False):
        slow, _ = _sample(lines[s.line - 1], s.line, s.offset, True)
        assert _fields(slow) == _fields(s)


def test_series_cache_gives_the_same_result() -> None:
    body = textparse_body("alltypes.5mfs.om.txt")
    cache = SeriesCache()
    cold = samples(body, strict=False, series_cache=cache)
    warm = samples(body, strict=False, series_cache=cache)
    assert [_fields(s) for s in warm] == [_fields(s) for s in cold]
    assert cache.mode == "openmetrics"
    samples("a 1\n# EOF\n", strict=True, series_cache=cache)
    assert cache.mode == "openmetrics-strict"
