"""The PromQL parser: text to a typed, positioned syntax tree and back to text.

>>> from vigil.promql.parser import parse_expr
>>> expr = parse_expr('sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))')
>>> str(expr)
'sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))'

Errors are :class:`ParseError` (a :class:`vigil.model.VigilError`) with the
line and column of the problem and every problem found in ``errors``.
"""

from vigil.promql.parser.ast import (
    AggregateExpr,
    AggregateOp,
    BinaryExpr,
    BinaryOp,
    Call,
    Cardinality,
    Expr,
    Function,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
    children,
    documented_type,
)
from vigil.promql.parser.errors import ParseError
from vigil.promql.parser.functions import FUNCTIONS, get_function
from vigil.promql.parser.literals import (
    DurationError,
    format_duration,
    format_number,
    parse_duration,
    parse_number,
)
from vigil.promql.parser.parser import (
    DEFAULT_MAX_DEPTH,
    ParseOptions,
    parse_expr,
    parse_metric_selector,
)
from vigil.promql.parser.printer import format_matcher, to_string
from vigil.promql.parser.series import SequenceValue, parse_series_desc

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "FUNCTIONS",
    "AggregateExpr",
    "AggregateOp",
    "BinaryExpr",
    "BinaryOp",
    "Call",
    "Cardinality",
    "DurationError",
    "Expr",
    "Function",
    "MatrixSelector",
    "NumberLiteral",
    "ParenExpr",
    "ParseError",
    "ParseOptions",
    "SequenceValue",
    "StringLiteral",
    "SubqueryExpr",
    "UnaryExpr",
    "ValueType",
    "VectorMatching",
    "VectorSelector",
    "children",
    "documented_type",
    "format_duration",
    "format_matcher",
    "format_number",
    "get_function",
    "parse_duration",
    "parse_expr",
    "parse_metric_selector",
    "parse_number",
    "parse_series_desc",
    "to_string",
]
