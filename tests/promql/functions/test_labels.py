"""label_replace and label_join."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.promql.errors import EvalError
from vigil.promql.functions import FUNCTION_IMPLS
from vigil.promql.functions.labels import expand_template
from vigil.promql.parser import parse_expr
from vigil.promql.parser.ast import Call
from vigil.promql.value import String, Value, Vector

from ._helpers import ctx, vector


def run(text: str, v: Vector, steps: int = 1) -> Vector:
    expr = parse_expr(text)
    assert isinstance(expr, Call)
    args: list[Value] = [v]
    for a in expr.args[1:]:
        args.append(String(str(getattr(a, "value", ""))))
    out = FUNCTION_IMPLS[expr.func.name](ctx(list(range(steps))), args, expr)
    assert isinstance(out, Vector)
    return out


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("$1", "a"),
        ("${1}x", "ax"),
        ("$1x", ""),  # Go reads the name "1x", which is no group
        ("$$1", "$1"),
        ("$name-$2", "a-b"),
        ("${name}", "a"),
        ("$", "$"),
        ("${1", "${1"),
        ("$9", ""),
    ],
)
def test_expand_like_go(template: str, want: str) -> None:
    groups: dict[int | str, str | None] = {0: "ab", 1: "a", 2: "b", "name": "a"}
    assert expand_template(template, groups) == want


def test_label_replace() -> None:
    v = vector([(Labels(__name__="m", src="source-value-10"), [1.0])])
    got = run('label_replace(m, "dst", "value-$1", "src", "source-value-(.*)")', v)
    assert got.labels == [Labels(__name__="m", src="source-value-10", dst="value-10")]
    # No match: unchanged. Empty replacement: label removed.
    got = run('label_replace(m, "dst", "x", "src", "nomatch")', v)
    assert got.labels == v.labels
    got = run('label_replace(m, "src", "", "src", ".*")', v)
    assert got.labels == [Labels(__name__="m")]


def test_label_replace_errors() -> None:
    v = vector([(Labels(src="a"), [1.0])])
    with pytest.raises(EvalError, match="invalid regular expression"):
        run('label_replace(m, "dst", "$1", "src", "(.*")', v)
    with pytest.raises(EvalError, match="invalid destination label name"):
        run('label_replace(m, "\\xff", "", "src", "(.*)")', v)


def test_label_replace_merges_or_fails_on_duplicates() -> None:
    v = vector(
        [(Labels(i="1"), [1.0, 0.0]), (Labels(i="2"), [0.0, 2.0])], [[True, False], [False, True]]
    )
    got = run('label_replace(m, "i", "", "i", ".*")', v, steps=2)
    assert got.labels == [Labels()]
    assert got.values.tolist() == [[1.0, 2.0]]
    v.present[:] = True
    with pytest.raises(EvalError, match="same labelset"):
        run('label_replace(m, "i", "", "i", ".*")', v, steps=2)


def test_label_join() -> None:
    v = vector([(Labels(__name__="m", a="x", b="y"), [1.0])])
    got = run('label_join(m, "dst", "-", "a", "b", "missing")', v)
    assert got.labels == [Labels(__name__="m", a="x", b="y", dst="x-y-")]


def test_label_replace_of_name_clears_drop_mark() -> None:
    v = vector([(Labels(__name__="m"), [1.0])])
    v.drop_name = np.array([True])
    got = run('label_replace(m, "__name__", "n", "__name__", ".*")', v)
    assert got.drop_name is not None
    assert not got.drop_name[0]
