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
            'r{job="a",i="0"}': [(0, 1.0)],
            'r{job="a",i="1"}': [(0, 2.0)],
            'r{job="a",i="2"}': [(0, 6.0)],
            'r{job="b",i="0"}': [(0, 10.0)],
            'r{job="b",i="1"}': [(0, math.nan)],
        }
    )


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("sum(r)", {"{}": math.nan}),
        ('sum(r{job="a"})', {"{}": 9.0}),
        ("sum by (job) (r)", {"{job=a}": 9.0, "{job=b}": math.nan}),
        ("sum without (i) (r)", {"{job=a}": 9.0, "{job=b}": math.nan}),
        ('sum by (__name__) (r{job="a"})', {"r{}": 9.0}),
        ("avg by (job) (r)", {"{job=a}": 3.0, "{job=b}": math.nan}),
        ("count by (job) (r)", {"{job=a}": 3.0, "{job=b}": 2.0}),
        ("group by (job) (r)", {"{job=a}": 1.0, "{job=b}": 1.0}),
        # NaN loses against numbers in min/max, whichever comes first
        ("max by (job) (r)", {"{job=a}": 6.0, "{job=b}": 10.0}),
        ("min by (job) (r)", {"{job=a}": 1.0, "{job=b}": 10.0}),
        ('stdvar(r{job="a"})', {"{}": 14 / 3}),
        ('stddev(r{job="a"})', {"{}": math.sqrt(14 / 3)}),
        ("stddev by (job) (r)", {"{job=a}": math.sqrt(14 / 3), "{job=b}": math.nan}),
        ('quantile(0.5, r{job="a"})', {"{}": 2.0}),
        ('quantile(0.75, r{job="a"})', {"{}": 4.0}),
        ('quantile(2, r{job="a"})', {"{}": math.inf}),
        ('quantile(-1, r{job="a"})', {"{}": -math.inf}),
        ("topk(1, r)", {"r{i=0,job=b}": 10.0}),
        ("bottomk by (job) (1, r)", {"r{i=0,job=a}": 1.0, "r{i=0,job=b}": 10.0}),
        (
            "topk by (job) (2, r)",
            {
                "r{i=2,job=a}": 6.0,
                "r{i=1,job=a}": 2.0,
                "r{i=0,job=b}": 10.0,
                "r{i=1,job=b}": math.nan,
            },
        ),
        ("topk(0, r)", {}),
        ('count_values("v", r{job="a"})', {"{v=1}": 1.0, "{v=2}": 1.0, "{v=6}": 1.0}),
        (
            'count_values by (job) ("v", r)',
            {
                "{job=a,v=1}": 1.0,
                "{job=a,v=2}": 1.0,
                "{job=a,v=6}": 1.0,
                "{job=b,v=10}": 1.0,
                "{job=b,v=NaN}": 1.0,
            },
        ),
    ],
)
def test_aggregations(data, query: str, want: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    got = instant(data, query, 0)
    assert got.keys() == want.keys()
    for k, v in want.items():
        if math.isnan(v):
            assert math.isnan(got[k]), k
        else:
            assert got[k] == pytest.approx(v), k


def test_topk_instant_order(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().instant(data, 'topk(3, r{job="a"})', 0).to_api_json()
    assert [r["value"][1] for r in res["result"]] == ["6", "2", "1"]
    res = Engine().instant(data, 'bottomk(3, r{job="a"})', 0).to_api_json()
    assert [r["value"][1] for r in res["result"]] == ["1", "2", "6"]


def test_sum_is_compensated() -> None:
    s = store({'x{i="0"}': [(0, 1e100)], 'x{i="1"}': [(0, 1.0)], 'x{i="2"}': [(0, -1e100)]})
    assert instant(s, "sum(x)", 0) == {"{}": 1.0}
    assert instant(s, "avg(x)", 0) == {"{}": pytest.approx(1 / 3)}


def test_avg_switches_to_incremental_mean_on_overflow() -> None:
    s = store({'x{i="0"}': [(0, 1.7e308)], 'x{i="1"}': [(0, 1.7e308)]})
    assert instant(s, "avg(x)", 0) == {"{}": 1.7e308}


def test_aggregation_per_step_membership() -> None:
    s = store({'x{i="0"}': [(0, 1.0), (M, 1.0)], 'x{i="1"}': [(M, 5.0)]})
    assert ranged(s, "sum(x)", 0, M, M) == {"{}": [(0, 1.0), (60, 6.0)]}
    assert ranged(s, "topk(1, x)", 0, M, M) == {"x{i=0}": [(0, 1.0)], "x{i=1}": [(60, 5.0)]}


def test_topk_nan_parameter_fails(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EvalError, match="Parameter value is NaN"):
        instant(data, "topk(NaN, nothing)", 0)


def test_aggregation_keeps_name_drop_mark() -> None:
    s = store({'x{a="1"}': [(0, 1.0)]})
    assert instant(s, "sum by (__name__) (-x)", 0) == {"{}": -1.0}
    assert instant(s, "sum by (__name__) (x)", 0) == {"x{}": 1.0}


@pytest.mark.parametrize("op", ["sum", "avg", "count"])
@pytest.mark.parametrize("special", [False, True])
def test_sum_avg_count_fast_path_equals_the_fold_bit_for_bit(
    op: str, special: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from vigil.model.labels import Labels
    from vigil.promql import aggregate as agg
    from vigil.promql.parser import parse_expr
    from vigil.promql.parser.ast import AggregateExpr
    from vigil.promql.value import Vector

    rng = np.random.default_rng(3)
    n, steps = 60, 40
    values = rng.normal(0, 1e6, (n, steps)) * rng.choice([1e-9, 1.0, 1e12], (n, steps))
    values[rng.random((n, steps)) < 0.1] = -0.0
    values[rng.random((n, steps)) < 0.1] = 0.0
    if special:
        values[rng.random((n, steps)) < 0.05] = math.inf
        values[rng.random((n, steps)) < 0.05] = -math.inf
        values[rng.random((n, steps)) < 0.05] = math.nan
        values[3, :] = 1.7e308  # overflows avg's running sum
    present = rng.random((n, steps)) < 0.8
    labels = [Labels.from_dict({"g": str(i % 7 if i < 50 else 9), "i": str(i)}) for i in range(n)]
    vec = Vector(labels, values, present)
    expr = parse_expr(f"{op} by (g) (x)")
    assert isinstance(expr, AggregateExpr)

    def run() -> Vector:
        return agg.aggregate(expr, vec, None, lambda _: None, instant=False)

    fast = run()
    monkeypatch.setattr(agg, "_sum_avg_count", lambda *_: None)
    fold = run()
    assert fast.labels == fold.labels
    np.testing.assert_array_equal(fast.present, fold.present)
    p = fast.present
    np.testing.assert_array_equal(fast.values[p].view(np.uint64), fold.values[p].view(np.uint64))
