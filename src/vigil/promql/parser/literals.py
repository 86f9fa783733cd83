"""Numbers and durations as PromQL spells them, read and printed like Go does."""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = [
    "DurationError",
    "NumberError",
    "format_duration",
    "format_number",
    "go_round",
    "parse_duration",
    "parse_number",
]

_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000}
_MS.update({"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1})

_DURATION_RE = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
    r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_DURATION_UNITS = ("y", "w", "d", "h", "m", "s", "ms")
_MAX_DURATION_MS = (1 << 63) // 1_000_000  # what fits a Go time.Duration

_HEX_RE = re.compile(r"[+-]?0[xX](?:_?[0-9a-fA-F])+")
_OCTAL_RE = re.compile(r"[+-]?0(?:[oO])?(?:_?[0-7])+")
_BINARY_RE = re.compile(r"[+-]?0[bB](?:_?[01])+")
_DECIMAL_INT_RE = re.compile(r"[+-]?(?:[1-9](?:_?[0-9])*|0)")
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)


class DurationError(ValueError):
    """Not a Prometheus duration; the message is Prometheus's."""


class NumberError(ValueError):
    """Not a number literal; the message is Prometheus's."""


def parse_duration(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``5m0s``, ``10s53ms``, ``1y2w``, ``0``) in milliseconds.

    Units run from largest to smallest, each at most once: y (365 days), w, d,
    h, m, s, ms. Raises :class:`DurationError` otherwise.
    """
    if text == "":
        raise DurationError("empty duration string")
    if text == "0":
        return 0
    m = _DURATION_RE.fullmatch(text)
    if m is None or not any(m.groups()):
        raise DurationError(f'not a valid duration string: "{text}"')
    total = 0
    for unit, digits in zip(_DURATION_UNITS, m.groups(), strict=True):
        if digits is not None:
            total += int(digits) * _MS[unit]
    if total > _MAX_DURATION_MS:
        raise DurationError(f'duration out of range: "{text}"')
    return total


def format_duration(ms: int) -> str:
    """Prometheus's ``model.Duration.String()``: ``1h30m``, ``90d``, ``2w``, ``0s``.

    Years and weeks are used only when they divide the duration exactly.
    Negative durations get a leading ``-``.
    """
    if ms == 0:
        return "0s"
    if ms < 0:
        return "-" + format_duration(-ms)
    out = []
    for unit in _DURATION_UNITS:
        mult = _MS[unit]
        if unit in ("y", "w") and ms % mult:
            continue
        v = ms // mult
        if v > 0:
            out.append(f"{v}{unit}")
            ms -= v * mult
    return "".join(out)


def parse_number(text: str) -> float:
    """A number literal the way Prometheus reads it: Go ``ParseInt(s, 0)``, else ``ParseFloat``.

    So ``0x1f`` is 31, ``017`` is octal 15, ``1_000`` is 1000, ``1e3``,
    ``.5``, ``5.``, ``Inf`` and ``NaN`` (any case) are floats.
    """
    try:
        if _HEX_RE.fullmatch(text) or _BINARY_RE.fullmatch(text):
            value = int(text.replace("_", ""), 0)
            if abs(value) >= 1 << 63:
                raise NumberError(
                    f'error parsing number: strconv.ParseFloat: parsing "{text}": invalid syntax'
                )
            return float(value)
        if _OCTAL_RE.fullmatch(text):
            body = text.replace("_", "").replace("o", "").replace("O", "")
            return float(int(body, 8))
        if _DECIMAL_INT_RE.fullmatch(text):
            return float(int(text.replace("_", "")))
        if _FLOAT_RE.fullmatch(text):
            result = float(text)
            if math.isinf(result) and "inf" not in text.lower():
                raise OverflowError
            return result
    except OverflowError:
        raise NumberError(
            f'error parsing number: strconv.ParseFloat: parsing "{text}": value out of range'
        ) from None
    raise NumberError(f'error parsing number: strconv.ParseFloat: parsing "{text}": invalid syntax')


def format_number(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest exact digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e16:
        text = str(int(value))
        return "-0" if text == "0" and math.copysign(1.0, value) < 0 else text
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_round(x: float) -> float:
    """Go's ``math.Round``: halves away from zero (Python's ``round`` goes to even)."""
    if not math.isfinite(x):
        return x
    return math.copysign(math.floor(abs(x) + 0.5), x)
