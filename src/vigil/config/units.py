"""Durations and byte sizes in the syntax of ``prometheus.yml``.

Durations are Prometheus's ``model.Duration``: a sequence of ``<int><unit>``
with units ``y w d h m s ms`` in that order, each at most once (``1h30m``,
``15s``, ``100ms``; ``0`` alone is zero). No fractions, no upper-case units.

Sizes are base-2 byte counts like Prometheus's ``body_size_limit``: ``10MB`` is
10 MiB; ``B KB MB GB TB PB EB`` and ``KiB MiB ...`` are accepted, fractions are
allowed (``1.5MB``), ``0`` alone is zero and a bare number is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Duration", "format_duration", "parse_duration", "parse_size"]

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNIT_MS = (
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)
_MAX_MS = (1 << 63) // 1_000_000  # what fits a Go time.Duration (int64 nanoseconds)


def parse_duration(text: str) -> int:
    """Milliseconds of a Prometheus duration; ``ValueError`` saying why otherwise."""
    if text == "":
        raise ValueError("empty duration string")
    if text == "0":
        return 0
    m = _DURATION_RE.match(text)
    if m is None or not any(m.groups()):
        raise ValueError(f"not a valid duration string: {text!r}")
    total = 0
    for group, (_, unit_ms) in zip(m.groups(), _UNIT_MS, strict=True):
        if group is not None:
            total += int(group) * unit_ms
    if total >= _MAX_MS:
        raise ValueError(f"duration out of range: {text!r}")
    return total


def format_duration(ms: int) -> str:
    """Prometheus's canonical spelling: ``60000`` -> ``1m``, ``0`` -> ``0s``."""
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    out = []
    for unit, unit_ms in _UNIT_MS:
        n, ms = divmod(ms, unit_ms)
        if n:
            out.append(f"{n}{unit}")
    return sign + "".join(out)


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A length of time in whole milliseconds; ``str()`` gives Prometheus's spelling."""

    ms: int

    @classmethod
    def parse(cls, text: str) -> Duration:
        return cls(parse_duration(text))

    @classmethod
    def of_seconds(cls, seconds: float) -> Duration:
        return cls(round(seconds * 1000))

    @property
    def seconds(self) -> float:
        return self.ms / 1000.0

    def __str__(self) -> str:
        return format_duration(self.ms)

    def __bool__(self) -> bool:
        return self.ms != 0


_SIZE_UNITS = {
    "B": 1,
    "KB": 1 << 10,
    "MB": 1 << 20,
    "GB": 1 << 30,
    "TB": 1 << 40,
    "PB": 1 << 50,
    "EB": 1 << 60,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "PiB": 1 << 50,
    "EiB": 1 << 60,
}
_SIZE_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([A-Za-z]*)")


def parse_size(text: str) -> int:
    """Bytes of a base-2 size like ``10MB`` or ``512KiB``; negative sizes count as 0.

    ``ValueError`` names the unit or text that is wrong.
    """
    s = text
    if s == "0":
        return 0
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        raise ValueError(f"invalid size {text!r}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _SIZE_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid size {text!r}")
        number, unit = m.groups()
        if unit not in _SIZE_UNITS:
            raise ValueError(f"unknown unit {unit!r} in size {text!r} (use B, KB, MB, GB, ...)")
        total += float(number) * _SIZE_UNITS[unit]
        pos = m.end()
    return max(0, sign * int(total))
