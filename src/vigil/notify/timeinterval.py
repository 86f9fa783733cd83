"""Time intervals for ``time_intervals`` (and the legacy ``mute_time_intervals``).

Semantics follow Alertmanager's ``timeinterval/timeinterval.go``: an interval
is a conjunction of optional constraints (times of day, weekdays, days of the
month, months, years), each a list of inclusive ranges (times are half-open:
``17:00``-``24:00`` covers 17:00 up to midnight). Days of the month may count
from the end (``-1`` is the last day). A ``location`` (an IANA zone name, or
``Local``) says in which time zone the constraints are read; UTC otherwise.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from vigil.config.nodes import NodeReader


def _q(text: object) -> str:
    """Go's %q: a double-quoted string."""
    return json.dumps(str(text), ensure_ascii=False)


__all__ = [
    "InclusiveRange",
    "TimeInterval",
    "TimeRange",
    "parse_time_interval",
    "parse_time_intervals_section",
]

WEEKDAYS = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}

_TIME_RE = re.compile(r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes of the day, ``[start_minute, end_minute)``."""

    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class InclusiveRange:
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """One interval; an empty constraint (``None``) matches everything."""

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[InclusiveRange, ...] | None = None
    days_of_month: tuple[InclusiveRange, ...] | None = None
    months: tuple[InclusiveRange, ...] | None = None
    years: tuple[InclusiveRange, ...] | None = None
    location: str = ""

    def _zone(self) -> tzinfo:
        if not self.location or self.location == "UTC":
            return UTC
        if self.location == "Local":
            local = datetime.now().astimezone().tzinfo
            return local if local is not None else UTC
        return ZoneInfo(self.location)

    def contains(self, t: float) -> bool:
        """Whether Unix time ``t`` (seconds) falls inside this interval."""
        dt = datetime.fromtimestamp(t, tz=self._zone())
        if self.times is not None:
            minute = dt.hour * 60 + dt.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.days_of_month is not None:
            days = calendar.monthrange(dt.year, dt.month)[1]
            if not any(_day_in(r, dt.day, days) for r in self.days_of_month):
                return False
        if self.months is not None and not _in(self.months, dt.month):
            return False
        if self.weekdays is not None:
            weekday = (dt.weekday() + 1) % 7  # Go: Sunday is 0
            if not _in(self.weekdays, weekday):
                return False
        return self.years is None or _in(self.years, dt.year)


def _in(ranges: tuple[InclusiveRange, ...], value: int) -> bool:
    return any(r.begin <= value <= r.end for r in ranges)


def _day_in(r: InclusiveRange, day: int, days_in_month: int) -> bool:
    begin = days_in_month + r.begin + 1 if r.begin < 0 else r.begin
    end = days_in_month + r.end + 1 if r.end < 0 else r.end
    if begin > days_in_month:
        return False
    begin = max(-days_in_month, min(begin, days_in_month))
    end = max(-days_in_month, min(end, days_in_month))
    return begin <= day <= end


# -- parsing -------------------------------------------------------------------------------


def _split(text: str) -> tuple[str, str]:
    parts = text.split(":")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"invalid range {_q(text)}: expected one value or begin:end")


def _named(text: str, names: dict[str, int], what: str) -> InclusiveRange:
    a, b = _split(text)
    out: list[int] = []
    for part in (a, b):
        value = names.get(part.lower())
        if value is None:
            raise ValueError(f"{part} is not a valid {what}")
        out.append(value)
    if out[0] > out[1]:
        raise ValueError(f"start {what} cannot be after end {what} in {_q(text)}")
    return InclusiveRange(out[0], out[1])


def _ints(text: str) -> tuple[int, int]:
    a, b = _split(text)
    try:
        return int(a), int(b)
    except ValueError:
        raise ValueError(f"invalid range {_q(text)}: not a number") from None


def parse_weekday_range(text: str) -> InclusiveRange:
    return _named(text, WEEKDAYS, "weekday")


def parse_month_range(text: str) -> InclusiveRange:
    try:
        begin, end = _ints(text)
    except ValueError:
        return _named(text, MONTHS, "month")
    for v in (begin, end):
        if not 1 <= v <= 12:
            raise ValueError(f"{v} is not a valid month: out of range")
    if begin > end:
        raise ValueError(f"start month cannot be after end month in {_q(text)}")
    return InclusiveRange(begin, end)


def parse_day_of_month_range(text: str) -> InclusiveRange:
    begin, end = _ints(text)
    for v in (begin, end):
        if v == 0 or not -31 <= v <= 31:
            raise ValueError(f"{v} is not a valid day of the month: out of range")
    b = 30 + begin if begin < 0 else begin
    e = 30 + end if end < 0 else end
    if b > e:  # negative days counted as in a 30-day month, like Alertmanager
        raise ValueError(f"start day cannot be after end day in {_q(text)}")
    return InclusiveRange(begin, end)


def parse_year_range(text: str) -> InclusiveRange:
    begin, end = _ints(text)
    for v in (begin, end):
        if v <= 0:
            raise ValueError(f"{v} is not a valid year")
    if begin > end:
        raise ValueError(f"start year cannot be after end year in {_q(text)}")
    return InclusiveRange(begin, end)


def parse_clock(text: str) -> int:
    if not _TIME_RE.match(text):
        raise ValueError(f"couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def parse_location(text: str) -> str:
    if text in ("", "UTC", "Local"):
        return text
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {_q(text)}") from None
    return text


_INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")


def parse_time_interval(r: NodeReader, node: yaml.Node | None, path: str) -> TimeInterval | None:
    """One entry of a ``time_intervals`` list; problems are recorded in ``r``."""
    fields = r.mapping(node, path)
    if fields is None:
        return None
    before = len(r.problems)
    r.check_keys(fields, _INTERVAL_KEYS)

    def ranges(
        key: str, parse: Callable[[str], InclusiveRange]
    ) -> tuple[InclusiveRange, ...] | None:
        f = fields.get(key)
        if f is None or r.is_null(f.value):
            return None
        out: list[InclusiveRange] = []
        for i, item in enumerate(r.sequence(f.value, f.path) or ()):
            text = r.string(item, f"{f.path}[{i}]")
            if text is None:
                continue
            try:
                out.append(parse(text.strip()))
            except ValueError as exc:
                r.error(item, f"{f.path}[{i}]", str(exc))
        return tuple(out)

    times: tuple[TimeRange, ...] | None = None
    tf = fields.get("times")
    if tf is not None and not r.is_null(tf.value):
        collected: list[TimeRange] = []
        for i, item in enumerate(r.sequence(tf.value, tf.path) or ()):
            ipath = f"{tf.path}[{i}]"
            tr = r.mapping(item, ipath)
            if tr is None:
                continue
            r.check_keys(tr, ("start_time", "end_time"))
            bounds: list[int] = []
            for key in ("start_time", "end_time"):
                f = tr.get(key)
                text = r.string(f.value, f.path) if f is not None else None
                if f is None or text is None:
                    r.error(item, f"{ipath}.{key}", "missing value")
                    continue
                try:
                    bounds.append(parse_clock(text))
                except ValueError as exc:
                    r.error(f.value, f.path, str(exc))
            if len(bounds) == 2:
                if bounds[0] >= bounds[1]:
                    r.error(item, ipath, "start time cannot be equal or greater than end time")
                else:
                    collected.append(TimeRange(bounds[0], bounds[1]))
        times = tuple(collected)
    weekdays = ranges("weekdays", parse_weekday_range)
    days = ranges("days_of_month", parse_day_of_month_range)
    months = ranges("months", parse_month_range)
    years = ranges("years", parse_year_range)
    location = ""
    lf = fields.get("location")
    if lf is not None:
        text = r.string(lf.value, lf.path)
        if text is not None:
            try:
                location = parse_location(text)
            except ValueError as exc:
                r.error(lf.value, lf.path, str(exc))
    if len(r.problems) > before:
        return None
    return TimeInterval(times, weekdays, days, months, years, location)


def parse_time_intervals_section(
    r: NodeReader, node: yaml.Node | None, path: str, seen: dict[str, yaml.Node]
) -> dict[str, tuple[TimeInterval, ...]]:
    """A ``time_intervals`` or ``mute_time_intervals`` list: ``name`` -> intervals.

    ``seen`` collects names across both sections so duplicates are reported once.
    """
    kind = "mute time interval" if path == "mute_time_intervals" else "time interval"
    out: dict[str, tuple[TimeInterval, ...]] = {}
    for i, item in enumerate(r.sequence(node, path) or ()):
        ipath = f"{path}[{i}]"
        fields = r.mapping(item, ipath)
        if fields is None:
            continue
        r.check_keys(fields, ("name", "time_intervals"))
        nf = fields.get("name")
        name = r.string(nf.value, nf.path) if nf is not None else None
        if not name:
            r.error(item, ipath, f"missing name in {kind}")
            continue
        if name in seen:
            assert nf is not None
            r.error(nf.value, f"{ipath}.name", f"{kind} {_q(name)} is not unique")
            continue
        seen[name] = item
        intervals: list[TimeInterval] = []
        tif = fields.get("time_intervals")
        if tif is not None:
            for j, entry in enumerate(r.sequence(tif.value, tif.path) or ()):
                ti = parse_time_interval(r, entry, f"{tif.path}[{j}]")
                if ti is not None:
                    intervals.append(ti)
        out[name] = tuple(intervals)
    return out
