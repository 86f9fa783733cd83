"""Instant-vector and scalar functions: math, ``clamp``, ``round``, ``sort``, ``absent``...

Element-wise functions compute over the whole ``(series, step)`` array at
once and return the input labels unchanged: the engine marks their rows for
``__name__`` removal. Functions that keep the name (``sort``, ``absent``,
``vector``, ``scalar``) say so in ``KEEPS_METRIC_NAME`` and carry the input's
marks along.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

import numpy as np

from vigil.model.labels import Labels
from vigil.promql.functions import EvalContext, FunctionImpl
from vigil.promql.functions import register as _register
from vigil.promql.functions._windows import quiet
from vigil.promql.functions.rollup import absent_vector
from vigil.promql.parser.ast import Call, Expr, ParenExpr, VectorSelector
from vigil.promql.value import FloatArray, Scalar, Value, Vector

__all__ = ["natural_compare"]


def register(*names: str) -> Callable[[FunctionImpl], FunctionImpl]:
    def deco(fn: FunctionImpl) -> FunctionImpl:
        _register(*names)(quiet(fn))
        return fn

    return deco


def _map(v: Vector, values: FloatArray) -> Vector:
    """``v`` with new values (same rows, same presence)."""
    return Vector(v.labels, values, v.present, v.drop_name)


def _elementwise(name: str, fn: Callable[[FloatArray], FloatArray]) -> None:
    def impl(ctx: EvalContext, args: list[Value], call: Call) -> Value:
        v = ctx.vector_arg(args, 0)
        return _map(v, np.asarray(fn(v.values), dtype=np.float64))

    impl.__name__ = f"_{name}"
    register(name)(impl)


def _sgn(x: FloatArray) -> FloatArray:
    return np.where(x < 0, -1.0, np.where(x > 0, 1.0, x))


_MATH: dict[str, Callable[[FloatArray], FloatArray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "sgn": _sgn,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "deg": lambda x: x * 180 / math.pi,
    "rad": lambda x: x * math.pi / 180,
}

for _name, _fn in _MATH.items():
    _elementwise(_name, _fn)


@register("round")
def _round(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = ctx.vector_arg(args, 0)
    inverse = 1.0 / ctx.scalar_arg(args, 1, 1.0)
    return _map(v, np.floor(v.values * inverse + 0.5) / inverse)


def _clamp(ctx: EvalContext, v: Vector, low: FloatArray, high: FloatArray) -> Vector:
    values = np.maximum(low, np.minimum(high, v.values))
    present = v.present & ~(high < low)[None, :]
    return Vector(v.labels, values, present, v.drop_name).pruned()


@register("clamp")
def _clamp_both(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return _clamp(ctx, ctx.vector_arg(args, 0), ctx.scalar_arg(args, 1), ctx.scalar_arg(args, 2))


@register("clamp_min")
def _clamp_min(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    high = np.full(ctx.n_steps, np.inf)
    return _clamp(ctx, ctx.vector_arg(args, 0), ctx.scalar_arg(args, 1), high)


@register("clamp_max")
def _clamp_max(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    low = np.full(ctx.n_steps, -np.inf)
    return _clamp(ctx, ctx.vector_arg(args, 0), low, ctx.scalar_arg(args, 1))


@register("pi")
def _pi(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return Scalar(np.full(ctx.n_steps, math.pi))


@register("time")
def _time(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return Scalar(ctx.step_seconds)


@register("start")
def _start(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return Scalar(np.full(ctx.n_steps, ctx.start_ms / 1000))


@register("end")
def _end(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return Scalar(np.full(ctx.n_steps, ctx.end_ms / 1000))


@register("step")
def _step(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return Scalar(np.full(ctx.n_steps, ctx.step_ms / 1000))


@register("range")
def _range(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return Scalar(np.full(ctx.n_steps, (ctx.end_ms - ctx.start_ms) / 1000))


@register("vector")
def _vector(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    s = ctx.scalar_arg(args, 0)
    return Vector([Labels()], s.reshape(1, -1).copy(), np.ones((1, ctx.n_steps), dtype=bool))


@register("scalar")
def _scalar(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = ctx.vector_arg(args, 0)
    if not v.labels:
        return Scalar(np.full(ctx.n_steps, np.nan))
    count = v.present.sum(axis=0)
    row = np.argmax(v.present, axis=0)
    picked = v.values[row, np.arange(v.n_steps)]
    return Scalar(np.where(count == 1, picked, np.nan))


def _unwrap(expr: Expr) -> Expr:
    while isinstance(expr, ParenExpr):
        expr = expr.expr
    return expr


@register("timestamp")
def _timestamp(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    arg = _unwrap(call.args[0])
    if isinstance(arg, VectorSelector):
        # The samples' own times, which only the selector knows.
        return ctx.sample_timestamps(arg)
    v = ctx.vector_arg(args, 0)
    times = np.broadcast_to(ctx.step_seconds, v.values.shape).copy()
    return _map(v, times)


@register("absent")
def _absent(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = ctx.vector_arg(args, 0)
    covered = np.zeros(ctx.n_steps, dtype=bool)
    if v.labels:
        covered = np.asarray(v.present.any(axis=0), dtype=bool)
    return absent_vector(ctx, covered, call.args[0])


# -- sorting (meaningful for instant queries; a range result is ordered by labels) --


def _instant_rows(v: Vector) -> Vector:
    return v.pruned()


@register("sort")
def _sort(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = _instant_rows(ctx.vector_arg(args, 0))
    if v.n_steps != 1 or not v.labels:
        return v
    col = v.values[:, 0]
    # Ascending, NaNs last.
    order = np.lexsort((col, np.isnan(col)))
    return v.take(order)


@register("sort_desc")
def _sort_desc(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    v = _instant_rows(ctx.vector_arg(args, 0))
    if v.n_steps != 1 or not v.labels:
        return v
    col = v.values[:, 0]
    order = np.lexsort((-col, np.isnan(col)))
    return v.take(order)


_CHUNK = re.compile(r"\d+|\D+")


def natural_compare(a: str, b: str) -> int:
    """Natural order of two strings: runs of digits compare as numbers."""
    ca = _CHUNK.findall(a)
    cb = _CHUNK.findall(b)
    for x, y in zip(ca, cb, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            ix, iy = int(x), int(y)
            if ix != iy:
                return -1 if ix < iy else 1
            return -1 if len(x) < len(y) else 1
        return -1 if x < y else 1
    if len(ca) != len(cb):
        return -1 if len(ca) < len(cb) else 1
    return 0


def _label_cmp(names: list[str], desc: bool) -> Callable[[Labels, Labels], int]:
    def cmp(a: Labels, b: Labels) -> int:
        for name in names:
            va, vb = a.get(name), b.get(name)
            if va == vb:
                continue
            c = natural_compare(va, vb)
            if c == 0:
                c = -1 if va < vb else 1
            return -c if desc else c
        c = 0 if a == b else (-1 if a < b else 1)
        return -c if desc else c

    return cmp


def _sort_by_label(ctx: EvalContext, args: list[Value], *, desc: bool) -> Value:
    v = _instant_rows(ctx.vector_arg(args, 0))
    names = [ctx.string_arg(args, i) for i in range(1, len(args))]
    if not v.labels:
        return v
    key = functools.cmp_to_key(_label_cmp(names, desc))
    order = sorted(range(v.n_series), key=lambda i: key(v.labels[i]))
    return v.take(order)


@register("sort_by_label")
def _sort_by_label_asc(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return _sort_by_label(ctx, args, desc=False)


@register("sort_by_label_desc")
def _sort_by_label_desc(ctx: EvalContext, args: list[Value], call: Call) -> Value:
    return _sort_by_label(ctx, args, desc=True)
