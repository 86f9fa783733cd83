"""histogram_quantile and histogram_fraction over classic buckets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.promql.functions import FUNCTION_IMPLS, EvalContext
from vigil.promql.functions.histogram import bucket_quantile, go_float, parse_le
from vigil.promql.parser import parse_expr
from vigil.promql.parser.ast import Call
from vigil.promql.value import Scalar, Vector

from ._helpers import ctx, vector

INF = math.inf


def q1(q: float, les: list[float], counts: list[float]) -> float:
    res, _ = bucket_quantile(
        np.array([q]), np.array(les), np.array(counts, dtype=np.float64).reshape(-1, 1)
    )
    return float(res[0])


def test_interpolates_inside_bucket() -> None:
    les = [0.1, 0.2, 1.0, INF]
    counts = [10.0, 20.0, 30.0, 30.0]
    assert q1(0.5, les, counts) == pytest.approx(0.15)
    assert q1(0.25, les, counts) == pytest.approx(0.075)  # lower edge 0 in the first bucket
    assert q1(1.0, les, counts) == pytest.approx(1.0)


def test_special_cases() -> None:
    les = [1.0, INF]
    assert q1(0.99, les, [1.0, 10.0]) == 1.0  # +Inf bucket: highest finite bound
    assert math.isnan(q1(0.5, [1.0, 2.0], [1.0, 2.0]))  # no +Inf bucket
    assert math.isnan(q1(0.5, les, [0.0, 0.0]))  # no observations
    assert q1(-1, les, [1.0, 2.0]) == -INF
    assert q1(2, les, [1.0, 2.0]) == INF
    assert math.isnan(q1(math.nan, les, [1.0, 2.0]))
    assert q1(0.1, [-1.0, INF], [5.0, 10.0]) == -1.0  # non-positive lowest bound


def test_monotonicity_fix_is_reported() -> None:
    res, forced = bucket_quantile(
        np.array([0.5]),
        np.array([0.1, 1, 10, 100, 1000, INF]),
        np.array([20.0, 10, 50, 40, 90, 80]).reshape(-1, 1),
    )
    assert float(res[0]) == pytest.approx(8.5)
    assert bool(forced[0])


def test_parse_le() -> None:
    assert parse_le("+Inf") == INF
    assert parse_le(".2") == 0.2
    assert parse_le("1e0") == 1.0
    assert parse_le("") is None
    assert parse_le("Hello World") is None
    assert go_float(0.5) == "0.5"
    assert go_float(math.nan) == "NaN"


def hist_vector() -> Vector:
    rows = [
        (Labels(__name__="h_bucket", le=le, job="a"), [c, c * 2])
        for le, c in [("0.1", 10.0), ("0.2", 20.0), ("1", 30.0), ("+Inf", 30.0)]
    ]
    rows.append((Labels(__name__="h_bucket", job="a"), [1.0, 1.0]))  # no le: warned, ignored
    return vector(rows, [[True, True]] * 4 + [[True, True]])


def test_histogram_quantile_over_steps() -> None:
    expr = parse_expr("histogram_quantile(0.5, h_bucket)")
    assert isinstance(expr, Call)
    c: EvalContext = ctx([0, 1])
    got = FUNCTION_IMPLS["histogram_quantile"](
        c, [Scalar(np.array([0.5, 0.75])), hist_vector()], expr
    )
    assert isinstance(got, Vector)
    assert got.labels == [Labels(__name__="h_bucket", job="a")]
    np.testing.assert_allclose(got.values[0], [0.15, 0.4])
    assert any('bucket label "le" is missing' in a.text for a in c.annotations)


def test_histogram_fraction() -> None:
    expr = parse_expr("histogram_fraction(0, 0.15, h_bucket)")
    assert isinstance(expr, Call)
    got = FUNCTION_IMPLS["histogram_fraction"](
        ctx([0, 1]), [Scalar(np.zeros(2)), Scalar(np.full(2, 0.15)), hist_vector()], expr
    )
    assert isinstance(got, Vector)
    np.testing.assert_allclose(got.values[0], [0.5, 0.5])
