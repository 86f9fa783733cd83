"""Recursive-descent parser for text/template (Go's ``text/template/parse``).

``parse_text`` turns one text into its named trees: the text's own body under
the template's name plus one tree per ``{{define}}``/``{{block}}``. Functions
are resolved while parsing, so an unknown function is a parse error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from vigil.gotmpl import builtins
from vigil.gotmpl.errors import TemplateError
from vigil.gotmpl.lexer import LexError, Tok, Token, lex
from vigil.gotmpl.nodes import (
    ActionNode,
    AndOrArg,
    Arg,
    BreakNode,
    Command,
    Const,
    ContinueNode,
    DotArg,
    FieldChainArg,
    FuncArg,
    IfNode,
    ListNode,
    NilArg,
    Node,
    PipeArg,
    Pipeline,
    RangeNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableArg,
    WithNode,
)
from vigil.gotmpl.values import go_quote
from vigil.model.position import position_at

__all__ = ["MAX_DEPTH", "parse_text", "unquote"]

MAX_DEPTH: Final = 50  # nesting of control structures and parentheses

_OPERAND_START = frozenset(
    {
        Tok.BOOL,
        Tok.CHAR_CONSTANT,
        Tok.DOT,
        Tok.FIELD,
        Tok.IDENTIFIER,
        Tok.NUMBER,
        Tok.NIL,
        Tok.RAW_STRING,
        Tok.STRING,
        Tok.VARIABLE,
        Tok.LEFT_PAREN,
    }
)


class _End(Node):
    __slots__ = ()


class _Else(Node):
    __slots__ = ()


class _ParseError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def parse_text(
    name: str,
    text: str,
    funcs: Mapping[str, Callable[..., Any]],
    source: str | None = None,
) -> dict[str, Tree]:
    """Parse ``text``; returns ``{name: tree}`` for the body and every definition."""
    try:
        toks = lex(text)
        return _Parser(name, text, toks, funcs, source).parse()
    except LexError as exc:
        raise TemplateError(
            exc.message, position_at(text, exc.pos), source=source or name
        ) from None
    except _ParseError as exc:
        raise TemplateError(
            exc.message, position_at(text, exc.pos), source=source or name
        ) from None


class _Parser:
    def __init__(
        self,
        name: str,
        text: str,
        toks: list[Token],
        funcs: Mapping[str, Callable[..., Any]],
        source: str | None,
    ) -> None:
        self.name = name
        self.text = text
        self.toks = toks
        self.i = 0
        self.funcs = funcs
        self.source = source
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.depth = 0
        self.trees: dict[str, Tree] = {}

    # -- token access -------------------------------------------------------

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.typ is not Tok.EOF:
            self.i += 1
        return tok

    def peek(self) -> Token:
        return self.toks[self.i]

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def next_non_space(self) -> Token:
        tok = self.next()
        while tok.typ is Tok.SPACE:
            tok = self.next()
        return tok

    def peek_non_space(self) -> Token:
        j = self.i
        while self.toks[j].typ is Tok.SPACE:
            j += 1
        return self.toks[j]

    def error(self, message: str, pos: int) -> _ParseError:
        return _ParseError(message, pos)

    def unexpected(self, tok: Token, context: str) -> _ParseError:
        return _ParseError(f"unexpected {tok.describe()} in {context}", tok.pos)

    def expect(self, typ: Tok, context: str) -> Token:
        tok = self.next_non_space()
        if tok.typ is not typ:
            raise self.unexpected(tok, context)
        return tok

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"template nesting exceeds the maximum depth of {MAX_DEPTH}", pos)

    # -- structure ----------------------------------------------------------

    def parse(self) -> dict[str, Tree]:
        nodes: list[Node] = []
        while self.peek().typ is not Tok.EOF:
            tok = self.peek()
            if tok.typ is Tok.LEFT_DELIM:
                saved = self.i
                self.next()
                if self.next_non_space().typ is Tok.DEFINE:
                    self.parse_definition(tok.pos)
                    continue
                self.i = saved
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                word = "end" if isinstance(node, _End) else "else"
                raise self.error(f"unexpected {{{{{word}}}}}", node.pos)
            nodes.append(node)
        self.add(self.name, ListNode(0, nodes), 0)
        return self.trees

    def add(self, name: str, root: ListNode, pos: int) -> None:
        tree = Tree(name, root, self.text, self.source)
        old = self.trees.get(name)
        if old is None or old.is_empty():
            self.trees[name] = tree
        elif not tree.is_empty():
            raise self.error(f'template: multiple definition of template "{name}"', pos)

    def parse_definition(self, pos: int) -> None:
        context = "define clause"
        tok = self.next_non_space()
        if tok.typ not in (Tok.STRING, Tok.RAW_STRING):
            raise self.unexpected(tok, context)
        name = self.unquote_tok(tok)
        self.expect(Tok.RIGHT_DELIM, context)
        saved = self.vars
        self.vars = ["$"]
        nodes, end = self.item_list()
        self.vars = saved
        if not isinstance(end, _End):
            raise self.error(f"unexpected {{{{else}}}} in {context}", end.pos)
        self.add(name, ListNode(pos, nodes), pos)

    def item_list(self) -> tuple[list[Node], Node]:
        nodes: list[Node] = []
        while self.peek_non_space().typ is not Tok.EOF:
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return nodes, node
            nodes.append(node)
        raise self.error("unexpected EOF", len(self.text))

    def text_or_action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ is Tok.TEXT:
            return TextNode(tok.pos, tok.val)
        if tok.typ is Tok.LEFT_DELIM:
            return self.action()
        raise self.unexpected(tok, "input")

    def action(self) -> Node:
        tok = self.next_non_space()
        typ = tok.typ
        if typ is Tok.BLOCK:
            return self.block_control(tok)
        if typ is Tok.BREAK or typ is Tok.CONTINUE:
            if self.range_depth == 0:
                raise self.error(f"{{{{{tok.val}}}}} outside {{{{range}}}}", tok.pos)
            nxt = self.next_non_space()
            if nxt.typ is not Tok.RIGHT_DELIM:
                raise self.unexpected(nxt, f"{{{{{tok.val}}}}}")
            return BreakNode(tok.pos) if typ is Tok.BREAK else ContinueNode(tok.pos)
        if typ is Tok.ELSE:
            peek = self.peek_non_space()
            if peek.typ is Tok.IF or peek.typ is Tok.WITH:
                return _Else(tok.pos)
            self.expect(Tok.RIGHT_DELIM, "else")
            return _Else(tok.pos)
        if typ is Tok.END:
            self.expect(Tok.RIGHT_DELIM, "end")
            return _End(tok.pos)
        if typ is Tok.IF:
            return self.if_control(tok)
        if typ is Tok.RANGE:
            return self.range_control(tok)
        if typ is Tok.WITH:
            return self.with_control(tok)
        if typ is Tok.TEMPLATE:
            return self.template_control(tok)
        self.backup()
        start = self.peek()
        return ActionNode(start.pos, self.pipeline("command", Tok.RIGHT_DELIM))

    def parse_control(self, tok: Token, context: str) -> tuple[Pipeline, ListNode, ListNode | None]:
        self.enter(tok.pos)
        nvars = len(self.vars)
        pipe = self.pipeline(context, Tok.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        nodes, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_list: ListNode | None = None
        if isinstance(nxt, _Else):
            peek = self.peek_non_space()
            if context == "if" and peek.typ is Tok.IF:
                if_tok = self.next_non_space()
                else_list = ListNode(nxt.pos, [self.if_control(if_tok)])
            elif context == "with" and peek.typ is Tok.WITH:
                with_tok = self.next_non_space()
                else_list = ListNode(nxt.pos, [self.with_control(with_tok)])
            else:
                else_nodes, end = self.item_list()
                if not isinstance(end, _End):
                    raise self.error("expected end; found {{else}}", end.pos)
                else_list = ListNode(nxt.pos, else_nodes)
        del self.vars[nvars:]
        self.depth -= 1
        return pipe, ListNode(tok.pos, nodes), else_list

    def if_control(self, tok: Token) -> Node:
        pipe, body, else_list = self.parse_control(tok, "if")
        return IfNode(tok.pos, pipe, body, else_list, is_with=False)

    def with_control(self, tok: Token) -> Node:
        pipe, body, else_list = self.parse_control(tok, "with")
        return WithNode(tok.pos, pipe, body, else_list)

    def range_control(self, tok: Token) -> Node:
        pipe, body, else_list = self.parse_control(tok, "range")
        return RangeNode(tok.pos, pipe, body, else_list)

    def template_name(self, tok: Token, context: str) -> str:
        if tok.typ in (Tok.STRING, Tok.RAW_STRING):
            return self.unquote_tok(tok)
        raise self.unexpected(tok, context)

    def template_control(self, tok: Token) -> Node:
        context = "template clause"
        name = self.template_name(self.next_non_space(), context)
        pipe: Pipeline | None = None
        if self.next_non_space().typ is not Tok.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Tok.RIGHT_DELIM)
        return TemplateNode(tok.pos, name, pipe)

    def block_control(self, tok: Token) -> Node:
        context = "block clause"
        name = self.template_name(self.next_non_space(), context)
        pipe = self.pipeline(context, Tok.RIGHT_DELIM)
        self.enter(tok.pos)
        saved_vars, saved_range = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        nodes, end = self.item_list()
        self.vars, self.range_depth = saved_vars, saved_range
        self.depth -= 1
        if not isinstance(end, _End):
            raise self.error(f"unexpected {{{{else}}}} in {context}", end.pos)
        self.add(name, ListNode(tok.pos, nodes), tok.pos)
        return TemplateNode(tok.pos, name, pipe)

    # -- pipelines ------------------------------------------------------------

    def pipeline(self, context: str, end: Tok) -> Pipeline:
        start = self.peek_non_space()
        decl: list[str] = []
        is_assign = False
        peek = self.peek_non_space()
        if peek.typ is Tok.VARIABLE:
            j = self.i
            while self.toks[j].typ is Tok.SPACE:
                j += 1
            k = j + 1
            while self.toks[k].typ is Tok.SPACE:
                k += 1
            after = self.toks[k]
            if after.typ in (Tok.DECLARE, Tok.ASSIGN):
                self.i = k + 1
                is_assign = after.typ is Tok.ASSIGN
                if is_assign and peek.val not in self.vars:
                    raise self.error(f'undefined variable "{peek.val}"', peek.pos)
                decl.append(peek.val)
                self.vars.append(peek.val)
            elif after.typ is Tok.CHAR and after.val == ",":
                if context != "range":
                    raise self.error(f"too many declarations in {context}", after.pos)
                self.i = k + 1
                second = self.next_non_space()
                if second.typ is not Tok.VARIABLE:
                    raise self.error("range can only initialize variables", second.pos)
                op = self.next_non_space()
                if op.typ not in (Tok.DECLARE, Tok.ASSIGN):
                    raise self.error(f"too many declarations in {context}", op.pos)
                is_assign = op.typ is Tok.ASSIGN
                for var in (peek, second):
                    if is_assign and var.val not in self.vars:
                        raise self.error(f'undefined variable "{var.val}"', var.pos)
                    decl.append(var.val)
                    self.vars.append(var.val)
        cmds: list[Command] = []
        while True:
            tok = self.next_non_space()
            if tok.typ is end:
                if not cmds:
                    raise self.error(f"missing value for {context}", tok.pos)
                for n, cmd in enumerate(cmds[1:], start=2):
                    if not cmd.first.executable:
                        raise self.error(
                            f"non executable command in pipeline stage {n}", cmd.first.pos
                        )
                text = self.text[start.pos : tok.pos].strip()
                return Pipeline(start.pos, text, decl, is_assign, cmds)
            if tok.typ in _OPERAND_START:
                self.backup()
                cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def command(self) -> Command:
        args: list[Arg] = []
        pos = self.peek_non_space().pos
        while True:
            self.peek_non_space()
            while self.peek().typ is Tok.SPACE:
                self.next()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.typ is Tok.SPACE:
                continue
            if tok.typ in (Tok.RIGHT_DELIM, Tok.RIGHT_PAREN):
                self.backup()
            elif tok.typ is Tok.PIPE:
                pass
            else:
                raise self.unexpected(tok, "operand")
            break
        if not args:
            raise self.error("empty command", pos)
        return Command(pos, args)

    def operand(self) -> Arg | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ is Tok.FIELD:
            fields: list[str] = []
            while self.peek().typ is Tok.FIELD:
                fields.append(self.next().val[1:])
            end = self.toks[self.i].pos
            text = self.text[node.pos : end]
            if isinstance(node, FieldChainArg):
                return FieldChainArg(node.pos, text, node.receiver, node.fields + fields)
            if isinstance(node, Const | NilArg | DotArg):
                raise self.error(f"unexpected . after term {go_quote(node.text)}", node.pos)
            return FieldChainArg(node.pos, text, node, fields)
        return node

    def term(self) -> Arg | None:
        tok = self.next_non_space()
        typ = tok.typ
        if typ is Tok.IDENTIFIER:
            name = tok.val
            if name in ("and", "or") and self.funcs.get(name) in (builtins.and_, builtins.or_):
                return AndOrArg(tok.pos, name, is_or=name == "or")
            fn = self.funcs.get(name)
            if fn is None:
                raise self.error(f'function "{name}" not defined', tok.pos)
            return FuncArg(tok.pos, name, name, fn)
        if typ is Tok.DOT:
            return DotArg(tok.pos, ".")
        if typ is Tok.NIL:
            return NilArg(tok.pos, "nil")
        if typ is Tok.VARIABLE:
            if tok.val not in self.vars:
                raise self.error(f'undefined variable "{tok.val}"', tok.pos)
            return VariableArg(tok.pos, tok.val, tok.val)
        if typ is Tok.FIELD:
            return FieldChainArg(tok.pos, tok.val, None, [tok.val[1:]])
        if typ is Tok.BOOL:
            return Const(tok.pos, tok.val, tok.val == "true")
        if typ in (Tok.NUMBER, Tok.CHAR_CONSTANT):
            return Const(tok.pos, tok.val, self.number(tok))
        if typ in (Tok.STRING, Tok.RAW_STRING):
            return Const(tok.pos, tok.val, self.unquote_tok(tok))
        if typ is Tok.LEFT_PAREN:
            self.enter(tok.pos)
            pipe = self.pipeline("parenthesized pipeline", Tok.RIGHT_PAREN)
            self.depth -= 1
            end = self.toks[self.i - 1].pos + 1
            return PipeArg(tok.pos, self.text[tok.pos : end], pipe)
        self.backup()
        return None

    # -- literals ---------------------------------------------------------------

    def unquote_tok(self, tok: Token) -> str:
        try:
            return unquote(tok.val)
        except ValueError as exc:
            raise self.error(str(exc), tok.pos) from None

    def number(self, tok: Token) -> int | float | complex:
        text = tok.val
        try:
            if tok.typ is Tok.CHAR_CONSTANT:
                value = unquote(text)
                if len(value) != 1:
                    raise ValueError
                return ord(value)
            return parse_number(text)
        except ValueError:
            raise self.error(f"bad number syntax: {text!r}".replace("'", '"'), tok.pos) from None


def parse_number(text: str) -> int | float | complex:
    """A Go number constant as text/template evaluates it (int unless it has ``.eEpP``)."""
    clean = text.replace("_", "")
    if clean.endswith("i"):
        return complex(0, parse_number(clean[:-1]).real)
    sign = 1
    body = clean
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    lower = body.lower()
    if lower.startswith("0x"):
        if "p" in lower or "." in lower:
            return sign * float.fromhex(body)
        return sign * int(body[2:], 16)
    if lower.startswith("0o"):
        return sign * int(body[2:], 8)
    if lower.startswith("0b"):
        return sign * int(body[2:], 2)
    if any(c in lower for c in ".e"):
        return sign * float(body)
    if len(body) > 1 and body[0] == "0":
        return sign * int(body, 8)
    return sign * int(body)


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def unquote(text: str) -> str:
    """Go's ``strconv.Unquote`` for "...", `...` and '...'."""
    if len(text) < 2:
        raise ValueError("invalid syntax")
    q = text[0]
    if q == "`":
        return text[1:-1].replace("\r", "")
    if q not in "\"'" or text[-1] != q:
        raise ValueError("invalid syntax")
    body = text[1:-1]
    if "\\" not in body:
        return body
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            if (e == "'" and q == '"') or (e == '"' and q == "'"):
                raise ValueError("invalid syntax")
            out += _SIMPLE_ESCAPES[e].encode()
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            code = int(digits, 16)
            if e == "x":
                out.append(code)  # a byte: "\xc3\xa9" is one UTF-8 character
            else:
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise ValueError("invalid syntax")
                out += chr(code).encode("utf-8")
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise ValueError("invalid syntax")
            code = int(digits, 8)
            if code > 255:
                raise ValueError("invalid syntax")
            out.append(code)
            i += 4
        else:
            raise ValueError("invalid syntax")
    return out.decode("utf-8", "replace")
