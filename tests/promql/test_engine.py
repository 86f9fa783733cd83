from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.promql._helpers import instant, store
from vigil.promql.engine import Engine, format_float
from vigil.promql.errors import (
    BadDataError,
    EvalError,
    QueryTimeoutError,
    TooManySamplesError,
    error_type,
)
from vigil.promql.value import Scalar, String, Vector

M = 60_000


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        (1e100, "1e+100"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-07"),
        (0.000001, "0.000001"),
        (0.0, "0"),
        (123456.789, "123456.789"),
    ],
)
def test_format_float(v: float, text: str) -> None:
    assert format_float(v) == text


def test_literals() -> None:
    e, s = Engine(), store({})
    assert e.instant(s, '"hello"', 5000).to_api_json() == {
        "resultType": "string",
        "result": [5, "hello"],
    }
    assert e.instant(s, "-(1.5)", 1500).to_api_json() == {
        "resultType": "scalar",
        "result": [1.5, "-1.5"],
    }
    r = e.range(s, "2", 0, 2 * M, M)
    assert isinstance(r.value, Scalar)
    assert r.to_api_json() == {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[0, "2"], [60, "2"], [120, "2"]]}],
    }
    assert isinstance(e.instant(s, '"x"', 0).value, String)


def test_range_query_shape_and_order() -> None:
    s = store({'m{a="2"}': [(0, 1.0)], 'm{a="1"}': [(0, 2.0), (6 * M, 3.0)]})
    res = Engine().range(s, "m", 0, 10 * M, 5 * M).to_api_json()
    assert res == {
        "resultType": "matrix",
        "result": [
            {"metric": {"__name__": "m", "a": "1"}, "values": [[0, "2"], [600, "3"]]},
            {"metric": {"__name__": "m", "a": "2"}, "values": [[0, "1"]]},
        ],
    }


def test_range_query_rejects_matrix_and_bad_steps() -> None:
    e, s = Engine(), store({})
    with pytest.raises(BadDataError, match='invalid expression type "range vector"'):
        e.range(s, "m[5m]", 0, M, M)
    with pytest.raises(BadDataError):
        e.range(s, "1", 0, M, 0)


def test_parse_errors_are_bad_data() -> None:
    with pytest.raises(BadDataError) as exc:
        Engine().instant(store({}), "sum(", 0)
    assert error_type(exc.value) == "bad_data"
    assert "parse error" in str(exc.value)


def test_error_types() -> None:
    assert error_type(EvalError("x")) == "execution"
    assert error_type(TooManySamplesError()) == "execution"
    assert error_type(QueryTimeoutError()) == "timeout"
    assert str(TooManySamplesError()) == (
        "query processing would load too many samples into memory in query execution"
    )


def test_sample_limit() -> None:
    s = store({f'm{{i="{i}"}}': [(t * 15_000, 1.0) for t in range(20)] for i in range(10)})
    assert len(instant(s, "m", 0, max_samples=10)) == 10
    with pytest.raises(TooManySamplesError):
        Engine(max_samples=10).range(s, "m", 0, 15_000, 15_000)
    with pytest.raises(TooManySamplesError):
        Engine(max_samples=100).instant(s, "m[5m]", 300_000)


def test_timeout() -> None:
    ticks = itertools.count(0.0, 1.0)
    engine = Engine(timeout_s=3.0, clock=lambda: next(ticks))
    s = store({"m": [(0, 1.0)]})
    with pytest.raises(QueryTimeoutError, match="query timed out in expression evaluation"):
        engine.instant(s, "m + m + m + m + m", 0)


@pytest.mark.parametrize(
    ("query", "t", "want"),
    [
        # subquery steps are absolute multiples of the step: at 150s with [2m:1m] -> 60s, 120s
        ("count_over_time(m[2m:1m])", 150_000, {"{}": 2.0}),
        ("count_over_time(m[2m:1m])", 120_000, {"{}": 2.0}),
        ("sum_over_time(m[3m:1m])", 180_000, {"{}": 1.0 + 2.0 + 3.0}),
        ("sum_over_time(m[3m:1m] offset 1m)", 240_000, {"{}": 1.0 + 2.0 + 3.0}),
        ("sum_over_time(m[2m:1m] @ 120)", 999_000, {"{}": 1.0 + 2.0}),
        ("max_over_time((m * 2)[10m:30s])", 600_000, {"{}": 8.0}),
        ("last_over_time(m[5m:1m])", 240_000, {"m{}": 4.0}),
    ],
)
def test_subqueries(query: str, t: int, want: dict[str, float]) -> None:
    s = store({"m": [(0, 0.0), (M, 1.0), (2 * M, 2.0), (3 * M, 3.0), (4 * M, 4.0)]})
    assert instant(s, query, t) == want


def test_instant_and_range_agree() -> None:
    s = store(
        {f'c{{i="{i}"}}': [(t * 15_000, float(t * (i + 1))) for t in range(100)] for i in range(3)}
    )
    q = "sum by (i) (rate(c[2m])) / on(i) group_left max by (i) (c) > bool 0"
    full = Engine().range(s, q, 0, 1_400_000, 100_000)
    assert isinstance(full.value, Vector)
    for j, t in enumerate(full.steps.tolist()):
        one = Engine().instant(s, q, t).value
        assert isinstance(one, Vector)
        got = {lb: float(one.values[k, 0]) for k, lb in enumerate(one.labels) if one.present[k, 0]}
        want = {
            lb: float(full.value.values[k, j])
            for k, lb in enumerate(full.value.labels)
            if full.value.present[k, j]
        }
        assert got == want, t


def test_function_drops_name_delayed() -> None:
    s = store({'metric_total{env="1"}': [(0, 0.0), (5 * M, 60.0), (10 * M, 120.0)]})
    assert instant(
        s, 'label_replace(rate(metric_total[10m]), "n", "$1", "__name__", "(.+)")', 10 * M
    ) == {"{env=1,n=metric_total}": pytest.approx(0.2)}
    assert instant(s, "last_over_time(metric_total[10m])", 10 * M) == {"metric_total{env=1}": 120.0}


def test_vectorised_over_many_steps() -> None:
    s = store({"m": [(t * 15_000, float(t)) for t in range(5761)]})
    r = Engine().range(s, "m * 2", 0, 86_400_000, 15_000)
    assert isinstance(r.value, Vector)
    assert r.value.values.shape == (1, 5761)
    np.testing.assert_array_equal(r.value.values[0], np.arange(5761) * 2.0)


def test_unknown_function_errors_cleanly() -> None:
    with pytest.raises(BadDataError):
        Engine().instant(store({}), "nope(1)", 0)
