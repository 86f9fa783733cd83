"""The PromQL parser: recursive descent with precedence climbing over the lexer's tokens.

Operator precedence and associativity are Prometheus's (lowest first)::

    or
    and unless
    == != <= < >= >          (with optional ``bool``)
    + -
    * / % atan2
    ^                        (right-associative)

Unary ``-``/``+`` bind like ``*`` (tighter than ``+``, looser than ``^``:
``-2^2`` is ``-(2^2)``); a sign on a number literal is folded into it. The
postfix forms ``[range]``, ``[range:step]``, ``offset`` and ``@`` bind
tightest of all.

Syntax errors stop the parse (they name the token found and what was
expected); semantic errors (unknown function, bad regular expression, misplaced
``offset``) are collected and parsing goes on, then the type checker runs when
the syntax was clean. Nesting is bounded by ``max_depth`` so that a hostile
query gets a positioned error instead of exhausting the stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vigil.model.labels import METRIC_NAME
from vigil.model.matchers import Matcher, MatchType, RegexError
from vigil.promql.parser import lexer as lx
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
)
from vigil.promql.parser.checker import check
from vigil.promql.parser.errors import ParseError, PositionMapper
from vigil.promql.parser.functions import FUNCTIONS
from vigil.promql.parser.literals import DurationError, NumberError, go_round, parse_duration
from vigil.promql.parser.literals import parse_number as _parse_number

__all__ = ["DEFAULT_MAX_DEPTH", "ParseOptions", "parse_expr", "parse_metric_selector"]

DEFAULT_MAX_DEPTH = 256

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
_POW_PRECEDENCE = 6
_BINARY_OPS = {op.value: op for op in BinaryOp}
_AGGREGATE_OPS = {op.value: op for op in AggregateOp}
_MATCH_TYPES = {t.value: t for t in MatchType}
# Keywords that may also name a metric (Prometheus's ``metric_identifier``).
_METRIC_KEYWORDS = (lx.AGGREGATORS | {"and", "or", "unless", "offset", "by", "without"}) - {"atan2"}
_LABEL_TOKENS = lx.KEYWORDS | {lx.IDENT}
_MAX_DURATION_S = (1 << 63) / 1e9


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the parser accepts.

    ``enable_experimental_functions`` admits the functions and aggregations
    Prometheus marks experimental (``limitk``, ``mad_over_time``,
    ``sort_by_label``, ``double_exponential_smoothing``, ``info``...).
    ``max_depth`` bounds how deeply expressions may nest.
    """

    enable_experimental_functions: bool = False
    max_depth: int = DEFAULT_MAX_DEPTH


_DEFAULT_OPTIONS = ParseOptions()


class _AbortError(Exception):
    """A syntax error was recorded; unwind to the top."""


class _Parser:
    def __init__(self, text: str, options: ParseOptions) -> None:
        self.text = text
        self.opts = options
        self.toks = lx.lex(text)
        self.i = 0
        self.depth = 0
        self.pm = PositionMapper(text)
        self.errors: list[ParseError] = []

    # -- errors ---------------------------------------------------------------

    def error(self, start: int, end: int, message: str) -> None:
        self.errors.append(ParseError(message, self.pm.range(start, end), self.text))

    def unexpected(self, tok: lx.Token, context: str = "", expected: str = "") -> _AbortError:
        """Record a syntax error at ``tok`` (a lexer error as it is) and return the abort."""
        if tok.kind == lx.ERROR:
            self.error(tok.start, tok.end, tok.text)
        else:
            message = "unexpected " + lx.describe(tok, self.text)
            if context:
                message += " in " + context
            if expected:
                message += ", expected " + expected
            self.error(tok.start, tok.end, message)
        return _AbortError()

    def too_deep(self, tok: lx.Token) -> _AbortError:
        self.error(
            tok.start,
            tok.end,
            f"expression nested too deeply: the limit is {self.opts.max_depth} levels",
        )
        return _AbortError()

    # -- tokens ---------------------------------------------------------------

    def peek(self) -> lx.Token:
        return self.toks[self.i]

    def advance(self) -> lx.Token:
        tok = self.toks[self.i]
        if tok.kind != lx.EOF and tok.kind != lx.ERROR:
            self.i += 1
        return tok

    def expect(self, kind: str, context: str, expected: str) -> lx.Token:
        tok = self.advance()
        if tok.kind != kind:
            raise self.unexpected(tok, context, expected)
        return tok

    # -- expressions ----------------------------------------------------------

    def parse(self) -> Expr:
        if self.peek().kind == lx.EOF:
            self.error(0, 0, "no expression found in input")
            raise _AbortError()
        expr = self.parse_expr(0)
        tok = self.peek()
        if tok.kind != lx.EOF:
            raise self.unexpected(tok)
        return expr

    def parse_expr(self, min_prec: int) -> Expr:
        self.depth += 1
        if self.depth > self.opts.max_depth:
            raise self.too_deep(self.peek())
        lhs = self.parse_unary()
        while True:
            tok = self.peek()
            prec = _PRECEDENCE.get(tok.kind)
            if prec is None or prec < min_prec:
                break
            self.advance()
            op = _BINARY_OPS[tok.kind]
            return_bool = False
            if self.peek().kind == "bool":
                self.advance()
                return_bool = True
            matching = VectorMatching()
            if self.peek().kind in ("on", "ignoring"):
                matching.on = self.advance().kind == "on"
                matching.matching_labels = self.parse_grouping_labels()
                if self.peek().kind in ("group_left", "group_right"):
                    left = self.advance().kind == "group_left"
                    matching.card = Cardinality.MANY_TO_ONE if left else Cardinality.ONE_TO_MANY
                    if self.peek().kind == "(":
                        matching.include = self.parse_grouping_labels()
            rhs = self.parse_expr(prec if prec == _POW_PRECEDENCE else prec + 1)
            lhs = BinaryExpr(
                op,
                lhs,
                rhs,
                return_bool,
                matching,
                pos=self.pm.range(self._start(lhs), self._end(rhs)),
            )
        self.depth -= 1
        return lhs

    def parse_unary(self) -> Expr:
        tok = self.peek()
        if tok.kind == "+" or tok.kind == "-":
            self.advance()
            operand = self.parse_expr(_POW_PRECEDENCE)
            if isinstance(operand, NumberLiteral):
                if tok.kind == "-":
                    operand.value = -operand.value
                operand.pos = self.pm.range(tok.start, self._end(operand))
                return operand
            op = BinaryOp.SUB if tok.kind == "-" else BinaryOp.ADD
            return UnaryExpr(op, operand, pos=self.pm.range(tok.start, self._end(operand)))
        expr = self.parse_primary()
        while True:
            kind = self.peek().kind
            if kind == "[":
                expr = self.parse_range(expr)
            elif kind == "offset":
                expr = self.parse_offset(expr)
            elif kind == "@":
                expr = self.parse_at(expr)
            else:
                return expr

    def parse_primary(self) -> Expr:
        tok = self.peek()
        kind = tok.kind
        if kind == lx.NUMBER:
            self.advance()
            return NumberLiteral(self.number(tok), pos=self.pm.range(tok.start, tok.end))
        if kind == lx.DURATION:
            self.advance()
            seconds = self.duration_ms(tok) / 1000
            return NumberLiteral(seconds, pos=self.pm.range(tok.start, tok.end), duration=True)
        if kind == lx.STRING:
            self.advance()
            return StringLiteral(tok.text, pos=self.pm.range(tok.start, tok.end))
        if kind == "(":
            self.advance()
            inner = self.parse_expr(0)
            close = self.expect(")", "paren expression", '")"')
            return ParenExpr(inner, pos=self.pm.range(tok.start, close.end))
        if kind == "{":
            return self.parse_selector(None)
        nxt = self.toks[self.i + 1].kind if kind != lx.EOF and kind != lx.ERROR else ""
        if kind in lx.AGGREGATORS and nxt in ("(", "by", "without"):
            return self.parse_aggregate()
        if kind == lx.IDENT and nxt == "(":
            return self.parse_call()
        if kind == lx.IDENT or kind == lx.METRIC_IDENT or kind in _METRIC_KEYWORDS:
            self.advance()
            return self.parse_selector(tok)
        raise self.unexpected(tok)

    # -- pieces -----------------------------------------------------------------

    def parse_grouping_labels(self) -> list[str]:
        self.expect("(", "grouping opts", '"("')
        labels: list[str] = []
        if self.peek().kind == ")":
            self.advance()
            return labels
        while True:
            tok = self.advance()
            if tok.kind in _LABEL_TOKENS or tok.kind == lx.STRING:
                labels.append(tok.text)
            else:
                raise self.unexpected(tok, "grouping opts", "label")
            tok = self.advance()
            if tok.kind == ",":
                if self.peek().kind == ")":
                    self.advance()
                    return labels
            elif tok.kind == ")":
                return labels
            else:
                raise self.unexpected(tok, "grouping opts", '"," or ")"')

    def parse_args(self, context: str) -> tuple[list[Expr], int]:
        """``( expr, ... )``: the arguments and the end index of ``)``."""
        self.expect("(", context, '"("')
        args: list[Expr] = []
        if self.peek().kind == ")":
            return args, self.advance().end
        while True:
            args.append(self.parse_expr(0))
            tok = self.advance()
            if tok.kind == ")":
                return args, tok.end
            if tok.kind != ",":
                raise self.unexpected(tok, context, '"," or ")"')
            if self.peek().kind == ")":
                self.error(tok.start, tok.end, "trailing commas not allowed in function call args")
                return args, self.advance().end

    def parse_call(self) -> Call:
        name_tok = self.advance()
        name = name_tok.text
        func = FUNCTIONS.get(name)
        if func is None:
            self.error(name_tok.start, name_tok.end, f'unknown function with name "{name}"')
            func = Function(name, (), ValueType.NONE, variadic=-1)
        elif func.experimental and not self.opts.enable_experimental_functions:
            self.error(name_tok.start, name_tok.end, f'function "{name}" is not enabled')
        args, end = self.parse_args("function call")
        return Call(func, args, pos=self.pm.range(name_tok.start, end))

    def parse_aggregate(self) -> AggregateExpr:
        op_tok = self.advance()
        op = _AGGREGATE_OPS[op_tok.kind]
        grouping: list[str] | None = None
        without = False
        if self.peek().kind in ("by", "without"):
            without = self.advance().kind == "without"
            grouping = self.parse_grouping_labels()
        if self.peek().kind != "(":
            raise self.unexpected(self.peek(), "aggregation", '"("')
        args, end = self.parse_args("aggregation")
        if grouping is None and self.peek().kind in ("by", "without"):
            without = self.advance().kind == "without"
            grouping = self.parse_grouping_labels()
            end = self.toks[self.i - 1].end
        start = op_tok.start
        if op.experimental and not self.opts.enable_experimental_functions:
            self.error(
                start,
                end,
                f"{op.value}() is experimental and must be enabled with "
                "--enable-feature=promql-experimental-functions",
            )
        want = 2 if op.takes_param else 1
        if not args:
            self.error(start, end, "no arguments for aggregate expression provided")
            args = [NumberLiteral(0.0)] * want
        elif len(args) != want:
            self.error(
                start,
                end,
                "wrong number of arguments for aggregate expression provided, "
                f"expected {want}, got {len(args)}",
            )
            args = (args * want)[:want]
        return AggregateExpr(
            op,
            args[-1],
            args[0] if want == 2 else None,
            grouping or [],
            without,
            pos=self.pm.range(start, end),
        )

    def parse_selector(self, name_tok: lx.Token | None) -> VectorSelector:
        """``name``, ``name{...}`` or ``{...}``; ``name_tok`` is already consumed."""
        name = name_tok.text if name_tok is not None else ""
        start = name_tok.start if name_tok is not None else self.peek().start
        end = name_tok.end if name_tok is not None else start
        matchers: list[Matcher] = []
        if self.peek().kind == "{":
            self.advance()
            while True:
                tok = self.advance()
                if tok.kind == "}":
                    end = tok.end
                    break
                if tok.kind == lx.IDENT or tok.kind == lx.STRING:
                    if tok.kind == lx.STRING and self.peek().kind in ("}", ","):
                        matchers.append(self.matcher(tok, MatchType.EQUAL, METRIC_NAME, tok))
                    else:
                        op = self.advance()
                        match_type = _MATCH_TYPES.get(op.kind)
                        if match_type is None:
                            raise self.unexpected(op, "label matching", "label matching operator")
                        value = self.advance()
                        if value.kind != lx.STRING:
                            raise self.unexpected(value, "label matching", "string")
                        matchers.append(self.matcher(tok, match_type, tok.text, value))
                else:
                    raise self.unexpected(tok, "label matching", 'identifier or "}"')
                tok = self.advance()
                if tok.kind == "}":
                    end = tok.end
                    break
                if tok.kind != ",":
                    raise self.unexpected(tok, "label matching", '"," or "}"')
        if name:
            matchers.append(Matcher(MatchType.EQUAL, METRIC_NAME, name))
        return VectorSelector(name, matchers, pos=self.pm.range(start, end))

    def matcher(self, first: lx.Token, kind: MatchType, name: str, value: lx.Token) -> Matcher:
        try:
            return Matcher(kind, name, value.text)
        except RegexError as err:
            self.error(first.start, value.end, str(err))
            return Matcher(MatchType.EQUAL, name, value.text)

    def parse_range(self, expr: Expr) -> Expr:
        """``expr[range]`` (a range selector) or ``expr[range:step]`` (a subquery)."""
        lb = self.advance()
        tok = self.advance()
        if tok.kind != lx.NUMBER and tok.kind != lx.DURATION:
            raise self.unexpected(tok, "subquery selector", "number or duration")
        rng = self.duration_ms(tok)
        tok = self.advance()
        if tok.kind == "]":
            problem = ""
            if not isinstance(expr, VectorSelector):
                problem = "ranges only allowed for vector selectors"
            elif expr.offset != 0:
                problem = "no offset modifiers allowed before range"
            elif expr.timestamp is not None or expr.start_or_end is not None:
                problem = "no @ modifiers allowed before range"
            if problem:
                self.error(lb.start, tok.end, problem)
            return MatrixSelector(expr, rng, pos=self.pm.range(self._start(expr), tok.end))
        if tok.kind != ":":
            raise self.unexpected(tok, "subquery or range", '":" or "]"')
        tok = self.advance()
        step = 0
        if tok.kind == lx.NUMBER or tok.kind == lx.DURATION:
            step = self.duration_ms(tok)
            tok = self.advance()
            if tok.kind != "]":
                raise self.unexpected(tok, "subquery selector", '"]"')
        elif tok.kind != "]":
            raise self.unexpected(tok, "subquery selector", 'number or duration or "]"')
        return SubqueryExpr(expr, rng, step, pos=self.pm.range(self._start(expr), tok.end))

    def parse_offset(self, expr: Expr) -> Expr:
        self.advance()
        negative = self.peek().kind == "-"
        if negative:
            self.advance()
        tok = self.advance()
        if tok.kind != lx.NUMBER and tok.kind != lx.DURATION:
            raise self.unexpected(tok, "offset", "number or duration")
        offset = -self.duration_ms(tok) if negative else self.duration_ms(tok)
        target = self._modifier_target(expr, "offset")
        if target is not None:
            if target.offset != 0:
                self.error(self._start(expr), tok.end, "offset may not be set multiple times")
            else:
                target.offset = offset
        return self._extend(expr, tok.end)

    def parse_at(self, expr: Expr) -> Expr:
        self.advance()
        tok = self.advance()
        start_or_end: str | None = None
        ts = 0.0
        if tok.kind in ("+", "-"):
            num = self.advance()
            if num.kind != lx.NUMBER and num.kind != lx.DURATION:
                raise self.unexpected(num, "@", "timestamp")
            ts = self.number(num) if tok.kind == "+" else -self.number(num)
            tok = num
        elif tok.kind == lx.NUMBER or tok.kind == lx.DURATION:
            ts = self.number(tok)
        elif tok.kind == lx.IDENT and tok.text.lower() in ("start", "end"):
            start_or_end = tok.text.lower()
            self.expect("(", "@", '"("')
            tok = self.expect(")", "@", '")"')
        else:
            raise self.unexpected(tok, "@", "timestamp")
        if start_or_end is None and (not math.isfinite(ts) or abs(ts) >= 2.0**63 / 1000):
            shown = f"{ts:f}" if math.isfinite(ts) else ("+Inf" if ts > 0 else "-Inf")
            if math.isnan(ts):
                shown = "NaN"
            self.error(
                self._start(expr), tok.end, f"timestamp out of bounds for @ modifier: {shown}"
            )
            ts = 0.0
        target = self._modifier_target(expr, "@")
        if target is not None:
            if target.timestamp is not None or target.start_or_end is not None:
                self.error(
                    self._start(expr), tok.end, "@ <timestamp> may not be set multiple times"
                )
            elif start_or_end is not None:
                target.start_or_end = start_or_end
            else:
                target.timestamp = int(go_round(ts * 1000))
        return self._extend(expr, tok.end)

    # -- helpers ----------------------------------------------------------------

    def _modifier_target(self, expr: Expr, what: str) -> VectorSelector | SubqueryExpr | None:
        if isinstance(expr, VectorSelector | SubqueryExpr):
            return expr
        if isinstance(expr, MatrixSelector):
            if isinstance(expr.vector_selector, VectorSelector):
                return expr.vector_selector
            return None  # already reported: ranges only allowed for vector selectors
        self.error(
            self._start(expr),
            self._end(expr),
            f"{what} modifier must be preceded by an instant vector selector "
            "or range vector selector or a subquery",
        )
        return None

    def _extend(self, expr: Expr, end: int) -> Expr:
        expr.pos = self.pm.range(self._start(expr), end)
        return expr

    def _start(self, expr: Expr) -> int:
        return self.pm.index(expr.pos.start)

    def _end(self, expr: Expr) -> int:
        return self.pm.index(expr.pos.end)

    def number(self, tok: lx.Token) -> float:
        if tok.kind == lx.DURATION:
            return self.duration_ms(tok) / 1000
        try:
            return _parse_number(tok.text)
        except NumberError as err:
            self.error(tok.start, tok.end, str(err))
            return 0.0

    def duration_ms(self, tok: lx.Token) -> int:
        """A duration or number-of-seconds token in milliseconds."""
        if tok.kind == lx.DURATION:
            try:
                return parse_duration(tok.text)
            except DurationError as err:
                self.error(tok.start, tok.end, str(err))
                return 0
        seconds = self.number(tok)
        if not math.isfinite(seconds) or abs(seconds) > _MAX_DURATION_S:
            self.error(tok.start, tok.end, "duration out of range")
            return 0
        return int(seconds * 1000)


def _ast_depth_error(expr: Expr, max_depth: int) -> Expr | None:
    """The first node deeper than ``max_depth`` levels, found without recursion."""
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return node
        stack.extend((child, depth + 1) for child in children(node))
    return None


def parse_expr(text: str, options: ParseOptions | None = None) -> Expr:
    """Parse and type-check a PromQL expression.

    Raises :class:`ParseError` (its ``errors`` lists every problem found) when
    ``text`` is not a valid expression.
    """
    opts = options if options is not None else _DEFAULT_OPTIONS
    p = _Parser(text, opts)
    expr: Expr | None = None
    try:
        expr = p.parse()
    except _AbortError:
        pass
    except RecursionError:  # only if the caller's stack was already nearly full
        p.errors.clear()
        p.too_deep(p.peek())
    if expr is not None and not p.errors:
        deep = _ast_depth_error(expr, opts.max_depth)
        if deep is not None:
            start, end = p.pm.index(deep.pos.start), p.pm.index(deep.pos.end)
            p.error(
                start, end, f"expression nested too deeply: the limit is {opts.max_depth} levels"
            )
        else:
            check(expr, p.text, p.pm, p.errors)
    if p.errors or expr is None:
        first = p.errors[0]
        first.errors = p.errors
        raise first
    return expr


def parse_metric_selector(text: str) -> list[Matcher]:
    """The matchers of a bare series selector (``match[]`` in the HTTP API): ``up{job="x"}``."""
    expr = parse_expr(text)
    if (
        not isinstance(expr, VectorSelector)
        or expr.offset
        or expr.timestamp is not None
        or expr.start_or_end
    ):
        raise ParseError(
            'expected a series selector such as up{job="api"}',
            PositionMapper(text).range(0, len(text)),
            text,
        )
    return expr.matchers
