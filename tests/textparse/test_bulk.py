"""parse_columns: the vectorised path agrees with the line-by-line parser, or steps aside."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.model import Labels
from vigil.textparse import ParseError
from vigil.textparse.bulk import Columns, SeriesKeyCache, parse_columns

PROM = "text/plain; version=0.0.4"
OM = "application/openmetrics-text; version=1.0.0"
DEFAULT_T = 1_700_000_000_000


def rows(c: Columns) -> list[tuple[str, Labels, int, int]]:
    """(name, labels, timestamp, value bits) per sample, in body order."""
    return [
        (*c.names[k], t, v)
        for k, t, v in zip(
            c.codes.tolist(),
            c.timestamps.tolist(),
            c.values.view(np.uint64).tolist(),
            strict=True,
        )
    ]


def both(body: bytes, ctype: str) -> tuple[Columns, Columns]:
    fast = parse_columns(body, ctype, default_timestamp_ms=DEFAULT_T)
    slow = parse_columns(body, ctype, default_timestamp_ms=DEFAULT_T, vectorised=False)
    assert rows(fast) == rows(slow)
    return fast, slow


SIMPLE = [
    (b'a{x="1"} 1 1000\nb 2.5 2000\na{x="1"} -3e-7 3000\n', PROM),
    (b"a 1 1000\nb 2 2000", PROM),  # no final newline
    (b"# HELP a help\n# TYPE a gauge\na 1 1000\n\na 2 2000\n# free comment\n", PROM),
    (b'c_total{l="v w"} 7 123\nc_total{l="v w"} NaN 124\nd +Inf 5\nd -Inf 6\n', PROM),
    (b"a 00012 1000\na 123456789012345678901 2000\na 0.1 3000\na 1e300 4000\n", PROM),
    (b"# TYPE a gauge\na 1 1600000000\na 2 1600000015\n# EOF\n", OM),
    (b'# TYPE c counter\nc_total{x="y"} 1 1600000000\n# EOF', OM),
    (b"# EOF\n", OM),
    (b"", PROM),
    ('a{x="ünï"} 1 1000\n'.encode(), PROM),
]


@pytest.mark.parametrize(("body", "ctype"), SIMPLE)
def test_simple_bodies_take_the_vectorised_path_and_agree(body: bytes, ctype: str) -> None:
    fast, _ = both(body, ctype)
    assert fast.lines is None


ODD = [
    (b"a 1\nb 2 2000\n", PROM),  # no timestamp: the default
    (b'a{x="1 2"} 3\n', PROM),  # a blank in a label value and no timestamp
    (b"a\t1\t1000\n", PROM),
    (b"a  1 1000\n", PROM),
    (b"  a 1 1000\n", PROM),
    (b"a 1 1000 \n", PROM),
    (b"a 1 1000\r\n", PROM),
    (b'a{x="1"} 1 1000\n', PROM),
    (b"a 1 1600000000.5\n# EOF\n", OM),  # fractional seconds
    (b"a 1 -5\n# EOF\n", OM),
    (b'a_total 1 1600000000 # {t="x"} 1 1600000000\n# EOF\n', OM),  # exemplar
    (b"a 1 1000000000000000000000\n", PROM),
]


@pytest.mark.parametrize(("body", "ctype"), ODD)
def test_other_bodies_go_line_by_line_with_the_same_result(body: bytes, ctype: str) -> None:
    try:
        both(body, ctype)
    except ParseError:
        with pytest.raises(ParseError):
            parse_columns(body, ctype, default_timestamp_ms=DEFAULT_T, vectorised=False)


BAD = [
    (b"a 1 1000\nb 2 2000\nc{x=} 3 3000\nd 4 4000\n", PROM, 3),
    (b"a 1 1000\nb 1_0 2000\n", PROM, 2),
    (b"a 1 1000\nb 1 20x0\n", PROM, 2),
    (b"a 1 1000\n# TYPE a nonsense\n", PROM, 2),
    (b"a 1 1000\n\xff 1 1000\n", PROM, 2),
    (b"a 1 1600000000\n\na 2 1600000015\n# EOF\n", OM, 2),
    (b"a 1 1600000000\n", OM, 1),  # no # EOF
    (b"a 1 1600000000\n# EOF\nb 1 1600000000\n# EOF\n", OM, 3),
    (b"a 1 1000\n0a 1 1000\n", PROM, 2),
]


@pytest.mark.parametrize(("body", "ctype", "line"), BAD)
def test_a_malformed_line_is_reported_with_its_line(body: bytes, ctype: str, line: int) -> None:
    with pytest.raises(ParseError) as err:
        parse_columns(body, ctype, default_timestamp_ms=DEFAULT_T)
    assert err.value.line == line


def test_a_big_generated_body_agrees_and_uses_the_cache() -> None:
    rng = np.random.default_rng(7)
    lines = []
    for t in range(50):
        for i in range(40):
            v = rng.choice([f"{int(rng.integers(0, 10**9))}", repr(float(rng.normal())), "NaN"])
            lines.append(f'm_{i % 4}{{i="{i}",job="x y"}} {v} {1_600_000_000_000 + t * 15_000}')
    body = ("\n".join(lines) + "\n").encode()
    cache: SeriesKeyCache = {}
    fast = parse_columns(body, PROM, default_timestamp_ms=0, cache=cache)
    slow = parse_columns(body, PROM, default_timestamp_ms=0, vectorised=False)
    assert fast.lines is None
    assert rows(fast) == rows(slow)
    assert len(cache) == 40
    again = parse_columns(body, PROM, default_timestamp_ms=0, cache=cache)
    assert rows(again) == rows(slow)
