"""XMILE equation text to our AST: parse, then map XMILE's names onto PolicyLab's builtins.

The grammar (``policylab.expr``) already reads XMILE syntax; what differs is meaning:

- ``INT`` is the floor and ``MOD`` the floored modulus (the sign of the divisor), as the
  XMILE 1.0 standard defines them (3.3.1, 3.5.1) and Stella computes them: PolicyLab's ``int``
  and ``modulo``. Files written by Vensim (``<product>`` "Vensim", or "Vensim, xmutil")
  spell Vensim's INTEGER and MODULO that way, which truncate toward zero and keep the sign
  of the dividend (the SDXorg test outputs show it): there they map to ``trunc`` and ``fmod``.
- ``RANDOM`` is ``uniform``; ``FORCST`` is ``forecast``; ``PULSE(m)`` pulses at the start time.
- ``Dim.elem`` outside subscripts is the element's position in its dimension (3.7.1).
- ``STARTTIME``, ``STOPTIME``, ``PI`` and ``INF`` are numbers, and ``SELF`` is the variable
  whose equation it is (3.5.6), unless the model defines a variable of that name.
- ``std.`` (the XMILE namespace, 3.2.2.3) before a function or constant is dropped.
- An equation Vensim's export could not write (``???``) is refused with that explanation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from policylab.errors import ExpressionError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp
from policylab.expr.parser import parse

#: XMILE (and Stella/Vensim-export) function names whose PolicyLab builtin has another name.
FUNCTION_NAMES: dict[str, str] = {
    "int": "int",
    "mod": "modulo",
    "random": "uniform",
    "forcst": "forecast",
    "exprnd": "exponential",
    "smth1": "smooth",
    "smth3": "smooth3",
    "smthn": "smoothn",
    "delay": "delay_fixed",
    "integer": "trunc",
}
#: What Vensim's exports mean by these names (see the module docstring).
VENSIM_FUNCTION_NAMES: dict[str, str] = {**FUNCTION_NAMES, "int": "trunc", "mod": "fmod"}
#: XMILE 1.0 builtins PolicyLab does not compute: refused by name rather than as unknown functions.
UNSUPPORTED_FUNCTIONS: dict[str, str] = {
    "rank": "RANK (the index of the element of a given rank in an array, XMILE 3.7.1.3)",
}
STD_PREFIX = "std."
UNEXPORTED = "???"

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
    if text.strip() == UNEXPORTED:
        raise ExpressionError(f"{where}: the equation is {UNEXPORTED!r}: the program that wrote this file could not "
                              "export it (Vensim's XMILE export writes ??? for equations it cannot translate, such as "
                              "lists of values of a subscripted variable); write the equation into the file")
    for name in context.spaced:  # EXPRESSION MACRO(x) calls the macro named "EXPRESSION MACRO"
        words = r"[ \t_]+".join(re.escape(w) for w in name.split())
        text = re.sub(rf"(?i)(?<![\w$.]){words}(?=[ \t]*\()", "_".join(name.split()), text)
    try:
        expr = parse(text.replace("\r", " "), where)
    except ExpressionError as err:
        hint = unsupported_syntax(text)
        if hint is None:
            raise
        raise ExpressionError(f"{err}\n{hint}") from err
    return to_policylab(expr, context, where)


_SPACED_CALL = re.compile(r"([A-Za-z_$][\w$]*(?:[ \t]+[A-Za-z_$][\w$]*)+)[ \t]*\(")
_SYNTAX: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\[[^\]]*:[^\]]*\]"), "unsupported: array ranges such as A[1:3] (XMILE 3.7.1.2); list the "
                                          "elements, or use a subrange dimension"),
    (re.compile(r"[\w\]\)]'"), "unsupported: the transposition operator ' (XMILE 3.7.1.1); subscript the array with "
                                "its dimension names in the order you want"),
    (re.compile(r"\[[^\]]*@"), "unsupported: dimension positions such as A[@2, @1] (XMILE 3.7.1.1); subscript the "
                               "array with its dimension names in the order you want"),
)


def unsupported_syntax(text: str) -> str | None:
    """Why an equation that does not parse may be using XMILE syntax PolicyLab does not read (None: no idea)."""
    bare = _COMMENT.sub(" ", re.sub(r'"[^"]*"', '""', text))
    for pattern, message in _SYNTAX:
        if pattern.search(bare):
            return message
    match = _SPACED_CALL.search(bare)
    if match and " " in match.group(1).strip():
        name = " ".join(match.group(1).split())
        return (f"'{name}(...)' calls a function whose name has spaces: neither a builtin nor a <macro> of this file "
                "(Vensim macros are exported this way without their definition); define the macro in the file as "
                "<macro name=\"...\">, or replace the call by its equation")
    return None


@dataclass(frozen=True)
class EquationContext:
    """What name mapping needs to know: reserved numbers, the names the model defines, whose equation it is."""

    constants: dict[str, float]
    defined: frozenset[str]
    functions: dict[str, str] = field(default_factory=lambda: FUNCTION_NAMES)
    owner: str = ""  # the variable whose equation is read: what SELF means
    spaced: tuple[str, ...] = ()  # macro names with spaces, called so in Vensim's exports

    @classmethod
    def of(cls, start: float, stop: float, defined: frozenset[str], *, vensim: bool = False,
           spaced: tuple[str, ...] = (), positions: Mapping[str, float] | None = None) -> EquationContext:
        """The context of one model; ``vensim`` for files Vensim wrote (INT and MOD truncate there);
        ``positions``: ``dim.elem`` -> the element's 1-based position, its value outside subscripts (3.7.1)."""
        reserved = {"starttime": start, "stoptime": stop, "pi": math.pi, "inf": math.inf}
        numbers = {k: v for k, v in reserved.items() if k not in defined}
        numbers.update({k: v for k, v in (positions or {}).items() if k.split(".")[0] not in defined})
        return cls(numbers, defined, VENSIM_FUNCTION_NAMES if vensim else FUNCTION_NAMES, spaced=spaced)

    def naming(self, owner: str) -> EquationContext:
        """This context for the equation of ``owner``."""
        return replace(self, owner=owner)


def to_policylab(expr: Expr, context: EquationContext, where: str) -> Expr:
    """Rewrite XMILE meanings into PolicyLab builtins, bottom-up."""
    constants = context.constants
    match expr:
        case Name(name=n) if n.startswith(STD_PREFIX) and n[len(STD_PREFIX):] in constants:
            return Num(constants[n[len(STD_PREFIX):]])
        case Name(name=n) if n in constants:
            return Num(constants[n])
        case Name(name="self") if context.owner and "self" not in context.defined:
            return Name(context.owner)
        case Subscript(name="self", indices=idx) if context.owner and "self" not in context.defined:
            return Subscript(context.owner, idx)
        case Num() | Name() | Subscript():
            return expr
        case UnaryOp(op=op, operand=o):
            return UnaryOp(op, to_policylab(o, context, where))
        case BinOp(op="mod", left=a, right=b) if context.functions["mod"] == "fmod":
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
            if f.startswith(STD_PREFIX) and f not in context.defined:
                f = f[len(STD_PREFIX):]
            if f in UNSUPPORTED_FUNCTIONS and f not in context.defined:
                raise ExpressionError(f"{where}: unsupported: {UNSUPPORTED_FUNCTIONS[f]}; compute it with IF THEN "
                                      "ELSE over the elements")
            func = f if f in context.defined else context.functions.get(f, f)
            if func == "pulse" and len(new_args) == 1:
                new_args = (new_args[0], Num(constants.get("starttime", 0.0)))
            return Call(func, new_args)
    raise ExpressionError(f"{where}: unexpected expression node {expr!r}")
