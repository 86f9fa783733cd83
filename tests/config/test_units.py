"""Durations and sizes in prometheus.yml syntax."""

from __future__ import annotations

import pytest

from vigil.config.units import Duration, format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("0s", 0),
        ("15s", 15_000),
        ("100ms", 100),
        ("1h30m", 5_400_000),
        ("1s500ms", 1500),
        ("90s", 90_000),
        ("01s", 1000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("1y", 31_536_000_000),
        (
            "1y2w3d4h5m6s7ms",
            31_536_000_000
            + 2 * 604_800_000
            + 3 * 86_400_000
            + 4 * 3_600_000
            + 5 * 60_000
            + 6000
            + 7,
        ),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text", ["", "1.5s", "5S", "1m30", "1ms1s", "s", "-1s", "1 s", "10", "1h1h"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_overflow() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_duration("999999999y")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (60_000, "1m"),
        (5_400_000, "1h30m"),
        (100, "100ms"),
        (86_400_000, "1d"),
        (90_000, "1m30s"),
    ],
)
def test_format_duration_round_trips(ms: int, text: str) -> None:
    assert format_duration(ms) == text
    assert parse_duration(text) == ms


def test_duration_value() -> None:
    d = Duration.parse("1m30s")
    assert d.seconds == 90.0
    assert str(d) == "1m30s"
    assert Duration(1000) < d
    assert not Duration(0)
    assert Duration.of_seconds(1.5) == Duration(1500)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1B", 1),
        ("10KB", 10 * 1024),
        ("10MB", 10 * 1024 * 1024),
        ("10MiB", 10 * 1024 * 1024),
        ("1.5MB", 1536 * 1024),
        ("1GB", 1 << 30),
        ("1TB", 1 << 40),
        ("1KiB", 1024),
        ("1MB512KB", (1 << 20) + (512 << 10)),
        ("-1MB", 0),  # Prometheus accepts a negative limit as "no limit"
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1000", "10mb", "10M", "5kB", "10 MB", "abc", "", "-"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|unit"):
        parse_size(text)
