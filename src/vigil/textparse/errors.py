"""Errors raised by the exposition parsers."""

from __future__ import annotations

from vigil.model import Position, VigilError

__all__ = ["ParseError", "UnsupportedContentTypeError"]


class ParseError(VigilError):
    """A body that is not valid in its format.

    ``position`` names the line and column; ``reason`` is the message without
    the position; ``line_text`` is the offending line (for error pages).
    ``str(err)`` is ``line:col: reason``; ``err.format("target")`` prefixes a
    source name.
    """

    def __init__(self, reason: str, position: Position, line_text: str = "") -> None:
        super().__init__(reason, position)
        self.reason = reason
        self.line_text = line_text

    @property
    def line(self) -> int:
        assert self.position is not None
        return self.position.line

    @property
    def col(self) -> int:
        assert self.position is not None
        return self.position.col


class UnsupportedContentTypeError(VigilError):
    """A scrape answered with a Content-Type that Vigil cannot parse."""
