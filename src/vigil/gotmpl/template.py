"""The public face: a set of named templates that parses once and executes often."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from vigil.gotmpl.builtins import BUILTINS
from vigil.gotmpl.errors import TemplateExecError
from vigil.gotmpl.nodes import ExecFailure, State, Tree
from vigil.gotmpl.parser import parse_text

__all__ = ["MissingKey", "Template", "expand"]

MissingKey = Literal["default", "zero", "error"]
_MISSINGKEY: Final = ("default", "zero", "error")


class Template:
    """A set of Go text/templates sharing one function map.

    ``missingkey`` is Go's ``Option("missingkey=...")``: ``"default"`` prints a
    missing map key as ``<no value>`` (Alertmanager), ``"zero"`` gives the
    zero value (``""`` in a label map; Prometheus rule templates), ``"error"``
    fails the execution.
    """

    def __init__(
        self,
        name: str,
        funcs: Mapping[str, Callable[..., Any]] | None = None,
        *,
        missingkey: MissingKey = "default",
    ) -> None:
        if missingkey not in _MISSINGKEY:
            raise ValueError(f"missingkey must be one of {_MISSINGKEY}, not {missingkey!r}")
        self.name = name
        self.missingkey: MissingKey = missingkey
        merged: dict[str, Callable[..., Any]] = dict(BUILTINS)
        if funcs:
            for fname, fn in funcs.items():
                if not callable(fn):
                    raise TypeError(f"template function {fname!r} is not callable")
                merged[fname] = fn
        self._funcs = merged
        self._trees: dict[str, Tree] = {}

    def parse(self, text: str, *, source: str | None = None) -> Template:
        """Add ``text`` (its body under this template's name, and its definitions).

        Raises :class:`TemplateError` and then leaves the set unchanged. A later
        definition replaces an earlier one, except that an empty body never
        replaces a non-empty one (Go's rule).
        """
        trees = parse_text(self.name, text, self._funcs, source)
        for tname, tree in trees.items():
            old = self._trees.get(tname)
            if old is not None and tree.is_empty() and not old.is_empty():
                continue
            self._trees[tname] = tree
        return self

    def execute(self, data: Any, name: str | None = None) -> str:
        """Run the template ``name`` (default: this template's own) with ``.`` = ``data``."""
        tname = self.name if name is None else name
        tree = self._trees.get(tname)
        if tree is None:
            raise TemplateExecError(
                f'no template "{tname}" associated with template "{self.name}"', template=tname
            )
        state = State(self._trees, tree, self.missingkey)
        state.vars.append(["$", data])
        try:
            tree.root.execute(state, data)
        except ExecFailure as exc:
            raise state.error(exc) from None
        except RecursionError:
            raise state.error(ExecFailure("template recursion too deep")) from None
        return "".join(state.out)

    def clone(self) -> Template:
        """A copy of the set; definitions added to the copy do not touch this one."""
        other = Template.__new__(Template)
        other.name = self.name
        other.missingkey = self.missingkey
        other._funcs = self._funcs
        other._trees = dict(self._trees)
        return other

    def names(self) -> list[str]:
        """The names of the templates in the set, sorted."""
        return sorted(self._trees)

    def lookup(self, name: str) -> bool:
        """Whether the set has a template called ``name``."""
        return name in self._trees

    def __repr__(self) -> str:
        return f"Template({self.name!r}, names={self.names()!r})"


def expand(
    text: str,
    data: Any,
    funcs: Mapping[str, Callable[..., Any]] | None = None,
    name: str = "template",
    *,
    missingkey: MissingKey = "default",
) -> str:
    """Parse ``text`` and execute it once with ``data``."""
    return Template(name, funcs, missingkey=missingkey).parse(text).execute(data)
