"""The PromQL function registry: name -> implementation, shared by the engine and the families.

Calling convention (the engine calls, the families implement)::

    impl(ctx: EvalContext, args: list[Value], call: Call) -> Value

- ``args`` are the evaluated arguments in order, over all steps at once:
  a range-vector argument is a :class:`~vigil.promql.value.Matrix` (with
  ``range_ms`` and ``window_end`` set), an instant vector a
  :class:`~vigil.promql.value.Vector`, a scalar a :class:`Scalar` (float64[nT]),
  a string a :class:`String`. Omitted optional arguments are not in ``args``
  (``round(x)`` has one argument); ``call.args`` has the expressions
  (for ``absent``'s matchers, say).
- Return a Vector (float64[nS, nT] values, bool present mask) or a Scalar.
  Return the input labels *unchanged* (``__name__`` included): the engine
  marks the result's rows for ``__name__`` removal unless the function is in
  :data:`KEEPS_METRIC_NAME` (delayed name removal, Prometheus 3). Functions in
  that set that keep rows one-to-one must carry ``Vector.drop_name`` along
  (``Vector.take``); one that writes ``__name__`` clears the row's mark.
- Raise :class:`vigil.promql.errors.EvalError` for execution errors; report
  annotations with ``ctx.warn`` / ``ctx.info``.
- The engine checks for duplicate label sets after the call; functions need not.

Families register with the decorator::

    @register("abs")
    def _abs(ctx: EvalContext, args: list[Value], call: Call) -> Value: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vigil.model.position import PositionRange
from vigil.promql.parser.ast import Call, Expr
from vigil.promql.value import FloatArray, IntArray, Scalar, String, Value, Vector

__all__ = [
    "FUNCTION_IMPLS",
    "KEEPS_METRIC_NAME",
    "Annotation",
    "EvalContext",
    "FunctionImpl",
    "register",
]


@dataclass(frozen=True, slots=True)
class Annotation:
    """A warning or info attached to a query result, like Prometheus's annotations."""

    kind: str  # "warning" or "info"
    text: str
    pos: PositionRange | None = None

    def render(self) -> str:
        """``PromQL warning: <text> (<line>:<col>)`` as Prometheus prints it."""
        where = ""
        if self.pos is not None:
            where = f" ({self.pos.start})"
        return f"PromQL {self.kind}: {self.text}{where}"


class _Evaluator(Protocol):
    def __call__(self, expr: Expr) -> Value: ...


def _no_eval(expr: Expr) -> Value:
    raise RuntimeError(
        "this EvalContext has no evaluator: sub-expressions are evaluated only in a context "
        "made by the Engine"
    )


@dataclass(slots=True)
class EvalContext:
    """What a function sees of the query being evaluated.

    ``steps`` are the evaluation times (int64 ms, ascending, one for an instant
    query); ``start_ms``/``end_ms``/``step_ms`` describe the query (``step_ms``
    0 for an instant query); ``lookback_ms`` is the lookback delta.
    """

    steps: IntArray
    lookback_ms: int = 300_000
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0
    enable_experimental: bool = True
    annotations: list[Annotation] = field(default_factory=list)
    evaluate: _Evaluator = _no_eval
    """Evaluate a sub-expression over ``steps`` (the engine sets this)."""
    sample_timestamps: _Evaluator = _no_eval
    """For ``timestamp(selector)``: a Vector of the selected samples' own timestamps in seconds."""

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def step_seconds(self) -> FloatArray:
        """The steps as float seconds (what ``time()`` returns)."""
        return self.steps.astype(np.float64) / 1000.0

    def warn(self, text: str, pos: PositionRange | None = None) -> None:
        self.annotations.append(Annotation("warning", text, pos))

    def info(self, text: str, pos: PositionRange | None = None) -> None:
        self.annotations.append(Annotation("info", text, pos))

    def scalar_arg(self, args: list[Value], i: int, default: float | None = None) -> FloatArray:
        """Argument ``i`` as float64[nT] (a Scalar), or ``default`` everywhere when omitted."""
        if i >= len(args):
            if default is None:
                raise IndexError(f"missing argument {i}")
            return np.full(self.n_steps, default, dtype=np.float64)
        a = args[i]
        if not isinstance(a, Scalar):
            raise TypeError(f"argument {i} is {type(a).__name__}, not Scalar")
        return a.values

    @staticmethod
    def string_arg(args: list[Value], i: int) -> str:
        a = args[i]
        if not isinstance(a, String):
            raise TypeError(f"argument {i} is {type(a).__name__}, not String")
        return a.value

    @staticmethod
    def vector_arg(args: list[Value], i: int) -> Vector:
        a = args[i]
        if not isinstance(a, Vector):
            raise TypeError(f"argument {i} is {type(a).__name__}, not Vector")
        return a


FunctionImpl = Callable[[EvalContext, list[Value], Call], Value]

FUNCTION_IMPLS: dict[str, FunctionImpl] = {}
"""Implementation by function name (aliases such as ``holt_winters`` registered under both names)."""

KEEPS_METRIC_NAME: frozenset[str] = frozenset(
    {
        "last_over_time",
        "first_over_time",
        "label_replace",
        "label_join",
        "sort",
        "sort_desc",
        "sort_by_label",
        "sort_by_label_desc",
        "absent",
        "absent_over_time",
        "vector",
        "scalar",
        "info",
    }
)
"""Functions whose result keeps ``__name__`` (all others drop it, delayed, as Prometheus 3 does)."""


def register(*names: str) -> Callable[[FunctionImpl], FunctionImpl]:
    """Register the decorated implementation under ``names``."""

    def deco(fn: FunctionImpl) -> FunctionImpl:
        for name in names:
            FUNCTION_IMPLS[name] = fn
        return fn

    return deco


def _load_families() -> None:
    """Import the family modules (each registers its functions); missing ones are skipped."""
    import importlib

    for mod in ("rollup", "transform", "histogram", "labels", "time"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise


_load_families()
