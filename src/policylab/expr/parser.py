"""Parse equation text into the typed AST with a lark LALR grammar (never ``eval``)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylab.errors import ExpressionError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp
from policylab.expr.names import canonical, element_name

MAX_NESTING = 100
MAX_LENGTH = 200_000
"""Characters of one equation: the Vensim reader's own limit, so that an equation read from a .mdl file (vector
functions expanded: up to 78,336 characters in the Vensim suite) is written as YAML or XMILE and read back. Parsing
is linear (a 268,885-character balanced sum: 1.1 s CPU, 30 MB peak), so the cost of a file stays bounded by its
size (``MODEL_BYTES``), whatever this limit; it bounds one parse's memory (docs/security.md)."""

_COMPARE_SPELLINGS = {"==": "=", "!=": "<>"}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("policylab.expr").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


@v_args(inline=True)
class _ToAst(Transformer):
    """Turn lark's parse tree into our dataclasses."""

    def number(self, token: Token) -> Num:
        return Num(float(token))

    def name(self, token: Token) -> Name:
        return Name(canonical(str(token)))

    def index(self, token: Token) -> str:
        return "*" if token.type == "STAR" else canonical(str(token))

    def subscript(self, name: Name, *indices: str) -> Subscript:
        return Subscript(name.name, tuple(indices))

    def subscript_call(self, name: Name, *parts: str | Expr) -> Call:
        """``t[a, b](x)``: a call of one element's lookup, named as the element (``t[a,b]``; arrays resolve it)."""
        indices = [part for part in parts if isinstance(part, str)]
        return Call(element_name(name.name, tuple(indices)), tuple(p for p in parts if not isinstance(p, str)))

    def call(self, name: Name, *args: Expr) -> Call:
        return Call(name.name, tuple(a for a in args if a is not None))

    def unary(self, op: Token, operand: Expr) -> Expr:
        if isinstance(operand, Num):
            return Num(-operand.value if op == "-" else operand.value)
        return UnaryOp(str(op), operand)  # type: ignore[arg-type]

    def binop(self, left: Expr, op: Token, right: Expr) -> BinOp:
        text = str(op).lower()
        return BinOp(text, left, right)  # type: ignore[arg-type]

    def power(self, left: Expr, _op: Token, right: Expr) -> BinOp:
        return BinOp("^", left, right)

    def compare(self, left: Expr, op: Token, right: Expr) -> Compare:
        text = _COMPARE_SPELLINGS.get(str(op), str(op))
        return Compare(text, left, right)  # type: ignore[arg-type]

    def bool_or(self, left: Expr, _op: Token, right: Expr) -> BoolOp:
        return BoolOp("or", left, right)

    def bool_and(self, left: Expr, _op: Token, right: Expr) -> BoolOp:
        return BoolOp("and", left, right)

    def bool_not(self, _op: Token, operand: Expr) -> Not:
        return Not(operand)

    def if_then_else(self, _if: Token, cond: Expr, _then: Token, a: Expr, _else: Token, b: Expr) -> IfThenElse:
        return IfThenElse(cond, a, b)


def nesting(text: str) -> int:
    """How deep brackets nest in ``text`` (checked before parsing, so deep input never reaches the parser)."""
    depth = deepest = 0
    for char in text:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


def _describe(err: UnexpectedInput, text: str) -> str:
    column = getattr(err, "column", None) or (getattr(err, "pos_in_stream", 0) or 0) + 1
    start = max(column - 61, 0) if len(text) > 300 else 0  # a long equation: the 120 characters around the error
    window = text[start: start + 120] if len(text) > 300 else text
    pointer = f"\n    {window}\n    {' ' * max(column - 1 - start, 0)}^"
    if isinstance(err, UnexpectedEOF):
        return "the equation ends too early (an operand or ')' is missing)" + pointer
    if isinstance(err, UnexpectedCharacters):
        return f"unexpected character {text[err.pos_in_stream]!r} at column {column}" + pointer
    if isinstance(err, UnexpectedToken):
        if err.token.type == "$END":
            return "the equation ends too early (an operand or ')' is missing)" + pointer
        return f"unexpected {str(err.token)!r} at column {column}" + pointer
    return f"syntax error at column {column}" + pointer


def writable(text: str, what: str) -> str:
    """``text``, an equation a writer wrote, when :func:`parse` reads it back (at most ``MAX_LENGTH`` characters);
    else an ExpressionError naming ``what``, so that no file is written that its reader refuses."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{what}: the equation is {len(text):,} characters long once written, over the "
                              f"{MAX_LENGTH:,} the readers accept (docs/security.md); the file would not read back, "
                              "so it is not written")
    return text


def _cut(text: str, width: int = 300) -> str:
    """``text`` cut to ``width`` characters for a message (an equation may be 200,000)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _shown(text: str) -> str:
    """The equation as a message quotes it: whole when short, else its start and length."""
    return repr(text) if len(text) <= 300 else f"{text[:200]!r}… ({len(text):,} characters)"


def parse(text: str, where: str = "<expression>") -> Expr:
    """Parse one equation; raise ExpressionError naming ``where`` and the column on failure."""
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: an equation must be text or a number, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ExpressionError(f"{where}: the equation is empty; write a number or a formula")
    if len(stripped) > MAX_LENGTH:
        raise ExpressionError(f"{where}: the equation is {len(stripped):,} characters long (limit {MAX_LENGTH:,})")
    if nesting(stripped) > MAX_NESTING:
        raise ExpressionError(f"{where}: brackets nest deeper than {MAX_NESTING} levels; simplify the equation")
    try:
        tree = _parser().parse(stripped)
        return _ToAst().transform(tree)
    except UnexpectedInput as err:
        raise ExpressionError(f"{where}: cannot parse {_shown(stripped)}: {_describe(err, stripped)}") from err
    except (LarkError, RecursionError) as err:
        raise ExpressionError(f"{where}: cannot parse {_shown(stripped)}: {_cut(str(err))}") from err
