"""The printer: canonical text like Prometheus's String(), and parse -> print -> parse round trips."""

from __future__ import annotations

import random

import pytest

from tests.promql.parser._shape import key
from vigil.promql.parser import (
    FUNCTIONS,
    AggregateExpr,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParseOptions,
    ValueType,
    VectorSelector,
    parse_expr,
    to_string,
)

EXPERIMENTAL = ParseOptions(enable_experimental_functions=True)


@pytest.mark.parametrize(
    ("query", "printed"),
    [
        ("sum(rate(x[5m]))by(job)", "sum by (job) (rate(x[5m]))"),
        ("sum without(a,b)(x)", "sum without (a, b) (x)"),
        ("sum by () (x)", "sum(x)"),
        ("sum without () (x)", "sum without () (x)"),
        ("topk(3,x)", "topk(3, x)"),
        ('count_values("v",x)', 'count_values("v", x)'),
        ("a+b", "a + b"),
        ("a>bool b", "a > bool b"),
        ("a+on(x)b", "a + on (x) b"),
        ("a+on()b", "a + on () b"),
        ("a+ignoring()b", "a + b"),
        ("a*on(x)group_left b", "a * on (x) group_left () b"),
        ("a*ignoring(x)group_right(y,z)b", "a * ignoring (x) group_right (y, z) b"),
        ("a and on(x) b", "a and on (x) b"),
        ('foo{b="2",a="1"}', 'foo{a="1",b="2"}'),  # matchers sorted
        ('{__name__="foo",a="1"}', '{__name__="foo",a="1"}'),  # as upstream: no name moved out
        ('{"foo"}', '{__name__="foo"}'),
        ("Inf ^ 2", "Inf ^ 2"),  # not "+Inf ^ 2", which would read as +(Inf ^ 2)
        ("-(Inf ^ 2)", "-(Inf ^ 2)"),
        ("-Inf ^ 2", "-Inf ^ 2"),
        ('{__name__=~"foo.*"}', '{__name__=~"foo.*"}'),
        ('{"a.b"="c"}', '{"a.b"="c"}'),
        ('sum by ("a.b") (x)', 'sum by ("a.b") (x)'),
        ('foo{a="x\\"y\\\\z\\n"}', 'foo{a="x\\"y\\\\z\\n"}'),
        ("foo{a='single'}", 'foo{a="single"}'),
        ("foo{a=`raw\\n`}", 'foo{a="raw\\\\n"}'),
        ('"\\xff\\x00\\u00e9"', '"\\xff\\x00é"'),
        ('"\\u00a0"', '"\\u00a0"'),
        ("foo offset 5m", "foo offset 5m"),
        ("foo offset -90m", "foo offset -1h30m"),
        ("foo offset 1.5", "foo offset 1s500ms"),
        ("foo offset 14d", "foo offset 2w"),
        ("foo offset 90d", "foo offset 90d"),
        ("foo offset 365d", "foo offset 1y"),
        ("foo @ 10", "foo @ 10.000"),
        ("foo @ -1.5", "foo @ -1.500"),
        ("foo @ start()", "foo @ start()"),
        ("foo offset 1m @ end()", "foo @ end() offset 1m"),
        ("foo[5m] offset 1m @ 3", "foo[5m] @ 3.000 offset 1m"),
        ("foo[300]", "foo[5m]"),
        ("foo[1h30m:]", "foo[1h30m:]"),
        ("foo[10m:0s]", "foo[10m:]"),
        ("foo[10m:1m] @ 5 offset 1d", "foo[10m:1m] @ 5.000 offset 1d"),
        ("rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]"),
        ("-foo", "-foo"),
        ("- - foo", "--foo"),
        ("-(1)", "-(1)"),
        ("+foo", "+foo"),
        ("-2^2", "-2 ^ 2"),
        ("2^-2", "2 ^ -2"),
        ("1 - -1", "1 - -1"),
        ("(1 + 2) * 3", "(1 + 2) * 3"),
        ("0x1f", "31"),
        ("1e3", "1000"),
        ("1e21", "1000000000000000000000"),
        ("1.5e-7", "0.00000015"),
        ("-0.0", "-0"),
        ("Inf", "+Inf"),
        ("-inf", "-Inf"),
        ("NaN", "NaN"),
        ("5m", "5m"),
        ("-5m", "-5m"),
        ("1h + 30m", "1h + 30m"),
        ("time()", "time()"),
        ("round(x, 5)", "round(x, 5)"),
        ('label_join(x, "a", ",", "b", "c")', 'label_join(x, "a", ",", "b", "c")'),
        ("x AND y OR z", "x and y or z"),
        ("SUM(x)", "sum(x)"),
        ("x atan2 y", "x atan2 y"),
    ],
)
def test_canonical_text(query: str, printed: str) -> None:
    expr = parse_expr(query)
    assert to_string(expr) == printed
    assert str(expr) == printed
    assert key(parse_expr(printed)) == key(expr)


def test_to_string_rejects_non_nodes() -> None:
    with pytest.raises(TypeError):
        to_string(42)  # type: ignore[arg-type]


# --- round trips over generated expressions -----------------------------------


class _Gen:
    """Random, well-typed PromQL text: the property test's input."""

    NAMES = ("foo", "bar:baz", "Inf_total", "a_b", "on_x")
    LABELS = ("job", "le", "on", "bool", "instance")
    VALUES = ("x", "", 'q"uote', "back\\slash", "new\nline", "ü", "\x00", ".*")

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def string(self) -> str:
        value = self.r.choice(self.VALUES)
        return (
            '"'
            + value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\x00", "\\x00")
            + '"'
        )

    def duration(self) -> str:
        return self.r.choice(("5m", "1h30m", "10s53ms", "300", "1.5", "2w", "1y", "0s", "1d"))

    def selector(self) -> str:
        r = self.r
        name = r.choice(self.NAMES)
        matchers = [
            f"{r.choice(self.LABELS)}{r.choice(('=', '!=', '=~', '!~'))}{self.string()}"
            for _ in range(r.randint(0, 3))
        ]
        text = name + ("{" + ", ".join(matchers) + "}" if matchers or r.random() < 0.2 else "")
        return text

    def modifiers(self, text: str) -> str:
        r = self.r
        if r.random() < 0.3:
            text += f" @ {r.choice(('100', '-1.5', 'start()', 'end()', '1e3'))}"
        if r.random() < 0.3:
            text += f" offset {r.choice(('', '-'))}{self.duration()}"
        return text

    def scalar(self, depth: int) -> str:
        r = self.r
        choice = r.randint(0, 5 if depth > 0 else 1)
        if choice == 0:
            return r.choice(("1", "-2.5", "0x10", "Inf", "-Inf", "NaN", "1e-9", "5m", ".5"))
        if choice == 1:
            return "time()"
        if choice == 2:
            return f"scalar({self.vector(depth - 1)})"
        if choice == 3:
            op = r.choice(("+", "-", "*", "/", "%", "^", "atan2", "== bool", "> bool"))
            return f"({self.scalar(depth - 1)} {op} {self.scalar(depth - 1)})"
        if choice == 4:
            return f"({self.scalar(depth - 1)})"
        return f"-{self.scalar(depth - 1)}"

    def matrix(self, depth: int) -> str:
        r = self.r
        if depth > 0 and r.random() < 0.3:
            step = r.choice(("", "1m", "30"))
            return self.modifiers(f"({self.vector(depth - 1)})[{self.duration()}:{step}]")
        return self.modifiers(f"{self.selector()}[{self.duration()}]")

    def vector(self, depth: int) -> str:
        r = self.r
        if depth <= 0:
            return self.modifiers(self.selector())
        choice = r.randint(0, 9)
        if choice == 0:
            return self.modifiers(self.selector())
        if choice == 1:
            fn = r.choice(("rate", "irate", "increase", "max_over_time", "absent_over_time"))
            return f"{fn}({self.matrix(depth - 1)})"
        if choice == 2:
            fn = r.choice(("abs", "ceil", "sort", "timestamp", "sgn", "hour", "absent"))
            return f"{fn}({self.vector(depth - 1)})"
        if choice == 3:
            agg = r.choice(("sum", "avg", "count", "min", "max", "group", "stddev", "stdvar"))
            grouping = r.choice(("", " by (job)", " without (le, on)", " by ()"))
            if r.random() < 0.5:
                return f"{agg}{grouping} ({self.vector(depth - 1)})"
            return f"{agg}({self.vector(depth - 1)}){grouping}"
        if choice == 4:
            agg = r.choice(("topk", "bottomk", "quantile"))
            return f"{agg}({self.scalar(depth - 1)}, {self.vector(depth - 1)})"
        if choice == 5:
            op = r.choice(("+", "-", "*", "/", "%", "^", "atan2", "==", "!=", "> bool", "<="))
            matching = r.choice(
                (
                    "",
                    " on (job)",
                    " ignoring (le)",
                    " on (job) group_left ()",
                    " ignoring () group_right (instance)",
                )
            )
            return f"({self.vector(depth - 1)} {op}{matching} {self.vector(depth - 1)})"
        if choice == 6:
            op = r.choice(("and", "or", "unless"))
            matching = r.choice(("", " on (job)", " ignoring (le)"))
            return f"({self.vector(depth - 1)} {op}{matching} {self.vector(depth - 1)})"
        if choice == 7:
            op = r.choice(("+", "*", "^", "> bool", "<"))
            if r.random() < 0.5:
                return f"({self.vector(depth - 1)} {op} {self.scalar(depth - 1)})"
            return f"({self.scalar(depth - 1)} {op} {self.vector(depth - 1)})"
        if choice == 8:
            return f"({self.vector(depth - 1)})"
        fn = r.choice(
            (
                f'label_replace({self.vector(depth - 1)}, "dst", "$1", "src", "(.*)")',
                f"histogram_quantile({self.scalar(depth - 1)}, {self.vector(depth - 1)})",
                f"clamp({self.vector(depth - 1)}, {self.scalar(0)}, {self.scalar(0)})",
                f"round({self.vector(depth - 1)})",
                f"vector({self.scalar(depth - 1)})",
                f"predict_linear({self.matrix(depth - 1)}, {self.scalar(0)})",
                f"quantile_over_time({self.scalar(0)}, {self.matrix(depth - 1)})",
                f'count_values("v", {self.vector(depth - 1)})',
                f"-{self.vector(depth - 1)}",
            )
        )
        return fn


def _round_trip(expr: Expr) -> None:
    printed = to_string(expr)
    again = parse_expr(printed, EXPERIMENTAL)
    assert key(again) == key(expr), printed
    assert to_string(again) == printed


@pytest.mark.parametrize("seed", range(20))
def test_round_trip_of_generated_expressions(seed: int) -> None:
    gen = _Gen(random.Random(seed))
    for _ in range(50):
        text = gen.vector(4) if seed % 2 else gen.scalar(4)
        _round_trip(parse_expr(text))


def test_round_trip_keeps_literal_kinds() -> None:
    expr = parse_expr("5m")
    assert isinstance(expr, NumberLiteral)
    assert expr.duration
    expr = parse_expr("300")
    assert isinstance(expr, NumberLiteral)
    assert not expr.duration


def test_printing_a_hand_built_tree() -> None:
    from vigil.model.matchers import Matcher, MatchType
    from vigil.promql.parser import AggregateOp, Call

    vs = VectorSelector("up", [Matcher(MatchType.EQUAL, "__name__", "up")], offset=-60_000)
    call = Call(FUNCTIONS["rate"], [MatrixSelector(vs, 300_000)])
    agg = AggregateExpr(AggregateOp.SUM, call, grouping=["job"])
    assert to_string(agg) == "sum by (job) (rate(up[5m] offset -1m))"
    assert agg.type is ValueType.VECTOR
