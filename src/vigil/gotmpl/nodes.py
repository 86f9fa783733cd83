"""The parse tree, and its execution: every node executes (or evaluates) itself.

A template is parsed once into these small objects; executing walks them with
a :class:`State` that holds the output, the variable stack and the template set.
Semantics follow Go's ``text/template/exec.go``.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from vigil.gotmpl.errors import TemplateExecError
from vigil.gotmpl.values import NO_VALUE, go_type_name, is_true, sort_key, sprint_value
from vigil.model.labels import Labels
from vigil.model.position import position_at

__all__ = [
    "MAX_EXEC_DEPTH",
    "MAX_OUTPUT",
    "ActionNode",
    "Arg",
    "BreakNode",
    "Command",
    "ContinueNode",
    "ExecFailure",
    "IfNode",
    "ListNode",
    "Node",
    "Pipeline",
    "RangeNode",
    "State",
    "TemplateNode",
    "TextNode",
    "Tree",
    "WithNode",
]

MAX_OUTPUT: Final = 1 << 20  # characters a single execution may write
MAX_EXEC_DEPTH: Final = 100  # nested {{template}} calls

_NOFINAL: Final = object()
# Values whose Python attributes are not template fields (subclasses may add methods).
_PLAIN: Final = (
    str,
    int,
    float,
    bool,
    bytes,
    list,
    tuple,
    complex,
)  # "no value piped in" (Go's missingVal)


class ExecFailure(Exception):  # noqa: N818
    """Raised inside execution; `State.error` turns it into TemplateExecError."""

    def __init__(self, reason: str, pos: int = -1, context: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos
        self.context = context


class _Break(Exception):  # noqa: N818
    pass


class _Continue(Exception):  # noqa: N818
    pass


class Tree:
    """One named template: its body and the text it came from (for positions)."""

    __slots__ = ("name", "root", "source", "text")

    def __init__(self, name: str, root: ListNode, text: str, source: str | None) -> None:
        self.name = name
        self.root = root
        self.text = text
        self.source = source

    def is_empty(self) -> bool:
        return all(isinstance(n, TextNode) and not n.text.strip() for n in self.root.nodes)


class State:
    """Everything one execution needs."""

    __slots__ = ("depth", "missingkey", "out", "out_len", "tree", "trees", "vars")

    def __init__(self, trees: Mapping[str, Tree], tree: Tree, missingkey: str) -> None:
        self.trees = trees
        self.tree = tree
        self.missingkey = missingkey
        self.out: list[str] = []
        self.out_len = 0
        self.vars: list[list[Any]] = []
        self.depth = 0

    def write(self, s: str) -> None:
        self.out_len += len(s)
        if self.out_len > MAX_OUTPUT:
            raise ExecFailure(f"output exceeds the limit of {MAX_OUTPUT} characters")
        self.out.append(s)

    def var(self, name: str) -> Any:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        raise ExecFailure(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i][1] = value
                return
        raise ExecFailure(f"undefined variable: {name}")

    def error(self, failure: ExecFailure) -> TemplateExecError:
        pos = None if failure.pos < 0 else position_at(self.tree.text, failure.pos)
        context = failure.context
        if len(context) > 20:
            context = context[:20] + "..."
        return TemplateExecError(
            failure.reason,
            template=self.tree.name,
            position=pos,
            context=context,
            source=self.tree.source or self.tree.name,
        )


# -- nodes ----------------------------------------------------------------------


class Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def execute(self, state: State, dot: Any) -> None:
        """Write this node's output for ``dot`` (the parser's {{else}}/{{end}} markers have none)."""
        raise TypeError(f"{type(self).__name__} is a parse marker and is never executed")


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int, nodes: list[Node]) -> None:
        super().__init__(pos)
        self.nodes = nodes

    def execute(self, state: State, dot: Any) -> None:
        for node in self.nodes:
            node.execute(state, dot)


class TextNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def execute(self, state: State, dot: Any) -> None:
        state.write(self.text)


class ActionNode(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: Pipeline) -> None:
        super().__init__(pos)
        self.pipe = pipe

    def execute(self, state: State, dot: Any) -> None:
        value = self.pipe.eval(state, dot)
        if not self.pipe.decl:
            state.write(printable(value, self.pipe))


def printable(value: Any, node: Pipeline | Arg) -> str:
    if isinstance(value, str):
        return value
    if inspect.isroutine(value) or isinstance(value, type):
        raise ExecFailure(
            f"can't print {node.text} of type {go_type_name(value)}", node.pos, node.text
        )
    return sprint_value(value)


class BreakNode(Node):
    __slots__ = ()

    def execute(self, state: State, dot: Any) -> None:
        raise _Break


class ContinueNode(Node):
    __slots__ = ()

    def execute(self, state: State, dot: Any) -> None:
        raise _Continue


class IfNode(Node):
    """``if`` and ``with`` (``is_with``): ``else if``/``else with`` nest in ``else_list``."""

    __slots__ = ("else_list", "is_with", "list", "pipe")

    def __init__(
        self, pos: int, pipe: Pipeline, body: ListNode, else_list: ListNode | None, is_with: bool
    ) -> None:
        super().__init__(pos)
        self.pipe = pipe
        self.list = body
        self.else_list = else_list
        self.is_with = is_with

    def execute(self, state: State, dot: Any) -> None:
        mark = len(state.vars)
        try:
            value = self.pipe.eval(state, dot)
            if is_true(value):
                self.list.execute(state, value if self.is_with else dot)
            elif self.else_list is not None:
                self.else_list.execute(state, dot)
        finally:
            del state.vars[mark:]


def WithNode(pos: int, pipe: Pipeline, body: ListNode, else_list: ListNode | None) -> IfNode:  # noqa: N802
    return IfNode(pos, pipe, body, else_list, is_with=True)


class RangeNode(Node):
    __slots__ = ("else_list", "list", "pipe")

    def __init__(
        self, pos: int, pipe: Pipeline, body: ListNode, else_list: ListNode | None
    ) -> None:
        super().__init__(pos)
        self.pipe = pipe
        self.list = body
        self.else_list = else_list

    def execute(self, state: State, dot: Any) -> None:
        mark = len(state.vars)
        try:
            value = self.pipe.eval(state, dot)
            ran = False
            for key, elem in self._items(value):
                ran = True
                decl = self.pipe.decl
                if decl:
                    if self.pipe.is_assign:
                        if len(decl) > 1:
                            state.set_var(decl[0], key)
                            state.set_var(decl[1], elem)
                        else:
                            state.set_var(decl[0], elem)
                    elif len(decl) > 1:
                        state.vars[-2][1] = key
                        state.vars[-1][1] = elem
                    else:
                        state.vars[-1][1] = elem
                inner = len(state.vars)
                try:
                    self.list.execute(state, elem)
                except _Continue:
                    pass
                except _Break:
                    break
                finally:
                    del state.vars[inner:]
            if not ran and self.else_list is not None:
                self.else_list.execute(state, dot)
        finally:
            del state.vars[mark:]

    def _items(self, value: Any) -> Iterable[tuple[Any, Any]]:
        if value is None or value is NO_VALUE:
            return ()
        if isinstance(value, Labels):
            return value.pairs
        if isinstance(value, Mapping):
            return [(k, value[k]) for k in sorted(value, key=sort_key)]
        if isinstance(value, bool):
            raise ExecFailure(f"range can't iterate over {sprint_value(value)}", self.pos, "range")
        if isinstance(value, int):
            if len(self.pipe.decl) > 1:
                raise ExecFailure(
                    f"can't use {value} to iterate over more than one variable", self.pos
                )
            return ((i, i) for i in range(value))
        if isinstance(value, str | bytes | float | complex):
            raise ExecFailure(f"range can't iterate over {sprint_value(value)}", self.pos)
        if isinstance(value, Sequence):
            return enumerate(value)
        if isinstance(value, Iterable):
            return enumerate(value)
        raise ExecFailure(f"range can't iterate over {sprint_value(value)}", self.pos)


class TemplateNode(Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, name: str, pipe: Pipeline | None) -> None:
        super().__init__(pos)
        self.name = name
        self.pipe = pipe

    def execute(self, state: State, dot: Any) -> None:
        tree = state.trees.get(self.name)
        if tree is None:
            raise ExecFailure(
                f"no template {self.name!r} associated with template {state.tree.name!r}".replace(
                    "'", '"'
                ),
                self.pos,
                f'template "{self.name}"',
            )
        value = None if self.pipe is None else self.pipe.eval(state, dot)
        if state.depth >= MAX_EXEC_DEPTH:
            raise ExecFailure(
                f"exceeded maximum template depth ({MAX_EXEC_DEPTH})",
                self.pos,
                f'template "{self.name}"',
            )
        saved_vars, saved_tree = state.vars, state.tree
        state.vars = [["$", value]]
        state.tree = tree
        state.depth += 1
        try:
            tree.root.execute(state, value)
        finally:
            state.depth -= 1
            state.vars, state.tree = saved_vars, saved_tree


# -- pipelines, commands and arguments --------------------------------------------


class Pipeline:
    __slots__ = ("cmds", "decl", "is_assign", "pos", "text")

    def __init__(self, pos: int, text: str, decl: list[str], is_assign: bool, cmds: list[Command]):
        self.pos = pos
        self.text = text
        self.decl = decl
        self.is_assign = is_assign
        self.cmds = cmds

    def eval(self, state: State, dot: Any) -> Any:
        value: Any = _NOFINAL
        for cmd in self.cmds:
            value = cmd.eval(state, dot, value)
        for name in self.decl:
            if self.is_assign:
                state.set_var(name, value)
            else:
                state.vars.append([name, value])
        return value


class Arg(abc.ABC):
    """An operand; ``eval_cmd`` runs it as the first word of a command."""

    __slots__ = ("pos", "text")

    executable = True

    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text

    @abc.abstractmethod
    def eval(self, state: State, dot: Any) -> Any:
        """This operand's value for ``dot``."""

    def eval_cmd(self, state: State, dot: Any, args: list[Arg], final: Any) -> Any:
        if args or final is not _NOFINAL:
            raise ExecFailure(
                f"can't give argument to non-function {self.text}", self.pos, self.text
            )
        return self.eval(state, dot)


class Command:
    __slots__ = ("args", "first", "pos")

    def __init__(self, pos: int, args: list[Arg]) -> None:
        self.pos = pos
        self.first = args[0]
        self.args = args[1:]

    def eval(self, state: State, dot: Any, final: Any) -> Any:
        return self.first.eval_cmd(state, dot, self.args, final)


class Const(Arg):
    __slots__ = ("value",)

    executable = False

    def __init__(self, pos: int, text: str, value: Any) -> None:
        super().__init__(pos, text)
        self.value = value

    def eval(self, state: State, dot: Any) -> Any:
        return self.value


class NilArg(Arg):
    __slots__ = ()

    executable = False

    def eval(self, state: State, dot: Any) -> Any:
        return None

    def eval_cmd(self, state: State, dot: Any, args: list[Arg], final: Any) -> Any:
        raise ExecFailure("nil is not a command", self.pos, self.text)


class DotArg(Arg):
    __slots__ = ()

    executable = False

    def eval(self, state: State, dot: Any) -> Any:
        return dot


class PipeArg(Arg):
    """A parenthesised pipeline."""

    __slots__ = ("pipe",)

    def __init__(self, pos: int, text: str, pipe: Pipeline) -> None:
        super().__init__(pos, text)
        self.pipe = pipe

    def eval(self, state: State, dot: Any) -> Any:
        return self.pipe.eval(state, dot)


def _call_args(state: State, dot: Any, args: list[Arg], final: Any) -> list[Any]:
    values = [a.eval(state, dot) for a in args]
    if final is not _NOFINAL:
        values.append(final)
    return values


class FieldChainArg(Arg):
    """``.A.B``, ``$x.A.B`` or ``(pipe).A.B``: a receiver and field names."""

    __slots__ = ("fields", "receiver")

    def __init__(self, pos: int, text: str, receiver: Arg | None, fields: list[str]) -> None:
        super().__init__(pos, text)
        self.receiver = receiver  # None: dot
        self.fields = fields

    def eval(self, state: State, dot: Any) -> Any:
        return self.eval_cmd_inner(state, dot, [], _NOFINAL)

    def eval_cmd(self, state: State, dot: Any, args: list[Arg], final: Any) -> Any:
        return self.eval_cmd_inner(state, dot, args, final)

    def eval_cmd_inner(self, state: State, dot: Any, args: list[Arg], final: Any) -> Any:
        value = dot if self.receiver is None else self.receiver.eval(state, dot)
        last = len(self.fields) - 1
        for i, name in enumerate(self.fields):
            if i < last:
                value = self._field(state, dot, value, name, [], _NOFINAL)
            else:
                value = self._field(state, dot, value, name, args, final)
        return value

    def _field(
        self, state: State, dot: Any, receiver: Any, name: str, args: list[Arg], final: Any
    ) -> Any:
        has_args = bool(args) or final is not _NOFINAL
        if receiver is NO_VALUE:
            if state.missingkey == "error":
                raise ExecFailure(f'nil data; no entry for key "{name}"', self.pos, self.text)
            return NO_VALUE
        if receiver is None:
            raise ExecFailure(f"nil pointer evaluating interface {{}}.{name}", self.pos, self.text)
        if isinstance(receiver, Mapping):
            if name[:1].isupper() and type(receiver) is not dict:
                method = _method(receiver, name)
                if method is not None:
                    return self._call_method(state, dot, method, name, args, final)
            if has_args:
                raise ExecFailure(f"{name} is not a method but has arguments", self.pos, self.text)
            try:
                return receiver[name]
            except KeyError:
                return self._missing(state, receiver, name)
            except TypeError:
                pass
        elif isinstance(receiver, Labels):
            if has_args:
                raise ExecFailure(f"{name} is not a method but has arguments", self.pos, self.text)
            if name in receiver:
                return receiver[name]
            return self._missing(state, receiver, name)
        elif not name.startswith("_") and (
            type(receiver) not in _PLAIN
            and (name[:1].isupper() or not isinstance(receiver, _PLAIN))
        ):
            try:
                attr = getattr(receiver, name)
            except AttributeError:
                pass
            except Exception as exc:
                raise ExecFailure(str(exc), self.pos, self.text) from exc
            else:
                if inspect.ismethod(attr) or inspect.isbuiltin(attr):
                    return self._call_method(state, dot, attr, name, args, final)
                if has_args:
                    raise ExecFailure(
                        f"{name} has arguments but cannot be invoked as function",
                        self.pos,
                        self.text,
                    )
                return attr
        raise ExecFailure(
            f"can't evaluate field {name} in type {go_type_name(receiver)}", self.pos, self.text
        )

    def _missing(self, state: State, receiver: Any, name: str) -> Any:
        if state.missingkey == "error":
            raise ExecFailure(f'map has no entry for key "{name}"', self.pos, self.text)
        if state.missingkey == "zero":
            return zero_for(receiver)
        return NO_VALUE

    def _call_method(
        self,
        state: State,
        dot: Any,
        method: Callable[..., Any],
        name: str,
        args: list[Arg],
        final: Any,
    ) -> Any:
        values = _call_args(state, dot, args, final)
        return call_function(method, name, values, self.pos, self.text, arity(method))


def _method(receiver: Any, name: str) -> Callable[..., Any] | None:
    if not hasattr(type(receiver), name) or hasattr(dict, name):
        return None
    attr = getattr(receiver, name)
    if inspect.ismethod(attr) or inspect.isbuiltin(attr):
        return attr
    return None


def zero_for(mapping: Any) -> Any:
    """The zero value of a map's elements: ``""`` for string maps (label sets), else nil."""
    if isinstance(mapping, Labels):
        return ""
    if isinstance(mapping, Mapping) and all(isinstance(v, str) for v in mapping.values()):
        return ""
    return None


class VariableArg(Arg):
    __slots__ = ("name",)

    def __init__(self, pos: int, text: str, name: str) -> None:
        super().__init__(pos, text)
        self.name = name

    def eval(self, state: State, dot: Any) -> Any:
        try:
            return state.var(self.name)
        except ExecFailure as exc:
            raise ExecFailure(exc.reason, self.pos, self.text) from None


class FuncArg(Arg):
    """An identifier naming a function; ``fn`` was resolved when parsing."""

    __slots__ = ("arity", "fn", "name")

    def __init__(self, pos: int, text: str, name: str, fn: Callable[..., Any]) -> None:
        super().__init__(pos, text)
        self.name = name
        self.fn = fn
        self.arity = arity(fn)

    def eval(self, state: State, dot: Any) -> Any:
        return self.eval_cmd(state, dot, [], _NOFINAL)

    def eval_cmd(self, state: State, dot: Any, args: list[Arg], final: Any) -> Any:
        values = _call_args(state, dot, args, final)
        return call_function(self.fn, self.name, values, self.pos, self.text, self.arity)


class AndOrArg(Arg):
    """``and`` / ``or``: evaluate arguments lazily, return the deciding one."""

    __slots__ = ("is_or",)

    def __init__(self, pos: int, text: str, is_or: bool) -> None:
        super().__init__(pos, text)
        self.is_or = is_or

    def eval(self, state: State, dot: Any) -> Any:
        return self.eval_cmd(state, dot, [], _NOFINAL)

    def eval_cmd(self, state: State, dot: Any, args: list[Arg], final: Any) -> Any:
        name = "or" if self.is_or else "and"
        if not args and final is _NOFINAL:
            raise ExecFailure(
                f"wrong number of args for {name}: want at least 1 got 0", self.pos, self.text
            )
        value: Any = None
        for arg in args:
            value = arg.eval(state, dot)
            if is_true(value) == self.is_or:
                return value
        if final is not _NOFINAL:
            value = final
        return value


def call_function(
    fn: Callable[..., Any],
    name: str,
    values: list[Any],
    pos: int,
    text: str,
    bounds: tuple[int, int | None] | None,
) -> Any:
    if bounds is not None:
        lo, hi = bounds
        if len(values) < lo or (hi is not None and len(values) > hi):
            if hi is None:
                want = f"at least {lo}"
            elif lo == hi:
                want = str(lo)
            else:
                want = f"{lo} to {hi}"
            raise ExecFailure(
                f"wrong number of args for {name}: want {want} got {len(values)}", pos, text
            )
    try:
        return fn(*values)
    except ExecFailure:
        raise
    except RecursionError:
        raise
    except Exception as exc:
        raise ExecFailure(f"error calling {name}: {_reason(exc)}", pos, text) from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def arity(fn: Callable[..., Any]) -> tuple[int, int | None] | None:
    """(fewest, most) positional arguments ``fn`` takes; ``None`` when unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    lo = 0
    hi: int | None = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if p.default is p.empty:
                lo += 1
            if hi is not None:
                hi += 1
        elif p.kind is p.VAR_POSITIONAL:
            hi = None
    return (lo, hi)
