"""Go's predefined template functions (``text/template/funcs.go``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote_plus

from vigil.gotmpl.fmt import sprintf
from vigil.gotmpl.values import NO_VALUE, go_type_name, is_true, sprint, sprint_value
from vigil.model.labels import Labels

__all__ = ["BUILTINS", "and_", "or_"]


class _CmpError(Exception):
    pass


def and_(*args: Any) -> Any:
    """Evaluated lazily by the executor; this eager form serves ``call``."""
    value: Any = None
    for value in args:
        if not is_true(value):
            return value
    return value


def or_(*args: Any) -> Any:
    value: Any = None
    for value in args:
        if is_true(value):
            return value
    return value


def not_(arg: Any) -> bool:
    return not is_true(arg)


def len_(item: Any) -> int:
    if item is None or item is NO_VALUE:
        raise ValueError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8"))
    if isinstance(item, bytes | Mapping | Sequence | Labels | set | frozenset):
        return len(item)
    raise ValueError(f"len of type {go_type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise ValueError(f"index out of range: {index}")
    return index


def index(item: Any, *indexes: Any) -> Any:
    for idx in indexes:
        if item is None or item is NO_VALUE:
            raise ValueError("index of untyped nil")
        if isinstance(item, Labels):
            if not isinstance(idx, str):
                raise ValueError(f"value has type {go_type_name(idx)}; should be string")
            item = item.get(idx, "")
        elif isinstance(item, Mapping):
            if idx in item:
                item = item[idx]
            else:
                item = "" if all(isinstance(v, str) for v in item.values()) else None
        elif isinstance(item, str):
            data = item.encode("utf-8")
            x = _index_arg(idx, len(data))
            if x == len(data):
                raise ValueError(f"index out of range: {x}")
            item = data[x]
        elif isinstance(item, Sequence):
            x = _index_arg(idx, len(item))
            if x == len(item):
                raise ValueError(f"index out of range: {x}")
            item = item[x]
        else:
            raise ValueError(f"can't index item of type {go_type_name(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if item is None or item is NO_VALUE:
        raise ValueError("slice of untyped nil")
    if len(indexes) > 3:
        raise ValueError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise ValueError("cannot 3-index slice a string")
        data = item.encode("utf-8")
        cap = len(data)
    elif isinstance(item, Sequence) and not isinstance(item, Mapping):
        cap = len(item)
    else:
        raise ValueError(f"can't slice item of type {go_type_name(item)}")
    idx = [_index_arg(i, cap) for i in indexes]
    if len(idx) == 3 and idx[1] > idx[2]:
        raise ValueError(f"invalid slice index: {idx[1]} > {idx[2]}")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else cap
    if lo > hi:
        raise ValueError(f"invalid slice index: {lo} > {hi}")
    bounds = (lo, hi)
    if isinstance(item, str):
        return data[bounds[0] : bounds[1]].decode("utf-8", "replace")
    return list(item[bounds[0] : bounds[1]])


def _eval_args(args: Sequence[Any]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(args)


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}


def html_escape(s: str) -> str:
    """Go's ``template.HTMLEscapeString``."""
    if not any(c in s for c in _HTML):
        return s
    return "".join(_HTML.get(c, c) for c in s)


def html(*args: Any) -> str:
    return html_escape(_eval_args(args))


_JS = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def js_escape(s: str) -> str:
    """Go's ``template.JSEscapeString``."""
    out: list[str] = []
    for c in s:
        if c in _JS:
            out.append(_JS[c])
        elif ord(c) < 0x20 or (ord(c) >= 0x7F and not c.isprintable()):
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def js(*args: Any) -> str:
    return js_escape(_eval_args(args))


def urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args), safe="")


def print_(*args: Any) -> str:
    return sprint(args)


def println(*args: Any) -> str:
    return " ".join(sprint_value(a) for a in args) + "\n"


def printf(fmt: str, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise ValueError(f"wrong type for value; expected string; got {go_type_name(fmt)}")
    return sprintf(fmt, args)


def _kind(v: Any) -> str:
    if v is None or v is NO_VALUE:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return "other"


def eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise ValueError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in args:
        k2 = _kind(arg)
        if k1 != k2:
            if k1 != "invalid" and k2 != "invalid":
                raise ValueError("incompatible types for comparison")
            continue
        if k1 == "invalid":
            return True
        if k1 == "other" and (
            isinstance(arg1, Mapping | list | Labels) or isinstance(arg, Mapping | list | Labels)
        ):
            raise ValueError(
                f"non-comparable types {sprint_value(arg1)}: {go_type_name(arg1)}, "
                f"{sprint_value(arg)}: {go_type_name(arg)}"
            )
        if arg1 == arg:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: Any, arg2: Any) -> bool:
    k1 = _kind(arg1)
    k2 = _kind(arg2)
    if k1 not in ("int", "float", "string") or k2 not in ("int", "float", "string"):
        raise ValueError("invalid type for comparison")
    if k1 != k2:
        raise ValueError("incompatible types for comparison")
    return bool(arg1 < arg2)


def le(arg1: Any, arg2: Any) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


def call(fn: Any, *args: Any) -> Any:
    if fn is None or fn is NO_VALUE:
        raise ValueError("call of nil")
    if not callable(fn):
        raise ValueError(f"non-function of type {go_type_name(fn)}")
    return fn(*args)


BUILTINS: Final[Mapping[str, Callable[..., Any]]] = {
    "and": and_,
    "call": call,
    "eq": eq,
    "ge": ge,
    "gt": gt,
    "html": html,
    "index": index,
    "js": js,
    "le": le,
    "len": len_,
    "lt": lt,
    "ne": ne,
    "not": not_,
    "or": or_,
    "print": print_,
    "printf": printf,
    "println": println,
    "slice": slice_,
    "urlquery": urlquery,
}
