"""The lexer: token kinds and spans, contextual states, lexical errors."""

from __future__ import annotations

import pytest

from vigil.promql.parser.lexer import DURATION, EOF, ERROR, IDENT, METRIC_IDENT, NUMBER, STRING, lex


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in lex(text)]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("foo", [(IDENT, "foo"), (EOF, "")]),
        ("foo:bar", [(METRIC_IDENT, "foo:bar"), (EOF, "")]),
        ("SUM by", [("sum", "SUM"), ("by", "by"), (EOF, "")]),
        (
            "and OR Unless atan2",
            [("and", "and"), ("or", "OR"), ("unless", "Unless"), ("atan2", "atan2"), (EOF, "")],
        ),
        ("Inf nan", [(NUMBER, "Inf"), (NUMBER, "nan"), (EOF, "")]),
        (
            "1 0x1F .5 5. 1e-3 1_000",
            [
                (NUMBER, "1"),
                (NUMBER, "0x1F"),
                (NUMBER, ".5"),
                (NUMBER, "5."),
                (NUMBER, "1e-3"),
                (NUMBER, "1_000"),
                (EOF, ""),
            ],
        ),
        (
            "5m 1h30m 10s53ms 1y2w 5ms",
            [
                (DURATION, "5m"),
                (DURATION, "1h30m"),
                (DURATION, "10s53ms"),
                (DURATION, "1y2w"),
                (DURATION, "5ms"),
                (EOF, ""),
            ],
        ),
        ("+ - * / % ^ @ , ( )", [(c, c) for c in "+-*/%^@,()"] + [(EOF, "")]),
        (
            "== != < <= > >=",
            [
                ("==", "=="),
                ("!=", "!="),
                ("<", "<"),
                ("<=", "<="),
                (">", ">"),
                (">=", ">="),
                (EOF, ""),
            ],
        ),
        (
            '{a="b",c!="d",e=~"f",g!~"h"}',
            [
                ("{", "{"),
                (IDENT, "a"),
                ("=", "="),
                (STRING, "b"),
                (",", ","),
                (IDENT, "c"),
                ("!=", "!="),
                (STRING, "d"),
                (",", ","),
                (IDENT, "e"),
                ("=~", "=~"),
                (STRING, "f"),
                (",", ","),
                (IDENT, "g"),
                ("!~", "!~"),
                (STRING, "h"),
                ("}", "}"),
                (EOF, ""),
            ],
        ),
        (
            "{by='x'}",
            [("{", "{"), (IDENT, "by"), ("=", "="), (STRING, "x"), ("}", "}"), (EOF, "")],
        ),  # no keywords inside braces
        (
            "x[5m:1m]",
            [
                (IDENT, "x"),
                ("[", "["),
                (DURATION, "5m"),
                (":", ":"),
                (DURATION, "1m"),
                ("]", "]"),
                (EOF, ""),
            ],
        ),
        ("x[300:]", [(IDENT, "x"), ("[", "["), (NUMBER, "300"), (":", ":"), ("]", "]"), (EOF, "")]),
        ("foo # comment\n+ 1", [(IDENT, "foo"), ("+", "+"), (NUMBER, "1"), (EOF, "")]),
        ("`a\\n` 'b'", [(STRING, "a\\n"), (STRING, "b"), (EOF, "")]),
    ],
)
def test_tokens(text: str, tokens: list[tuple[str, str]]) -> None:
    assert kinds(text) == tokens


def test_spans() -> None:
    toks = lex('rate(x{a="é"}[5m])')
    assert [(t.start, t.end) for t in toks] == [
        (0, 4),
        (4, 5),
        (5, 6),
        (6, 7),
        (7, 8),
        (8, 9),
        (9, 12),
        (12, 13),
        (13, 14),
        (14, 16),
        (16, 17),
        (17, 18),
        (18, 18),
    ]


@pytest.mark.parametrize(
    ("text", "message", "start"),
    [
        ("(", "unclosed left parenthesis", 1),
        (")", "unexpected right parenthesis ')'", 1),
        ("x[5m", "unclosed left bracket", 4),
        ("[[", "unexpected left bracket '['", 1),
        ("]", "unexpected right bracket ']'", 0),
        ("{a", "unexpected end of input inside braces", 2),
        ("{{", "unexpected left brace '{'", 1),
        ("{a:b", "unexpected character inside braces: ':'", 2),
        ("{a!b", "unexpected character after '!' inside braces: 'b'", 2),
        ("a !", "unexpected character after '!': U+FFFFFFFF", 2),
        ("$", "unexpected character: '$'", 0),
        ("\x01", "unexpected character: '\\x01'", 0),
        ("x[1:2:3]", "unexpected colon ':'", 5),
        ("x[a]", "unexpected character: 'a', expected ':'", 2),
        ("5mm", 'bad number or duration syntax: "5mm"', 0),
        ("1x", 'bad number or duration syntax: "1"', 0),
        ('"abc', "unterminated quoted string", 0),
    ],
)
def test_lexical_errors_end_the_tokens(text: str, message: str, start: int) -> None:
    last = lex(text)[-1]
    assert (last.kind, last.text, last.start) == (ERROR, message, start)
