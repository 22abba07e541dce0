"""Parse one Vensim equation with a lark grammar into a typed definition (never ``eval``).

The expression tree is PolicyLab's own (``policylab.expr.ast``); function calls keep their
Vensim name in canonical spelling (``delay_fixed``, ``if_then_else``) and are mapped onto the
op registry by ``policylab.formats.vensim.functions``. Two nodes exist only here: an inline
table (``WITH LOOKUP``'s second argument) and a quoted string (the file arguments of
``GET XLS``), which the mapping either resolves or refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylab.errors import ModelFileError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, Name, Not, Num, Subscript, UnaryOp, children
from policylab.expr.names import canonical
from policylab.expr.parser import MAX_NESTING, nesting

MAX_LENGTH = 200_000
MAX_DEPTH = 250
"""Operations deep an equation may go; the compiler walks trees recursively, as the expression parser's limit does."""
NA_VALUE = -1.298074214633707e33
"""Vensim's :NA: (the number it prints for "not available")."""

_Lhs = tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]
"""A left side: the name as written, its subscripts, its :EXCEPT: lists."""
DefinitionKind = Literal["assign", "value_list", "unchangeable", "lookup", "lookup_call", "data", "keyword", "subscript_range", "bare"]


@dataclass(frozen=True)
class Table:
    """A lookup's points (its ``[(xmin,ymin)-(xmax,ymax)]`` range only sizes Vensim's plot, so it is not kept)."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True)
class Text:
    """A quoted string argument (``'inputs.xlsx'``), only meaningful to the data functions."""

    value: str


@dataclass(frozen=True)
class Definition:
    """What one equation says: ``name`` (canonical), ``display`` as written, and by ``kind`` an expression or a table."""

    kind: DefinitionKind
    name: str
    display: str
    subscripts: tuple[str, ...] = ()
    """The left side's subscripts (canonical; a dimension, a subrange or an element each)."""
    expr: Expr | None = None
    table: Table | None = None
    keyword: str = ""
    """For a data or keyword definition the keyword; for a subscript range ``:`` or ``<->``."""
    excepts: tuple[tuple[str, ...], ...] = ()
    """``:EXCEPT: [a, b], [c, d]``: the elements the definition leaves out."""
    values: tuple[Expr, ...] = ()
    """A list of values (``1, 2; 3, 4``, ``TABBED ARRAY(1 2 3)``), row by row."""
    rest: str = ""
    """A subscript range's right side as written (``a, b, (c1-c3) -> Other``)."""


def display_name(token: str) -> str:
    """The name as the author wrote it, without its enclosing quotes and with runs of white space as one space."""
    text = token.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return " ".join(text.split())


def name_key(token: str) -> str:
    """The canonical spelling of a Vensim name: quotes ignored (as the conformance rule reads names), else as XMILE."""
    return canonical(display_name(token).replace('"', ""))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("policylab.formats.vensim").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


class _ToDefinition(Transformer_NonRecursive):
    """Turn lark's parse tree into a Definition with our expression dataclasses."""

    # -- expressions
    @v_args(inline=True)
    def number(self, token: Token) -> Num:
        return Num(float(token))

    @v_args(inline=True)
    def na(self, _token: Token) -> Num:
        return Num(NA_VALUE)

    @v_args(inline=True)
    def string(self, token: Token) -> Text:
        return Text(str(token)[1:-1])

    @v_args(inline=True)
    def name(self, token: Token) -> str:
        return str(token)

    @v_args(inline=True)
    def reference(self, name: str) -> Name:
        return Name(name_key(name))

    @v_args(inline=True)
    def subscripted(self, name: str, indices: tuple[str, ...]) -> Subscript:
        return Subscript(name_key(name), indices)

    def subscripts(self, items: list) -> tuple[str, ...]:
        return tuple(item for item in items if isinstance(item, str) and not isinstance(item, Token))

    def index(self, items: list) -> str:
        return name_key(items[0]) + ("!" if len(items) > 1 else "")

    def excepted(self, items: list) -> tuple[tuple[str, ...], ...]:
        return tuple(item for item in items if isinstance(item, tuple))

    def tabbed(self, items: list) -> tuple[Num, ...]:
        return tuple(Num(item) for item in items if isinstance(item, float))

    def call(self, items: list) -> Call:
        return Call(name_key(items[0]), tuple(items[1:]))

    def subscripted_call(self, items: list) -> Call:
        return Call(name_key(items[0]), (Subscript(name_key(items[0]), items[1]), *items[2:]))

    @v_args(inline=True)
    def with_lookup(self, _token: Token, arg: Expr, table: Table) -> Call:
        return Call("with_lookup", (arg, table))  # type: ignore[arg-type]

    @v_args(inline=True)
    def unary(self, op: Token, operand: Expr) -> Expr:
        if isinstance(operand, Num):
            return Num(-operand.value if op == "-" else operand.value)
        return UnaryOp(str(op), operand)  # type: ignore[arg-type]

    @v_args(inline=True)
    def binop(self, left: Expr, op: Token, right: Expr) -> BinOp:
        return BinOp(str(op), left, right)  # type: ignore[arg-type]

    @v_args(inline=True)
    def power(self, left: Expr, _op: Token, right: Expr) -> BinOp:
        return BinOp("^", left, right)

    @v_args(inline=True)
    def compare(self, left: Expr, op: Token, right: Expr) -> Compare:
        return Compare(str(op), left, right)  # type: ignore[arg-type]

    @v_args(inline=True)
    def compare_eq(self, left: Expr, right: Expr) -> Compare:
        return Compare("=", left, right)

    @v_args(inline=True)
    def bool_or(self, left: Expr, _op: Token, right: Expr) -> BoolOp:
        return BoolOp("or", left, right)

    @v_args(inline=True)
    def bool_and(self, left: Expr, _op: Token, right: Expr) -> BoolOp:
        return BoolOp("and", left, right)

    @v_args(inline=True)
    def bool_not(self, _op: Token, operand: Expr) -> Not:
        return Not(operand)

    # -- tables
    @v_args(inline=True)
    def signed(self, *tokens: Token) -> float:
        value = float(tokens[-1])
        return -value if len(tokens) == 2 and tokens[0] == "-" else value

    @v_args(inline=True)
    def point(self, x: float, y: float) -> tuple[float, float]:
        return (x, y)

    def range(self, _items: list) -> None:
        return None

    def point_table(self, items: list) -> Table:
        points = [item for item in items if isinstance(item, tuple)]
        return Table(tuple(p[0] for p in points), tuple(p[1] for p in points))

    def list_table(self, items: list) -> Table:
        numbers = [item for item in items if isinstance(item, float)]
        if len(numbers) % 2:
            raise ValueError(f"a lookup given as x values then y values needs as many of each; got {len(numbers)} numbers")
        half = len(numbers) // 2
        return Table(tuple(numbers[:half]), tuple(numbers[half:]))

    # -- definitions
    @v_args(inline=True)
    def lhs(self, name: str, subscripts: tuple[str, ...] = (), excepts: tuple[tuple[str, ...], ...] = ()) -> _Lhs:
        return (name, subscripts, excepts)

    def _definition(self, kind: DefinitionKind, lhs: _Lhs, **fields: object) -> Definition:
        name, subscripts, excepts = lhs
        return Definition(kind, name_key(name), display_name(name), subscripts,  # type: ignore[arg-type]
                          excepts=excepts, **fields)

    @v_args(inline=True)
    def assign(self, lhs: _Lhs, expr: Expr) -> Definition:
        return self._definition("assign", lhs, expr=expr)

    def value_list(self, items: list) -> Definition:
        values = items[1] if len(items) == 2 and isinstance(items[1], tuple) else tuple(items[1:])
        return self._definition("value_list", items[0], values=values)

    @v_args(inline=True)
    def unchangeable(self, lhs: _Lhs, expr: Expr) -> Definition:
        return self._definition("unchangeable", lhs, expr=expr)

    @v_args(inline=True)
    def lookup_def(self, lhs: _Lhs, table: Table) -> Definition:
        return self._definition("lookup", lhs, table=table)

    @v_args(inline=True)
    def lookup_from_call(self, lhs: _Lhs, call: Call) -> Definition:
        return self._definition("lookup_call", lhs, expr=call)

    def data_def(self, items: list) -> Definition:
        """``x := GET DATA(…)``, ``x :HOLD BACKWARD: := …`` (the keyword kept), or ``x :=`` alone (a .vdf's data)."""
        keyword = next((" ".join(str(i).split()).upper() for i in items[1:] if isinstance(i, Token)
                        and i.type == "KEYWORD"), ":=")
        expr = items[-1] if not isinstance(items[-1], (Token, tuple)) else None
        return self._definition("data", items[0], keyword=keyword, expr=expr)

    def keyword_def(self, items: list) -> Definition:
        return self._definition("keyword", items[0], keyword=" ".join(str(items[1]).split()).upper())

    def subscript_def(self, items: list) -> Definition:
        rest = str(items[2]) if len(items) > 2 else ""
        return self._definition("subscript_range", items[0], keyword=str(items[1]), rest=rest)

    @v_args(inline=True)
    def bare(self, lhs: _Lhs) -> Definition:
        return self._definition("bare", lhs)


def _describe(err: UnexpectedInput, text: str) -> str:
    line = getattr(err, "line", 1) or 1
    column = getattr(err, "column", 1) or 1
    row = text.splitlines()[line - 1] if text.splitlines() and line - 1 < len(text.splitlines()) else text
    pointer = f"\n    {row.strip()}"
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        return "the equation ends too early (an operand or ')' is missing)" + pointer
    if isinstance(err, UnexpectedCharacters):
        return f"unexpected character {text[err.pos_in_stream]!r} (equation line {line}, column {column})" + pointer
    if isinstance(err, UnexpectedToken):
        shown = str(err.token) if err.token.type != "REST" else str(err.token)[:1]
        return f"unexpected {shown!r} (equation line {line}, column {column})" + pointer
    return f"syntax error (equation line {line}, column {column})" + pointer


def parse_definition(text: str, where: str) -> Definition:
    """Parse the equation part of one record; ModelFileError naming ``where`` (file:line) on failure."""
    if len(text) > MAX_LENGTH:
        raise ModelFileError(f"{where}: the equation is {len(text):,} characters long (limit {MAX_LENGTH:,})")
    if nesting(text) > MAX_NESTING:
        raise ModelFileError(f"{where}: brackets nest deeper than {MAX_NESTING} levels; simplify the equation")
    try:
        tree = _parser().parse(text)
        definition = _ToDefinition().transform(tree)
    except UnexpectedInput as err:
        raise ModelFileError(f"{where}: cannot parse the equation: {_describe(err, text)}") from err
    except (LarkError, RecursionError, ValueError) as err:
        cause = err.orig_exc if hasattr(err, "orig_exc") else err
        raise ModelFileError(f"{where}: cannot parse the equation: {cause}") from err
    if definition.expr is not None and _depth(definition.expr) > MAX_DEPTH:
        raise ModelFileError(f"{where}: {definition.display}: the equation nests operations more than {MAX_DEPTH} deep "
                             "(a sum of that many terms, say); split it into intermediate variables")
    return definition


def _depth(expr: Expr) -> int:
    """How many operations deep the tree goes (counted without recursion: the tree may be very deep)."""
    deepest, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(node))
    return deepest


__all__ = ["Definition", "NA_VALUE", "Table", "Text", "display_name", "name_key", "parse_definition"]
