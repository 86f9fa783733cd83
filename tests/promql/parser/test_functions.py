"""The function table: Prometheus 3.x's functions with their signatures."""

from __future__ import annotations

import pytest

from vigil.promql.parser import (
    FUNCTIONS,
    ParseError,
    ParseOptions,
    ValueType,
    get_function,
    parse_expr,
)

S, V, M, STR = ValueType.SCALAR, ValueType.VECTOR, ValueType.MATRIX, ValueType.STRING
ALL = ParseOptions(enable_experimental_functions=True)

STABLE = {
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
    "holt_winters",
}
EXPERIMENTAL = {
    "double_exponential_smoothing",
    "mad_over_time",
    "sort_by_label",
    "sort_by_label_desc",
    "first_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "integral",
    "histogram_quantiles",
    "info",
    "start",
    "end",
    "range",
    "step",
}


def test_the_table_is_complete_and_flags_experiments() -> None:
    assert set(FUNCTIONS) == STABLE | EXPERIMENTAL
    assert {n for n, f in FUNCTIONS.items() if f.experimental} == EXPERIMENTAL
    assert get_function("rate") is FUNCTIONS["rate"]
    assert get_function("Rate") is None


@pytest.mark.parametrize(
    ("name", "args", "ret", "variadic", "min_args", "max_args"),
    [
        ("rate", (M,), V, 0, 1, 1),
        ("histogram_quantile", (S, V), V, 0, 2, 2),
        ("label_replace", (V, STR, STR, STR, STR), V, 0, 5, 5),
        ("label_join", (V, STR, STR, STR), V, -1, 3, None),
        ("round", (V, S), V, 1, 1, 2),
        ("year", (V,), V, 1, 0, 1),
        ("clamp", (V, S, S), V, 0, 3, 3),
        ("time", (), S, 0, 0, 0),
        ("scalar", (V,), S, 0, 1, 1),
        ("vector", (S,), V, 0, 1, 1),
        ("quantile_over_time", (S, M), V, 0, 2, 2),
        ("predict_linear", (M, S), V, 0, 2, 2),
        ("holt_winters", (M, S, S), V, 0, 3, 3),
        ("sort_by_label", (V, STR), V, -1, 1, None),
        ("histogram_quantiles", (V, STR, S, S), V, 9, 3, 12),
    ],
)
def test_signatures(
    name: str,
    args: tuple[ValueType, ...],
    ret: ValueType,
    variadic: int,
    min_args: int,
    max_args: int | None,
) -> None:
    f = FUNCTIONS[name]
    assert (f.arg_types, f.return_type, f.variadic) == (args, ret, variadic)
    assert (f.min_args, f.max_args) == (min_args, max_args)


def _call_text(name: str, args: tuple[ValueType, ...]) -> str:
    sample = {S: "1", V: "foo", M: "foo[5m]", STR: '"a"'}
    if name == "info":
        return 'info(foo, {a="b"})'
    return f"{name}({', '.join(sample[a] for a in args)})"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_parses_with_its_signature(name: str) -> None:
    f = FUNCTIONS[name]
    expr = parse_expr(_call_text(name, f.arg_types), ALL)
    assert expr.type is f.return_type
    if f.experimental:
        with pytest.raises(ParseError, match=f'function "{name}" is not enabled'):
            parse_expr(_call_text(name, f.arg_types))


@pytest.mark.parametrize(
    "query",
    [
        "day_of_week()",
        "round(foo)",
        'label_join(foo, "dst", ",")',
        'label_join(foo, "dst", ",", "a", "b", "c")',
        'sort_by_label(foo, "a", "b")',
        'histogram_quantiles(foo, "q", 0.1, 0.2, 0.3)',
        "histogram_quantile(0.9, sum by (le) (rate(foo_bucket[5m])))",
        "histogram_fraction(0, 0.1, foo)",
    ],
)
def test_optional_and_variadic_arguments(query: str) -> None:
    parse_expr(query, ALL)
