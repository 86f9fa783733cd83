"""Go-style string quoting, the way PromQL reads and prints strings.

PromQL strings follow Go's rules: ``"..."`` and ``'...'`` with backslash
escapes, and raw ``` `...` ``` strings without any. Go strings are bytes, so
``"\\xff"`` is a valid string that is not valid UTF-8; here such bytes are
kept as lone surrogates (Python's ``surrogateescape``: byte ``0xff`` becomes
``"\\udcff"``), and :func:`go_quote` prints them back as ``\\xff``.
"""

from __future__ import annotations

__all__ = ["UnquoteError", "go_quote", "go_quote_rune", "is_legacy_label_name", "scan_string"]

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}

_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


class UnquoteError(ValueError):
    """A malformed string literal; ``index`` is where the string starts."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


def _rune_desc(ch: str) -> str:
    """Go's ``%#U``: ``U+0071 'q'``."""
    code = ord(ch)
    if ch.isprintable():
        return f"U+{code:04X} '{ch}'"
    return f"U+{code:04X}"


def scan_string(text: str, start: int) -> tuple[str, int]:
    """Read the string literal opening at ``text[start]``; return (value, end index).

    Raises :class:`UnquoteError` with the lexer's message (Prometheus wording)
    when the literal is malformed or not terminated.
    """
    quote = text[start]
    n = len(text)
    if quote == "`":
        end = text.find("`", start + 1)
        if end < 0:
            raise UnquoteError("unterminated raw string", start)
        # Go drops carriage returns from raw strings.
        return text[start + 1 : end].replace("\r", ""), end + 1
    i = start + 1
    # Fast path: no escapes.
    j = i
    while j < n:
        c = text[j]
        if c == quote:
            return text[i:j], j + 1
        if c == "\\" or c == "\n":
            break
        j += 1
    out: list[str] = [text[i:j]]
    pending = bytearray()  # bytes from \x and octal escapes, decoded together
    i = j
    while True:
        if i >= n:
            raise UnquoteError("unterminated quoted string", start)
        c = text[i]
        if c == quote:
            break
        if c == "\n":
            raise UnquoteError("unterminated quoted string", start)
        if c != "\\":
            if pending:
                out.append(pending.decode("utf-8", "surrogateescape"))
                pending.clear()
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= n:
            raise UnquoteError("escape sequence not terminated", start)
        e = text[i]
        i += 1
        if e in _SIMPLE_ESCAPES or e == quote:
            if pending:
                out.append(pending.decode("utf-8", "surrogateescape"))
                pending.clear()
            out.append(_SIMPLE_ESCAPES.get(e, e))
            continue
        if e in "01234567":
            digits, base, maximum = 3, 8, 255
            i -= 1
        elif e == "x":
            digits, base, maximum = 2, 16, 255
        elif e == "u":
            digits, base, maximum = 4, 16, 0x10FFFF
        elif e == "U":
            digits, base, maximum = 8, 16, 0x10FFFF
        else:
            raise UnquoteError(f"unknown escape sequence {_rune_desc(e)}", start)
        value = 0
        for _ in range(digits):
            if i >= n:
                raise UnquoteError("escape sequence not terminated", start)
            d = text[i]
            try:
                digit = int(d, base)
            except ValueError:
                raise UnquoteError(
                    f"illegal character {_rune_desc(d)} in escape sequence", start
                ) from None
            value = value * base + digit
            i += 1
        if value > maximum or 0xD800 <= value < 0xE000:
            raise UnquoteError("escape sequence is an invalid Unicode code point", start)
        if maximum == 255:  # \x and octal escapes are bytes
            pending.append(value)
        else:
            if pending:
                out.append(pending.decode("utf-8", "surrogateescape"))
                pending.clear()
            out.append(chr(value))
    if pending:
        out.append(pending.decode("utf-8", "surrogateescape"))
    return "".join(out), i + 1


def _escape_char(c: str, quote: str) -> str:
    if c == quote:
        return "\\" + c
    esc = _QUOTE_ESCAPES.get(c)
    if esc is not None:
        return esc
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if c.isprintable():
        return c
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(value: str) -> str:
    """Go's ``strconv.Quote``: a double-quoted literal that reads back as ``value``."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return '"' + "".join(_escape_char(c, '"') for c in value) + '"'


def go_quote_rune(c: str) -> str:
    """Go's ``%q`` for a rune: ``'x'``, ``'\\n'``, ``'\\''``."""
    return "'" + _escape_char(c, "'") + "'"


def is_legacy_label_name(name: str) -> bool:
    """``[a-zA-Z_][a-zA-Z0-9_]*``: names that print without quotes."""
    return name.isascii() and name.isidentifier()
