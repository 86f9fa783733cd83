"""Date functions in UTC, vectorised."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.promql.functions import FUNCTION_IMPLS
from vigil.promql.functions.time import date_field
from vigil.promql.parser import parse_expr
from vigil.promql.parser.ast import Call
from vigil.promql.value import Vector

from ._helpers import ctx, vector


def python_field(name: str, secs: int) -> float:
    d = dt.datetime.fromtimestamp(secs, dt.UTC)
    nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return float(
        {
            "year": d.year,
            "month": d.month,
            "day_of_month": d.day,
            "day_of_year": d.timetuple().tm_yday,
            "day_of_week": (d.weekday() + 1) % 7,
            "days_in_month": (nxt - dt.timedelta(days=1)).day,
            "hour": d.hour,
            "minute": d.minute,
        }[name]
    )


@pytest.mark.parametrize(
    "name",
    [
        "year",
        "month",
        "day_of_month",
        "day_of_year",
        "day_of_week",
        "days_in_month",
        "hour",
        "minute",
    ],
)
def test_matches_python_calendar(name: str) -> None:
    rng = np.random.default_rng(1)
    secs = np.concatenate(
        [rng.integers(-2_000_000_000, 4_000_000_000, size=300), [0, 951_782_400, 951_868_799, -1]]
    )
    got = date_field(name, secs.astype(np.float64) + 0.75)
    # Go's int64(f) truncates toward zero: -1 + 0.75 is second 0.
    want = [python_field(name, math.trunc(float(s) + 0.75)) for s in secs]
    assert got.tolist() == want


def test_non_finite_is_nan() -> None:
    got = date_field("year", np.array([math.nan, math.inf]))
    assert np.isnan(got).all()


def test_without_argument_uses_step_time() -> None:
    expr = parse_expr("year()")
    assert isinstance(expr, Call)
    got = FUNCTION_IMPLS["year"](ctx([0, 1_136_239_445_000]), [], expr)
    assert isinstance(got, Vector)
    assert got.labels == [Labels()]
    assert got.values.tolist() == [[1970.0, 2006.0]]


def test_with_argument_keeps_rows() -> None:
    expr = parse_expr("hour(x)")
    assert isinstance(expr, Call)
    v = vector([(Labels(__name__="x"), [3600.0 * 5 + 1])])
    got = FUNCTION_IMPLS["hour"](ctx([0]), [v], expr)
    assert isinstance(got, Vector)
    assert got.values.tolist() == [[5.0]]
