"""Fuzzing the expression parser: any text either parses or fails with a PolicyLabError.

Four sources of input: arbitrary text, soups of the grammar's own tokens, expressions
generated from the grammar (which must parse, to the tree they were generated from, and
survive a round trip through ``to_text``), and random mutations of valid equations.
Any other exception fails the test; a hang is stopped by pytest-timeout. The default run
tries a few hundred cases per test; ``-m slow`` runs the same checks on many more.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylab import PolicyLabError
from policylab.errors import ExpressionError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp, to_text
from policylab.expr.parser import MAX_LENGTH, MAX_NESTING, parse
from policylab.model.arrays import combine

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parses_or_fails_cleanly(text: object) -> Expr | None:
    """The tree for ``text``, or None after a PolicyLabError with a message; anything else propagates."""
    try:
        return parse(text, "fuzz.yaml:1: f.equation")  # type: ignore[arg-type]
    except PolicyLabError as err:
        assert isinstance(err, ExpressionError)
        assert str(err).startswith("fuzz.yaml:1: f.equation: ")
        assert len(str(err)) > len("fuzz.yaml:1: f.equation: ")
        return None


# --- inputs -----------------------------------------------------------------------------

KEYWORDS = {"if", "then", "else", "and", "or", "not", "mod"}
TOKENS = [
    "if", "IF", "then", "else", "and", "or", "not", "mod", "MOD", "(", ")", "[", "]", ",", "+", "-", "*", "/",
    "^", "**", "<", "<=", "=", "==", "<>", "!=", ">", ">=", "&&", "||", "!", "0", "1", "2.5", ".5", "5.",
    "1e3", "1E-7", "1e999", "x", "y_2", "TIME", "dt", "SMOOTH", "MIN", '"quoted name"', '""', "{comment}",
    "{", "}", "$", "a.b", "'", "\\", "\n", "\t", "é", "名前",
]
EQUATION_CHARS = "0123456789.eE+-*/^()[],<>=!&|{}\"'$_ abcxyzIFTHENLSifthenlsmod\t\n"

names = st.from_regex(r"[a-z][a-z0-9]{0,3}(_[a-z0-9]{1,3}){0,2}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
numbers = st.floats(min_value=0, max_value=1e300, allow_nan=False, allow_infinity=False)


def generated_trees() -> st.SearchStrategy[Expr]:
    """Trees of every node kind, as the parser would build them (negative literals folded)."""
    leaves = st.one_of(numbers.map(Num), names.map(Name),
                       st.builds(Subscript, names, st.lists(names | st.just("*"), min_size=1, max_size=3).map(tuple)))

    def extend(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.builds(BinOp, st.sampled_from(["+", "-", "*", "/", "^", "mod"]), inner, inner),
            st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "=", "<>"]), inner, inner),
            st.builds(BoolOp, st.sampled_from(["and", "or"]), inner, inner),
            st.builds(Not, inner),
            st.builds(UnaryOp, st.sampled_from(["-", "+"]), inner.filter(lambda e: not isinstance(e, Num))),
            st.builds(IfThenElse, inner, inner, inner),
            st.builds(Call, names, st.lists(inner, max_size=4).map(tuple)),
        )

    return st.recursive(leaves, extend, max_leaves=25)


SPELLINGS = {"^": ["^", "**"], "=": ["=", "=="], "<>": ["<>", "!="], "and": ["and", "AND", "&&"],
             "or": ["or", "Or", "||"], "mod": ["mod", "MOD"]}


def render(tree: Expr, style: int) -> str:
    """Source text for ``tree`` in spellings, spacing, case and comments chosen by ``style``."""
    rng = random.Random(style)

    def gap() -> str:
        return rng.choice(["", " ", "  ", "\t", "\n", " {note} "])

    def word(text: str) -> str:
        return rng.choice([text, text.upper(), text.capitalize()])

    def go(node: Expr) -> str:
        match node:
            case Num(value=v):
                return repr(v) if v else rng.choice(["0", "0.0", ".0", "0e5"])
            case Name(name=n):
                return word(n)
            case Subscript(name=n, indices=idx):
                return f"{word(n)}[{','.join(gap() + i + gap() for i in idx)}]"
            case UnaryOp(op=op, operand=o):
                return f"({op}{gap()}({go(o)}))"  # bracketed: -a ^ 2 means -(a ^ 2)
            case BinOp(op=op, left=a, right=b) | Compare(op=op, left=a, right=b) | BoolOp(op=op, left=a, right=b):
                spelled = rng.choice(SPELLINGS.get(op, [op]))
                pad = " " if spelled[0].isalpha() else gap()
                return f"({gap()}{go(a)}{pad}{spelled}{pad}{go(b)}{gap()})"
            case Not(operand=o):
                return f"({word('not')} {go(o)})"
            case IfThenElse(condition=c, then=t, otherwise=o):
                return f"({word('if')} {go(c)} {word('then')} {go(t)} {word('else')} {go(o)})"
            case Call(func=f, args=args):
                return f"{word(f)}{gap()}({','.join(gap() + go(a) + gap() for a in args)})"
        raise TypeError(node)

    return gap() + go(tree) + gap()


EDITS = st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 6), st.integers(0, 4), st.sampled_from(TOKENS) | st.text(EQUATION_CHARS, max_size=3)),
    min_size=1, max_size=4,
)


def mutate(text: str, edits: list[tuple[float, int, int, str]]) -> str:
    """Apply edits (where, span length, kind, text): delete, insert, duplicate, move or replace a span."""
    for where, length, kind, insert in edits:
        i = round(where * len(text))
        j = min(len(text), i + length)
        text = [
            text[:i] + text[j:],
            text[:i] + insert + text[i:],
            text[:j] + text[i:j] + text[j:],
            text[:i] + text[j:] + text[i:j],
            text[:i] + insert + text[j:],
        ][kind]
    return text


VALID_EQUATIONS = [
    "contact_rate * susceptible * infected / population",
    "IF TIME > 5 THEN SMOOTH(x, 3) ELSE 0",
    "MIN(a, b, c) + MAX(1, 2) - ABS(-x) ^ 2",
    "XIDZ(births, population, 0) * effect_of_crowding(density)",
    "not (a < b and c >= d or e <> f)",
    "\"Quoted Name\" + \"other one\" ** 2 mod 3",
    "-x ^ -2 + +y - - z",
    "PULSE(3, 1, 1.5) + STEP(2, 3) + RAMP(0.5, 2, 8)",
    "LOOKUP(table, TIME / 10) {a comment} * 1.5e-3",
    "population[region, *] * share[1]",
    "if a then if b then 1 else 2 else 3",
    "DELAY_FIXED(orders, delivery_time, 0) + TREND(x, 4, 0.1)",
]


# --- the checks -------------------------------------------------------------------------

def check_arbitrary_text(text: str) -> None:
    parses_or_fails_cleanly(text)


def check_generated_tree(tree: Expr, style: int) -> None:
    text = render(tree, style)
    parsed = parse(text)
    assert parsed == tree, text
    assert parse(to_text(parsed)) == parsed


def check_mutated_equation(base: str, edits: list[tuple[float, int, int, str]]) -> None:
    parses_or_fails_cleanly(mutate(base, edits))


valid_equations = st.sampled_from(VALID_EQUATIONS) | st.builds(render, generated_trees(), st.integers(0, 2**32))


@FAST
@given(st.text(max_size=300))
def test_arbitrary_unicode_text_parses_or_raises_an_expression_error(text: str) -> None:
    check_arbitrary_text(text)


@FAST
@given(st.text(EQUATION_CHARS, max_size=120))
def test_text_made_of_equation_characters_parses_or_raises_an_expression_error(text: str) -> None:
    check_arbitrary_text(text)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_soups_of_grammar_tokens_parse_or_raise_an_expression_error(text: str) -> None:
    check_arbitrary_text(text)


@FAST
@given(generated_trees(), st.integers(0, 2**32))
def test_every_grammar_shaped_expression_parses_to_its_tree_and_round_trips(tree: Expr, style: int) -> None:
    check_generated_tree(tree, style)


@FAST
@given(valid_equations, EDITS)
def test_mutated_valid_equations_parse_or_raise_an_expression_error(base: str, edits) -> None:  # type: ignore[no-untyped-def]
    check_mutated_equation(base, edits)


@pytest.mark.slow
@SLOW
@given(st.text(max_size=300))
def test_many_arbitrary_texts_parse_or_raise_an_expression_error(text: str) -> None:
    check_arbitrary_text(text)


@pytest.mark.slow
@SLOW
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join))
def test_many_token_soups_parse_or_raise_an_expression_error(text: str) -> None:
    check_arbitrary_text(text)


@pytest.mark.slow
@SLOW
@given(generated_trees(), st.integers(0, 2**32))
def test_many_grammar_shaped_expressions_parse_to_their_trees(tree: Expr, style: int) -> None:
    check_generated_tree(tree, style)


@pytest.mark.slow
@SLOW
@given(valid_equations, EDITS)
def test_many_mutated_equations_parse_or_raise_an_expression_error(base: str, edits) -> None:  # type: ignore[no-untyped-def]
    check_mutated_equation(base, edits)


# --- the limits -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1),
        "(" * 5000,
        "-" * 5000 + "1",
        "not " * 3000 + "x",
        "x^" * 3000 + "1",
        "+".join(["x"] * 3000),
        "MIN(" + ",".join(["x"] * 5000) + ")",
        "f(" * 2000 + ")" * 2000,
        "1" * (MAX_LENGTH + 1),
        "x" * 10_000,
        "1" * 400,
        "\x00\x01\x02",
        "\ud800",
    ],
    ids=["nesting-limit", "open-brackets", "unary-minus-chain", "not-chain", "power-tower", "long-sum", "many-args",
         "nested-calls", "too-long", "long-name", "huge-number", "control-characters", "lone-surrogate"],
)
def test_pathological_equations_parse_or_raise_an_expression_error(text: str) -> None:
    parses_or_fails_cleanly(text)


@pytest.mark.parametrize("value", [None, 3, 2.5, b"x + 1", ["x"], {"a": 1}])
def test_non_text_equations_raise_an_expression_error_naming_the_type(value: object) -> None:
    with pytest.raises(ExpressionError, match=r"an equation must be text or a number, got \w+"):
        parse(value)  # type: ignore[arg-type]


def test_blank_equations_say_they_are_empty() -> None:
    with pytest.raises(ExpressionError, match="the equation is empty"):
        parse(" \t\n ")


def test_to_text_keeps_negative_literals_and_infinity_parseable() -> None:
    for text in ["(-3) ^ 2", "(-x) ^ 2", "1e999", "-1e999 * x", "2 - -3"]:
        tree = parse(text)
        assert parse(to_text(tree)) == tree, text


def test_double_star_is_power_like_caret_found_by_the_fuzzer() -> None:
    assert parse("x ** 2") == parse("x ^ 2") == BinOp("^", Name("x"), Num(2.0))
    assert parse("2**3**2") == parse("2 ^ (3 ^ 2)")


def test_an_equation_of_the_length_limit_parses_and_one_character_more_is_refused() -> None:
    total = to_text(combine("sum", [Name("x")] * (MAX_LENGTH // 8)))  # balanced, as writers write long sums
    body = f"{total} + {'y' * (MAX_LENGTH - len(total) - 3)}"
    assert len(body) == MAX_LENGTH and isinstance(parse(body), BinOp)
    with pytest.raises(ExpressionError, match=rf"the equation is {MAX_LENGTH + 1:,} characters long \(limit "
                                              rf"{MAX_LENGTH:,}\)"):
        parse(body + "y")
