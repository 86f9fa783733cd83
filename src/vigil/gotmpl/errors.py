"""The two errors a template raises: at parse time and at execution time."""

from __future__ import annotations

from vigil.model.errors import VigilError
from vigil.model.position import Position

__all__ = ["TemplateError", "TemplateExecError"]


class TemplateError(VigilError):
    """A template text that does not parse: ``source:line:col: message``.

    ``source`` is the file (or the template's name when no file was given).
    """


class TemplateExecError(VigilError):
    """A template that failed while executing.

    ``template`` is the name of the template being executed when it failed,
    ``reason`` the bare cause (``error calling index: index out of range: 5``);
    the message reads like Go's: ``executing "name" at <.Field>: reason``.
    """

    def __init__(
        self,
        reason: str,
        *,
        template: str,
        position: Position | None = None,
        context: str = "",
        source: str | None = None,
    ) -> None:
        at = f" at <{context}>" if context else ""
        super().__init__(f'executing "{template}"{at}: {reason}', position, source=source)
        self.template = template
        self.reason = reason
        self.context = context
