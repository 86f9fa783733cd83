"""Every PromQL function as one row of data: name, argument types, return type.

The set is Prometheus 3.x's (``promql/parser/functions.go``). Rows marked
experimental are refused unless the parser is asked to allow them
(``ParseOptions(enable_experimental_functions=True)``), like Prometheus's
``--enable-feature=promql-experimental-functions``. ``holt_winters`` is the
Prometheus 2.x name of ``double_exponential_smoothing``; Vigil still accepts
it so that old dashboards and rule files keep working (Prometheus 3 rejects
it as an unknown function).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from vigil.promql.parser.ast import Function, ValueType

__all__ = ["FUNCTIONS", "get_function"]

S = ValueType.SCALAR
V = ValueType.VECTOR
M = ValueType.MATRIX
STR = ValueType.STRING


def _f(
    name: str,
    args: tuple[ValueType, ...],
    ret: ValueType = V,
    variadic: int = 0,
    *,
    experimental: bool = False,
    alias_of: str | None = None,
) -> Function:
    return Function(name, args, ret, variadic, experimental, alias_of)


_ROWS: list[Function] = [
    # Math on instant vectors, element by element.
    *(
        _f(name, (V,))
        for name in (
            "abs",
            "ceil",
            "exp",
            "floor",
            "ln",
            "log2",
            "log10",
            "sgn",
            "sqrt",
            "deg",
            "rad",
            "acos",
            "acosh",
            "asin",
            "asinh",
            "atan",
            "atanh",
            "cos",
            "cosh",
            "sin",
            "sinh",
            "tan",
            "tanh",
        )
    ),
    _f("round", (V, S), variadic=1),
    _f("clamp", (V, S, S)),
    _f("clamp_max", (V, S)),
    _f("clamp_min", (V, S)),
    _f("pi", (), S),
    # Vectors and scalars.
    _f("absent", (V,)),
    _f("scalar", (V,), S),
    _f("vector", (S,)),
    _f("time", (), S),
    _f("timestamp", (V,)),
    _f("sort", (V,)),
    _f("sort_desc", (V,)),
    _f("sort_by_label", (V, STR), variadic=-1, experimental=True),
    _f("sort_by_label_desc", (V, STR), variadic=-1, experimental=True),
    _f("label_replace", (V, STR, STR, STR, STR)),
    _f("label_join", (V, STR, STR, STR), variadic=-1),
    # Date functions: the argument defaults to vector(time()).
    *(
        _f(name, (V,), variadic=1)
        for name in (
            "day_of_month",
            "day_of_week",
            "day_of_year",
            "days_in_month",
            "hour",
            "minute",
            "month",
            "year",
        )
    ),
    # Rates, deltas and other functions of range vectors.
    *(
        _f(name, (M,))
        for name in (
            "rate",
            "irate",
            "increase",
            "delta",
            "idelta",
            "deriv",
            "changes",
            "resets",
            "absent_over_time",
            "present_over_time",
            "avg_over_time",
            "count_over_time",
            "last_over_time",
            "max_over_time",
            "min_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "sum_over_time",
        )
    ),
    _f("quantile_over_time", (S, M)),
    _f("predict_linear", (M, S)),
    _f("double_exponential_smoothing", (M, S, S), experimental=True),
    _f("holt_winters", (M, S, S), alias_of="double_exponential_smoothing"),
    *(
        _f(name, (M,), experimental=True)
        for name in (
            "mad_over_time",
            "first_over_time",
            "ts_of_first_over_time",
            "ts_of_last_over_time",
            "ts_of_max_over_time",
            "ts_of_min_over_time",
        )
    ),
    _f("integral", (M, S), variadic=1, experimental=True),
    # Histograms (classic buckets for histogram_quantile; the others read native histograms).
    _f("histogram_quantile", (S, V)),
    _f("histogram_fraction", (S, S, V)),
    *(
        _f(name, (V,))
        for name in (
            "histogram_avg",
            "histogram_count",
            "histogram_sum",
            "histogram_stddev",
            "histogram_stdvar",
        )
    ),
    _f("histogram_quantiles", (V, STR, S, S), variadic=9, experimental=True),
    # Experimental odds and ends.
    _f("info", (V, V), variadic=1, experimental=True),
    *(_f(name, (), S, experimental=True) for name in ("start", "end", "range", "step")),
]

FUNCTIONS: Mapping[str, Function] = MappingProxyType({f.name: f for f in _ROWS})
"""Every function by name (read-only)."""


def get_function(name: str) -> Function | None:
    """The function called ``name`` (case-sensitive, as in PromQL), or ``None``."""
    return FUNCTIONS.get(name)
