"""Go's ``fmt.Sprintf`` for the verbs templates use.

Supported: flags ``+ - # 0 space``, width and precision (also ``*``), verbs
``v s q d b o O x X c U e E f F g G t T p %``. Wrong verbs, missing and extra
arguments print as Go does: ``%!d(string=hi)``, ``%!s(MISSING)``,
``%!(EXTRA int=1)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vigil.gotmpl.values import (
    NO_VALUE,
    format_float_g,
    go_quote,
    go_type_name,
    sort_key,
    sprint_value,
)
from vigil.model.labels import Labels

__all__ = ["sprintf"]


class _Spec:
    __slots__ = ("minus", "plus", "prec", "sharp", "space", "verb", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.prec: int | None = None
        self.verb = "v"


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n and fmt[i] in "+-# 0":
            c = fmt[i]
            if c == "+":
                spec.plus = True
            elif c == "-":
                spec.minus = True
            elif c == "#":
                spec.sharp = True
            elif c == " ":
                spec.space = True
            else:
                spec.zero = True
            i += 1
        # width
        if i < n and fmt[i] == "*":
            i += 1
            if (
                argi < len(args)
                and isinstance(args[argi], int)
                and not isinstance(args[argi], bool)
            ):
                w = args[argi]
                if w < 0:
                    spec.minus = True
                    w = -w
                spec.width = w
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > start:
                spec.width = int(fmt[start:i])
        # precision
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and isinstance(args[argi], int) and args[argi] >= 0:
                    spec.prec = args[argi]
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                start = i
                while i < n and fmt[i].isdigit():
                    i += 1
                spec.prec = int(fmt[start:i]) if i > start else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        spec.verb = verb
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(format_value(args[argi], spec))
        argi += 1
    if argi < len(args):
        extra = ", ".join(f"{go_type_name(a)}={sprint_value(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(s: str, spec: _Spec, zero_ok: bool = False) -> str:
    if spec.width is None or len(s) >= spec.width:
        return s
    fill = spec.width - len(s)
    if spec.minus:
        return s + " " * fill
    if spec.zero and zero_ok:
        if s and s[0] in "+- ":
            return s[0] + "0" * fill + s[1:]
        return "0" * fill + s
    return " " * fill + s


def _bad(value: Any, spec: _Spec) -> str:
    if value is None:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({go_type_name(value)}={sprint_value(value)})"


def format_value(value: Any, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "T":
        return _pad(go_type_name(value), spec)
    if value is None:
        return _pad("<nil>", spec) if verb == "v" else _bad(value, spec)
    if value is NO_VALUE:
        return _pad("<no value>", spec) if verb in "vs" else _bad(value, spec)
    if isinstance(value, bool):
        if verb in "vt":
            return _pad("true" if value else "false", spec)
        return _bad(value, spec)
    if isinstance(value, int):
        return _format_int(value, spec)
    if isinstance(value, float):
        return _format_float(value, spec)
    if isinstance(value, str):
        return _format_str(value, spec)
    if isinstance(value, Labels):
        value = dict(value.pairs)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: sort_key(kv[0]))
        body = " ".join(f"{format_value(k, spec)}:{format_value(v, spec)}" for k, v in items)
        return f"map[{body}]"
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return "[" + " ".join(format_value(v, spec) for v in value) + "]"
    # Anything else prints through its str(), like a Go Stringer.
    if verb in "vsqxX":
        return _format_str(str(value), spec)
    return _bad(value, spec)


def _format_int(v: int, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "c":
        return _pad(_chr(v), spec)
    if verb == "q":
        return _pad(_quote_rune(v), spec)
    if verb == "U":
        s = f"U+{v:04X}"
        if spec.sharp and 0 <= v <= 0x10FFFF and chr(v).isprintable():
            s += f" '{chr(v)}'"
        return _pad(s, spec)
    if verb in "vd":
        digits = str(abs(v))
        prefix = ""
    elif verb == "b":
        digits = format(abs(v), "b")
        prefix = "0b" if spec.sharp else ""
    elif verb == "o":
        digits = format(abs(v), "o")
        prefix = "0" if spec.sharp else ""
    elif verb == "O":
        digits = format(abs(v), "o")
        prefix = "0o"
    elif verb == "x":
        digits = format(abs(v), "x")
        prefix = "0x" if spec.sharp else ""
    elif verb == "X":
        digits = format(abs(v), "X")
        prefix = "0X" if spec.sharp else ""
    elif verb in "eEfFgG":
        return _bad(v, spec)
    else:
        return _bad(v, spec)
    if spec.prec is not None:
        digits = digits.zfill(spec.prec) if spec.prec > 0 or v != 0 else ""
    sign = "-" if v < 0 else "+" if spec.plus else " " if spec.space else ""
    body = prefix + digits
    if spec.zero and spec.prec is None and not spec.minus and spec.width is not None:
        fill = spec.width - len(sign) - len(body)
        if fill > 0:
            return sign + prefix + "0" * fill + digits
    return _pad(sign + body, spec)


def _chr(v: int) -> str:
    if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF:
        return chr(v)
    return "\ufffd"


def _quote_rune(v: int) -> str:
    ch = _chr(v)
    if ch == "'":
        return "'\\''"
    inner = go_quote(ch)[1:-1]
    if inner == '\\"':
        inner = '"'
    return f"'{inner}'"


def _format_float(v: float, spec: _Spec) -> str:
    verb = spec.verb
    if verb not in "veEfFgGbxX":
        return _bad(v, spec)
    if math.isnan(v) or math.isinf(v):
        if math.isnan(v):
            s = "+NaN" if spec.plus else " NaN" if spec.space else "NaN"
        else:
            s = "+Inf" if v > 0 else "-Inf"
            if v > 0 and not spec.plus:
                s = " Inf" if spec.space else "+Inf"
        return _pad(s, spec)
    neg = math.copysign(1.0, v) < 0
    a = abs(v)
    if verb in "vgG":
        if spec.prec is None:
            body = format_float_g(a, upper=verb == "G")
        else:
            body = _g_with_precision(a, spec.prec, verb == "G", spec.sharp)
    elif verb in "eE":
        body = format(a, f".{6 if spec.prec is None else spec.prec}{verb}")
    elif verb in "fF":
        body = format(a, f".{6 if spec.prec is None else spec.prec}f")
    else:
        return _bad(v, spec)
    sign = "-" if neg else "+" if spec.plus else " " if spec.space else ""
    if spec.zero and not spec.minus and spec.width is not None:
        fill = spec.width - len(sign) - len(body)
        if fill > 0:
            return sign + "0" * fill + body
    return _pad(sign + body, spec)


def _g_with_precision(a: float, prec: int, upper: bool, sharp: bool) -> str:
    if prec == 0:
        prec = 1
    s = format(a, f"{'#' if sharp else ''}.{prec}{'G' if upper else 'g'}")
    return s


def _format_str(s: str, spec: _Spec) -> str:
    verb = spec.verb
    if spec.prec is not None and verb in "vsq":
        s = s[: spec.prec]
    if verb in "vs":
        return _pad(s, spec)
    if verb == "q":
        if spec.sharp and "`" not in s and all(c.isprintable() or c == "\t" for c in s):
            return _pad(f"`{s}`", spec)
        return _pad(go_quote(s), spec)
    if verb in "xX":
        data = s.encode("utf-8")
        if spec.prec is not None:
            data = data[: spec.prec]
        hexed = [format(b, "02x" if verb == "x" else "02X") for b in data]
        if spec.space:
            prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
            return _pad(" ".join(prefix + h for h in hexed), spec)
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp and hexed else ""
        return _pad(prefix + "".join(hexed), spec)
    return _bad(s, spec)
