"""Helpers for comparing syntax trees in tests."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from vigil.model.matchers import Matcher
from vigil.promql.parser import (
    BinaryExpr,
    Expr,
    Function,
    NumberLiteral,
    ParenExpr,
    UnaryExpr,
)


def key(node: Any) -> Any:
    """A hashable, position-free picture of a tree; matchers compare as a set (printing sorts them)."""
    if isinstance(node, float):
        return "NaN" if math.isnan(node) else node
    if isinstance(node, Function):
        return ("Function", node.name)
    if isinstance(node, list):
        if node and all(isinstance(m, Matcher) for m in node):
            return tuple(sorted((m.name, m.type.value, m.value) for m in node))
        return tuple(key(x) for x in node)
    if hasattr(node, "__dataclass_fields__"):
        return (
            type(node).__name__,
            *tuple((f.name, key(getattr(node, f.name))) for f in fields(node) if f.name != "pos"),
        )
    return node


def shape(node: Expr) -> str:
    """Fully parenthesised text: shows how operators grouped."""
    if isinstance(node, BinaryExpr):
        return f"({shape(node.lhs)} {node.op.value} {shape(node.rhs)})"
    if isinstance(node, UnaryExpr):
        return f"({node.op.value}{shape(node.expr)})"
    if isinstance(node, ParenExpr):
        return f"[{shape(node.expr)}]"
    if isinstance(node, NumberLiteral):
        return str(node)
    return str(node)
