"""PromQL: the parser (``vigil.promql.parser``) and, beside it, the query engine.

The parser's main entry points are re-exported here.
"""

from vigil.promql.parser import Expr, ParseError, ParseOptions, parse_expr, to_string

__all__ = ["Expr", "ParseError", "ParseOptions", "parse_expr", "to_string"]
