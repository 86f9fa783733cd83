"""A Go ``time.Time`` for templates: prints and formats the way Go does.

Prometheus's ``toTime`` returns one; templates then call ``.Format``,
``.Unix`` and friends on it. Times are UTC (Prometheus converts to UTC).
"""

from __future__ import annotations

import datetime as _dt
from typing import Final

__all__ = ["GoTime", "go_format"]

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
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


class GoTime:
    """An instant with nanosecond precision, shown in UTC."""

    __slots__ = ("_dt", "_ns")

    def __init__(self, unix_nanos: int) -> None:
        self._ns = unix_nanos
        secs, _ = divmod(unix_nanos, 1_000_000_000)
        self._dt = _EPOCH + _dt.timedelta(seconds=secs)

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> GoTime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        return cls(ns)

    # -- Go's methods (exported names, as templates call them) -------------------

    def Format(self, layout: str) -> str:  # noqa: N802
        return go_format(self._dt, self._ns % 1_000_000_000, layout)

    def String(self) -> str:  # noqa: N802
        return str(self)

    def Unix(self) -> int:  # noqa: N802
        return self._ns // 1_000_000_000

    def UnixMilli(self) -> int:  # noqa: N802
        return self._ns // 1_000_000

    def UnixNano(self) -> int:  # noqa: N802
        return self._ns

    def UTC(self) -> GoTime:  # noqa: N802
        return self

    def Local(self) -> GoTime:  # noqa: N802
        return self

    def Year(self) -> int:  # noqa: N802
        return self._dt.year

    def Month(self) -> int:  # noqa: N802
        return self._dt.month

    def Day(self) -> int:  # noqa: N802
        return self._dt.day

    def Hour(self) -> int:  # noqa: N802
        return self._dt.hour

    def Minute(self) -> int:  # noqa: N802
        return self._dt.minute

    def Second(self) -> int:  # noqa: N802
        return self._dt.second

    def Nanosecond(self) -> int:  # noqa: N802
        return self._ns % 1_000_000_000

    def YearDay(self) -> int:  # noqa: N802
        return self._dt.timetuple().tm_yday

    def Weekday(self) -> str:  # noqa: N802
        return _DAYS[self._dt.weekday()]

    def IsZero(self) -> bool:  # noqa: N802
        return False

    # -- Python ---------------------------------------------------------------

    @property
    def datetime(self) -> _dt.datetime:
        return self._dt + _dt.timedelta(microseconds=(self._ns % 1_000_000_000) // 1000)

    def __str__(self) -> str:
        return self.Format("2006-01-02 15:04:05.999999999 -0700 MST")

    def __repr__(self) -> str:
        return f"GoTime({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other._ns == self._ns

    def __hash__(self) -> int:
        return hash(self._ns)


# Layout tokens, longest first where they share a prefix (Go's nextStdChunk).
_TOKENS: Final = (
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "-07:00:00",
    "-0700",
    "-07:00",
    "-07",
    "Z07:00:00",
    "Z0700",
    "Z07:00",
    "Z07",
    "002",
    "__2",
    "_2",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "1",
    "2",
    "3",
    "4",
    "5",
    "PM",
    "pm",
)


def go_format(t: _dt.datetime, nanos: int, layout: str) -> str:
    """Format ``t`` (UTC) with Go's reference-time ``layout``."""
    out: list[str] = []
    i = 0
    n = len(layout)
    while i < n:
        c = layout[i]
        # fractional seconds: .000 / .999 (also with a comma)
        if c in ".," and i + 1 < n and layout[i + 1] in "09":
            d = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == d:
                j += 1
            if j >= n or not layout[j].isdigit():
                width = j - i - 1
                frac = f"{nanos:09d}"[:width]
                if d == "9":
                    frac = frac.rstrip("0")
                    out.append(c + frac if frac else "")
                else:
                    out.append(c + frac)
                i = j
                continue
        for tok in _TOKENS:
            if layout.startswith(tok, i):
                out.append(_render(tok, t))
                i += len(tok)
                break
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _render(tok: str, t: _dt.datetime) -> str:
    hour12 = t.hour % 12 or 12
    match tok:
        case "January":
            return _MONTHS[t.month - 1]
        case "Jan":
            return _MONTHS[t.month - 1][:3]
        case "Monday":
            return _DAYS[t.weekday()]
        case "Mon":
            return _DAYS[t.weekday()][:3]
        case "MST":
            return "UTC"
        case "2006":
            return f"{t.year:04d}"
        case "06":
            return f"{t.year % 100:02d}"
        case "-07:00:00":
            return "+00:00:00"
        case "-0700":
            return "+0000"
        case "-07:00":
            return "+00:00"
        case "-07":
            return "+00"
        case "Z07:00:00" | "Z0700" | "Z07:00" | "Z07":
            return "Z"
        case "002":
            return f"{t.timetuple().tm_yday:03d}"
        case "__2":
            return f"{t.timetuple().tm_yday:>3d}"
        case "_2":
            return f"{t.day:>2d}"
        case "01":
            return f"{t.month:02d}"
        case "1":
            return str(t.month)
        case "02":
            return f"{t.day:02d}"
        case "2":
            return str(t.day)
        case "15":
            return f"{t.hour:02d}"
        case "03":
            return f"{hour12:02d}"
        case "3":
            return str(hour12)
        case "04":
            return f"{t.minute:02d}"
        case "4":
            return str(t.minute)
        case "05":
            return f"{t.second:02d}"
        case "5":
            return str(t.second)
        case "PM":
            return "PM" if t.hour >= 12 else "AM"
        case "pm":
            return "pm" if t.hour >= 12 else "am"
    return tok
