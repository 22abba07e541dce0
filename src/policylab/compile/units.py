"""Dimensional analysis: infer the units of every equation and check them against the declared ones.

``check_units(model)`` returns one :class:`UnitIssue` per problem and never raises on a
model's unit strings. The engine does no unit conversion, so the check is strict about
scale too: ``month`` and ``day`` are the same dimension but a flow in ``person/month``
feeding a stock in a ``day`` model is reported.

How unit strings are read
-------------------------
* Empty means *undeclared*: the variable's units are inferred from its equation where
  it has one, and checks that need them are skipped.
* ``1``, ``dmnl``, ``dimensionless``, ``unitless``, ``nondimensional`` and ``fraction``
  are dimensionless.
* Operators: ``*``, ``/``, ``per``, ``^`` or ``**`` with a number, parentheses, and
  juxtaposition (``person day``); so ``1/day``, ``day^-1`` and ``persons per day`` read.
* Words are case-insensitive and reduced to a simple English singular (``people`` →
  ``person``, ``-ies`` → ``-y``, ``-sses/-xes/-ches/-shes`` lose ``es``, otherwise a final
  ``s`` is dropped unless the word ends in ``ss``, ``us`` or ``is``; in ``Force_units``
  only the last ``_`` part changes). Write a word the same way everywhere to be safe.
* A first ``_`` part ``thousand``, ``million``, ``billion`` (or ``bn``) or ``trillion``
  scales the rest: ``Million_people`` is 10⁶ person and ``Bn_dollars/Million_people``
  equals ``Thousand_dollars/person``.
* Time words (second, minute, hour, day, week, fortnight, month, year, decade, century
  and the abbreviations sec, min, hr, yr) are time units with pint's standard
  definitions (a month is a twelfth of a 365.25-day year). Every other word becomes a
  base dimension of its own. The registry is deliberately built from these definitions
  only: pint's full registry would read common model words as physics (``units`` is a
  luminance unit there, ``points`` a length, ``quarter`` a mass, ``cycles`` 2π radians).

How equations are inferred
--------------------------
A bare number takes the units of what it is added to, subtracted from or compared with
(``1 - x``, ``population - 1``) and is dimensionless in ``*`` and ``/``. Names of
variables with undeclared units are inferred from their equations; anything that
cannot be known (an undeclared constant, an unknown name) silences the checks it feeds.
``TIME``, ``DT`` and their XMILE synonyms have the model's time unit. Builtins follow
their semantics (see ``_SIGNATURES``). A lookup's output is dimensionless unless it declares
units; its input must be dimensionless or (for time series) in the model's time unit,
unless the lookup declares ``"input units -> output units"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeAlias

import pint

from policylab.errors import Location
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
    UnaryOp,
    children,
    names_in,
    to_text,
)
from policylab.expr.builtins import BUILTINS, find_builtin
from policylab.model.ir import Auxiliary, Flow, Lookup, Model, Stock


@dataclass(frozen=True)
class UnitIssue:
    """One dimensional inconsistency: which variable, where, its equation and what is wrong."""

    variable: str
    where: Location
    equation: str
    message: str

    def __str__(self) -> str:
        head = f"{self.where}: {self.variable}: {self.message}"
        return f"{head}\n    equation: {self.equation}" if self.equation else head


class _Wild:
    """The units of a bare number: whatever it is combined with in ``+``, ``-`` or a comparison."""


WILD = _Wild()
Units: TypeAlias = "pint.Quantity | _Wild | None"  # None: unknown

_TIME_DEFINITIONS = (
    "second = [time] = sec",
    "minute = 60 * second = min",
    "hour = 60 * minute = hr",
    "day = 24 * hour",
    "week = 7 * day",
    "fortnight = 2 * week",
    "year = 365.25 * day = yr",
    "month = year / 12",
    "decade = 10 * year",
    "century = 100 * year",
)
_TIME_WORDS = frozenset(
    word.strip() for line in _TIME_DEFINITIONS for i, word in enumerate(line.split("=")) if i != 1
)
_DIMENSIONLESS_WORDS = frozenset({"dmnl", "dimensionless", "unitless", "nondimensional", "fraction"})
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child"}
_CLOCK_NAMES = frozenset({"time", "dt", "starttime", "stoptime", "initial_time", "final_time", "time_step"})
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|(?P<word>[^\W\d]\w*)|(?P<op>\*\*|[-*/^()]))")


class _Unreadable(Exception):
    """A unit string that cannot be read (turned into a UnitIssue, never raised to callers)."""


def _singular(word: str) -> str:
    """A simple English singular of the last ``_`` part of a lower-case word."""
    head, sep, last = word.rpartition("_")
    if last in _IRREGULAR:
        last = _IRREGULAR[last]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "xes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 2:
        last = last[:-1]
    return head + sep + last


def _text(expr: Expr) -> str:
    """An expression as text for messages, without the outer brackets ``to_text`` adds."""
    text = to_text(expr)
    wrapped = isinstance(expr, (BinOp, Compare, BoolOp, Not, IfThenElse, UnaryOp)) and text.startswith("(")
    return text[1:-1] if wrapped and text.endswith(")") else text


def _number(expr: Expr) -> float | None:
    """The value of an expression made only of numbers, ``+ - * /`` and unary minus; else None."""
    match expr:
        case Num(value=value):
            return value
        case UnaryOp(op=op, operand=operand):
            value = _number(operand)
            return None if value is None else -value if op == "-" else value
        case BinOp(op="+" | "-" | "*" | "/" as op, left=a, right=b):
            x, y = _number(a), _number(b)
            if x is None or y is None or (op == "/" and y == 0):
                return None
            return x + y if op == "+" else x - y if op == "-" else x * y if op == "*" else x / y
    return None


def check_units(model: Model) -> list[UnitIssue]:
    """Infer the units of every equation of ``model`` and report each inconsistency.

    Checked: a flow's or auxiliary's equation against its declared units; a stock's
    initial value against the stock's units; every flow of a stock against stock units
    per model time unit; and, inside equations, the operands of ``+``, ``-``,
    comparisons, ``if`` branches and builtins (see the module docstring for the rules).
    """
    return _Checker(model).run()


class _Checker:
    """Holds the private unit registry, the caches and the issues found for one model."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.registry = pint.UnitRegistry(None)  # empty: only the definitions below, no pint defaults
        for line in _TIME_DEFINITIONS:
            self.registry.define(line)
        self.one = self.registry.Quantity(1)
        self.issues: list[UnitIssue] = []
        self.memo: dict[tuple[str, str], Units] = {}
        self.context: list[tuple[str, Location, str]] = []
        self.declared_cache: dict[tuple[str, int], pint.Quantity | None] = {}
        self.defined: set[str] = set()
        try:
            self.time: pint.Quantity | None = self.read(model.time.units)
        except _Unreadable as err:
            self.time = None
            self.issues.append(UnitIssue("time", Location(str(model.path) or "<string>"), "",
                                         f"cannot read the model's time units {model.time.units!r} ({err}); use day, week, month or year"))

    # -- reading unit strings -------------------------------------------------------
    def read(self, text: str) -> pint.Quantity:
        """Parse a unit string, defining unknown words as new base dimensions."""
        text = text.replace("%", " percent ").replace("$", " dollar ").strip()
        parts, pos = [], 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise _Unreadable(f"unexpected {text[pos:].strip()[:1]!r}")
            pos = match.end()
            word = match.group("word")
            number = match.group("number")  # as a float, so 2^2^2^2^2^2 overflows instead of hanging
            parts.append(self._word(word) if word else repr(float(number)) if number else match.group("op"))
        try:
            value = self.registry.parse_expression(" ".join(parts)) if parts else self.one
        except Exception as err:  # pint's parser raises many unrelated types on malformed input
            raise _Unreadable(str(err) or type(err).__name__) from err
        quantity = value if isinstance(value, self.registry.Quantity) else self.registry.Quantity(value)
        if not isinstance(quantity.magnitude, (int, float)) or not 0 < quantity.magnitude < math.inf:
            raise _Unreadable("a scale factor must be a positive number")
        if not all(math.isfinite(power) for _, power in quantity.unit_items()):
            raise _Unreadable("an exponent is too large")
        return quantity

    def _word(self, word: str) -> str:
        lower = word.lower()
        if lower == "per":
            return "/"
        if lower in _DIMENSIONLESS_WORDS:
            return "1"
        name = _singular(lower)
        if name in _TIME_WORDS or name in self.defined:
            return name
        scale, _, rest = name.partition("_")
        definition = f"{_SCALES[scale]!r} * {self._word(rest)}" if scale in _SCALES and rest else f"[{name}]"
        try:
            self.registry.define(f"{name} = {definition}")
        except Exception as err:  # as above: pint's definition parser
            raise _Unreadable(f"{word!r} is not a usable unit name") from err
        self.defined.add(name)
        return name

    def declared(self, name: str, part: int = 1) -> pint.Quantity | None:
        """A variable's declared units (part 0: a lookup's input); None when undeclared or unreadable.

        A lookup may declare ``"input -> output"``; other variables one unit string.
        """
        if (name, part) not in self.declared_cache:
            var = self.model.variables[name]
            pieces = var.units.split("->", 1) if isinstance(var, Lookup) and "->" in var.units else ["", var.units]
            units = None
            if pieces[part].strip():
                try:
                    units = self.read(pieces[part])
                except _Unreadable as err:
                    self.issues.append(UnitIssue(name, var.where, "",
                                                 f"cannot read units {var.units!r} of variable {name} ({err}); "
                                                 "write units like person, person/day, 1/year or 1"))
            self.declared_cache[name, part] = units
        return self.declared_cache[name, part]

    # -- comparing and showing ------------------------------------------------------
    def show(self, q: pint.Quantity) -> str:
        units = str(q.units)
        return units if math.isclose(q.magnitude, 1.0) else f"{q.magnitude:g} {units}"

    def differ(self, a: pint.Quantity, b: pint.Quantity) -> str | None:
        """None when ``a`` and ``b`` are the same units, else a note ("" for different dimensions)."""
        ratio = (a / b).to_base_units()
        if not ratio.dimensionless:
            return ""
        if math.isclose(ratio.magnitude, 1.0, rel_tol=1e-9):
            return None
        return (f" (the same dimension but a different scale: 1 {self.show(a)} = {ratio.magnitude:.6g} {self.show(b)}; "
                f"PolicyLab does not convert units, so convert explicitly with a constant in {self.show(b / a)})")

    def report(self, message: str) -> None:
        name, where, equation = self.context[-1]
        self.issues.append(UnitIssue(name, where, equation, message))

    def agree(self, items: list[tuple[str, Units]], what: str) -> Units:
        """The common units of ``items`` (text, units); report the first disagreement."""
        known = [(text, u) for text, u in items if isinstance(u, pint.Quantity)]
        if not known:
            return None if any(u is None for _, u in items) else WILD
        first_text, first = known[0]
        for text, u in known[1:]:
            note = self.differ(first, u)
            if note is not None:
                self.report(f"{what} must have the same units, but `{first_text}` is {self.show(first)} and "
                            f"`{text}` is {self.show(u)}{note}; change one of them")
                return None
        return first

    def same(self, exprs: tuple[Expr, ...], what: str) -> Units:
        return self.agree([(_text(e), self.infer(e)) for e in exprs], what)

    def expect(self, expr: Expr, want: pint.Quantity | None, what: str) -> None:
        self.expect_units(expr, self.infer(expr), want, what)

    def expect_units(self, expr: Expr, got: Units, want: pint.Quantity | None, what: str) -> None:
        if isinstance(got, pint.Quantity) and want is not None:
            note = self.differ(got, want)
            if note is not None:
                self.report(f"{what} should be {self.show(want)}, but `{_text(expr)}` is {self.show(got)}{note}")

    # -- units of names -------------------------------------------------------------
    def memoised(self, key: tuple[str, str], compute) -> Units:  # type: ignore[no-untyped-def]
        """Compute once per key; a key met again while being computed (a cycle) is unknown."""
        if key not in self.memo:
            self.memo[key] = None
            self.memo[key] = compute()
        return self.memo[key]

    def in_context(self, name: str, expr: Expr, text: str) -> Units:
        self.context.append((name, self.model.variables[name].where, text or _text(expr)))
        try:
            return self.infer(expr)
        finally:
            self.context.pop()

    def own_units(self, name: str, var: Flow | Auxiliary | Stock) -> Units:
        """The units of a variable's own expression: a stock's initial value, else its equation."""
        expr, text = (var.initial, var.initial_text) if isinstance(var, Stock) else (var.equation, var.equation_text)
        return self.memoised(("own", name), lambda: self.in_context(name, expr if expr is not None else Num(0.0), text))

    def units_of(self, name: str) -> Units:
        """The units a reference to ``name`` has: declared, else inferred, else unknown."""
        var = self.model.variables.get(name)
        if var is None:
            return self.time if name in _CLOCK_NAMES else None
        if isinstance(var, Lookup):
            return self.declared(name) if var.units.split("->", 1)[-1].strip() else self.one
        if var.units.strip():
            return self.declared(name)
        if isinstance(var, (Flow, Auxiliary)) and var.equation is not None:
            found = self.own_units(name, var)
        elif isinstance(var, Stock):
            found = self.memoised(("stock", name), lambda: self._stock_from_flows(name, var))
        else:
            return None
        return found if isinstance(found, pint.Quantity) else None

    def _stock_from_flows(self, name: str, stock: Stock) -> Units:
        """An undeclared stock: its first known flow times the time unit, else its initial value's units."""
        for flow in stock.inflows + stock.outflows:
            units = self.units_of(flow)
            if isinstance(units, pint.Quantity) and self.time is not None:
                return units * self.time
        return self.own_units(name, stock)

    # -- inference over the AST -----------------------------------------------------
    def infer(self, expr: Expr) -> Units:
        match expr:
            case Num():
                return WILD
            case Name(name=name):
                return self.units_of(name)
            case UnaryOp(operand=operand):
                return self.infer(operand)
            case BinOp(op="+" | "-" | "mod" as op, left=a, right=b):
                return self.same((a, b), f"the two sides of '{op.upper()}'")
            case BinOp(op="*" | "/" as op, left=a, right=b):
                return self.product(self.infer(a), self.infer(b), op)
            case BinOp(op="^", left=a, right=b):
                return self.power(a, b)
            case Compare(op=op, left=a, right=b):
                self.same((a, b), f"the two sides of '{op}'")
                return self.one
            case BoolOp() | Not():
                self.infer_all(children(expr))
                return self.one
            case IfThenElse(condition=c, then=a, otherwise=b):
                self.infer(c)
                return self.same((a, b), "the THEN and ELSE branches")
            case Call():
                return self.call(expr)
        return None  # subscripts and compile-stage nodes: unknown

    def product(self, a: Units, b: Units, op: str) -> Units:
        if a is None or b is None:
            return None
        if a is WILD and b is WILD:
            return WILD
        left = self.one if a is WILD else a
        right = self.one if b is WILD else b
        return left * right if op == "*" else left / right

    def power(self, base: Expr, exponent: Expr) -> Units:
        """``base ^ exponent``: a base with units needs a constant number as exponent (``x ^ (1/2)``)."""
        units = self.infer(base)
        self.expect(exponent, self.one, "an exponent")
        value = _number(exponent)
        if not isinstance(units, pint.Quantity):
            return units
        if value is not None and math.isfinite(value):
            return units**value
        if self.differ(units, self.one) is None:
            return self.one
        self.report(f"`{_text(base)}` is {self.show(units)} and can be raised only to a constant number, but the "
                    f"exponent `{_text(exponent)}` is not one; divide the base by a reference value in {self.show(units)}")
        return None

    def lookup(self, table: str, arg: Expr) -> Units:
        """A lookup's output units; its input must match the declared input units, else be dimensionless or time."""
        got = self.infer(arg)
        wanted = self.declared(table, 0)
        if wanted is not None:
            self.expect_units(arg, got, wanted, f"the input of lookup {table}")
        elif isinstance(got, pint.Quantity) and self.differ(got, self.one) is not None and (
            self.time is None or self.differ(got, self.time) is not None
        ):
            self.report(f"lookup {table} takes a dimensionless input (or the model's time), but `{_text(arg)}` is "
                        f"{self.show(got)}; divide it by a reference value in {self.show(got)}, or declare the "
                        f"lookup's units as \"{self.show(got)} -> output units\"")
        return self.units_of(table)

    def call(self, node: Call) -> Units:
        """Units of a lookup or builtin call; builtins follow their signature in ``_SIGNATURES``."""
        args = node.args
        if isinstance(self.model.variables.get(node.func), Lookup) and len(args) == 1:
            return self.lookup(node.func, args[0])
        spec = find_builtin(node.func)
        name = spec.name if spec is not None and spec.min_args <= len(args) <= (spec.max_args or len(args)) else ""
        if name == "lookup" and isinstance(args[0], Name) and isinstance(self.model.variables.get(args[0].name), Lookup):
            return self.lookup(args[0].name, args[1])
        if name not in _SIGNATURES:
            self.infer_all(args)  # an unknown function or a wrong arity: the compiler reports it
            return None
        label = name.upper()
        params, result = _SIGNATURES[name].split(" -> ")
        patterns = params.split()
        if patterns and patterns[-1].endswith("..."):
            patterns[-1:] = [patterns[-1][:-3]] * (len(args) - len(patterns) + 1)
        shared = {var: self.agree([(_text(arg), self.infer(arg)) for arg, p in zip(args, patterns) if p == var],
                                  f"these arguments of {label}") for var in "ab"}
        a, b = shared["a"], shared["b"]
        units = {"a": a, "t": self.time, "1": self.one, "1/t": _scaled(self.one, self.time, "/"),
                 "a/t": _scaled(a, self.time, "/"), "a*t": _scaled(a, self.time, "*"),
                 "a/b": self.product(a, b, "/"), "sqrt(a)": a**0.5 if isinstance(a, pint.Quantity) else a}
        for i, (arg, pattern) in enumerate(zip(args, patterns), start=1):
            if pattern == "?":
                self.infer(arg)
            elif pattern not in shared:
                want = units[pattern]
                role = " is a time and" if pattern == "t" else ""
                self.expect(arg, want if isinstance(want, pint.Quantity) else None, f"argument {i} of {label}{role}")
        return units[result]

    def infer_all(self, args: tuple[Expr, ...]) -> None:
        """Infer each expression for the issues inside it; the result is unknown."""
        for arg in args:
            self.infer(arg)

    # -- the checks -----------------------------------------------------------------
    def compare_declared(self, name: str, got: Units, declared: pint.Quantity | None, what: str, text: str) -> None:
        if isinstance(got, pint.Quantity) and declared is not None:
            note = self.differ(got, declared)
            if note is not None:
                var = self.model.variables[name]
                self.issues.append(UnitIssue(name, var.where, text,
                                             f"{what} gives {self.show(got)} but {name} is declared in "
                                             f"{self.show(declared)}{note}; fix the equation or the declared units"))

    def dependency_order(self) -> list[str]:
        """Variables with what their units are inferred from first (iteratively: chains can be 100,000 long).

        Inferring in this order means each variable finds the units of the names it uses
        already memoised, so inference never recurses along a chain of variables.
        """
        variables = self.model.variables
        order: list[str] = []
        seen: set[str] = set()
        for root in variables:
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(self._inferred_from(root)))]
            while stack:
                name, pending = stack[-1]
                following = next((n for n in pending if n not in seen and n in variables), None)
                if following is None:
                    stack.pop()
                    order.append(name)
                else:
                    seen.add(following)
                    stack.append((following, iter(self._inferred_from(following))))
        return order

    def _inferred_from(self, name: str) -> list[str]:
        """The names whose units ``units_of(name)`` may consult."""
        var = self.model.variables[name]
        if var.units.strip() or isinstance(var, Lookup):
            return []
        if isinstance(var, (Flow, Auxiliary)) and var.equation is not None:
            return sorted(names_in(var.equation))
        if isinstance(var, Stock):
            initial = sorted(names_in(var.initial)) if var.initial is not None else []
            return [*var.inflows, *var.outflows, *initial]
        return []

    def run(self) -> list[UnitIssue]:
        for name in self.dependency_order():
            self.units_of(name)
        position = {name: i for i, name in enumerate(self.model.variables)}
        for name, var in self.model.variables.items():
            declared = self.declared(name)
            if isinstance(var, (Flow, Auxiliary)) and var.equation is not None:
                got = self.own_units(name, var)
                self.compare_declared(name, got, declared, "the equation", var.equation_text or _text(var.equation))
            elif isinstance(var, Stock):
                got = self.own_units(name, var)
                self.compare_declared(name, got, declared, "the initial value", var.initial_text)
                self.check_flows(name, var)
            elif isinstance(var, Lookup) and var.input is not None:
                self.context.append((name, var.where, _text(var.input)))
                self.lookup(name, var.input)
                self.context.pop()
        return sorted(self.issues, key=lambda issue: position.get(issue.variable, len(position)))

    def check_flows(self, name: str, stock: Stock) -> None:
        units = self.units_of(name)
        if not isinstance(units, pint.Quantity) or self.time is None:
            return
        want = units / self.time
        for flow in stock.inflows + stock.outflows:
            got = self.units_of(flow)
            var = self.model.variables.get(flow)
            if var is None or not isinstance(got, pint.Quantity):
                continue
            note = self.differ(got, want)
            if note is not None:
                text = getattr(var, "equation_text", "")
                self.issues.append(UnitIssue(flow, var.where, text,
                                             f"flow {flow} is {self.show(got)}, but stock {name} ({self.show(units)}) needs its "
                                             f"flows in {self.show(want)} (stock units per model time unit){note}; "
                                             "fix the flow's units or equation"))


def _scaled(units: Units, by: pint.Quantity | None, op: str) -> Units:
    """``units`` times (``*``) or divided by (``/``) ``by``; a bare number stays a wildcard (``PULSE(10, 5)``)."""
    if units is None or units is WILD:
        return units
    if by is None:
        return None
    return units * by if op == "*" else units / by  # type: ignore[operator]


# The units signature of each builtin (the registry's ``units`` column): argument patterns -> result.
# ``a`` and ``b`` are any units, shared by every argument so marked; ``t`` is the model's time unit;
# ``1`` is dimensionless; ``?`` is anything (a condition or a seed); ``...`` repeats the last pattern.
# Optional trailing arguments simply follow the pattern when present.
_SIGNATURES: dict[str, str] = {name: row.units for name, row in BUILTINS.items() if row.units is not None}
