"""Go's ``time.Time`` and ``time.Duration`` for templates: they print and format the way Go does.

Prometheus's ``toTime`` returns a :class:`GoTime`; Alertmanager's alerts carry
them in ``.StartsAt``/``.EndsAt``. Templates then call ``.Format``, ``.Unix``,
``.In`` and friends on them. :func:`go_format` formats with Go's
reference-time layouts (``2006-01-02T15:04:05Z07:00``), splitting a layout
the way Go's ``nextStdChunk`` does.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

__all__ = ["GoDuration", "GoTime", "go_format", "rfc3339nano"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO: Final = datetime(1, 1, 1, tzinfo=UTC)
_MONTHS: Final = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS: Final = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_NS_PER_S: Final = 1_000_000_000


class GoDuration:
    """A ``time.Duration``: integer nanoseconds, printed as Go prints it (``1h2m3.5s``)."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = int(ns)

    @classmethod
    def from_seconds(cls, seconds: float) -> GoDuration:
        return cls(round(seconds * _NS_PER_S))

    def Seconds(self) -> float:  # noqa: N802 - Go's method names
        return self.ns / _NS_PER_S

    def Minutes(self) -> float:  # noqa: N802
        return self.ns / (60 * _NS_PER_S)

    def Hours(self) -> float:  # noqa: N802
        return self.ns / (3600 * _NS_PER_S)

    def Milliseconds(self) -> int:  # noqa: N802
        return int(self.ns / 1_000_000)

    def String(self) -> str:  # noqa: N802
        return str(self)

    def __float__(self) -> float:
        return self.Seconds()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoDuration) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def __repr__(self) -> str:
        return f"GoDuration({self})"

    def __str__(self) -> str:
        ns = self.ns
        if ns == 0:
            return "0s"
        sign = "-" if ns < 0 else ""
        u = abs(ns)
        if u < _NS_PER_S:
            if u < 1_000:
                return f"{sign}{u}ns"
            if u < 1_000_000:
                return f"{sign}{_fixed(u, 3)}µs"
            return f"{sign}{_fixed(u, 6)}ms"
        out = sign
        hours, rest = divmod(u, 3600 * _NS_PER_S)
        minutes, rest = divmod(rest, 60 * _NS_PER_S)
        if hours:
            out += f"{hours}h"
        if hours or minutes:
            out += f"{minutes}m"
        return out + _fixed(rest, 9) + "s"


def _fixed(value: int, digits: int) -> str:
    """``value / 10**digits`` with trailing fractional zeros (and a bare dot) removed."""
    whole, frac = divmod(value, 10**digits)
    text = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


class GoTime:
    """A ``time.Time``: an aware ``datetime`` plus the nanoseconds below its microseconds.

    ``GoTime(dt)`` is the instant ``dt`` (a naive one is UTC); ``GoTime(n)``
    with an ``int`` is ``n`` Unix nanoseconds, UTC. The zero value
    (``GoTime.zero()``) is Go's ``0001-01-01 00:00:00 UTC``; it is what a firing
    alert's ``EndsAt`` holds.
    """

    __slots__ = ("_sub_us", "dt")

    def __init__(self, value: datetime | int, sub_micro_nanos: int = 0) -> None:
        if isinstance(value, int):
            secs, rest = divmod(value, _NS_PER_S)
            micros, sub_micro_nanos = divmod(rest, 1000)
            value = _EPOCH + timedelta(seconds=secs, microseconds=micros)
        self.dt: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        self._sub_us = sub_micro_nanos

    @classmethod
    def from_unix(cls, seconds: float | None) -> GoTime:
        """From Unix seconds (``None`` or 0 is the zero time), at microsecond precision, UTC."""
        if seconds is None or seconds == 0 or math.isnan(seconds):
            return cls(_ZERO)
        micros = round(seconds * 1_000_000)
        return cls(_EPOCH + timedelta(microseconds=micros))

    @classmethod
    def from_datetime(cls, value: datetime) -> GoTime:
        """``value`` shown in UTC (a naive ``datetime`` is taken as UTC)."""
        return cls(value if value.tzinfo is None else value.astimezone(UTC))

    @classmethod
    def zero(cls) -> GoTime:
        return cls(_ZERO)

    # -- Go's methods ---------------------------------------------------------

    def IsZero(self) -> bool:  # noqa: N802 - Go's method names
        return self.dt == _ZERO and not self._sub_us

    def Unix(self) -> int:  # noqa: N802
        return self._micros() // 1_000_000

    def UnixMilli(self) -> int:  # noqa: N802
        return self._micros() // 1_000

    def UnixNano(self) -> int:  # noqa: N802
        return self._micros() * 1_000 + self._sub_us

    def UTC(self) -> GoTime:  # noqa: N802
        return GoTime(self.dt.astimezone(UTC), self._sub_us)

    def Local(self) -> GoTime:  # noqa: N802
        """The server's zone is UTC for templates: output must not depend on the host."""
        return self.UTC()

    def In(self, zone: tzinfo) -> GoTime:  # noqa: N802
        return GoTime(self.dt.astimezone(zone), self._sub_us)

    def Format(self, layout: str) -> str:  # noqa: N802
        return go_format(self.dt, layout, sub_micro_nanos=self._sub_us)

    def Add(self, d: GoDuration) -> GoTime:  # noqa: N802
        return GoTime(self.dt + timedelta(microseconds=d.ns // 1000))

    def Sub(self, other: GoTime) -> GoDuration:  # noqa: N802
        return GoDuration((self._micros() - other._micros()) * 1000)

    def Before(self, other: GoTime) -> bool:  # noqa: N802
        return self.dt < other.dt

    def After(self, other: GoTime) -> bool:  # noqa: N802
        return self.dt > other.dt

    def Equal(self, other: GoTime) -> bool:  # noqa: N802
        return self.dt == other.dt

    def Year(self) -> int:  # noqa: N802
        return self.dt.year

    def Month(self) -> int:  # noqa: N802
        return self.dt.month

    def Day(self) -> int:  # noqa: N802
        return self.dt.day

    def Hour(self) -> int:  # noqa: N802
        return self.dt.hour

    def Minute(self) -> int:  # noqa: N802
        return self.dt.minute

    def Second(self) -> int:  # noqa: N802
        return self.dt.second

    def Nanosecond(self) -> int:  # noqa: N802
        return self.dt.microsecond * 1000 + self._sub_us

    def YearDay(self) -> int:  # noqa: N802
        return self.dt.timetuple().tm_yday

    def Weekday(self) -> str:  # noqa: N802
        return _DAYS[self.dt.weekday()]

    def String(self) -> str:  # noqa: N802
        return str(self)

    # -- Python ---------------------------------------------------------------

    def _micros(self) -> int:
        delta = self.dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def unix_seconds(self) -> float:
        return self._micros() / 1_000_000

    def __str__(self) -> str:
        return self.Format("2006-01-02 15:04:05.999999999 -0700 MST")

    def __repr__(self) -> str:
        return f"GoTime({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.dt == self.dt and other._sub_us == self._sub_us

    def __hash__(self) -> int:
        return hash((self.dt, self._sub_us))


def rfc3339nano(t: GoTime) -> str:
    """Go's JSON encoding of a ``time.Time`` (RFC 3339, fraction without trailing zeros)."""
    return go_format(t.dt, "2006-01-02T15:04:05.999999999Z07:00")


# -- layouts ----------------------------------------------------------------------

_Chunk = tuple[str, Any]  # (kind, argument)


def _chunks(layout: str) -> list[_Chunk]:
    """Split a Go layout into literal text and std elements, as Go's ``nextStdChunk``."""
    out: list[_Chunk] = []
    literal: list[str] = []
    i = 0
    n = len(layout)

    def emit(kind: str, arg: Any = None) -> None:
        if literal:
            out.append(("lit", "".join(literal)))
            literal.clear()
        out.append((kind, arg))

    while i < n:
        rest = layout[i:]
        c = layout[i]
        matched: tuple[str, int, Any] | None = None
        if c == "J" and rest.startswith("Jan"):
            matched = ("LongMonth", 7, None) if rest.startswith("January") else ("Month", 3, None)
        elif c == "M" and rest.startswith("Mon"):
            matched = (
                ("LongWeekDay", 6, None) if rest.startswith("Monday") else ("WeekDay", 3, None)
            )
        elif c == "M" and rest.startswith("MST"):
            matched = ("TZ", 3, None)
        elif c == "0" and rest.startswith("002"):
            matched = ("ZeroYearDay", 3, None)
        elif c == "0" and len(rest) > 1 and rest[1] in "123456":
            kinds = {
                "1": "ZeroMonth",
                "2": "ZeroDay",
                "3": "ZeroHour12",
                "4": "ZeroMinute",
                "5": "ZeroSecond",
                "6": "Year",
            }
            matched = (kinds[rest[1]], 2, None)
        elif c == "1":
            matched = ("Hour", 2, None) if rest.startswith("15") else ("NumMonth", 1, None)
        elif c == "2":
            matched = ("LongYear", 4, None) if rest.startswith("2006") else ("Day", 1, None)
        elif c == "_" and rest.startswith("_2"):
            if rest.startswith("_2006"):
                literal.append("_")
                matched = ("LongYear", 5, None)
            else:
                matched = ("UnderDay", 2, None)
        elif c == "_" and rest.startswith("__2"):
            matched = ("UnderYearDay", 3, None)
        elif c in "345":
            kinds = {"3": "Hour12", "4": "Minute", "5": "Second"}
            matched = (kinds[c], 1, None)
        elif c == "P" and rest.startswith("PM"):
            matched = ("PM", 2, None)
        elif c == "p" and rest.startswith("pm"):
            matched = ("pm", 2, None)
        elif c in "-Z":
            for text, colons, secs in (
                ("070000", False, True),
                ("07:00:00", True, True),
                ("0700", False, False),
                ("07:00", True, False),
                ("07", False, False),
            ):
                if rest[1:].startswith(text):
                    matched = ("ISO" if c == "Z" else "Num", 1 + len(text), (colons, secs, text))
                    break
        elif c in ".," and len(rest) > 1 and rest[1] in "09":
            digit = rest[1]
            j = 1
            while j < len(rest) and rest[j] == digit:
                j += 1
            if not (j < len(rest) and rest[j].isdigit()):
                matched = ("Frac", j, (c, digit, j - 1))
        if matched is None:
            literal.append(c)
            i += 1
            continue
        kind, width, arg = matched
        if kind == "LongYear" and width == 5:
            width = 5
        emit(kind, arg)
        i += width
    if literal:
        out.append(("lit", "".join(literal)))
    return out


def _offset(dt: datetime, arg: tuple[bool, bool, str], iso: bool) -> str:
    colons, with_seconds, text = arg
    delta = dt.utcoffset() or timedelta(0)
    total = int(delta.total_seconds())
    if iso and total == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hh, rem = divmod(total, 3600)
    mm, ss = divmod(rem, 60)
    out = f"{sign}{hh:02d}"
    if text != "07":
        out += (":" if colons else "") + f"{mm:02d}"
    if with_seconds:
        out += (":" if colons else "") + f"{ss:02d}"
    return out


def go_format(dt: datetime, layout: str, *, sub_micro_nanos: int = 0) -> str:
    """``dt`` formatted with a Go reference-time layout (``2006-01-02T15:04:05Z07:00``).

    ``sub_micro_nanos`` are the nanoseconds below ``dt``'s microseconds (for ``.999999999``).
    """
    parts: list[str] = []
    for kind, arg in _chunks(layout):
        if kind == "lit":
            parts.append(arg)
        elif kind == "LongMonth":
            parts.append(_MONTHS[dt.month - 1])
        elif kind == "Month":
            parts.append(_MONTHS[dt.month - 1][:3])
        elif kind == "NumMonth":
            parts.append(str(dt.month))
        elif kind == "ZeroMonth":
            parts.append(f"{dt.month:02d}")
        elif kind == "LongWeekDay":
            parts.append(_DAYS[dt.weekday()])
        elif kind == "WeekDay":
            parts.append(_DAYS[dt.weekday()][:3])
        elif kind == "Day":
            parts.append(str(dt.day))
        elif kind == "UnderDay":
            parts.append(f"{dt.day:2d}")
        elif kind == "ZeroDay":
            parts.append(f"{dt.day:02d}")
        elif kind == "UnderYearDay":
            parts.append(f"{dt.timetuple().tm_yday:3d}")
        elif kind == "ZeroYearDay":
            parts.append(f"{dt.timetuple().tm_yday:03d}")
        elif kind == "Hour":
            parts.append(f"{dt.hour:02d}")
        elif kind == "Hour12":
            parts.append(str(dt.hour % 12 or 12))
        elif kind == "ZeroHour12":
            parts.append(f"{dt.hour % 12 or 12:02d}")
        elif kind == "Minute":
            parts.append(str(dt.minute))
        elif kind == "ZeroMinute":
            parts.append(f"{dt.minute:02d}")
        elif kind == "Second":
            parts.append(str(dt.second))
        elif kind == "ZeroSecond":
            parts.append(f"{dt.second:02d}")
        elif kind == "LongYear":
            parts.append(f"{dt.year:04d}")
        elif kind == "Year":
            parts.append(f"{dt.year % 100:02d}")
        elif kind == "PM":
            parts.append("PM" if dt.hour >= 12 else "AM")
        elif kind == "pm":
            parts.append("pm" if dt.hour >= 12 else "am")
        elif kind == "TZ":
            name = dt.tzname() or ""
            parts.append(name if name else _offset(dt, (False, False, "0700"), False))
        elif kind in ("ISO", "Num"):
            parts.append(_offset(dt, arg, kind == "ISO"))
        elif kind == "Frac":
            sep, digit, width = arg
            nanos = f"{dt.microsecond * 1000 + sub_micro_nanos:09d}"[:width]
            if digit == "9":
                nanos = nanos.rstrip("0")
                if nanos:
                    parts.append(sep + nanos)
            else:
                parts.append(sep + nanos)
    return "".join(parts)
