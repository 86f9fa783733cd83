"""The PromQL evaluator: an expression over a grid of steps, all steps at once.

>>> from vigil.storage.memory import MemoryStorage
>>> engine = Engine()
>>> engine.instant(MemoryStorage(), "1 + 1", 0).to_api_json()
{'resultType': 'scalar', 'result': [0, '2']}

An instant query is a range query with one step. Every node evaluates to a
:mod:`vigil.promql.value` over all steps of its grid; a subquery evaluates its
inner expression over its own grid (absolute multiples of its step) and turns
it into windows. ``__name__`` removal is delayed to the end of the query, as
with Prometheus 3's ``promql-delayed-name-removal``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.model.labels import Labels
from vigil.promql import aggregate as _aggregate
from vigil.promql import binary as _binary
from vigil.promql.errors import (
    BadDataError,
    EvalError,
    QueryTimeoutError,
    TooManySamplesError,
)
from vigil.promql.functions import (
    FUNCTION_IMPLS,
    KEEPS_METRIC_NAME,
    Annotation,
    EvalContext,
)
from vigil.promql.parser import ParseError, ParseOptions, parse_expr
from vigil.promql.parser.ast import (
    AggregateExpr,
    BinaryExpr,
    BinaryOp,
    Call,
    Cardinality,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
    documented_type,
)
from vigil.promql.selectors import (
    matrix_from_series,
    matrix_from_vector,
    select,
    vector_from_series,
)
from vigil.promql.value import (
    IntArray,
    Matrix,
    Scalar,
    String,
    Value,
    Vector,
    merge_same_labels,
    remove_dropped_names,
)
from vigil.storage.interface import Queryable

__all__ = ["Engine", "QueryResult", "format_float", "format_timestamp"]


def format_float(v: float) -> str:
    """A sample value as Prometheus's JSON API writes it (``"1"``, ``"0.1"``, ``"+Inf"``, ``"1e+100"``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        text = repr(float(v))
        mant, _, exp = text.partition("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        if mant.endswith(".0"):
            mant = mant[:-2]
        return f"{mant}e{sign}{digits.zfill(2)}"
    return np.format_float_positional(v, trim="-")


def format_timestamp(t_ms: int) -> float | int:
    """Milliseconds as the API's float seconds (an int when whole)."""
    if t_ms % 1000 == 0:
        return t_ms // 1000
    return t_ms / 1000


@dataclass
class QueryResult:
    """The value of a query over its ``steps`` (one for an instant query), with annotations."""

    value: Value
    steps: IntArray
    is_range: bool = False
    annotations: list[Annotation] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [a.render() for a in self.annotations if a.kind == "warning"]

    @property
    def infos(self) -> list[str]:
        return [a.render() for a in self.annotations if a.kind == "info"]

    @property
    def result_type(self) -> str:
        v = self.value
        if isinstance(v, String):
            return "string"
        if isinstance(v, Scalar):
            return "matrix" if self.is_range else "scalar"
        if isinstance(v, Matrix):
            return "matrix"
        return "matrix" if self.is_range else "vector"

    def to_api_json(self) -> dict[str, Any]:
        """``{"resultType": ..., "result": ...}`` as Prometheus's ``/api/v1/query*`` return it."""
        v = self.value
        steps = self.steps
        rt = self.result_type
        if isinstance(v, String):
            return {"resultType": rt, "result": [format_timestamp(int(steps[0])), v.value]}
        if isinstance(v, Scalar):
            if not self.is_range:
                return {
                    "resultType": rt,
                    "result": [format_timestamp(int(steps[0])), format_float(float(v.values[0]))],
                }
            points = [
                [format_timestamp(int(t)), format_float(float(x))]
                for t, x in zip(steps.tolist(), v.values.tolist(), strict=True)
            ]
            return {"resultType": rt, "result": [{"metric": {}, "values": points}]}
        if isinstance(v, Matrix):
            out: list[dict[str, Any]] = []
            for s in v.series:
                a, b = int(s.first[0]), int(s.last[0])
                points = [
                    [format_timestamp(t), format_float(x)]
                    for t, x in zip(s.ts[a:b].tolist(), s.vs[a:b].tolist(), strict=True)
                ]
                if points:
                    out.append({"metric": s.labels.to_dict(), "values": points})
            return {"resultType": rt, "result": out}
        if not self.is_range:
            t0 = format_timestamp(int(steps[0]))
            res = [
                {"metric": lb.to_dict(), "value": [t0, format_float(float(v.values[i, 0]))]}
                for i, lb in enumerate(v.labels)
                if v.present[i, 0]
            ]
            return {"resultType": rt, "result": res}
        out_m: list[dict[str, Any]] = []
        step_list = steps.tolist()
        for i, lb in enumerate(v.labels):
            p = v.present[i]
            pts = [
                [format_timestamp(t), format_float(x)]
                for t, x, ok in zip(step_list, v.values[i].tolist(), p.tolist(), strict=True)
                if ok
            ]
            if pts:
                out_m.append({"metric": lb.to_dict(), "values": pts})
        return {"resultType": rt, "result": out_m}


class Engine:
    """Evaluates PromQL over a :class:`~vigil.storage.interface.Queryable` given per query."""

    def __init__(
        self,
        *,
        lookback_ms: int = 300_000,
        max_samples: int = 50_000_000,
        timeout_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        default_subquery_step_ms: int = 60_000,
        enable_experimental_functions: bool = True,
    ) -> None:
        self.lookback_ms = lookback_ms
        self.max_samples = max_samples
        self.timeout_s = timeout_s
        self.clock = clock
        self.default_subquery_step_ms = default_subquery_step_ms
        self.enable_experimental_functions = enable_experimental_functions

    def parse(self, expr: str | Expr) -> Expr:
        if not isinstance(expr, str):
            return expr
        try:
            return parse_expr(
                expr, ParseOptions(enable_experimental_functions=self.enable_experimental_functions)
            )
        except ParseError as e:
            raise BadDataError(str(e)) from e

    def instant(self, queryable: Queryable, expr: str | Expr, t_ms: int) -> QueryResult:
        """Evaluate ``expr`` at ``t_ms``."""
        node = self.parse(expr)
        ev = _Evaluator(self, queryable, t_ms, t_ms, 0)
        steps = np.array([t_ms], dtype=np.int64)
        value = ev.eval(node, steps)
        return QueryResult(_finish(value), steps, False, ev.annotations)

    def range(
        self, queryable: Queryable, expr: str | Expr, start_ms: int, end_ms: int, step_ms: int
    ) -> QueryResult:
        """Evaluate ``expr`` at ``start_ms, start_ms + step_ms, ... <= end_ms``."""
        node = self.parse(expr)
        if node.type not in (ValueType.VECTOR, ValueType.SCALAR):
            raise BadDataError(
                f'invalid expression type "{documented_type(node.type)}" for range query, '
                "must be Scalar or instant Vector"
            )
        if step_ms <= 0:
            raise BadDataError("zero or negative query resolution step widths are not accepted")
        if end_ms < start_ms:
            raise BadDataError("end timestamp must not be before start time")
        steps = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        ev = _Evaluator(self, queryable, start_ms, end_ms, step_ms)
        value = _finish(ev.eval(node, steps))
        if isinstance(value, Vector):
            labels = value.labels
            value = value.take(sorted(range(len(labels)), key=lambda i: labels[i]))
        return QueryResult(value, steps, True, ev.annotations)


def _finish(value: Value) -> Value:
    if isinstance(value, Vector):
        return merge_same_labels(remove_dropped_names(value.pruned()))
    return value


def _unwrap(expr: Expr) -> Expr:
    while isinstance(expr, ParenExpr):
        expr = expr.expr
    return expr


class _Evaluator:
    def __init__(
        self, engine: Engine, queryable: Queryable, start_ms: int, end_ms: int, step_ms: int
    ) -> None:
        self.engine = engine
        self.queryable = queryable
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.step_ms = step_ms
        self.lookback = engine.lookback_ms
        self.deadline = engine.clock() + engine.timeout_s
        self.samples = 0
        self.annotations: list[Annotation] = []

    # -- limits -----------------------------------------------------------------------------

    def check_time(self) -> None:
        if self.engine.clock() > self.deadline:
            raise QueryTimeoutError()

    def add_samples(self, n: int) -> None:
        self.samples += n
        if self.samples > self.engine.max_samples:
            raise TooManySamplesError()

    def at_time(self, timestamp: int | None, start_or_end: str | None) -> int | None:
        if start_or_end == "start":
            return self.start_ms
        if start_or_end == "end":
            return self.end_ms
        return timestamp

    # -- dispatch ---------------------------------------------------------------------------

    def eval(self, expr: Expr, steps: IntArray) -> Value:
        self.check_time()
        n = len(steps)
        if isinstance(expr, NumberLiteral):
            return Scalar(np.full(n, expr.value, dtype=np.float64))
        if isinstance(expr, StringLiteral):
            return String(expr.value)
        if isinstance(expr, ParenExpr):
            return self.eval(expr.expr, steps)
        if isinstance(expr, UnaryExpr):
            return self.eval_unary(expr, steps)
        if isinstance(expr, VectorSelector):
            return self.eval_vector_selector(expr, steps)
        if isinstance(expr, MatrixSelector | SubqueryExpr):
            return self.eval_matrix(expr, steps)
        if isinstance(expr, BinaryExpr):
            return self.eval_binary(expr, steps)
        if isinstance(expr, AggregateExpr):
            return self.eval_aggregate(expr, steps)
        if isinstance(expr, Call):
            return self.eval_call(expr, steps)
        raise EvalError(f"unhandled expression of type {type(expr).__name__}")

    def eval_vector(self, expr: Expr, steps: IntArray) -> Vector:
        v = self.eval(expr, steps)
        if not isinstance(v, Vector):
            raise EvalError(f"expected an instant vector, got {type(v).__name__}")
        return v

    # -- selectors --------------------------------------------------------------------------

    def eval_vector_selector(
        self, vs: VectorSelector, steps: IntArray, *, timestamps: bool = False
    ) -> Vector:
        at = self.at_time(vs.timestamp, vs.start_or_end)
        base = np.full(len(steps), at, dtype=np.int64) if at is not None else steps
        ref = base - vs.offset
        mint = int(ref.min()) - self.lookback + 1
        maxt = int(ref.max())
        series = select(self.queryable, vs.matchers, mint, maxt)
        self.check_time()
        vec = vector_from_series(series, ref, self.lookback, timestamps=timestamps)
        self.add_samples(int(vec.present.sum()))
        return vec

    def eval_matrix(self, expr: Expr, steps: IntArray) -> Matrix:
        expr = _unwrap(expr)
        if isinstance(expr, MatrixSelector):
            vs = _unwrap(expr.vector_selector)
            if not isinstance(vs, VectorSelector):
                raise EvalError("range selector over a non-selector")
            at = self.at_time(vs.timestamp, vs.start_or_end)
            base = np.full(len(steps), at, dtype=np.int64) if at is not None else steps
            ends = base - vs.offset
            mint = int(ends.min()) - expr.range + 1
            maxt = int(ends.max())
            series = select(self.queryable, vs.matchers, mint, maxt)
            self.check_time()
            m = matrix_from_series(series, ends, expr.range)
            self.add_samples(sum(len(s.ts) for s in m.series))
            return m
        if isinstance(expr, SubqueryExpr):
            return self.eval_subquery(expr, steps)
        raise EvalError(f"expected a range vector, got {type(expr).__name__}")

    def eval_subquery(self, sq: SubqueryExpr, steps: IntArray) -> Matrix:
        at = self.at_time(sq.timestamp, sq.start_or_end)
        base = np.full(len(steps), at, dtype=np.int64) if at is not None else steps
        ends = base - sq.offset
        step = sq.step or self.engine.default_subquery_step_ms
        lo = int(ends.min()) - sq.range
        first = (lo // step) * step
        if first <= lo:
            first += step
        inner = np.arange(first, int(ends.max()) + 1, step, dtype=np.int64)
        if len(inner) == 0:
            return Matrix([], sq.range, ends)
        value = self.eval(sq.expr, inner)
        if isinstance(value, Scalar):
            value = Vector([Labels()], value.values[None, :], np.ones((1, len(inner)), dtype=bool))
        if not isinstance(value, Vector):
            raise EvalError("subquery over a non-vector expression")
        self.add_samples(int(value.present.sum()))
        return matrix_from_vector(value, inner, ends, sq.range)

    # -- operators --------------------------------------------------------------------------

    def eval_unary(self, expr: UnaryExpr, steps: IntArray) -> Value:
        v = self.eval(expr.expr, steps)
        if expr.op is not BinaryOp.SUB:
            return v
        if isinstance(v, Scalar):
            return Scalar(-v.values)
        if isinstance(v, Vector):
            return merge_same_labels(
                Vector(v.labels, -v.values, v.present, np.ones(len(v.labels), dtype=bool))
            )
        raise EvalError("unary minus over a non-numeric value")

    def eval_binary(self, expr: BinaryExpr, steps: IntArray) -> Value:
        lhs = self.eval(expr.lhs, steps)
        rhs = self.eval(expr.rhs, steps)
        op = expr.op
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return _binary.scalar_binop(op, lhs, rhs)
        if isinstance(lhs, Vector) and isinstance(rhs, Vector):
            matching = expr.matching
            if matching is None:
                card = Cardinality.MANY_TO_MANY if op.is_set_operator else Cardinality.ONE_TO_ONE
                matching = VectorMatching(card=card)
            if op.is_set_operator:
                return _binary.set_binop(op, lhs, rhs, matching)
            return _binary.vector_binop(op, lhs, rhs, matching, return_bool=expr.return_bool)
        if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
            return _binary.vector_scalar_binop(
                op, lhs, rhs, swap=False, return_bool=expr.return_bool
            )
        if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
            return _binary.vector_scalar_binop(
                op, rhs, lhs, swap=True, return_bool=expr.return_bool
            )
        raise EvalError(f"operator {op.value} not allowed between these operand types")

    def eval_aggregate(self, expr: AggregateExpr, steps: IntArray) -> Value:
        param: Scalar | String | None = None
        if expr.param is not None:
            p = self.eval(expr.param, steps)
            if not isinstance(p, Scalar | String):
                raise EvalError("aggregation parameter must be a scalar or a string")
            param = p
        vec = self.eval_vector(expr.expr, steps)

        def warn(text: str) -> None:
            pos = expr.param.pos if expr.param is not None else expr.pos
            self.annotations.append(Annotation("warning", text, pos))

        out = _aggregate.aggregate(expr, vec, param, warn, instant=len(steps) == 1)
        return merge_same_labels(out)

    # -- functions --------------------------------------------------------------------------

    def eval_call(self, call: Call, steps: IntArray) -> Value:
        name = call.func.name
        impl = FUNCTION_IMPLS.get(name)
        if impl is None and call.func.alias_of is not None:
            impl = FUNCTION_IMPLS.get(call.func.alias_of)
        if impl is None:
            raise EvalError(f"function {name}() is not implemented")
        arg_types = call.func.arg_types
        args: list[Value] = []
        for i, a in enumerate(call.args):
            t = arg_types[min(i, len(arg_types) - 1)] if arg_types else ValueType.NONE
            if t is ValueType.MATRIX:
                args.append(self.eval_matrix(a, steps))
            else:
                args.append(self.eval(a, steps))
        ctx = EvalContext(
            steps=steps,
            lookback_ms=self.lookback,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            step_ms=self.step_ms,
            enable_experimental=self.engine.enable_experimental_functions,
            annotations=self.annotations,
            evaluate=lambda e: self.eval(e, steps),
            sample_timestamps=lambda e: self._sample_timestamps(e, steps),
        )
        result = impl(ctx, args, call)
        if isinstance(result, Vector):
            if (
                name not in KEEPS_METRIC_NAME
                and (call.func.alias_of or name) not in KEEPS_METRIC_NAME
            ):
                result = result.dropping_name()
            result = merge_same_labels(result.pruned())
        return result

    def _sample_timestamps(self, expr: Expr, steps: IntArray) -> Value:
        inner = _unwrap(expr)
        if isinstance(inner, VectorSelector):
            return self.eval_vector_selector(inner, steps, timestamps=True)
        return self.eval(expr, steps)
