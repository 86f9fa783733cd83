"""The root of Vigil's error taxonomy: every user-facing error can say where."""

from __future__ import annotations

from vigil.model.position import Position

__all__ = ["VigilError"]


class VigilError(Exception):
    """An error in something a user supplied, with an optional position.

    ``format()`` renders ``file:line:col: message`` (parts that are unknown are
    left out), the one shape every layer prints.
    """

    def __init__(
        self, message: str, position: Position | None = None, *, source: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.source = source

    def format(self, source: str | None = None) -> str:
        """``file:line:col: message``; ``source`` overrides the stored file name."""
        parts: list[str] = []
        name = source if source is not None else self.source
        if name:
            parts.append(name)
        if self.position is not None:
            parts.append(str(self.position.line))
            parts.append(str(self.position.col))
        parts.append(" " + self.message if parts else self.message)
        return ":".join(parts)

    def __str__(self) -> str:
        return self.format()
