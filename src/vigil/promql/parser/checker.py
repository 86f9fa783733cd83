"""Type checking of a parsed expression, with Prometheus's rules and messages.

It also settles two things the grammar leaves open, as Prometheus's
``checkAST`` does: set operators get many-to-many matching, and a binary
operation with a scalar side loses its vector matching.
"""

from __future__ import annotations

from vigil.model.labels import METRIC_NAME
from vigil.promql.parser.ast import (
    AggregateExpr,
    AggregateOp,
    BinaryExpr,
    Call,
    Cardinality,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorSelector,
    documented_type,
)
from vigil.promql.parser.errors import ParseError, PositionMapper

__all__ = ["check"]

_SCALAR_PARAM = frozenset(
    {AggregateOp.TOPK, AggregateOp.BOTTOMK, AggregateOp.QUANTILE, AggregateOp.LIMITK}
    | {AggregateOp.LIMIT_RATIO}
)
_SCALAR_OR_VECTOR = (ValueType.SCALAR, ValueType.VECTOR)


class _Checker:
    def __init__(self, text: str, pm: PositionMapper, errors: list[ParseError]) -> None:
        self.text = text
        self.pm = pm
        self.errors = errors
        # info()'s second argument: a selector that may match every series.
        self.label_selectors: set[int] = set()

    def error(self, node: Expr, message: str) -> None:
        self.errors.append(ParseError(message, node.pos, self.text))

    def error_at(self, start: int, end: int, message: str) -> None:
        self.errors.append(ParseError(message, self.pm.range(start, end), self.text))

    def expect_type(self, node: Expr, want: ValueType, context: str) -> None:
        got = self.check(node)
        if got is not want:
            self.error(
                node,
                f"expected type {documented_type(want)} in {context}, got {documented_type(got)}",
            )

    def check(self, node: Expr) -> ValueType:
        if isinstance(node, AggregateExpr):
            self.expect_type(node.expr, ValueType.VECTOR, "aggregation expression")
            if node.param is not None:
                if node.op in _SCALAR_PARAM:
                    self.expect_type(node.param, ValueType.SCALAR, "aggregation parameter")
                elif node.op is AggregateOp.COUNT_VALUES:
                    self.expect_type(node.param, ValueType.STRING, "aggregation parameter")
        elif isinstance(node, BinaryExpr):
            self.check_binary(node)
        elif isinstance(node, Call):
            self.check_call(node)
        elif isinstance(node, ParenExpr):
            self.check(node.expr)
        elif isinstance(node, UnaryExpr):
            t = self.check(node.expr)
            if t not in _SCALAR_OR_VECTOR:
                self.error(
                    node,
                    "unary expression only allowed on expressions of type scalar or "
                    f'instant vector, got "{documented_type(t)}"',
                )
        elif isinstance(node, SubqueryExpr):
            t = self.check(node.expr)
            if t is not ValueType.VECTOR:
                self.error(
                    node, f"subquery is only allowed on instant vector, got {t.value} instead"
                )
        elif isinstance(node, MatrixSelector):
            self.check(node.vector_selector)
        elif isinstance(node, VectorSelector):
            self.check_selector(node)
        else:
            assert isinstance(node, NumberLiteral | StringLiteral)
        return node.type

    def check_binary(self, node: BinaryExpr) -> None:
        lt = self.check(node.lhs)
        rt = self.check(node.rhs)
        op = node.op
        vm = node.matching

        def op_range() -> tuple[int, int]:
            start = self.pm.index(node.lhs.pos.end)
            end = self.pm.index(node.rhs.pos.start)
            text = self.text
            while start < end and text[start] in " \t\r\n":
                start += 1
            while end > start and text[end - 1] in " \t\r\n":
                end -= 1
            return start, end

        if node.return_bool and not op.is_comparison:
            self.error_at(*op_range(), "bool modifier can only be used on comparison operators")
        if op.is_comparison and not node.return_bool and lt is rt is ValueType.SCALAR:
            self.error_at(*op_range(), "comparisons between scalars must use BOOL modifier")
        if vm is not None:
            if op.is_set_operator and vm.card is Cardinality.ONE_TO_ONE:
                vm.card = Cardinality.MANY_TO_MANY
            if vm.on:
                for label in vm.matching_labels:
                    if label in vm.include:
                        self.error_at(
                            *op_range(),
                            f'label "{label}" must not occur in ON and GROUP clause at once',
                        )
        if lt not in _SCALAR_OR_VECTOR:
            self.error(
                node.lhs, "binary expression must contain only scalar and instant vector types"
            )
        if rt not in _SCALAR_OR_VECTOR:
            self.error(
                node.rhs, "binary expression must contain only scalar and instant vector types"
            )
        if vm is not None and (lt is not ValueType.VECTOR or rt is not ValueType.VECTOR):
            if vm.matching_labels:
                self.error(node, "vector matching only allowed between instant vectors")
            node.matching = None
        elif vm is not None and op.is_set_operator:
            if vm.card in (Cardinality.ONE_TO_MANY, Cardinality.MANY_TO_ONE):
                self.error(node, f'no grouping allowed for "{op.value}" operation')
            if vm.card is not Cardinality.MANY_TO_MANY:
                self.error(node, "set operations must always be many-to-many")
        if (lt is ValueType.SCALAR or rt is ValueType.SCALAR) and op.is_set_operator:
            self.error(node, f'set operator "{op.value}" not allowed in binary scalar expression')

    def check_call(self, node: Call) -> None:
        fn = node.func
        name = fn.name
        nargs = len(fn.arg_types)
        given = len(node.args)
        if fn.variadic == 0:
            if nargs != given:
                self.error(node, f'expected {nargs} argument(s) in call to "{name}", got {given}')
        else:
            least = nargs - 1
            if least > given:
                self.error(
                    node, f'expected at least {least} argument(s) in call to "{name}", got {given}'
                )
            elif fn.variadic > 0 and least + fn.variadic < given:
                self.error(
                    node,
                    f'expected at most {least + fn.variadic} argument(s) in call to "{name}", '
                    f"got {given}",
                )
        if name == "info" and given > 1:
            self.check_info(node)
        for i, arg in enumerate(node.args):
            if i >= nargs:
                if fn.variadic == 0:
                    break
                i = nargs - 1
            t = self.check(arg)
            want = fn.arg_types[i]
            if t is not want:
                self.error(
                    arg,
                    f"expected type {documented_type(want)} in call to function "
                    f'"{name}", got {documented_type(t)}',
                )

    def check_info(self, node: Call) -> None:
        second = node.args[1]
        if second.type is not ValueType.VECTOR:
            self.error(
                node,
                'expected type instant vector in call to function "info", '
                f"got {documented_type(second.type)}",
            )
        if isinstance(second, VectorSelector):
            if second.name:
                self.error(second, "expected label selectors only, got vector selector instead")
            else:
                self.label_selectors.add(id(second))
        else:
            self.error(second, "expected label selectors only")

    def check_selector(self, node: VectorSelector) -> None:
        if node.name:
            for m in node.matchers[:-1]:
                if m.name == METRIC_NAME:
                    self.error(
                        node, f'metric name must not be set twice: "{node.name}" or "{m.value}"'
                    )
            return
        if id(node) in self.label_selectors:
            return
        if not any(not m.matches_empty() for m in node.matchers):
            self.error(node, "vector selector must contain at least one non-empty matcher")


def check(expr: Expr, text: str, pm: PositionMapper, errors: list[ParseError]) -> None:
    """Type-check ``expr`` (parsed from ``text``), appending problems to ``errors``."""
    _Checker(text, pm, errors).check(expr)
