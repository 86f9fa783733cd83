"""The conformance runner's own rules: script parsing, float comparison, result judging."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.promql import promqltest as pt
from vigil.model.labels import Labels
from vigil.model.value import STALE_NAN
from vigil.promql.value import Matrix, MatrixSeries, Scalar, String, Vector

SCRIPT = """
# comment
load 5m
    http_requests{job="api", instance="0"}  0+10x3
    http_requests{job="api", instance="1"}  0+20x3 _ stale

eval instant at 10m http_requests
    http_requests{job="api", instance="0"} 20
    http_requests{job="api", instance="1"} 40

clear
eval range from 0 to 10m step 5m sum(x)
    {} 1 _ 3

eval instant at 0 1
    1

eval instant at 0 "a"
    expect string "a"

eval instant at 0 foo(
    expect fail msg: boom

eval_ordered instant at 0 sort(x)
    x 1
# empty
"""


def test_parse_script() -> None:
    cmds = pt.parse_script(SCRIPT, "t.test")
    kinds = [type(c).__name__ for c in cmds]
    assert kinds == ["Load", "Eval", "Clear", "Eval", "Eval", "Eval", "Eval", "Eval"]
    load = cmds[0]
    assert isinstance(load, pt.Load)
    assert load.interval_ms == 300_000
    assert load.series[1][1][-1] is not None
    assert math.isnan(load.series[1][1][-1])
    ev = cmds[1]
    assert isinstance(ev, pt.Eval)
    assert (ev.key, ev.start_ms, len(ev.expected)) == ("t.test:7", 600_000, 2)
    rng = cmds[3]
    assert isinstance(rng, pt.Eval)
    assert (rng.kind, rng.step_ms, rng.expected[0].values) == ("range", 300_000, [1.0, None, 3.0])
    assert isinstance(cmds[4], pt.Eval)
    assert cmds[4].scalar == 1.0
    assert isinstance(cmds[5], pt.Eval)
    assert cmds[5].string == "a"
    assert isinstance(cmds[6], pt.Eval)
    assert (cmds[6].fail, cmds[6].fail_msg) == (True, "boom")
    assert isinstance(cmds[7], pt.Eval)
    assert cmds[7].ordered


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1.0, 1.0, True),
        (1.0, 1.0 + 1e-9, True),
        (1.0, 1.001, False),
        (0.0, 1e-300, False),
        (math.nan, math.nan, True),
        (STALE_NAN, STALE_NAN, True),
        (STALE_NAN, math.nan, False),
        (math.inf, math.inf, True),
        (math.inf, -math.inf, False),
    ],
)
def test_almost_equal(a: float, b: float, equal: bool) -> None:
    assert pt.almost_equal(a, b) is equal


def _ev(text: str) -> pt.Eval:
    cmds = [c for c in pt.parse_script(text, "t.test") if isinstance(c, pt.Eval)]
    return cmds[0]


def _vec(rows: list[tuple[Labels, list[float | None]]]) -> Vector:
    values = np.array([[np.nan if v is None else v for v in r] for _, r in rows], dtype=float)
    present = np.array([[v is not None for v in r] for _, r in rows], dtype=bool)
    return Vector([lb for lb, _ in rows], values, present)


def test_judge_instant_vector_any_order_and_name_dropping() -> None:
    ev = _ev('eval instant at 0 x\n    {a="1"} 1\n    {a="2"} 2\n')
    v = _vec([(Labels(__name__="x", a="2"), [2.0]), (Labels(__name__="x", a="1"), [1.0])])
    v.drop_name = np.array([True, True])
    pt.judge(ev, v)
    with pytest.raises(pt.MismatchError, match="unexpected series"):
        pt.judge(ev, _vec([(Labels(a="3"), [1.0]), (Labels(a="1"), [1.0])]))
    with pytest.raises(pt.MismatchError, match="got 5"):
        pt.judge(ev, _vec([(Labels(a="2"), [5.0]), (Labels(a="1"), [1.0])]))


def test_judge_ordered_and_empty() -> None:
    ev = _ev('eval_ordered instant at 0 x\n    {a="1"} 1\n    {a="2"} 2\n')
    with pytest.raises(pt.MismatchError, match="order"):
        pt.judge(ev, _vec([(Labels(a="2"), [2.0]), (Labels(a="1"), [1.0])]))
    empty = _ev("eval instant at 0 x\n")
    pt.judge(empty, _vec([(Labels(a="2"), [None])]))  # rows without a present step don't count
    pt.judge(empty, Vector.empty(1))


def test_judge_range_scalar_and_string() -> None:
    ev = _ev("eval range from 0 to 2m step 1m 1\n    {} 1 1 1\n")
    pt.judge(ev, Scalar(np.ones(3)))
    short = _ev("eval range from 0 to 2m step 1m x\n    {} 1 _\n")
    pt.judge(short, _vec([(Labels(), [1.0, None, None])]))
    with pytest.raises(pt.MismatchError, match="points differ"):
        pt.judge(short, _vec([(Labels(), [1.0, None, 2.0])]))
    unsorted = _ev('eval range from 0 to 1m step 1m x\n    {a="1"} 1 1\n    {a="2"} 1 1\n')
    with pytest.raises(pt.MismatchError, match="sorted"):
        pt.judge(unsorted, _vec([(Labels(a="2"), [1.0, 1.0]), (Labels(a="1"), [1.0, 1.0])]))
    pt.judge(_ev("eval instant at 0 2\n    2\n"), Scalar(np.array([2.0])))
    with pytest.raises(pt.MismatchError):
        pt.judge(_ev("eval instant at 0 2\n    2\n"), _vec([(Labels(), [2.0])]))
    pt.judge(_ev('eval instant at 0 "a"\n    expect string "a"\n'), String("a"))


def test_judge_range_vector() -> None:
    ev = _ev(
        "eval instant at 1m x[1m]\n    expect range vector from 30s to 1m step 30s\n    x 1 2\n"
    )
    s = MatrixSeries(
        Labels(__name__="x"),
        np.array([0, 30_000, 60_000]),
        np.array([0.0, 1.0, 2.0]),
        np.array([1]),
        np.array([3]),
    )
    pt.judge(ev, Matrix([s]))
    s.first = np.array([0])
    with pytest.raises(pt.MismatchError, match="points differ"):
        pt.judge(ev, Matrix([s]))
