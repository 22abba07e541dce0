"""The expression language: grammar, typed AST, builtin registry (shared by formats and compiler)."""

from policylab.expr.ast import (
    BinOp,
    BoolOp,
    Call,
    Compare,
    Expr,
    IfThenElse,
    Name,
    Not,
    Num,
    Subscript,
    UnaryOp,
    names_in,
)
from policylab.expr.names import canonical
from policylab.expr.parser import parse

__all__ = [
    "BinOp",
    "BoolOp",
    "Call",
    "Compare",
    "Expr",
    "IfThenElse",
    "Name",
    "Not",
    "Num",
    "Subscript",
    "UnaryOp",
    "canonical",
    "names_in",
    "parse",
]
