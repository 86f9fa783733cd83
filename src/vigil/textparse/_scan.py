"""Character-level helpers shared by the parsers.

Helpers raise :class:`LineError` with a column index into the current line;
the parser loop turns it into a positioned :class:`ParseError`. Every helper
works with ``str.find`` and slicing (C speed) rather than a Python loop per
character, except on rare paths (escaped label values).
"""

from __future__ import annotations

import math

from vigil.model import METRIC_NAME, Labels, Position
from vigil.textparse.errors import ParseError

EMPTY_LABELS = Labels._trusted(())
METRIC_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
MAX_TIMESTAMP_MS = 2**63 - 1


class LineError(Exception):
    """An error at column index ``col`` of the current line (or of line ``line``)."""

    def __init__(self, col: int, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.col = col
        self.reason = reason
        self.line = line


def decode(body: bytes | str) -> str:
    """The body as text; invalid UTF-8 is a :class:`ParseError` at the bad byte."""
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = body.rfind(b"\n", 0, start) + 1
        line = body.count(b"\n", 0, start) + 1
        col = len(body[line_start:start].decode("utf-8", "replace")) + 1
        end = body.find(b"\n", start)
        text = body[line_start : len(body) if end == -1 else end].decode("utf-8", "replace")
        raise ParseError(
            f"invalid UTF-8 (byte 0x{body[start]:02x})", Position(line, col, start), text
        ) from None


def utf8_len(line: str) -> int:
    return len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))


def error_at(line_text: str, lineno: int, line_offset: int, col: int, reason: str) -> ParseError:
    col = max(0, min(col, len(line_text)))
    prefix = line_text[:col]
    return ParseError(reason, Position(lineno, col + 1, line_offset + utf8_len(prefix)), line_text)


def skip_ws(line: str, i: int) -> int:
    n = len(line)
    while i < n and (line[i] == " " or line[i] == "\t"):
        i += 1
    return i


def token_end(line: str, i: int, seps: str = " \t") -> int:
    """Index of the first separator at or after ``i`` (or ``len(line)``)."""
    n = len(line)
    while i < n and line[i] not in seps:
        i += 1
    return i


def name_end(line: str, i: int) -> int:
    n = len(line)
    while i < n and line[i] in METRIC_NAME_CHARS:
        i += 1
    return i


def describe(ch: str) -> str:
    return "end of line" if not ch else repr(ch)


def parse_float(tok: str, col: int, what: str) -> float:
    """A float in the exposition spelling: Go's ``ParseFloat`` without hex or ``_``."""
    try:
        value = float(tok)
    except ValueError:
        raise LineError(col, f"invalid {what} {tok!r}: not a number") from None
    if not (tok.isascii() and tok.isprintable()) or "_" in tok or " " in tok:
        raise LineError(col, f"invalid {what} {tok!r}: not a number")
    return value


def parse_om_timestamp(tok: str, col: int, what: str = "timestamp") -> tuple[float, int]:
    """An OpenMetrics timestamp (seconds, float): ``(seconds, milliseconds)``."""
    seconds = parse_float(tok, col, what)
    if not math.isfinite(seconds):
        raise LineError(col, f"invalid {what} {tok!r}: must be a finite number of seconds")
    return seconds, om_ms(tok, seconds)


def om_ms(tok: str, seconds: float) -> int:
    """Milliseconds from an OpenMetrics timestamp, truncated toward zero.

    Plain decimals are converted exactly (a float loses digits past 2**53 ms);
    exponent forms go through the float, as Prometheus does for all forms.
    """
    if "e" in tok or "E" in tok:
        return int(seconds * 1000)
    digits = tok.lstrip("+-")
    whole, _, frac = digits.partition(".")
    ms = int(whole or "0") * 1000 + int(frac[:3].ljust(3, "0"))
    return -ms if tok[0] == "-" else ms


def parse_prom_timestamp(tok: str, col: int) -> int:
    """A Prometheus text timestamp: integer milliseconds, digits only."""
    if not (tok.isascii() and tok.isdigit()):
        raise LineError(col, f"invalid timestamp {tok!r}: must be an integer of milliseconds")
    ts = int(tok)
    if ts > MAX_TIMESTAMP_MS:
        raise LineError(col, f"timestamp {tok} is out of range (int64 milliseconds)")
    return ts


def unescape(s: str, quote: bool) -> str:
    """Undo ``\\\\``, ``\\n`` (and ``\\"`` when ``quote``); other escapes stay as written."""
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        j = s.find("\\", i)
        if j == -1 or j == n - 1:
            out.append(s[i:])
            break
        out.append(s[i:j])
        c = s[j + 1]
        if c == "\\":
            out.append("\\")
        elif c == "n":
            out.append("\n")
        elif c == '"' and quote:
            out.append('"')
        else:
            out.append(s[j : j + 2])
        i = j + 2
    return "".join(out)


def quoted_end(line: str, i: int) -> int:
    """Index of the closing quote of a string whose content starts at ``i``; -1 if none."""
    n = len(line)
    while i < n:
        q = line.find('"', i)
        if q == -1:
            return -1
        bs = line.find("\\", i, q)
        if bs == -1:
            return q
        i = bs + 2  # skip the escaped character, whatever it is
    return -1


def parse_label_set(line: str, i: int, ws: bool, trailing_comma: bool) -> tuple[Labels, int]:
    """Parse ``name="value",...}`` starting just after ``{``; return labels and the index after ``}``.

    ``ws`` allows blanks and tabs around names, ``=``, values and commas
    (Prometheus text format); ``trailing_comma`` allows ``{a="b",}``.
    """
    pairs: list[tuple[str, str]] = []
    n = len(line)
    after_comma = False
    while True:
        if ws:
            i = skip_ws(line, i)
        if i < n and line[i] == "}":
            if after_comma and not trailing_comma:
                raise LineError(i - 1, "trailing comma in label set")
            return make_labels(pairs, line), i + 1
        e = line.find("=", i)
        name = line[i:e].rstrip(" \t") if ws else line[i:e]
        if e == -1 or not (name.isidentifier() and name.isascii()):
            _diagnose_label_name(line, i, ws)
        e += 1
        if ws:
            e = skip_ws(line, e)
        if e >= n or line[e] != '"':
            got = describe(line[e] if e < n else "")
            raise LineError(e, f"expected '\"' to open the value of label {name!r}, got {got}")
        q = line.find('"', e + 1)
        if q != -1 and line.find("\\", e + 1, q) == -1:
            value = line[e + 1 : q]
        else:
            q = quoted_end(line, e + 1)
            if q == -1:
                raise LineError(e, f"unterminated value of label {name!r}")
            value = unescape(line[e + 1 : q], True)
        pairs.append((name, value))
        i = q + 1
        if ws:
            i = skip_ws(line, i)
        c = line[i] if i < n else ""
        if c == ",":
            i += 1
            after_comma = True
        elif c == "}":
            return make_labels(pairs, line), i + 1
        else:
            raise LineError(i, f"expected ',' or '}}' after label value, got {describe(c)}")


def _diagnose_label_name(line: str, i: int, ws: bool) -> None:
    """Raise the precise error for a label set whose next name is not ``name=``."""
    n = len(line)
    e = i
    while e < n and line[e] in METRIC_NAME_CHARS and line[e] != ":":
        e += 1
    name = line[i:e]
    if not name:
        got = describe(line[i] if i < n else "")
        raise LineError(i, f"expected label name, got {got}")
    if not name.isidentifier():
        raise LineError(i, f"invalid label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
    if ws:
        e = skip_ws(line, e)
    got = describe(line[e] if e < n else "")
    raise LineError(e, f"expected '=' after label name {name!r}, got {got}")


def make_labels(pairs: list[tuple[str, str]], line: str) -> Labels:
    """Sort, reject duplicate names and ``__name__``, wrap."""
    if len(pairs) == 1:
        if pairs[0][0] == METRIC_NAME:
            _reject_name_label(line)
        return Labels._trusted((pairs[0],))
    if not pairs:
        return EMPTY_LABELS
    pairs.sort()
    previous = ""
    for name, _ in pairs:
        if name == previous:
            raise LineError(max(0, line.rfind(name + "=")), f"duplicate label name {name!r}")
        if name == METRIC_NAME:
            _reject_name_label(line)
        previous = name
    return Labels._trusted(tuple(pairs))


def _reject_name_label(line: str) -> None:
    raise LineError(
        max(0, line.find(METRIC_NAME)),
        "label __name__ in a label set: write the metric name before '{'",
    )


def fast_label_set(inner: str, trailing_comma: bool) -> Labels | None:
    """Labels from the text between ``{`` and ``}`` in its common exact form, else ``None``.

    Without a backslash no label value can contain ``"``, so every ``"`` is a
    delimiter and one ``split`` yields ``name=``, value, ``,name=``, value, ...
    Anything unusual (escapes, blanks, bad names, duplicates, ``__name__``)
    returns ``None`` and the caller falls back to :func:`parse_label_set`,
    which reports errors precisely.
    """
    if not inner:
        return EMPTY_LABELS
    if "\\" in inner:
        return None
    parts = inner.split('"')
    n = len(parts)
    if not n & 1:
        return None
    end = parts[-1]
    if end and (end != "," or not trailing_comma):
        return None
    ascii_ = inner.isascii()
    pairs = []
    first = True
    for k in range(0, n - 1, 2):
        sep = parts[k]
        if first:
            name = sep[:-1]
            first = False
        elif sep[:1] == ",":
            name = sep[1:-1]
        else:
            return None
        if sep[-1:] != "=" or not name.isidentifier() or not (ascii_ or name.isascii()):
            return None
        pairs.append((name, parts[k + 1]))
    if len(pairs) == 1:
        if pairs[0][0] == METRIC_NAME:
            return None
        return Labels._trusted((pairs[0],))
    d = dict(pairs)
    if len(d) != len(pairs) or METRIC_NAME in d:
        return None
    return Labels._trusted(tuple(sorted(d.items())))
