"""Go-style string literals: reading escapes and quoting back."""

from __future__ import annotations

import pytest

from vigil.promql.parser.quoting import (
    UnquoteError,
    go_quote,
    go_quote_rune,
    is_legacy_label_name,
    scan_string,
)


@pytest.mark.parametrize(
    ("text", "value", "end"),
    [
        ('"abc" rest', "abc", 5),
        ("'a\"b'", 'a"b', 5),
        ('"a\'b"', "a'b", 5),
        ("`a\\b`", "a\\b", 5),
        ("`a\r\nb`", "a\nb", 6),  # Go drops carriage returns from raw strings
        ('"\\101\\x41\\u0041\\U00000041"', "AAAA", 26),
        ('"\\xc3\\xa9"', "é", 10),
        ('"\\xc3"', "\udcc3", 6),
    ],
)
def test_scan_string(text: str, value: str, end: int) -> None:
    assert scan_string(text, 0) == (value, end)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"abc', "unterminated quoted string"),
        ('"a\nb"', "unterminated quoted string"),
        ("`abc", "unterminated raw string"),
        ('"\\', "escape sequence not terminated"),
        ('"\\q"', "unknown escape sequence U+0071 'q'"),
        ('"\\x4"', "illegal character U+0022 '\"' in escape sequence"),
        ('"\\8"', "unknown escape sequence U+0038 '8'"),
        ('"\\777"', "escape sequence is an invalid Unicode code point"),
        ('"\\U00110000"', "escape sequence is an invalid Unicode code point"),
    ],
)
def test_scan_string_errors(text: str, message: str) -> None:
    with pytest.raises(UnquoteError) as info:
        scan_string(text, 0)
    assert info.value.message == message
    assert info.value.index == 0


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("abc", '"abc"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb\tc", '"a\\nb\\tc"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("é😀", '"é😀"'),
        ("\u00a0\u2028", '"\\u00a0\\u2028"'),
        ("\udcff", '"\\xff"'),
    ],
)
def test_go_quote_round_trips(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted
    assert scan_string(quoted, 0) == (value, len(quoted))


def test_go_quote_rune() -> None:
    assert go_quote_rune("a") == "'a'"
    assert go_quote_rune("'") == "'\\''"
    assert go_quote_rune("\n") == "'\\n'"


def test_legacy_label_names() -> None:
    assert is_legacy_label_name("job_1")
    assert not is_legacy_label_name("1job")
    assert not is_legacy_label_name("a.b")
    assert not is_legacy_label_name("é")
