from __future__ import annotations

import pytest

from vigil.model.matchers import Matcher, MatchType, RegexError
from vigil.model.value import STALE_NAN, is_stale_nan


@pytest.mark.parametrize(
    ("kind", "pattern", "value", "expected"),
    [
        (MatchType.EQUAL, "a", "a", True),
        (MatchType.EQUAL, "a", "ab", False),
        (MatchType.NOT_EQUAL, "a", "b", True),
        (MatchType.REGEX, "a.*", "abc", True),
        (MatchType.REGEX, "a.*", "xabc", False),  # anchored at the start
        (MatchType.REGEX, "b", "abc", False),  # anchored at the end
        (MatchType.REGEX, "a|b", "b", True),  # alternation inside the anchors
        (MatchType.REGEX, "a.b", "a\nb", True),  # dot matches newline
        (MatchType.REGEX, "", "", True),
        (MatchType.NOT_REGEX, "a.*", "abc", False),
        (MatchType.NOT_REGEX, "a.*", "b", True),
    ],
)
def test_matcher_semantics(kind: MatchType, pattern: str, value: str, expected: bool) -> None:
    assert Matcher(kind, "l", pattern).matches(value) is expected


def test_bad_regex_is_a_clear_error() -> None:
    with pytest.raises(RegexError, match=r"invalid regular expression '\(a': missing \)"):
        Matcher(MatchType.REGEX, "job", "(a")


def test_pathological_regex_runs_in_linear_time() -> None:
    # (a+)+$ backtracks exponentially in Python's re; RE2 answers at once.
    m = Matcher(MatchType.REGEX, "l", "(a+)+b")
    assert not m.matches("a" * 5000)


def test_matches_empty_and_str() -> None:
    assert Matcher.equal("env", "").matches_empty()
    assert not Matcher(MatchType.REGEX, "env", ".+").matches_empty()
    assert str(Matcher(MatchType.NOT_REGEX, "a", 'x"y')) == 'a!~"x\\"y"'


def test_stale_nan_is_a_nan_but_not_every_nan() -> None:
    assert STALE_NAN != STALE_NAN
    assert is_stale_nan(STALE_NAN)
    assert not is_stale_nan(float("nan"))
    assert not is_stale_nan(1.0)
