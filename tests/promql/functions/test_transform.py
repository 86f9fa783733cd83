"""Instant-vector functions: math, clamp, round, sort, scalar/vector, absent."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.promql.functions import FUNCTION_IMPLS
from vigil.promql.functions.transform import natural_compare
from vigil.promql.parser import ParseOptions, parse_expr
from vigil.promql.parser.ast import Call
from vigil.promql.value import Scalar, String, Value, Vector

from ._helpers import ctx, vector


def run(text: str, *args: Value, steps: int = 1) -> Value:
    expr = parse_expr(text, ParseOptions(enable_experimental_functions=True))
    assert isinstance(expr, Call)
    return FUNCTION_IMPLS[expr.func.name](ctx(list(range(steps))), list(args), expr)


V = vector([(Labels(__name__="m", a="1"), [-2.5]), (Labels(__name__="m", a="2"), [0.5])])


@pytest.mark.parametrize(
    ("fn", "want"),
    [
        ("abs", [2.5, 0.5]),
        ("ceil", [-2.0, 1.0]),
        ("floor", [-3.0, 0.0]),
        ("sgn", [-1.0, 1.0]),
        ("exp", [math.exp(-2.5), math.exp(0.5)]),
        ("sqrt", [math.nan, math.sqrt(0.5)]),
        ("ln", [math.nan, math.log(0.5)]),
        ("deg", [-2.5 * 180 / math.pi, 0.5 * 180 / math.pi]),
        ("rad", [-2.5 * math.pi / 180, 0.5 * math.pi / 180]),
        ("asin", [math.nan, math.asin(0.5)]),
    ],
)
def test_math(fn: str, want: list[float]) -> None:
    got = run(f"{fn}(m)", V)
    assert isinstance(got, Vector)
    assert got.labels == V.labels  # the engine drops __name__
    np.testing.assert_allclose(got.values[:, 0], want)


def test_round_ties_up_and_to_nearest() -> None:
    v = vector([(Labels(a="1"), [2.5]), (Labels(a="2"), [-2.5]), (Labels(a="3"), [7.3])])
    got = run("round(m)", v)
    assert isinstance(got, Vector)
    assert got.values[:, 0].tolist() == [3.0, -2.0, 7.0]
    got = run("round(m, 5)", v, Scalar(np.array([5.0])))
    assert isinstance(got, Vector)
    assert got.values[:, 0].tolist() == [5.0, 0.0, 5.0]


def test_clamp_with_max_below_min_is_empty() -> None:
    got = run("clamp(m, 0, 1)", V, Scalar(np.array([0.0])), Scalar(np.array([1.0])))
    assert isinstance(got, Vector)
    assert got.values[:, 0].tolist() == [0.0, 0.5]
    got = run("clamp(m, 2, 1)", V, Scalar(np.array([2.0])), Scalar(np.array([1.0])))
    assert isinstance(got, Vector)
    assert got.n_series == 0


def test_sort_puts_nan_last() -> None:
    v = vector([(Labels(a=str(i)), [x]) for i, x in enumerate([3.0, math.nan, 1.0, 2.0])])
    got = run("sort(m)", v)
    assert isinstance(got, Vector)
    assert [lb["a"] for lb in got.labels] == ["2", "3", "0", "1"]
    got = run("sort_desc(m)", v)
    assert isinstance(got, Vector)
    assert [lb["a"] for lb in got.labels] == ["0", "3", "2", "1"]


def test_sort_by_label_is_natural() -> None:
    v = vector([(Labels(i=x), [1.0]) for x in ["10", "9", "a2", "a10"]])
    got = run('sort_by_label(m, "i")', v, String("i"))
    assert isinstance(got, Vector)
    assert [lb["i"] for lb in got.labels] == ["9", "10", "a2", "a10"]
    got = run('sort_by_label_desc(m, "i")', v, String("i"))
    assert isinstance(got, Vector)
    assert [lb["i"] for lb in got.labels] == ["a10", "a2", "10", "9"]
    assert natural_compare("x1y", "x1y") == 0


def test_scalar_and_vector() -> None:
    v = vector(
        [(Labels(a="1"), [1.0, 2.0, 3.0]), (Labels(a="2"), [5.0, 6.0, 7.0])],
        [[True, True, False], [False, True, False]],
    )
    got = run("scalar(m)", v, steps=3)
    assert isinstance(got, Scalar)
    assert got.values[0] == 1.0
    assert math.isnan(got.values[1])
    assert math.isnan(got.values[2])
    vec = run("vector(1)", Scalar(np.array([4.0, 5.0, 6.0])), steps=3)
    assert isinstance(vec, Vector)
    assert vec.labels == [Labels()]
    assert vec.values.tolist() == [[4.0, 5.0, 6.0]]


def test_time_and_pi() -> None:
    got = run("time()", steps=3)
    assert isinstance(got, Scalar)
    assert got.values.tolist() == [0.0, 0.001, 0.002]
    pi = run("pi()")
    assert isinstance(pi, Scalar)
    assert pi.values[0] == math.pi


def test_absent() -> None:
    v = vector([(Labels(a="1"), [1.0, 1.0])], [[True, False]])
    got = run('absent(nope{job="x", a=~"b"})', v, steps=2)
    assert isinstance(got, Vector)
    assert got.labels == [Labels(job="x")]
    assert got.present.tolist() == [[False, True]]
