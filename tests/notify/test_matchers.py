"""Alertmanager's classic matcher syntax (pkg/labels/parse.go of 0.25)."""

from __future__ import annotations

import pytest

from vigil.model.matchers import MatchType
from vigil.notify.matchers import MatcherError, parse_matcher, parse_matchers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('foo="bar"', [(MatchType.EQUAL, "foo", "bar")]),
        ("foo=bar", [(MatchType.EQUAL, "foo", "bar")]),
        ('foo!="bar"', [(MatchType.NOT_EQUAL, "foo", "bar")]),
        ('foo=~"b.*"', [(MatchType.REGEX, "foo", "b.*")]),
        ('foo!~"b.*"', [(MatchType.NOT_REGEX, "foo", "b.*")]),
        (
            '{foo="bar", baz=~"qu+x"}',
            [(MatchType.EQUAL, "foo", "bar"), (MatchType.REGEX, "baz", "qu+x")],
        ),
        (
            '{foo="bar,quux", job="job1"}',
            [(MatchType.EQUAL, "foo", "bar,quux"), (MatchType.EQUAL, "job", "job1")],
        ),
        ('foo = "bar"', [(MatchType.EQUAL, "foo", "bar")]),
        ('foo=""', [(MatchType.EQUAL, "foo", "")]),
        ("foo=", [(MatchType.EQUAL, "foo", "")]),
        (r'foo="b\"ar"', [(MatchType.EQUAL, "foo", 'b"ar')]),
        (r'foo="b\\ar"', [(MatchType.EQUAL, "foo", "b\\ar")]),
        (r'foo="b\nar"', [(MatchType.EQUAL, "foo", "b\nar")]),
        (r'foo="b\x"', [(MatchType.EQUAL, "foo", "b\\x")]),  # spurious escape stays literal
        ("foo=bar\\", [(MatchType.EQUAL, "foo", "bar\\")]),  # trailing backslash is literal
        ('foo="bar}"', [(MatchType.EQUAL, "foo", "bar}")]),
        (
            "foo=~[a-z]+, bar!=baz",
            [(MatchType.REGEX, "foo", "[a-z]+"), (MatchType.NOT_EQUAL, "bar", "baz")],
        ),
        ('foo="höhe"', [(MatchType.EQUAL, "foo", "höhe")]),
        ("{}", []),
        ("", []),
    ],
)
def test_parse(text: str, expected: list[tuple[MatchType, str, str]]) -> None:
    got = [(m.type, m.name, m.value) for m in parse_matchers(text)]
    assert got == expected


def test_regex_is_anchored_re2() -> None:
    (m,) = parse_matchers('severity=~"crit.*"')
    assert m.matches("critical")
    assert not m.matches("supercritical")
    (n,) = parse_matchers('x!~"a|b"')
    assert n.matches("")
    assert not n.matches("a")


@pytest.mark.parametrize(
    ("text", "reason", "offset"),
    [
        ("foo", "bad matcher format", 0),
        ('a="b", 1x="c"', "bad matcher format", 7),
        ('foo="bar', "unescaped double quote", 4),
        ('foo="b"ar"', "unescaped double quote", 6),
        ('foo=b"ar', "unescaped double quote", 5),
        ('foo=~"(a"', "invalid regular expression", 5),
        ('{a="b", c=~"["}', "invalid regular expression", 11),
    ],
)
def test_errors_have_positions(text: str, reason: str, offset: int) -> None:
    with pytest.raises(MatcherError) as info:
        parse_matchers(text)
    assert reason in info.value.message
    assert info.value.offset == offset
    assert f"at character {offset + 1}" in str(info.value)


def test_parse_matcher_offset_is_added() -> None:
    with pytest.raises(MatcherError) as info:
        parse_matcher("=x", 10)
    assert info.value.offset == 10
