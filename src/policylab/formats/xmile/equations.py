"""XMILE equation text to our AST: parse, then map XMILE's names onto PolicyLab's builtins.

The grammar (``policylab.expr``) already reads XMILE syntax; what differs is meaning:

- ``INT`` truncates toward zero and ``MOD`` keeps the sign of the dividend, as Vensim and
  the XMILE test suite compute them; they map to the ``trunc`` and ``fmod`` builtins
  (PolicyLab's own ``int`` is floor and ``modulo`` is floor-mod, as in NumPy).
- ``RANDOM`` is ``uniform``; ``FORCST`` is ``forecast``; ``PULSE(m)`` pulses at the start time.
- ``STARTTIME``, ``STOPTIME``, ``PI`` and ``INF`` are numbers, unless the model defines
  a variable of that name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from policylab.errors import ExpressionError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp
from policylab.expr.parser import parse

#: XMILE (and Stella/Vensim-export) function names whose PolicyLab builtin has another name.
FUNCTION_NAMES: dict[str, str] = {
    "int": "trunc",
    "mod": "fmod",
    "random": "uniform",
    "forcst": "forecast",
    "exprnd": "exponential",
    "smth1": "smooth",
    "smth3": "smooth3",
    "smthn": "smoothn",
    "delay": "delay_fixed",
    "integer": "trunc",
}

_COMMENT = re.compile(r"\{[^}]*\}")


def is_blank(text: str) -> bool:
    """True when an equation holds nothing but white space and ``{comments}``."""
    return not _COMMENT.sub("", text).strip()


def split_top_level(text: str) -> list[str]:
    """Split ``text`` at commas outside brackets, quotes and comments (array constant lists)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    quote = comment = False
    for char in text:
        if quote:
            quote = char != '"'
        elif comment:
            comment = char != "}"
        elif char == '"':
            quote = True
        elif char == "{":
            comment = True
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_equation(text: str, where: str, context: EquationContext) -> Expr:
    """Parse one XMILE equation and map XMILE names (see the module docstring)."""
    return to_policylab(parse(text.replace("\r", " "), where), context, where)


@dataclass(frozen=True)
class EquationContext:
    """What name mapping needs to know: reserved numbers and the names the model defines."""

    constants: dict[str, float]
    defined: frozenset[str]

    @classmethod
    def of(cls, start: float, stop: float, defined: frozenset[str]) -> EquationContext:
        reserved = {"starttime": start, "stoptime": stop, "pi": math.pi, "inf": math.inf}
        return cls({k: v for k, v in reserved.items() if k not in defined}, defined)


def to_policylab(expr: Expr, context: EquationContext, where: str) -> Expr:
    """Rewrite XMILE meanings into PolicyLab builtins, bottom-up."""
    constants = context.constants
    match expr:
        case Name(name=n) if n in constants:
            return Num(constants[n])
        case Num() | Name() | Subscript():
            return expr
        case UnaryOp(op=op, operand=o):
            return UnaryOp(op, to_policylab(o, context, where))
        case BinOp(op="mod", left=a, right=b):
            return Call("fmod", (to_policylab(a, context, where), to_policylab(b, context, where)))
        case BinOp(op=op, left=a, right=b):
            return BinOp(op, to_policylab(a, context, where), to_policylab(b, context, where))
        case Compare(op=op, left=a, right=b):
            return Compare(op, to_policylab(a, context, where), to_policylab(b, context, where))
        case BoolOp(op=op, left=a, right=b):
            return BoolOp(op, to_policylab(a, context, where), to_policylab(b, context, where))
        case Not(operand=o):
            return Not(to_policylab(o, context, where))
        case IfThenElse(condition=c, then=t, otherwise=o):
            return IfThenElse(*(to_policylab(x, context, where) for x in (c, t, o)))
        case Call(func=f, args=args):
            new_args = tuple(to_policylab(a, context, where) for a in args)
            func = f if f in context.defined else FUNCTION_NAMES.get(f, f)
            if func == "pulse" and len(new_args) == 1:
                new_args = (new_args[0], Num(constants.get("starttime", 0.0)))
            return Call(func, new_args)
    raise ExpressionError(f"{where}: unexpected expression node {expr!r}")
