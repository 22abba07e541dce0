"""Typed, immutable expression trees produced by the parser and consumed by the compiler."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

ArithOp = Literal["+", "-", "*", "/", "^", "mod"]
CompareOp = Literal["<", "<=", ">", ">=", "=", "<>"]
BoolOpName = Literal["and", "or"]


@dataclass(frozen=True)
class Num:
    """A numeric literal."""

    value: float


@dataclass(frozen=True)
class Name:
    """A reference to a variable (canonical spelling) or to TIME/DT."""

    name: str


@dataclass(frozen=True)
class Subscript:
    """An array element reference ``name[a, b]`` (indices are element names, numbers or ``*``)."""

    name: str
    indices: tuple[str, ...]


@dataclass(frozen=True)
class UnaryOp:
    """Unary minus or plus."""

    op: Literal["-", "+"]
    operand: Expr


@dataclass(frozen=True)
class BinOp:
    """Arithmetic on two operands."""

    op: ArithOp
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Compare:
    """A comparison, true as 1.0 and false as 0.0."""

    op: CompareOp
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp:
    """Logical ``and`` / ``or`` (non-zero is true)."""

    op: BoolOpName
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    """Logical negation."""

    operand: Expr


@dataclass(frozen=True)
class IfThenElse:
    """``if c then a else b``, evaluated element-wise over the ensemble."""

    condition: Expr
    then: Expr
    otherwise: Expr


@dataclass(frozen=True)
class Call:
    """A builtin or lookup call; ``func`` is the canonical lower-case name."""

    func: str
    args: tuple[Expr, ...]


Expr: TypeAlias = Num | Name | Subscript | UnaryOp | BinOp | Compare | BoolOp | Not | IfThenElse | Call


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``node``."""
    match node:
        case UnaryOp(operand=o) | Not(operand=o):
            return (o,)
        case BinOp(left=a, right=b) | Compare(left=a, right=b) | BoolOp(left=a, right=b):
            return (a, b)
        case IfThenElse(condition=c, then=t, otherwise=o):
            return (c, t, o)
        case Call(args=args):
            return args
        case _:
            return ()


def map_children(node: Expr, change: Callable[[Expr], Expr]) -> Expr:
    """``node`` rebuilt with ``change`` applied to each direct sub-expression (a leaf comes back as it is)."""
    match node:
        case UnaryOp(operand=o) | Not(operand=o):
            return replace(node, operand=change(o))
        case BinOp(left=a, right=b) | Compare(left=a, right=b) | BoolOp(left=a, right=b):
            return replace(node, left=change(a), right=change(b))
        case IfThenElse(condition=c, then=t, otherwise=o):
            return IfThenElse(change(c), change(t), change(o))
        case Call(func=f, args=args):
            return Call(f, tuple(change(a) for a in args))
    return node


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def names_in(node: Expr) -> set[str]:
    """The canonical variable names an expression refers to (lookup calls included)."""
    found: set[str] = set()
    for sub in walk(node):
        if isinstance(sub, Name):
            found.add(sub.name)
        elif isinstance(sub, Subscript):
            found.add(sub.name)
    return found


def to_text(node: Expr, name_of: Callable[[str], str] | None = None) -> str:
    """Render an expression back to source text (fully parenthesised where needed) that the parser reads back.

    ``name_of`` renders variable, function and subscript names (default: as they are); a writer passes one
    that quotes names which are not identifiers.
    """
    show = name_of or (lambda name: name)

    def go(node: Expr) -> str:
        match node:
            case Num(value=v):
                value = float(v)
                if value in (float("inf"), float("-inf")):
                    text = "1e999"  # the literal that overflows to infinity when parsed
                else:
                    text = str(int(abs(value))) if value.is_integer() and abs(value) < 1e15 else repr(abs(value))
                negative = value < 0 or (value == 0 and str(value).startswith("-"))  # -0.0 keeps its sign
                return f"(-{text})" if negative else text  # bracketed: -3 ^ 2 would parse as -(3 ^ 2)
            case Name(name=n):
                return show(n)
            case Subscript(name=n, indices=idx):
                return f"{show(n)}[{', '.join(i if i == '*' or i.endswith('!') else show(i) for i in idx)}]"
            case UnaryOp(op=op, operand=o):
                return f"({op}({go(o)}))"
            case BinOp(op=op, left=a, right=b):
                sep = f" {op.upper()} " if op == "mod" else f" {op} "
                return f"({go(a)}{sep}{go(b)})"
            case Compare(op=op, left=a, right=b) | BoolOp(op=op, left=a, right=b):
                return f"({go(a)} {op} {go(b)})"
            case Not(operand=o):
                return f"(not {go(o)})"
            case IfThenElse(condition=c, then=t, otherwise=o):
                return f"(if {go(c)} then {go(t)} else {go(o)})"
            case Call(func=f, args=args):
                return f"{show(f)}({', '.join(go(a) for a in args)})"
        raise TypeError(f"not an expression node: {node!r}")

    return go(node)
