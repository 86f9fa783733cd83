"""printf: Go's fmt verbs, flags, widths and its error notations."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vigil.gotmpl.fmt import sprintf
from vigil.gotmpl.values import format_float_g, go_quote, sprint

CASES: list[tuple[str, list[Any], str]] = [
    ("%s", ["x"], "x"),
    ("%d", [42], "42"),
    ("%5d|%-5d|%05d", [42, 42, 42], "   42|42   |00042"),
    ("%+d %+d % d", [5, -5, 5], "+5 -5  5"),
    ("%f", [3.14159], "3.141590"),
    ("%.2f", [3.14159], "3.14"),
    ("%5.1f|", [3.14159], "  3.1|"),
    ("%-8.3f|", [2.5], "2.500   |"),
    ("%08.3f", [-2.5], "-002.500"),
    ("%g %g %g", [1e6, 0.5, 100000.0], "1e+06 0.5 100000"),
    ("%.3g %.4g %.4g", [1234.5678, 0.000012345, 100.0], "1.23e+03 1.234e-05 100"),
    ("%e %.2e %E", [1234.5678, 0.000123, 1.0], "1.234568e+03 1.23e-04 1.000000E+00"),
    ("%v %v %v %v %v", [1, 1.5, "s", True, None], "1 1.5 s true <nil>"),
    ("%v", [[1, "a", 2.5]], "[1 a 2.5]"),
    ("%v", [{"b": 1, "a": [1, 2]}], "map[a:[1 2] b:1]"),
    ("%d", [[1, 2]], "[1 2]"),
    ("%q %q", ['hi\n"x"', 65], '"hi\\n\\"x\\"" \'A\''),
    ("%x %X %x %#x %o %#o %b", [255, 255, "hi", 255, 8, 8, 5], "ff FF 6869 0xff 10 010 101"),
    ("% x", ["abc"], "61 62 63"),
    ("%t %t", [True, False], "true false"),
    ("%c %U", [0x263A, 0x263A], "☺ U+263A"),
    ("100%%", [], "100%"),
    ("%-10s|%10s|", ["left", "right"], "left      |     right|"),
    ("%.2s", ["abcdef"], "ab"),
    ("%*d|%-*d|", [5, 1, 4, 2], "    1|2   |"),
    ("%.*f", [1, 2.345], "2.3"),
    (
        "%T %T %T %T %T %T",
        [1, 1.0, "s", True, [1], {"a": 1}],
        "int float64 string bool []interface {} map[string]interface {}",
    ),
    ("%f %v %.1f %5.1f", [math.inf, -math.inf, math.nan, math.inf], "+Inf -Inf NaN  +Inf"),
    # Go's error notations
    ("%d", ["hi"], "%!d(string=hi)"),
    ("%s", [5], "%!s(int=5)"),
    ("%d", [1.5], "%!d(float64=1.5)"),
    ("%f", [1], "%!f(int=1)"),
    ("%s", [None], "%!s(<nil>)"),
    ("%d %d", [1], "1 %!d(MISSING)"),
    ("%d", [1, 2, "x"], "1%!(EXTRA int=2, string=x)"),
    ("%", [], "%!(NOVERB)"),
    ("%z", [1], "%!z(int=1)"),
]


@pytest.mark.parametrize(("fmt", "args", "want"), CASES, ids=[c[0] for c in CASES])
def test_sprintf(fmt: str, args: list[Any], want: str) -> None:
    assert sprintf(fmt, args) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (0.0, "0"),
        (1.0, "1"),
        (3.0, "3"),
        (0.5, "0.5"),
        (1e6, "1e+06"),
        (999999.0, "999999"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001234, "1.234e-05"),
        (1e21, "1e+21"),
        (1e100, "1e+100"),
        (-2.5e-7, "-2.5e-07"),
        (123.456, "123.456"),
        (0.1 + 0.2, "0.30000000000000004"),
        (5e-324, "5e-324"),
    ],
)
def test_float_prints_like_go(value: float, want: str) -> None:
    assert format_float_g(value) == want


def test_quote_and_sprint() -> None:
    assert go_quote("a\tb\x00\u00e9\u2028") == '"a\\tb\\x00é\\u2028"'
    assert sprint(["a", 1, 2, "b", 3.5, True]) == "a1 2b3.5 true"
