"""Durations and numbers, read and printed as Prometheus does."""

from __future__ import annotations

import math

import pytest

from vigil.promql.parser import (
    DurationError,
    format_duration,
    format_number,
    parse_duration,
    parse_number,
)
from vigil.promql.parser.literals import NumberError, go_round


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("0s", 0),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("5m0s", 300_000),
        ("10s53ms", 10_053),
        ("6m15s", 375_000),
        ("998s", 998_000),
        ("1y2w", (365 + 14) * 86_400_000),
        ("1d", 86_400_000),
        ("100ms", 100),
        ("1y1w1d1h1m1s1ms", 31_536_000_000 + 604_800_000 + 86_400_000 + 3_661_001),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration string"),
        ("5", 'not a valid duration string: "5"'),
        ("1.5h", 'not a valid duration string: "1.5h"'),
        ("5m1h", 'not a valid duration string: "5m1h"'),  # units out of order
        ("5m5m", 'not a valid duration string: "5m5m"'),
        ("-5m", 'not a valid duration string: "-5m"'),
        ("5x", 'not a valid duration string: "5x"'),
        ("999999999999y", 'duration out of range: "999999999999y"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (300_000, "5m"),
        (5_400_000, "1h30m"),
        (10_053, "10s53ms"),
        (90 * 86_400_000, "90d"),  # weeks only when exact
        (14 * 86_400_000, "2w"),
        (365 * 86_400_000, "1y"),
        (366 * 86_400_000, "366d"),
        (1, "1ms"),
        (-60_000, "-1m"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text
    if ms >= 0:
        assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("0x1f", 31.0),
        ("0X_1F", 31.0),
        ("017", 15.0),
        ("0o17", 15.0),
        ("0b101", 5.0),
        ("08", 8.0),
        ("1_000", 1000.0),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("Inf", math.inf),
        ("-inf", -math.inf),
        ("+Inf", math.inf),
        ("123456789012345678901234567890", 1.2345678901234568e29),
    ],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text", ["1_000.5", "1__0", "0x", "1e", "abc", "1e400", "0xffffffffffffffffff"]
)
def test_parse_number_errors(text: str) -> None:
    with pytest.raises(NumberError, match="error parsing number"):
        parse_number(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (1e21, "1000000000000000000000"),
        (1.234e-5, "0.00001234"),
        (1136239445.0, "1136239445"),
        (-0.0, "-0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (2.5e16, "25000000000000000"),
        (1 / 3, "0.3333333333333333"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
    if math.isfinite(value):
        assert float(text) == value


@pytest.mark.parametrize(
    ("x", "rounded"), [(0.5, 1.0), (1.5, 2.0), (2.5, 3.0), (-2.5, -3.0), (-0.4, -0.0)]
)
def test_go_round_goes_away_from_zero(x: float, rounded: float) -> None:
    assert go_round(x) == rounded
