"""Alertmanager's matcher syntax: ``name="value"``, ``name=~"re"``, ``name!="v"``, ``name!~"re"``.

This is the classic parser of Alertmanager 0.25 (``pkg/labels/parse.go``), used
for route ``matchers``, inhibit ``source_matchers``/``target_matchers``, silence
matchers and the v2 API ``filter`` parameters:

* a list may be wrapped in one pair of braces and is split on commas outside
  double quotes: ``{a="b", c=~"d"}``;
* values may be quoted or not (``severity=critical``); inside a value ``\\n``,
  ``\\"`` and ``\\\\`` are escapes, any other backslash is literal;
* an unescaped double quote inside a quoted value is an error.

Regular expressions compile with RE2, anchored (``^(?:...)$``). Every error is a
:class:`MatcherError` whose ``offset`` is the character index in the parsed
string where the offending matcher starts.
"""

from __future__ import annotations

import re

from vigil.model.matchers import Matcher, MatchType, RegexError

__all__ = ["MatcherError", "parse_matcher", "parse_matchers"]

# The shape of one matcher (a fixed pattern, not user input, so ``re`` is fine here).
_MATCHER_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)
_TYPES = {
    "=": MatchType.EQUAL,
    "!=": MatchType.NOT_EQUAL,
    "=~": MatchType.REGEX,
    "!~": MatchType.NOT_REGEX,
}


class MatcherError(ValueError):
    """A matcher that does not parse; ``offset`` is where in the string (0-based)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.message} (at character {self.offset + 1})"


def parse_matchers(text: str) -> list[Matcher]:
    """All matchers of ``text`` (``{a="b",c=~"d"}`` or ``a="b", c=~"d"``), in order."""
    start = 0
    if text.startswith("{"):
        start = 1
    end = len(text)
    if text.endswith("}") and end > start:
        end -= 1
    tokens: list[tuple[str, int]] = []
    inside_quotes = False
    escaped = False
    token: list[str] = []
    token_start = start
    for i in range(start, end):
        ch = text[i]
        if ch == "," and not inside_quotes:
            tokens.append(("".join(token), token_start))
            token = []
            token_start = i + 1
            continue
        if ch == '"':
            if not escaped:
                inside_quotes = not inside_quotes
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token)
    if last.strip():
        tokens.append((last, token_start))
    return [parse_matcher(tok, offset) for tok, offset in tokens]


def parse_matcher(text: str, offset: int = 0) -> Matcher:
    """One matcher; ``offset`` is added to error positions (the token's place in a list)."""
    m = _MATCHER_RE.match(text)
    if m is None:
        lead = len(text) - len(text.lstrip())
        raise MatcherError(f"bad matcher format: {text.strip()}", offset + lead)
    name, op, raw = m.group(1), m.group(2), m.group(3)
    value_at = offset + m.start(3)
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    expect_quote = quoted
    out: list[str] = []
    escaped = False
    n = len(body)
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in ('"', "\\"):
                out.append(ch)
            else:
                out.append("\\" + ch)
            continue
        if ch == "\\":
            if i < n - 1:
                escaped = True
                continue
            out.append("\\")
        elif ch == '"':
            if not expect_quote or i < n - 1:
                where = value_at + i + (1 if quoted else 0)
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}", where)
            expect_quote = False
        else:
            out.append(ch)
    if expect_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}", value_at)
    try:
        return Matcher(_TYPES[op], name, "".join(out))
    except RegexError as exc:
        raise MatcherError(str(exc), value_at) from None
