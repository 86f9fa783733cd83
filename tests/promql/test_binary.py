from __future__ import annotations

import math

import pytest

from tests.promql._helpers import instant, ranged, store
from vigil.promql.engine import Engine
from vigil.promql.errors import EvalError

M = 60_000


@pytest.fixture
def data():  # type: ignore[no-untyped-def]
    return store(
        {
            'a{job="x",i="0"}': [(0, 1.0)],
            'a{job="x",i="1"}': [(0, 2.0)],
            'a{job="y",i="0"}': [(0, 3.0)],
            'b{job="x",i="0"}': [(0, 10.0)],
            'b{job="x",i="1"}': [(0, 20.0)],
            'c{job="x"}': [(0, 100.0)],
            'c{job="y"}': [(0, 200.0)],
            "z{}": [(0, 0.0)],
        }
    )


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("a + b", {"{i=0,job=x}": 11.0, "{i=1,job=x}": 22.0}),
        ("a * 2", {"{i=0,job=x}": 2.0, "{i=1,job=x}": 4.0, "{i=0,job=y}": 6.0}),
        ("2 - a", {"{i=0,job=x}": 1.0, "{i=1,job=x}": 0.0, "{i=0,job=y}": -1.0}),
        ("a > 1", {"a{i=1,job=x}": 2.0, "a{i=0,job=y}": 3.0}),
        ("1 < a", {"a{i=1,job=x}": 2.0, "a{i=0,job=y}": 3.0}),
        ("a > bool 1", {"{i=0,job=x}": 0.0, "{i=1,job=x}": 1.0, "{i=0,job=y}": 1.0}),
        ("a < b", {"a{i=0,job=x}": 1.0, "a{i=1,job=x}": 2.0}),
        ("b == bool a", {"{i=0,job=x}": 0.0, "{i=1,job=x}": 0.0}),
        ("a + on(i, job) b", {"{i=0,job=x}": 11.0, "{i=1,job=x}": 22.0}),
        (
            "a / ignoring(i) group_left c",
            {"{i=0,job=x}": 0.01, "{i=1,job=x}": 0.02, "{i=0,job=y}": 0.015},
        ),
        (
            "c / on(job) group_right a",
            {"{i=0,job=x}": 100.0, "{i=1,job=x}": 50.0, "{i=0,job=y}": 200 / 3},
        ),
        ("a and b", {"a{i=0,job=x}": 1.0, "a{i=1,job=x}": 2.0}),
        ("a unless b", {"a{i=0,job=y}": 3.0}),
        ("a and on(job) c", {"a{i=0,job=x}": 1.0, "a{i=1,job=x}": 2.0, "a{i=0,job=y}": 3.0}),
        ("b or a", {"b{i=0,job=x}": 10.0, "b{i=1,job=x}": 20.0, "a{i=0,job=y}": 3.0}),
        ("a / z", {}),
        (
            "a / on() group_left z",
            {"{i=0,job=x}": math.inf, "{i=1,job=x}": math.inf, "{i=0,job=y}": math.inf},
        ),
        ("a % 2", {"{i=0,job=x}": 1.0, "{i=1,job=x}": 0.0, "{i=0,job=y}": 1.0}),
        ("-a % 2", {"{i=0,job=x}": -1.0, "{i=1,job=x}": -0.0, "{i=0,job=y}": -1.0}),
        ("a ^ 2", {"{i=0,job=x}": 1.0, "{i=1,job=x}": 4.0, "{i=0,job=y}": 9.0}),
    ],
)
def test_vector_ops(data, query: str, want: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    got = instant(data, query, 0)
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v), k


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("1 + 2 * 3", "7"),
        ("2 ^ 3 ^ 2", "512"),
        ("-2 ^ 2", "-4"),
        ("1 / 0", "+Inf"),
        ("0 / 0", "NaN"),
        ("5 % 3", "2"),
        ("1 == bool 1", "1"),
        ("1 > bool 2", "0"),
        ("atan2(1, 1)" if False else "1 atan2 1", "0.7853981633974483"),
    ],
)
def test_scalar_ops(query: str, want: str) -> None:
    res = Engine().instant(store({}), query, 0).to_api_json()
    assert res == {"resultType": "scalar", "result": [0, want]}


def test_many_to_many_error(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EvalError, match="found duplicate series for the match group"):
        instant(data, "c + on(job) a", 0)
    with pytest.raises(EvalError, match="many-to-one matching must be explicit"):
        instant(data, "a + on(job) c", 0)


def test_group_left_must_give_unique_results(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EvalError, match="grouping labels must ensure unique matches"):
        instant(data, '{i="0",job="x"} + on(job) group_left c', 0)


def test_duplicate_check_is_per_step() -> None:
    # the two rhs series never overlap in time, so matching them one at a time is fine
    s = store(
        {
            'l{k="1"}': [(0, 1.0), (M, 1.0)],
            'r{k="1",v="a"}': [(0, 10.0)],
            'r{k="1",v="b"}': [(6 * M, 20.0)],
        }
    )
    got = ranged(s, "l + on(k) r", 0, 6 * M, 6 * M)
    assert got == {"{k=1}": [(0, 11.0)]}


def test_delayed_name_removal_merges_or_sides() -> None:
    s = store({"metric_a": [(0, 1.0)], "metric_b": [(0, 3.0), (10 * M, 4.0)]})
    assert ranged(s, "-metric_a or -metric_b", 0, 20 * M, 10 * M) == {
        "{}": [(0, -1.0), (600, -4.0)]
    }


def test_duplicate_labelset_after_name_drop() -> None:
    s = store({'x{a="1"}': [(0, 1.0)], 'y{a="1"}': [(0, 2.0)]})
    with pytest.raises(EvalError, match="vector cannot contain metrics with the same labelset"):
        instant(s, '{a="1"} * 2', 0)
    assert instant(s, '{a="1"} > 0', 0) == {"x{a=1}": 1.0, "y{a=1}": 2.0}
