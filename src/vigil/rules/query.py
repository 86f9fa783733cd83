"""The query callable rules evaluate through, built on the PromQL engine."""

from __future__ import annotations

from vigil.model import Labels
from vigil.promql import Expr
from vigil.promql.engine import Engine
from vigil.promql.errors import EvalError
from vigil.promql.value import Scalar, Vector
from vigil.rules.base import QueryFunc
from vigil.storage.interface import Queryable

__all__ = ["engine_query"]


def engine_query(engine: Engine, queryable: Queryable) -> QueryFunc:
    """``query(expr, t_ms)`` over ``engine`` and ``queryable``, as Prometheus's ``EngineQueryFunc``.

    A vector gives its samples, a scalar one sample with empty labels; any other
    result type is an error.
    """

    def query(expr: str | Expr, t_ms: int) -> list[tuple[Labels, float]]:
        value = engine.instant(queryable, expr, t_ms).value
        if isinstance(value, Vector):
            return [
                (lb, float(value.values[i, 0]))
                for i, lb in enumerate(value.labels)
                if value.present[i, 0]
            ]
        if isinstance(value, Scalar):
            return [(Labels(), float(value.values[0]))]
        raise EvalError("rule result is not a vector or scalar")

    return query
