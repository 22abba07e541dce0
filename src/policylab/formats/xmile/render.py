"""Render our AST as XMILE equation text that our reader (and XMILE tools) read back.

Builtins are written under their XMILE names (``SMTH1``, ``DELAY``, ``FORCST``,
``RANDOM``, ``SAFEDIV``, ``INT`` (floor) and ``MOD`` (floored modulus), as XMILE 1.0 defines
them...). PolicyLab functions without an XMILE equivalent keep a PolicyLab name our reader
knows: ``TRUNC`` (toward zero), ``FMOD`` (the sign of the dividend), ``PULSE_TRAIN``.
Names that are not plain identifiers are quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp
from policylab.expr.builtins import BUILTINS, find_builtin
from policylab.model.arrays import ARRAY_FUNCTIONS

XMILE_FUNCTIONS = {name: row.xmile_name for name, row in BUILTINS.items()
                   if row.xmile_name is not None and row.xmile_name != name.upper()}
_KEYWORDS = frozenset({"if", "then", "else", "and", "or", "not", "mod"})
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w.$]*$")


def quote_name(name: str) -> str:
    """``name`` as an equation token: bare when it is an identifier, else in double quotes."""
    if _IDENTIFIER.match(name) and name.lower() not in _KEYWORDS:
        return name
    return f'"{name}"'


def number(value: float) -> str:
    """A number that reads back bit for bit."""
    value = float(value)
    if value != value:
        raise ValueError("NaN cannot be written as an XMILE number")
    if value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(expr: Expr, name_of: Callable[[str], str] = quote_name) -> str:
    """XMILE text of ``expr``; ``name_of`` renders variable names (arrays, quoting)."""

    def go(node: Expr) -> str:
        match node:
            case Num(value=v):
                text = number(v)
                return f"({text})" if text.startswith("-") else text
            case Name(name=n):
                return name_of(n)
            case Subscript(name=n, indices=idx):
                return f"{name_of(n)}[{', '.join(i if i == '*' else quote_name(i) for i in idx)}]"
            case UnaryOp(op=op, operand=o):
                return f"({op}{go(o)})"
            case BinOp(op="mod", left=a, right=b):
                return f"({go(a)} MOD {go(b)})"
            case BinOp(op=op, left=a, right=b):
                return f"({go(a)} {op} {go(b)})"
            case Compare(op=op, left=a, right=b):
                return f"({go(a)} {op} {go(b)})"
            case BoolOp(op=op, left=a, right=b):
                return f"({go(a)} {op.upper()} {go(b)})"
            case Not(operand=o):
                return f"(NOT {go(o)})"
            case IfThenElse(condition=c, then=t, otherwise=o):
                return f"(IF {go(c)} THEN {go(t)} ELSE {go(o)})"
            case Call(func="if_then_else", args=(c, t, o)):
                return f"(IF {go(c)} THEN {go(t)} ELSE {go(o)})"
            case Call(func=f, args=args):
                return f"{_function(f, name_of)}({', '.join(go(a) for a in args)})"
        raise TypeError(f"not an expression node: {node!r}")

    return go(expr)


def _function(func: str, name_of: Callable[[str], str]) -> str:
    if func in XMILE_FUNCTIONS:
        return XMILE_FUNCTIONS[func]
    if find_builtin(func) is not None or func in ARRAY_FUNCTIONS:
        return func.upper()
    return name_of(func)  # a graphical function called by name
