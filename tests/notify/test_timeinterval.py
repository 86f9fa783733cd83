"""Time intervals: parsing with positions and ``contains`` (timeinterval/timeinterval.go semantics)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from vigil.config.nodes import NodeReader, compose
from vigil.notify.timeinterval import (
    InclusiveRange,
    TimeInterval,
    TimeRange,
    parse_day_of_month_range,
    parse_month_range,
    parse_time_interval,
    parse_time_intervals_section,
    parse_weekday_range,
    parse_year_range,
)


def ts(*args: int, tz: str = "UTC") -> float:
    return datetime(*args, tzinfo=UTC if tz == "UTC" else ZoneInfo(tz)).timestamp()  # type: ignore[arg-type,misc]


def parse(text: str) -> tuple[TimeInterval | None, NodeReader]:
    r = NodeReader(text, "ti.yml")
    return parse_time_interval(r, compose(text, "ti.yml"), "time_intervals[0].time_intervals[0]"), r


def test_ranges() -> None:
    assert parse_weekday_range("monday:friday") == InclusiveRange(1, 5)
    assert parse_weekday_range("Saturday") == InclusiveRange(6, 6)
    assert parse_month_range("january:march") == InclusiveRange(1, 3)
    assert parse_month_range("2:4") == InclusiveRange(2, 4)
    assert parse_day_of_month_range("1:5") == InclusiveRange(1, 5)
    assert parse_day_of_month_range("-3:-1") == InclusiveRange(-3, -1)
    assert parse_day_of_month_range("5:-1") == InclusiveRange(5, -1)
    assert parse_year_range("2020:2022") == InclusiveRange(2020, 2022)


@pytest.mark.parametrize(
    ("fn", "text", "reason"),
    [
        (parse_weekday_range, "friday:monday", "cannot be after"),
        (parse_weekday_range, "funday", "not a valid weekday"),
        (parse_month_range, "march:january", "cannot be after"),
        (parse_month_range, "13", "not a valid month"),
        (parse_day_of_month_range, "0", "not a valid day of the month"),
        (parse_day_of_month_range, "-32:1", "not a valid day of the month"),
        (parse_day_of_month_range, "10:2", "cannot be after"),
        (parse_day_of_month_range, "-1:3", "cannot be after"),
        (parse_year_range, "2022:2020", "cannot be after"),
        (parse_year_range, "1:2:3", "invalid range"),
    ],
)
def test_range_errors(fn: object, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        fn(text)  # type: ignore[operator]


def test_business_hours_contains() -> None:
    ti, r = parse(
        "times:\n  - start_time: '09:00'\n    end_time: '17:00'\n"
        "weekdays: ['monday:friday']\nlocation: Europe/Berlin\n"
    )
    assert not r.problems
    assert ti is not None
    assert ti.times == (TimeRange(540, 1020),)
    assert ti.contains(ts(2024, 3, 4, 9, 0, tz="Europe/Berlin"))  # Monday
    assert ti.contains(ts(2024, 3, 4, 16, 59, tz="Europe/Berlin"))
    assert not ti.contains(ts(2024, 3, 4, 17, 0, tz="Europe/Berlin"))  # end is exclusive
    assert ti.contains(ts(2024, 3, 4, 8, 0))  # 09:00 in Berlin (CET)
    assert not ti.contains(ts(2024, 3, 4, 7, 59))
    assert not ti.contains(ts(2024, 3, 9, 12, 0, tz="Europe/Berlin"))  # Saturday


def test_until_midnight_and_negative_days() -> None:
    ti, r = parse(
        "times: [{start_time: '17:00', end_time: '24:00'}]\ndays_of_month: ['-3:-1']\n"
        "months: ['february']\nyears: ['2024']\n"
    )
    assert not r.problems
    assert ti is not None
    assert ti.contains(ts(2024, 2, 29, 23, 59))  # leap year: last day
    assert ti.contains(ts(2024, 2, 27, 17, 0))
    assert not ti.contains(ts(2024, 2, 26, 18, 0))
    assert not ti.contains(ts(2024, 2, 29, 16, 59))
    assert not ti.contains(ts(2025, 2, 28, 18, 0))


def test_empty_interval_matches_all() -> None:
    assert TimeInterval().contains(0.0)
    assert TimeInterval().contains(ts(2030, 1, 1))


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            "times: [{start_time: '25:00', end_time: '26:00'}]\n",
            "1:22",
            "couldn't parse timestamp 25:00",
        ),
        (
            "times: [{start_time: '10:00', end_time: '09:00'}]\n",
            "1:9",
            "start time cannot be equal or greater",
        ),
        ("weekdays: ['monday', 'caturday']\n", "1:22", "caturday is not a valid weekday"),
        ("location: Mars/Olympus\n", "1:11", 'unknown time zone "Mars/Olympus"'),
        ("days_of_month: ['0']\n", "1:17", "0 is not a valid day of the month"),
        ("hours: ['1']\n", "1:1", "unknown field"),
    ],
)
def test_positioned_errors(text: str, where: str, reason: str) -> None:
    ti, r = parse(text)
    assert ti is None
    rendered = "\n".join(str(p) for p in r.problems)
    assert f"ti.yml:{where}: time_intervals[0].time_intervals[0]" in rendered
    assert reason in rendered


def test_section_names() -> None:
    text = (
        "time_intervals:\n  - name: offhours\n    time_intervals:\n      - weekdays: [saturday, sunday]\n"
        "  - name: offhours\n    time_intervals: []\n  - time_intervals: []\n"
    )
    r = NodeReader(text, "am.yml")
    root = compose(text, "am.yml")
    assert root is not None
    seen: dict[str, object] = {}
    out = parse_time_intervals_section(r, root.value[0][1], "time_intervals", seen)  # type: ignore[arg-type]
    assert list(out) == ["offhours"]
    msgs = [str(p) for p in r.problems]
    assert any('time interval "offhours" is not unique' in m for m in msgs)
    assert any("missing name in time interval" in m for m in msgs)
