"""Go's view of Python values: truth, type names and ``%v`` printing.

The mapping is: ``bool`` is Go's bool, ``int`` is int, ``float`` is float64,
``str`` is string, ``None`` is nil, sequences are slices, mappings (and
:class:`vigil.model.Labels`) are maps, anything else is a struct whose fields
are its attributes. :data:`NO_VALUE` stands for Go's invalid value (a missing
map key), printed as ``<no value>``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from vigil.gotmpl.gotime import GoTime
from vigil.model.labels import Labels

__all__ = [
    "NO_VALUE",
    "NoValue",
    "format_float_g",
    "go_quote",
    "go_type_name",
    "is_true",
    "sprint",
    "sprint_value",
]


class NoValue:
    """Go's invalid ``reflect.Value``: what a missing map key evaluates to."""

    __slots__ = ()
    _instance: NoValue | None = None

    def __new__(cls) -> NoValue:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Final = NoValue()


def is_true(value: Any) -> bool:
    """Go template truth: false, 0, "", nil, empty collections and no value are false."""
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, bool | int | float | complex | str | bytes):
        return bool(value)
    if isinstance(value, Mapping | Sequence | Labels | set | frozenset):
        return len(value) > 0
    return True


def go_type_name(value: Any) -> str:
    """The Go type name ``fmt`` would print for ``value`` (``%T``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "[]uint8"
    if isinstance(value, Labels):
        return "map[string]string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, Sequence):
        return "[]interface {}"
    return type(value).__name__


def _shortest_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(x)`` and the decimal point position.

    ``123.45`` gives ``("12345", 3)``; ``0.001`` gives ``("1", -2)``.
    """
    text = repr(abs(x))
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    dp = len(int_part) + exp
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "0", 1
    return digits, dp


def _special(x: float, plus: bool = True) -> str | None:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return ("+Inf" if plus else "Inf") if x > 0 else "-Inf"
    return None


def format_float_g(x: float, upper: bool = False) -> str:
    """Go's ``strconv.FormatFloat(x, 'g', -1, 64)``, also ``%v`` for a float64.

    Shortest round-trip digits; the exponent form when the decimal exponent is
    below -4 or at least 6 (``1e+06``, ``123456``, ``1.5e-05``, ``0.0001``).
    """
    special = _special(x)
    if special is not None:
        return special
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    digits, dp = _shortest_digits(x)
    if digits == "0":
        return sign + "0"
    exp = dp - 1
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = "E" if upper else "e"
        return f"{sign}{mant}{e}{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: double-quoted with Go escapes."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def sprint_value(value: Any) -> str:
    """``fmt.Sprint(value)``: Go's ``%v`` for one operand."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if value is NO_VALUE:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, complex):
        return f"({format_float_g(value.real)}{_signed_g(value.imag)}i)"
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, datetime.datetime):
        return str(GoTime.from_datetime(value))
    if isinstance(value, Labels):
        return "map[" + " ".join(f"{k}:{v}" for k, v in value.pairs) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=_sort_key_item)
        return "map[" + " ".join(f"{sprint_value(k)}:{sprint_value(v)}" for k, v in items) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(sprint_value(v) for v in value) + "]"
    return str(value)


def _signed_g(x: float) -> str:
    text = format_float_g(x)
    return text if text[0] in "+-" else "+" + text


def _sort_key_item(item: tuple[Any, Any]) -> tuple[int, Any]:
    return sort_key(item[0])


def sort_key(key: Any) -> tuple[int, Any]:
    """Order map keys as Go's fmt and text/template do (numbers, then strings)."""
    if isinstance(key, bool):
        return (0, int(key))
    if isinstance(key, int | float):
        return (1, key)
    if isinstance(key, str):
        return (2, key)
    return (3, str(key))


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint(args...)``: spaces between operands when neither is a string."""
    out: list[str] = []
    prev_string = True
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(sprint_value(arg))
        prev_string = is_string
    return "".join(out)
