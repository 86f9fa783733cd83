"""The text/template lexer: text and actions into a list of tokens.

Follows Go's ``text/template/parse/lex.go``: ``{{- `` and `` -}}`` trim the
whitespace next to an action, ``{{/* */}}`` comments vanish, spaces inside an
action are tokens (they separate operands).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import NamedTuple

__all__ = ["KEYWORDS", "Tok", "Token", "lex"]


class Tok(Enum):
    TEXT = auto()
    LEFT_DELIM = auto()
    RIGHT_DELIM = auto()
    SPACE = auto()
    IDENTIFIER = auto()
    FIELD = auto()
    VARIABLE = auto()
    STRING = auto()
    RAW_STRING = auto()
    CHAR_CONSTANT = auto()
    NUMBER = auto()
    BOOL = auto()
    NIL = auto()
    DOT = auto()
    PIPE = auto()
    DECLARE = auto()
    ASSIGN = auto()
    LEFT_PAREN = auto()
    RIGHT_PAREN = auto()
    CHAR = auto()
    EOF = auto()
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    "block": Tok.BLOCK,
    "break": Tok.BREAK,
    "continue": Tok.CONTINUE,
    "define": Tok.DEFINE,
    "else": Tok.ELSE,
    "end": Tok.END,
    "if": Tok.IF,
    "range": Tok.RANGE,
    "nil": Tok.NIL,
    "template": Tok.TEMPLATE,
    "with": Tok.WITH,
}
_KEYWORD_TOKS = frozenset(KEYWORDS.values()) - {Tok.NIL}


class Token(NamedTuple):
    typ: Tok
    val: str
    pos: int  # index into the template text

    def describe(self) -> str:
        """How Go's parser names the token in an ``unexpected ...`` message."""
        if self.typ is Tok.EOF:
            return "EOF"
        if self.typ in _KEYWORD_TOKS:
            return f"<{self.val}>"
        if self.typ is Tok.RIGHT_DELIM:
            return '"}}"'
        if self.typ is Tok.LEFT_DELIM:
            return '"{{"'
        if len(self.val) > 10:
            return '"' + self.val[:10] + '"...'
        return '"' + self.val.replace("\\", "\\\\").replace('"', '\\"') + '"'


class LexError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


_SPACE = " \t\r\n"
_LEFT = "{{"
_RIGHT = "}}"


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


def _rune_repr(c: str) -> str:
    """Go's ``%#U``: ``U+0041 'A'``."""
    o = ord(c)
    if c.isprintable():
        return f"U+{o:04X} '{c}'"
    return f"U+{o:04X}"


def lex(text: str) -> list[Token]:
    """Tokenise ``text``; raises :class:`LexError` at the first bad character."""
    toks: list[Token] = []
    append = toks.append
    n = len(text)
    pos = 0
    trim_next_text = False
    while True:
        # -- text up to the next "{{" -----------------------------------------
        start = text.find(_LEFT, pos)
        end = n if start < 0 else start
        chunk_start = pos
        left_trim = (
            start >= 0
            and text.startswith("-", start + 2)
            and start + 3 < n
            and text[start + 3] in _SPACE
        )
        chunk = text[pos:end]
        if trim_next_text:
            stripped = chunk.lstrip(_SPACE)
            chunk_start += len(chunk) - len(stripped)
            chunk = stripped
        if left_trim:
            chunk = chunk.rstrip(_SPACE)
        if chunk:
            append(Token(Tok.TEXT, chunk, chunk_start))
        trim_next_text = False
        if start < 0:
            append(Token(Tok.EOF, "", n))
            return toks
        # -- an action -------------------------------------------------------
        delim_pos = start
        pos = start + 2 + (2 if left_trim else 0)
        if text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            if close < 0:
                raise LexError("unclosed comment", delim_pos)
            pos = close + 2
            at, trim, length = _at_right_delim(text, pos)
            if not at:
                raise LexError("comment ends before closing delimiter", delim_pos)
            pos += length
            trim_next_text = trim
            continue
        append(Token(Tok.LEFT_DELIM, _LEFT, delim_pos))
        paren_depth = 0
        while True:
            at, trim, length = _at_right_delim(text, pos)
            if at:
                if paren_depth:
                    raise LexError("unclosed left paren", pos)
                append(Token(Tok.RIGHT_DELIM, _RIGHT, pos))
                pos += length
                trim_next_text = trim
                break
            if pos >= n:
                raise LexError("unclosed action", delim_pos)
            c = text[pos]
            if c in _SPACE:
                s = pos
                while pos < n and text[pos] in _SPACE:
                    pos += 1
                # " -}}": leave the last space to the right delimiter
                if text.startswith("-" + _RIGHT, pos) and pos - s >= 1:
                    pos -= 1
                    if pos == s:
                        continue
                append(Token(Tok.SPACE, text[s:pos], s))
            elif c == "=":
                append(Token(Tok.ASSIGN, "=", pos))
                pos += 1
            elif c == ":":
                if not text.startswith(":=", pos):
                    raise LexError("expected :=", pos)
                append(Token(Tok.DECLARE, ":=", pos))
                pos += 2
            elif c == "|":
                append(Token(Tok.PIPE, "|", pos))
                pos += 1
            elif c == '"':
                pos = _lex_quoted(text, pos, toks, Tok.STRING, '"', "quoted string")
            elif c == "`":
                close = text.find("`", pos + 1)
                if close < 0:
                    raise LexError("unterminated raw quoted string", pos)
                append(Token(Tok.RAW_STRING, text[pos : close + 1], pos))
                pos = close + 1
            elif c == "'":
                pos = _lex_quoted(text, pos, toks, Tok.CHAR_CONSTANT, "'", "character constant")
            elif c == "$":
                pos = _lex_field_or_variable(text, pos, Tok.VARIABLE, toks)
            elif c == "." and not (pos + 1 < n and text[pos + 1].isdigit()):
                pos = _lex_field_or_variable(text, pos, Tok.FIELD, toks)
            elif c in "+-." or c.isdigit():
                pos = _lex_number(text, pos, toks)
            elif _is_alnum(c):
                s = pos
                while pos < n and _is_alnum(text[pos]):
                    pos += 1
                word = text[s:pos]
                if not _at_terminator(text, pos):
                    raise LexError(f"bad character {_rune_repr(text[pos])}", pos)
                if word in KEYWORDS:
                    append(Token(KEYWORDS[word], word, s))
                elif word in ("true", "false"):
                    append(Token(Tok.BOOL, word, s))
                else:
                    append(Token(Tok.IDENTIFIER, word, s))
            elif c == "(":
                append(Token(Tok.LEFT_PAREN, "(", pos))
                paren_depth += 1
                pos += 1
            elif c == ")":
                paren_depth -= 1
                if paren_depth < 0:
                    raise LexError("unexpected right paren", pos)
                append(Token(Tok.RIGHT_PAREN, ")", pos))
                pos += 1
            elif c == ",":
                append(Token(Tok.CHAR, ",", pos))
                pos += 1
            else:
                raise LexError(f"unrecognized character in action: {_rune_repr(c)}", pos)


def _at_right_delim(text: str, pos: int) -> tuple[bool, bool, int]:
    """(at a right delimiter, with trim marker, its length)."""
    if text.startswith(_RIGHT, pos):
        return True, False, 2
    if (
        pos + 1 < len(text)
        and text[pos] in _SPACE
        and text[pos + 1] == "-"
        and text.startswith(_RIGHT, pos + 2)
    ):
        return True, True, 4
    return False, False, 0


def _at_terminator(text: str, pos: int) -> bool:
    if pos >= len(text):
        return True
    c = text[pos]
    return c in _SPACE or c in ".,|:()" or text.startswith(_RIGHT, pos)


def _lex_field_or_variable(text: str, pos: int, typ: Tok, toks: list[Token]) -> int:
    s = pos
    pos += 1
    if _at_terminator(text, pos):
        toks.append(Token(Tok.VARIABLE if typ is Tok.VARIABLE else Tok.DOT, text[s:pos], s))
        return pos
    while pos < len(text) and _is_alnum(text[pos]):
        pos += 1
    if not _at_terminator(text, pos):
        raise LexError(f"bad character {_rune_repr(text[pos])}", pos)
    toks.append(Token(typ, text[s:pos], s))
    return pos


def _lex_quoted(text: str, pos: int, toks: list[Token], typ: Tok, close: str, what: str) -> int:
    """A quoted string or character constant, ``close``-terminated, on one line."""
    s = pos
    pos += 1
    n = len(text)
    while True:
        if pos >= n or text[pos] == "\n":
            raise LexError(f"unterminated {what}", s)
        c = text[pos]
        if c == "\\":
            pos += 2
            continue
        pos += 1
        if c == close:
            break
    toks.append(Token(typ, text[s:pos], s))
    return pos


def _lex_number(text: str, pos: int, toks: list[Token]) -> int:
    s = pos
    n = len(text)
    if pos < n and text[pos] in "+-":
        pos += 1
    digits = "0123456789_"
    if text.startswith(("0x", "0X"), pos):
        digits = "0123456789abcdefABCDEF_"
        pos += 2
    elif text.startswith(("0o", "0O"), pos):
        digits = "01234567_"
        pos += 2
    elif text.startswith(("0b", "0B"), pos):
        digits = "01_"
        pos += 2
    while pos < n and text[pos] in digits:
        pos += 1
    if pos < n and text[pos] == ".":
        pos += 1
        while pos < n and text[pos] in digits:
            pos += 1
    exp = "pP" if len(digits) > 16 else "eEpP" if len(digits) == 11 else ""
    if pos < n and text[pos] in exp:
        pos += 1
        if pos < n and text[pos] in "+-":
            pos += 1
        while pos < n and text[pos] in "0123456789_":
            pos += 1
    if pos < n and text[pos] == "i":
        pos += 1
    if (pos < n and _is_alnum(text[pos])) or pos == s or text[s:pos] in ("+", "-", "."):
        while pos < n and _is_alnum(text[pos]):
            pos += 1
        raise LexError(f"bad number syntax: {text[s:pos]!r}".replace("'", '"'), s)
    toks.append(Token(Tok.NUMBER, text[s:pos], s))
    return pos
