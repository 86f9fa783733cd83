"""Series descriptions of the test files (FORMAT.md sections 3-4)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vigil.model.labels import Labels
from vigil.model.value import is_stale_nan
from vigil.promql.parser import ParseError, parse_series_desc

CONFORMANCE = Path(__file__).resolve().parents[4] / "shared" / "conformance" / "promql"


@pytest.mark.parametrize(
    ("text", "labels", "values"),
    [
        ("up 1", {"__name__": "up"}, [1.0]),
        ('m{a="b", c="d"} 1 2', {"__name__": "m", "a": "b", "c": "d"}, [1.0, 2.0]),
        ('{__name__="m", a="b"} 1', {"__name__": "m", "a": "b"}, [1.0]),
        ("{} 1", {}, [1.0]),
        ("m{a='x\\ny', b=`r`,} 1", {"__name__": "m", "a": "x\ny", "b": "r"}, [1.0]),
        ("ns:rule:sum 0+10x3", {"__name__": "ns:rule:sum"}, [0.0, 10.0, 20.0, 30.0]),
        ("m -2+4x3", {"__name__": "m"}, [-2.0, 2.0, 6.0, 10.0]),
        ("m 10-2x2", {"__name__": "m"}, [10.0, 8.0, 6.0]),
        ("m 5x2", {"__name__": "m"}, [5.0, 5.0, 5.0]),
        ("m 1 _ 3", {"__name__": "m"}, [1.0, None, 3.0]),
        ("m _x3 1", {"__name__": "m"}, [None, None, None, 1.0]),
        (
            "m 1e3 -1.5 .5 +2 1e+3+1e2x1",
            {"__name__": "m"},
            [1000.0, -1.5, 0.5, 2.0, 1000.0, 1100.0],
        ),
        ("m Inf -Inf +inf", {"__name__": "m"}, [math.inf, -math.inf, math.inf]),
        ("m\t1\t\t2  ", {"__name__": "m"}, [1.0, 2.0]),
        ("m", {"__name__": "m"}, []),
        ("m 0x3", {"__name__": "m"}, [0.0] * 4),  # not hex: 0, repeated 3 more times
    ],
)
def test_series(text: str, labels: dict[str, str], values: list[float | None]) -> None:
    got_labels, got_values = parse_series_desc(text)
    assert got_labels == Labels.from_dict(labels)
    assert got_values == values


def test_special_values() -> None:
    _, values = parse_series_desc("m NaN stale 1 stale")
    assert math.isnan(values[0] or 0.0)
    assert not is_stale_nan(values[0] or 0.0)
    assert values[1] is not None
    assert is_stale_nan(values[1])
    assert values[3] is not None
    assert is_stale_nan(values[3])


def test_steps_accumulate_like_upstream() -> None:
    _, values = parse_series_desc("m 0+0.1x10")
    acc = 0.0
    for v in values:
        assert v == acc  # bit for bit: repeated addition, not 0.1 * i
        acc += 0.1


@pytest.mark.parametrize(
    ("text", "col", "message"),
    [
        ('m{a=~"b"} 1', 4, 'unexpected character in label set, expected "="'),
        ("m{a} 1", 4, 'unexpected character in label set, expected "="'),
        ('m{a="b" 1', 9, 'unexpected character in label set, expected "," or "}"'),
        ('m{1="b"} 1', 3, 'unexpected character in label set, expected identifier or "}"'),
        ("m{a=b} 1", 5, "unexpected character in label set, expected string"),
        ('m{a="b} 1', 5, "unterminated quoted string"),
        ('m{a="1", a="2"} 1', 10, 'duplicate label name "a"'),
        ("m 1 x", 5, 'unexpected "x" in series values, expected number or "stale"'),
        ("m 1+2", 3, 'unexpected "1+2" in series values, expected "x<count>"'),
        ("m 1x", 3, 'unexpected "1x" in series values'),
        ("m {{schema:1}}", 3, "native histogram samples are not supported"),
        ("1 2", 1, "unexpected character in series description"),
        ('m{a="b"}1', 9, "expected a blank between the series and its values"),
    ],
)
def test_errors(text: str, col: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_series_desc(text)
    assert info.value.message.startswith(message)
    assert info.value.position is not None
    assert info.value.position.col == col


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="no conformance data")
def test_every_float_load_line_of_the_conformance_files_parses() -> None:
    parsed = histograms = 0
    for path in sorted(CONFORMANCE.glob("*.test")):
        in_load = False
        for raw in path.read_text().split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                in_load = False
                continue
            word = line.split()[0].lower()
            if word.startswith("load"):
                in_load = True
                continue
            if word.startswith(("eval", "clear", "expect")):
                in_load = False
                continue
            if not in_load or "@st" in line.split()[0]:
                continue
            if "{{" in line:
                histograms += 1
                continue
            parse_series_desc(line)
            parsed += 1
    assert parsed > 500
    assert histograms > 0
