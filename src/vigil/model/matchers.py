"""Label matchers: ``=``, ``!=``, ``=~`` and ``!~``, as in PromQL selectors and relabelling.

Regular expressions are RE2 (no backtracking, so a user-supplied pattern
cannot hang the server) and fully anchored like Prometheus's: ``=~"a.*"``
matches ``abc`` but not ``xabc``. ``.`` matches newlines, as in Go's RE2
with Prometheus's ``(?s)`` default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import re2

__all__ = ["MatchType", "Matcher", "RegexError", "compile_anchored"]


class RegexError(ValueError):
    """A regular expression that RE2 cannot compile; the message says why."""


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.dot_nl = True


def compile_anchored(pattern: str) -> Any:
    """Compile *pattern* with RE2, anchored at both ends (``^(?:pattern)$``)."""
    try:
        return re2.compile(f"^(?:{pattern})$", _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"invalid regular expression {pattern!r}: {reason}") from None


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """Matches the value of label *name* (``""`` when the label is absent)."""

    type: MatchType
    name: str
    value: str
    _regex: Any = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_regex", compile_anchored(self.value))

    @classmethod
    def equal(cls, name: str, value: str) -> Matcher:
        return cls(MatchType.EQUAL, name, value)

    def matches(self, value: str) -> bool:
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        hit = self._regex.match(value) is not None
        return hit if t is MatchType.REGEX else not hit

    def matches_empty(self) -> bool:
        """Whether a series *without* this label matches (its value counts as ``""``)."""
        return self.matches("")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{escaped}"'
