"""Parse errors with positions, and the mapping from text indices to line:col."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

from vigil.model.errors import VigilError
from vigil.model.position import Position, PositionRange

__all__ = ["ParseError", "PositionMapper"]


class PositionMapper:
    """Turns character indices of one text into :class:`Position` values, cheaply.

    Single-line ASCII text (the usual query) needs no tables at all.
    """

    __slots__ = ("_bytes", "_line_starts", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._line_starts: list[int] | None = None
        if "\n" in text:
            self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
        self._bytes: list[int] | None = None
        if not text.isascii():
            sizes = (len(c.encode("utf-8", "surrogatepass")) for c in text)
            self._bytes = [0, *accumulate(sizes)]

    def position(self, index: int) -> Position:
        index = max(0, min(index, len(self._text)))
        offset = index if self._bytes is None else self._bytes[index]
        starts = self._line_starts
        if starts is None:
            return Position(1, index + 1, offset)
        line = bisect_right(starts, index)
        return Position(line, index - starts[line - 1] + 1, offset)

    def index(self, position: Position) -> int:
        """The character index of ``position`` (the inverse of :meth:`position`)."""
        if self._bytes is None:
            return position.offset
        return bisect_left(self._bytes, position.offset)

    def range(self, start: int, end: int) -> PositionRange:
        return PositionRange(self.position(start), self.position(max(start, end)))


class ParseError(VigilError):
    """A query that does not parse or does not type-check.

    ``message`` says what was wrong and, for syntax errors, what was expected;
    ``position`` is where (1-based line and column), ``position_range`` the
    whole span concerned. One parse can find several problems: ``errors``
    lists them all in the order found (this error is the first), and
    ``str()`` shows the first in Prometheus's shape,
    ``1:5: parse error: unexpected end of input``.
    """

    def __init__(
        self,
        message: str,
        position_range: PositionRange,
        query: str = "",
        errors: list[ParseError] | None = None,
    ) -> None:
        super().__init__(message, position_range.start)
        self.position_range = position_range
        self.query = query
        self.errors: list[ParseError] = errors if errors is not None else [self]

    def format(self, source: str | None = None) -> str:
        name = source if source is not None else self.source
        where = f"{self.position_range.start.line}:{self.position_range.start.col}"
        text = f"{where}: parse error: {self.message}"
        return f"{name}:{text}" if name else text

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, PositionRange, str]]:
        return (ParseError, (self.message, self.position_range, self.query))
