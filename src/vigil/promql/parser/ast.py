"""The PromQL syntax tree: one dataclass per node, each with the span it was read from.

Nodes compare by value and ignore positions, so two parses of equivalent text
are equal. Times are int milliseconds, as everywhere in Vigil: a range
``[5m]`` is ``300_000``, an ``offset 1h`` is ``3_600_000`` (negative offsets
are allowed), an ``@ 1609746000`` is ``timestamp=1_609_746_000_000``.

``str(node)`` prints canonical PromQL (see :mod:`vigil.promql.parser.printer`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from vigil.model.matchers import Matcher
from vigil.model.position import Position, PositionRange

__all__ = [
    "AggregateExpr",
    "AggregateOp",
    "BinaryExpr",
    "BinaryOp",
    "Call",
    "Cardinality",
    "Expr",
    "Function",
    "MatrixSelector",
    "NumberLiteral",
    "ParenExpr",
    "StringLiteral",
    "SubqueryExpr",
    "UnaryExpr",
    "ValueType",
    "VectorMatching",
    "VectorSelector",
    "children",
    "documented_type",
]

_NOWHERE = PositionRange(Position(1, 1, 0), Position(1, 1, 0))


class ValueType(enum.Enum):
    """The type of a PromQL expression's value."""

    NONE = "none"
    SCALAR = "scalar"
    VECTOR = "vector"
    MATRIX = "matrix"
    STRING = "string"


def documented_type(t: ValueType) -> str:
    """The name the PromQL documentation uses: ``instant vector``, ``range vector``..."""
    if t is ValueType.VECTOR:
        return "instant vector"
    if t is ValueType.MATRIX:
        return "range vector"
    return str(t.value)


class BinaryOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    POW = "^"
    ATAN2 = "atan2"
    EQL = "=="
    NEQ = "!="
    GTR = ">"
    LSS = "<"
    GTE = ">="
    LTE = "<="
    AND = "and"
    OR = "or"
    UNLESS = "unless"

    @property
    def is_comparison(self) -> bool:
        return self in _COMPARISONS

    @property
    def is_set_operator(self) -> bool:
        return self in _SET_OPERATORS


_COMPARISONS = frozenset(
    {BinaryOp.EQL, BinaryOp.NEQ, BinaryOp.GTR, BinaryOp.LSS, BinaryOp.GTE, BinaryOp.LTE}
)
_SET_OPERATORS = frozenset({BinaryOp.AND, BinaryOp.OR, BinaryOp.UNLESS})


class AggregateOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    COUNT = "count"
    MIN = "min"
    MAX = "max"
    GROUP = "group"
    STDDEV = "stddev"
    STDVAR = "stdvar"
    TOPK = "topk"
    BOTTOMK = "bottomk"
    COUNT_VALUES = "count_values"
    QUANTILE = "quantile"
    LIMITK = "limitk"
    LIMIT_RATIO = "limit_ratio"

    @property
    def takes_param(self) -> bool:
        """Whether the aggregation has a first parameter (``topk(3, x)``)."""
        return self in _PARAM_AGGREGATIONS

    @property
    def experimental(self) -> bool:
        return self in (AggregateOp.LIMITK, AggregateOp.LIMIT_RATIO)


_PARAM_AGGREGATIONS = frozenset(
    {
        AggregateOp.TOPK,
        AggregateOp.BOTTOMK,
        AggregateOp.COUNT_VALUES,
        AggregateOp.QUANTILE,
        AggregateOp.LIMITK,
        AggregateOp.LIMIT_RATIO,
    }
)


class Cardinality(enum.Enum):
    ONE_TO_ONE = "one-to-one"
    MANY_TO_ONE = "many-to-one"
    ONE_TO_MANY = "one-to-many"
    MANY_TO_MANY = "many-to-many"


class _Node:
    """What every expression node shares: ``str()`` prints it as canonical PromQL."""

    __slots__ = ()

    def __str__(self) -> str:
        from vigil.promql.parser.printer import to_string

        text: str = to_string(self)  # type: ignore[arg-type]
        return text


@dataclass(frozen=True, slots=True)
class Function:
    """A PromQL function's signature, one row of the table in ``functions.py``.

    ``variadic`` is 0 for a fixed argument list, ``n > 0`` when the last
    argument type may be given up to ``n`` more times or left out (so the
    call takes ``len(arg_types) - 1`` to ``len(arg_types) - 1 + n``
    arguments), and ``-1`` for no upper bound. ``alias_of`` names the function
    an old spelling evaluates as (``holt_winters``).
    """

    name: str
    arg_types: tuple[ValueType, ...]
    return_type: ValueType
    variadic: int = 0
    experimental: bool = False
    alias_of: str | None = None

    @property
    def min_args(self) -> int:
        return len(self.arg_types) - (1 if self.variadic else 0)

    @property
    def max_args(self) -> int | None:
        """The most arguments allowed, or ``None`` for no limit."""
        if self.variadic < 0:
            return None
        return len(self.arg_types) - (1 if self.variadic else 0) + self.variadic


@dataclass(slots=True)
class NumberLiteral(_Node):
    value: float
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)
    duration: bool = field(default=False, compare=False)
    """Written as a duration (``5m`` means 300): printed back as one."""

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR


@dataclass(slots=True)
class StringLiteral(_Node):
    value: str
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return ValueType.STRING


@dataclass(slots=True)
class VectorSelector(_Node):
    """``name{matchers} @ t offset d``.

    ``matchers`` are in source order; when the name is written outside the
    braces a ``__name__`` equality matcher for it comes last, as in
    Prometheus. ``start_or_end`` is ``"start"`` or ``"end"`` for
    ``@ start()`` / ``@ end()``.
    """

    name: str
    matchers: list[Matcher]
    offset: int = 0
    timestamp: int | None = None
    start_or_end: str | None = None
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(slots=True)
class MatrixSelector(_Node):
    """``selector[range]``; offset and ``@`` live on the inner selector."""

    vector_selector: Expr
    range: int
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(slots=True)
class SubqueryExpr(_Node):
    """``expr[range:step] @ t offset d``; ``step`` 0 means the engine's default."""

    expr: Expr
    range: int
    step: int = 0
    offset: int = 0
    timestamp: int | None = None
    start_or_end: str | None = None
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(slots=True)
class ParenExpr(_Node):
    expr: Expr
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(slots=True)
class UnaryExpr(_Node):
    """``-expr`` or ``+expr`` (a sign on a number literal is folded into the literal)."""

    op: BinaryOp
    expr: Expr
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(slots=True)
class VectorMatching:
    """How the two sides of a binary operation between vectors are matched.

    ``matching_labels`` are the ``on``/``ignoring`` labels (``on`` says which),
    ``include`` the ``group_left``/``group_right`` labels. Set operators have
    many-to-many cardinality.
    """

    card: Cardinality = Cardinality.ONE_TO_ONE
    matching_labels: list[str] = field(default_factory=list)
    on: bool = False
    include: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BinaryExpr(_Node):
    """``lhs op rhs``; ``matching`` is ``None`` unless both sides are instant vectors."""

    op: BinaryOp
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching | None = None
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        if self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR:
            return ValueType.SCALAR
        return ValueType.VECTOR


@dataclass(slots=True)
class AggregateExpr(_Node):
    """``op by (grouping) (param, expr)``; ``without`` turns ``by`` into ``without``."""

    op: AggregateOp
    expr: Expr
    param: Expr | None = None
    grouping: list[str] = field(default_factory=list)
    without: bool = False
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(slots=True)
class Call(_Node):
    func: Function
    args: list[Expr]
    pos: PositionRange = field(default=_NOWHERE, compare=False, repr=False)

    @property
    def type(self) -> ValueType:
        return self.func.return_type


Expr: TypeAlias = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | SubqueryExpr
    | ParenExpr
    | UnaryExpr
    | BinaryExpr
    | AggregateExpr
    | Call
)


def children(node: Expr) -> list[Expr]:
    """The direct sub-expressions of ``node``, left to right."""
    if isinstance(node, MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, SubqueryExpr | ParenExpr | UnaryExpr):
        return [node.expr]
    if isinstance(node, BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, AggregateExpr):
        return [node.expr] if node.param is None else [node.param, node.expr]
    if isinstance(node, Call):
        return list(node.args)
    return []
