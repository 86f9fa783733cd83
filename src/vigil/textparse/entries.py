"""What the parsers yield: metadata entries and samples, each with its line.

The classes are plain ``__slots__`` records (this is the scrape hot path): one
allocation per entry, no validation in ``__init__``. ``line`` is 1-based,
``offset`` is the byte offset of the start of that line in the body.
"""

from __future__ import annotations

from enum import StrEnum

from vigil.model import Labels, Position

__all__ = [
    "Comment",
    "Entry",
    "Exemplar",
    "Help",
    "MetricType",
    "Sample",
    "Type",
    "Unit",
]


class MetricType(StrEnum):
    """Metric family types. Prometheus text ``untyped`` maps to ``UNKNOWN``."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    GAUGEHISTOGRAM = "gaugehistogram"
    SUMMARY = "summary"
    INFO = "info"
    STATESET = "stateset"
    UNKNOWN = "unknown"


class Entry:
    """Base of every parsed entry."""

    __slots__ = ("line", "offset")

    line: int
    offset: int

    @property
    def position(self) -> Position:
        """Where the entry's line starts."""
        return Position(self.line, 1, self.offset)


class Help(Entry):
    """``# HELP name text``; ``text`` is unescaped."""

    __slots__ = ("name", "text")

    def __init__(self, name: str, text: str, line: int, offset: int) -> None:
        self.name = name
        self.text = text
        self.line = line
        self.offset = offset

    def __repr__(self) -> str:
        return f"Help({self.name!r}, {self.text!r}, line={self.line})"


class Type(Entry):
    """``# TYPE name type``."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, type: MetricType, line: int, offset: int) -> None:
        self.name = name
        self.type = type
        self.line = line
        self.offset = offset

    def __repr__(self) -> str:
        return f"Type({self.name!r}, {self.type.value!r}, line={self.line})"


class Unit(Entry):
    """``# UNIT name unit`` (OpenMetrics only)."""

    __slots__ = ("name", "unit")

    def __init__(self, name: str, unit: str, line: int, offset: int) -> None:
        self.name = name
        self.unit = unit
        self.line = line
        self.offset = offset

    def __repr__(self) -> str:
        return f"Unit({self.name!r}, {self.unit!r}, line={self.line})"


class Comment(Entry):
    """Any other ``#`` line (Prometheus text format only); ``text`` is the whole line."""

    __slots__ = ("text",)

    def __init__(self, text: str, line: int, offset: int) -> None:
        self.text = text
        self.line = line
        self.offset = offset

    def __repr__(self) -> str:
        return f"Comment({self.text!r}, line={self.line})"


class Exemplar:
    """An OpenMetrics exemplar: ``# {labels} value [timestamp]``."""

    __slots__ = ("labels", "timestamp_ms", "value")

    def __init__(self, labels: Labels, value: float, timestamp_ms: int | None) -> None:
        self.labels = labels
        self.value = value
        self.timestamp_ms = timestamp_ms

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Exemplar):
            return NotImplemented
        return (self.labels, self.timestamp_ms) == (other.labels, other.timestamp_ms) and (
            self.value == other.value or (self.value != self.value and other.value != other.value)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Exemplar({self.labels}, {self.value!r}, {self.timestamp_ms!r})"


class Sample(Entry):
    """One sample line.

    ``name`` is the sample's metric name (``x_total``, ``x_bucket``, ...);
    ``labels`` excludes ``__name__`` (use ``labels.with_name(name)`` for the
    series). ``timestamp_ms`` is milliseconds since the epoch: Prometheus text
    timestamps are integers in ms already; OpenMetrics timestamps are seconds
    and are converted as Prometheus does (``int(seconds * 1000)``, truncating).
    ``series`` is the line's text up to the end of the name and label set, the
    key a scrape cache maps to a series reference.
    """

    __slots__ = ("exemplar", "labels", "name", "series", "timestamp_ms", "value")

    def __init__(
        self,
        name: str,
        labels: Labels,
        value: float,
        timestamp_ms: int | None,
        exemplar: Exemplar | None,
        series: str,
        line: int,
        offset: int,
    ) -> None:
        self.name = name
        self.labels = labels
        self.value = value
        self.timestamp_ms = timestamp_ms
        self.exemplar = exemplar
        self.series = series
        self.line = line
        self.offset = offset

    def __repr__(self) -> str:
        ts = "" if self.timestamp_ms is None else f" @{self.timestamp_ms}"
        ex = "" if self.exemplar is None else f" # {self.exemplar!r}"
        return f"Sample({self.name}{self.labels} {self.value!r}{ts}{ex}, line={self.line})"
