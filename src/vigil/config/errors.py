"""Config errors: every problem with its place in the file and its field path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigil.model import Position, VigilError

__all__ = ["ConfigError", "ConfigProblem"]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong: where (file, position), which field (``scrape_configs[0].job_name``), what."""

    message: str
    path: str = ""
    position: Position | None = None
    source: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source:
            parts.append(self.source)
        if self.position is not None:
            parts += [str(self.position.line), str(self.position.col)]
        where = ":".join(parts)
        what = f"{self.path}: {self.message}" if self.path else self.message
        return f"{where}: {what}" if where else what


class ConfigError(VigilError):
    """A config that cannot be used; ``problems`` lists everything found, in file order.

    ``str()`` prints one ``file:line:col: field.path: problem`` line per problem.
    """

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        ordered = sorted(
            problems,
            key=lambda p: (p.position.offset if p.position else -1, p.path),
        )
        first = ordered[0]
        message = f"{first.path}: {first.message}" if first.path else first.message
        super().__init__(message, first.position, source=first.source)
        self.problems: tuple[ConfigProblem, ...] = tuple(ordered)

    def format(self, source: str | None = None) -> str:
        if source is None:
            return "\n".join(str(p) for p in self.problems)
        return "\n".join(
            str(ConfigProblem(p.message, p.path, p.position, source)) for p in self.problems
        )
