"""The PromQL lexer: text to a list of tokens, by hand, like Prometheus's ``lex.go``.

Token kinds are short strings. Punctuation and operators use their own
spelling (``"+"``, ``"=~"``, ``"("``); keywords use their lower-case word
(``"sum"``, ``"by"``, ``"and"``, ``"offset"``), so ``SUM`` and ``sum`` lex
the same; everything else is one of the upper-case kinds below.

The lexer is contextual, as Prometheus's is: inside ``{...}`` every word is
a plain identifier (``{on="x"}`` is a matcher), identifiers there may not
contain colons, and inside ``[...]`` only numbers, durations and ``:`` may
appear. The first lexical error ends the token list with an ``ERROR`` token
whose text is the message.
"""

from __future__ import annotations

import re

from vigil.promql.parser.quoting import UnquoteError, go_quote, go_quote_rune, scan_string

__all__ = [
    "AGGREGATORS",
    "COMPARISON_OPS",
    "DURATION",
    "EOF",
    "ERROR",
    "IDENT",
    "KEYWORDS",
    "METRIC_IDENT",
    "NUMBER",
    "OPERATOR_KEYWORDS",
    "STRING",
    "Token",
    "describe",
    "lex",
]

EOF = "EOF"
ERROR = "ERROR"
IDENT = "IDENT"
METRIC_IDENT = "METRIC_IDENT"
NUMBER = "NUMBER"
DURATION = "DURATION"
STRING = "STRING"

AGGREGATORS = frozenset(
    {
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
OPERATOR_KEYWORDS = frozenset({"and", "or", "unless", "atan2"})
_OTHER_KEYWORDS = frozenset(
    {"offset", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
)
KEYWORDS = AGGREGATORS | OPERATOR_KEYWORDS | _OTHER_KEYWORDS
COMPARISON_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_SYMBOL_OPS = frozenset({"+", "-", "*", "/", "%", "^", "@"}) | COMPARISON_OPS | {"=~", "!~"}

_SPACES = " \t\n\r"
_WORD_RE = re.compile(r"[a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z0-9_]*")
_DIGITS = "0123456789"
_HEX_DIGITS = "0123456789abcdefABCDEF"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ALPHA = _ALNUM - frozenset(_DIGITS)
_SIMPLE = frozenset("+-*/%^@,")


class Token:
    """One token: its kind, its source text (a string's value for ``STRING``), its span."""

    __slots__ = ("end", "kind", "start", "text")

    def __init__(self, kind: str, text: str, start: int, end: int) -> None:
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r}, {self.start}, {self.end})"


def describe(tok: Token, source: str) -> str:
    """How an error message names a token, as Prometheus does: ``identifier "foo"``, ``<op:+>``."""
    k = tok.kind
    if k == EOF:
        return "end of input"
    if k in (IDENT, METRIC_IDENT):
        kind = "identifier" if k == IDENT else "metric identifier"
        return f'{kind} "{tok.text}"'
    if k in OPERATOR_KEYWORDS or k in _SYMBOL_OPS:
        return f"<op:{tok.text}>"
    if k in AGGREGATORS:
        return f"<aggr:{tok.text}>"
    if k in _OTHER_KEYWORDS:
        return f"<{tok.text}>"
    raw = source[tok.start : tok.end]
    if k == NUMBER:
        return f'number "{raw}"'
    if k == DURATION:
        return f'duration "{raw}"'
    if k == STRING:
        shown = raw if len(raw) <= 10 else raw[:10] + "..."
        return "string " + go_quote(shown)
    return f'"{raw}"'


class _LexError(Exception):
    def __init__(self, message: str, index: int) -> None:
        self.message = message
        self.index = index


def _scan_number(s: str, i: int, series: bool = False) -> tuple[int, bool]:
    """Scan a number at ``s[i]`` like Prometheus's ``scanNumber``: (end, is a complete number)."""
    n = len(s)
    start = i
    digits = _DIGITS
    if not series and s.startswith(("0x", "0X"), i):
        i += 2
        if i < n and s[i] == "_":
            i += 1
        digits = _HEX_DIGITS
    if i < n and s[i] == ".":
        i += 1
    if i < n and s[i] in digits:
        i += 1
    dot = exp = False
    allowed = digits + "._eE"
    while i < n and s[i] in allowed:
        c = s[i]
        if c == ".":
            i += 1
            if dot:
                return i, False
            dot = True
            if (i < n and s[i] in "_.") or len(digits) > 10:
                return i + (i < n and s[i] in "_."), False
        elif c in "eE" and digits is _DIGITS:
            i += 1
            if exp:
                return i, False
            exp = True
            if i < n and s[i] in "+-":
                i += 1
            if i >= n or s[i] in "._eE":
                return i + (i < n), False
        elif c == "_":
            i += 1
            if i >= n or s[i] in "._eE":
                return i + (i < n), False
        else:
            while i < n and s[i] in digits:
                i += 1
    if i == start:
        return i, False
    if i < n and s[i] in _ALNUM and not (series and s[i] == "x"):
        return i, False
    return i, True


def _scan_duration_rest(s: str, i: int) -> tuple[int, bool]:
    """After the digits of a duration, scan its units (``acceptRemainingDuration``).

    Returns where the scan stopped and whether it read a well-formed duration.
    """
    n = len(s)
    if i >= n or s[i] not in "smhdwy":
        return i, False
    i += 1
    if i < n and s[i] == "s":
        i += 1
    while i < n and s[i] in _DIGITS:
        while i < n and s[i] in _DIGITS:
            i += 1
        if i >= n or s[i] not in "smhdw":
            return i, False
        i += 1
        if i < n and s[i] == "s":
            i += 1
    if i < n and s[i] in _ALNUM:
        return i + 1, False
    return i, True


def lex(text: str) -> list[Token]:
    """All tokens of ``text``, ending with ``EOF`` or, at the first lexical error, ``ERROR``."""
    toks: list[Token] = []
    try:
        _lex_into(text, toks)
    except _LexError as err:
        toks.append(Token(ERROR, err.message, err.index, len(text)))
    return toks


def _lex_into(s: str, toks: list[Token]) -> None:
    n = len(s)
    i = 0
    paren_depth = 0
    brace_open = False
    bracket_open = False
    got_colon = False
    append = toks.append
    while True:
        while i < n and s[i] in _SPACES:
            i += 1
        if i >= n:
            if brace_open:
                raise _LexError("unexpected end of input inside braces", i)
            if paren_depth:
                raise _LexError("unclosed left parenthesis", i)
            if bracket_open:
                raise _LexError("unclosed left bracket", i)
            append(Token(EOF, "", n, n))
            return
        c = s[i]
        if not brace_open:
            if c in _ALPHA or c == ":":
                if bracket_open:
                    if c != ":":
                        raise _LexError(
                            f"unexpected character: {go_quote_rune(c)}, expected ':'", i
                        )
                    if got_colon:
                        raise _LexError("unexpected colon ':'", i)
                    got_colon = True
                    append(Token(":", ":", i, i + 1))
                    i += 1
                    continue
                end = _WORD_RE.match(s, i).end()  # type: ignore[union-attr]
                word = s[i:end]
                low = word.lower()
                if low in KEYWORDS:
                    append(Token(low, word, i, end))
                elif low == "inf" or low == "nan":
                    append(Token(NUMBER, word, i, end))
                else:
                    append(Token(METRIC_IDENT if ":" in word else IDENT, word, i, end))
                i = end
                continue
            if c in _SIMPLE:
                append(Token(c, c, i, i + 1))
                i += 1
                continue
        if c == "#":
            end = s.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == '"' or c == "'" or c == "`":
            try:
                value, end = scan_string(s, i)
            except UnquoteError as err:
                raise _LexError(err.message, err.index) from None
            append(Token(STRING, value, i, end))
            i = end
            continue
        if brace_open:
            if c in _ALPHA:
                end = _LABEL_RE.match(s, i).end()  # type: ignore[union-attr]
                append(Token(IDENT, s[i:end], i, end))
                i = end
            elif c == ",":
                append(Token(",", ",", i, i + 1))
                i += 1
            elif c == "=":
                if i + 1 < n and s[i + 1] == "~":
                    append(Token("=~", "=~", i, i + 2))
                    i += 2
                else:
                    append(Token("=", "=", i, i + 1))
                    i += 1
            elif c == "!":
                nxt = s[i + 1] if i + 1 < n else ""
                if nxt not in ("=", "~"):
                    shown = go_quote_rune(nxt) if nxt else "U+FFFFFFFF"
                    raise _LexError(f"unexpected character after '!' inside braces: {shown}", i)
                append(Token("!" + nxt, "!" + nxt, i, i + 2))
                i += 2
            elif c == "}":
                append(Token("}", "}", i, i + 1))
                brace_open = False
                i += 1
            elif c == "{":
                raise _LexError("unexpected left brace '{'", i)
            else:
                raise _LexError(f"unexpected character inside braces: {go_quote_rune(c)}", i)
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and s[i + 1] in _DIGITS):
            end, ok = _scan_number(s, i)
            if ok:
                append(Token(NUMBER, s[i:end], i, end))
                i = end
                continue
            dur_end, ok = _scan_duration_rest(s, end)
            if not ok:
                raise _LexError(f'bad number or duration syntax: "{s[i:dur_end]}"', i)
            append(Token(DURATION, s[i:dur_end], i, dur_end))
            i = dur_end
            continue
        i1 = i + 1
        nxt = s[i1] if i1 < n else ""
        if c == "(":
            paren_depth += 1
            append(Token(c, c, i, i1))
        elif c == ")":
            paren_depth -= 1
            if paren_depth < 0:
                raise _LexError("unexpected right parenthesis ')'", i1)
            append(Token(c, c, i, i1))
        elif c == "=":
            if nxt == "=":
                append(Token("==", "==", i, i + 2))
                i1 += 1
            elif nxt == "~":
                raise _LexError("unexpected character after '=': '~'", i)
            else:
                append(Token("=", "=", i, i1))
        elif c == "!":
            if nxt != "=":
                shown = go_quote_rune(nxt) if nxt else "U+FFFFFFFF"
                raise _LexError(f"unexpected character after '!': {shown}", i)
            append(Token("!=", "!=", i, i + 2))
            i1 += 1
        elif c in "<>":
            if nxt == "=":
                append(Token(c + "=", c + "=", i, i + 2))
                i1 += 1
            else:
                append(Token(c, c, i, i1))
        elif c == "{":
            brace_open = True
            append(Token(c, c, i, i1))
        elif c == "[":
            if bracket_open:
                raise _LexError("unexpected left bracket '['", i)
            bracket_open = True
            got_colon = False
            append(Token(c, c, i, i1))
        elif c == "]":
            if not bracket_open:
                raise _LexError("unexpected right bracket ']'", i)
            bracket_open = False
            append(Token(c, c, i, i1))
        else:
            raise _LexError(f"unexpected character: {go_quote_rune(c)}", i)
        i = i1
