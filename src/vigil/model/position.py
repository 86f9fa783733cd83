"""Positions in a source text: 1-based line and column, 0-based byte offset."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Position", "PositionRange", "position_at"]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in a text.

    ``line`` and ``col`` are 1-based and count characters (what an editor
    shows); ``offset`` is the 0-based byte offset into the UTF-8 encoded text.
    """

    line: int
    col: int
    offset: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class PositionRange:
    """A half-open span ``[start, end)`` of a text."""

    start: Position
    end: Position

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"range end {self.end} is before its start {self.start}")

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


def position_at(text: str, index: int) -> Position:
    """The position of character ``index`` of ``text`` (clamped to its length).

    Meant for error paths: it scans ``text[:index]`` once.
    """
    index = max(0, min(index, len(text)))
    line_start = text.rfind("\n", 0, index) + 1
    line = text.count("\n", 0, index) + 1
    offset = index if text.isascii() else len(text[:index].encode("utf-8", "surrogatepass"))
    return Position(line, index - line_start + 1, offset)
