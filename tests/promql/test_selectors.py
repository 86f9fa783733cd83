from __future__ import annotations

import math

import numpy as np
import pytest

from tests.promql._helpers import instant, store
from vigil.model.value import STALE_NAN
from vigil.promql.engine import Engine
from vigil.promql.value import Matrix

M = 60_000


@pytest.fixture
def data():  # type: ignore[no-untyped-def]
    return store(
        {
            'm{a="1"}': [(0, 1.0), (M, 2.0), (2 * M, 3.0)],
            'm{a="2"}': [(0, 10.0), (M, STALE_NAN), (5 * M, 20.0)],
            'n{a="1"}': [(10 * M, 7.0)],
        }
    )


@pytest.mark.parametrize(
    ("query", "t", "want"),
    [
        ("m", 0, {"m{a=1}": 1.0, "m{a=2}": 10.0}),
        ("m", 30_000, {"m{a=1}": 1.0, "m{a=2}": 10.0}),
        # a stale marker ends the series until a later sample
        ("m", M, {"m{a=1}": 2.0}),
        ("m", 5 * M, {"m{a=1}": 3.0, "m{a=2}": 20.0}),
        # lookback: a sample exactly 5m old is out, one 5m-1ms old is in
        ("m", 7 * M - 1, {"m{a=1}": 3.0, "m{a=2}": 20.0}),
        ("m", 7 * M, {"m{a=2}": 20.0}),
        ('m{a="1"}', 2 * M, {"m{a=1}": 3.0}),
        ('m{a!="1"}', 0, {"m{a=2}": 10.0}),
        ('{__name__=~"m|n"}', 10 * M, {"n{a=1}": 7.0}),
        ('{__name__=~"m|n"}', 6 * M, {"m{a=1}": 3.0, "m{a=2}": 20.0}),
        ("m offset 1m", 2 * M, {"m{a=1}": 2.0}),
        ("m offset -1m", 0, {"m{a=1}": 2.0}),
        ("m @ 60", 10 * M, {"m{a=1}": 2.0}),
        ("m @ 120 offset 1m", 100 * M, {"m{a=1}": 2.0}),
        ("n", 9 * M, {}),
    ],
)
def test_vector_selector(data, query: str, t: int, want: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    assert instant(data, query, t) == want


def test_at_start_end_in_range_query(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().range(data, "m @ start()", 0, 2 * M, M).to_api_json()
    assert [p[1] for p in res["result"][0]["values"]] == ["1", "1", "1"]
    res = Engine().range(data, 'm{a="1"} @ end()', 0, 2 * M, M).to_api_json()
    assert [p[1] for p in res["result"][0]["values"]] == ["3", "3", "3"]


def test_matrix_selector_is_left_open_right_closed(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().instant(data, 'm{a="1"}[1m]', 2 * M)
    assert isinstance(res.value, Matrix)
    assert res.to_api_json() == {
        "resultType": "matrix",
        "result": [{"metric": {"__name__": "m", "a": "1"}, "values": [[120, "3"]]}],
    }
    res2 = Engine().instant(data, 'm{a="1"}[2m]', 2 * M).to_api_json()
    assert [p[0] for p in res2["result"][0]["values"]] == [60, 120]


def test_matrix_selector_drops_stale_markers(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().instant(data, 'm{a="2"}[10m]', 6 * M).to_api_json()
    assert res["result"][0]["values"] == [[0, "10"], [300, "20"]]


def test_matrix_windows_per_step(data) -> None:  # type: ignore[no-untyped-def]
    from vigil.promql.engine import _Evaluator
    from vigil.promql.parser import parse_expr

    ev = _Evaluator(Engine(), data, 0, 2 * M, M)
    steps = np.array([0, M, 2 * M], dtype=np.int64)
    m = ev.eval_matrix(parse_expr('m{a="1"}[1m] offset 1m'), steps)
    s = m.series[0]
    assert m.range_ms == M
    assert list(m.window_end) == [-M, 0, M]  # type: ignore[arg-type]
    assert [list(s.ts[a:b]) for a, b in zip(s.first, s.last, strict=True)] == [[], [0], [M]]


def test_nan_samples_are_values_not_staleness() -> None:
    s = store({"x": [(0, math.nan)]})
    got = instant(s, "x", 0)
    assert math.isnan(got["x{}"])
