"""Vensim functions onto PolicyLab's op registry: one table of spellings, argument orders and rewrites.

Where Vensim and PolicyLab mean the same thing, the registry's ``vensim`` column gives the
spelling (``ABS``, ``DELAY FIXED``, ``IF THEN ELSE``…). The rest is here, each with why:

- ``SMOOTHI``/``SMOOTH3I``/``DELAY1I``/``DELAY3I`` are the forms with an initial value;
- ``SMOOTH N`` and ``DELAY N`` take (input, time, initial, order); the registry's
  ``smoothn``/``delayn`` take (input, time, order, initial);
- ``DELAY FIXED`` rounds its delay time to whole TIME STEPs with halves up (2.5 steps wait
  3), as Vensim does; the engine's pipeline rounds halves to even, so the reader passes it
  ``TIME STEP * INT(delay / TIME STEP + 0.5)``;
- ``PULSE(start, width)`` is 1 from start for width (at least one TIME STEP), which is
  ``PULSE TRAIN(start, width, 0, start + width)``; PolicyLab's own ``pulse`` is a volume;
- ``MIN``/``MAX`` take two arguments, ``MODULO`` is the remainder with the sign of the
  dividend (``fmod``: MODULO(-7, 3) is -1 in Vensim), ``INTEGER`` truncates, ``LOG(x, base)`` is ``LN(x) / LN(base)``, ``POWER(a, b)``
  is ``a ^ b``, ``QUANTUM(x, q)`` is ``q * INTEGER(x / q)``, ``GAME(x)`` is ``x``;
- ``SAMPLE IF TRUE(c, x, initial)`` is a hidden auxiliary ``s = IF c THEN x ELSE PREVIOUS(s, initial)``:
  it holds its last sample while ``c`` is false;
- ``LOOKUP EXTRAPOLATE`` is a copy of the table that extrapolates linearly; ``LOOKUP BACKWARD``
  a copy that holds each point's y until the next x (``discrete``); ``LOOKUP FORWARD``, the y
  of the next point at or above x, is ``LOOKUP BACKWARD`` of the table mirrored in x at -x;
- ``GET TIME VALUE(0, offset, 0)`` is ``Time + offset``, ``GET TIME VALUE(1, offset, 0)`` is
  ``INITIAL TIME + offset`` (the clock form 2 and the calendar measures are refused);
- ``TIME STEP`` is the clock's DT; ``INITIAL TIME``, ``FINAL TIME`` and ``SAVEPER`` are the
  numbers of the model's time settings.

Anything else is refused by name: the message says which construct and that it is not
supported yet, never a silent wrong answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from policylab.errors import ModelFileError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp, map_children
from policylab.expr.builtins import BUILTINS
from policylab.expr.names import canonical
from policylab.formats.vensim.equations import Table, Text

NOT_SUPPORTED = "is not supported yet (docs/vensim.md lists the array functions PolicyLab reads)"

#: Vensim functions with the registry row of the same meaning and argument order (from its ``vensim`` column).
SAME_MEANING: dict[str, str] = {canonical(row.vensim): row.name for row in BUILTINS.values() if row.vensim}
SAME_MEANING.update({
    "min": "min",
    "max": "max",
    "modulo": "fmod",
    "smoothi": "smooth",
    "smooth3i": "smooth3",
    "delay1i": "delay1",
    "delay3i": "delay3",
    "random_uniform": "uniform",
})
for _reordered in ("smooth_n", "delay_n", "if_then_else", "pulse_train", "delay_fixed"):
    SAME_MEANING.pop(_reordered, None)

#: Arity of the Vensim forms (the registry's may be wider: ``smooth`` takes an optional initial value).
VENSIM_ARITY: dict[str, tuple[int, int]] = {
    "smooth": (2, 2), "smoothi": (3, 3), "smooth3": (2, 2), "smooth3i": (3, 3), "delay1": (2, 2), "delay1i": (3, 3),
    "delay3": (2, 2), "delay3i": (3, 3), "delay_fixed": (3, 3), "trend": (3, 3), "forecast": (3, 3),
    "step": (2, 2), "ramp": (3, 3), "random_uniform": (3, 3),
}

#: Vensim constructs refused with a reason (canonical name -> what to say).
NOT_YET: dict[str, str] = {
    "active_initial": "ACTIVE INITIAL is only supported as the whole equation of a variable",
    "integ": "INTEG must be the whole equation of a level: Stock = INTEG(rate, initial value)",
    "a_function_of": "A FUNCTION OF is a placeholder Vensim writes for an unfinished equation; write the equation",
    "allocate_available": NOT_SUPPORTED,
    "vector_lookup": NOT_SUPPORTED,
}
_DATA_PREFIXES = ("get_xls", "get_direct", "get_data", "get_123", "get_vdf")


@dataclass
class Translator:
    """Maps one variable's Vensim expression onto registry builtins; ``where`` is ``file:line: name``."""

    where: str
    lookups: frozenset[str]
    clock: dict[str, Expr]
    add_table: Callable[[Table, str], str]
    """Registers an inline or derived table and returns its variable name (args: table, extrapolation)."""
    table_of: Callable[[str], Table | None]
    add_state: Callable[[Callable[[Name], Expr]], Name]
    """Adds a hidden auxiliary whose equation (built from its own name) may refer to its previous value."""
    dt: float = 0.0
    """The clock's TIME STEP (rounds a DELAY FIXED time given as a number when reading)."""

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.where}: {message}")

    def __call__(self, expr: Expr) -> Expr:
        match expr:
            case Num():
                return expr
            case Name(name=n):
                return self.clock.get(n, expr)
            case Subscript(name=n, indices=idx):  # the subscripts module rewrites every reference it can
                raise self.fail(f"{n}[{', '.join(idx)}]: a subscripted reference where PolicyLab cannot resolve it")
            case UnaryOp() | BinOp() | Compare() | BoolOp() | Not():
                return map_children(expr, self)
            case Call(func=f, args=args):
                return self._call(f, args)
            case Text(value=v):
                raise self.fail(f"a quoted text '{v}' where a number is expected; only the data functions take text")
        raise self.fail(f"unexpected expression {expr!r}")

    def _arity(self, func: str, args: tuple[Expr, ...], low: int, high: int) -> None:
        if not low <= len(args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise self.fail(f"{func.replace('_', ' ').upper()} takes {wanted} arguments, got {len(args)}")

    def _call(self, func: str, raw: tuple[Expr, ...]) -> Expr:
        if func in self.lookups:
            self._arity(func, raw, 1, 1)
            return Call(func, (self(raw[0]),))
        if func == "with_lookup" and len(raw) == 2 and isinstance(raw[1], Table):
            return Call(self.add_table(raw[1], "clamp"), (self(raw[0]),))
        if func in ("lookup_extrapolate", "lookup_forward", "lookup_backward"):
            return self._lookup_variant(func, raw)
        if func == "sample_if_true":
            self._arity(func, raw, 3, 3)
            condition, value, initial = (self(a) for a in raw)
            return self.add_state(lambda me: IfThenElse(condition, value, Call("previous", (me, initial))))
        if func in NOT_YET:
            reason = NOT_YET[func]
            raise self.fail(f"{func.replace('_', ' ').upper()} {reason}" if reason == NOT_SUPPORTED else reason)
        if func == "get_time_value":
            return self._time_value(raw)
        if func.startswith(_DATA_PREFIXES):
            raise self.fail(f"{func.replace('_', ' ').upper()}: PolicyLab reads GET XLS/DIRECT CONSTANTS, LOOKUPS and "
                            "DATA as the whole equation of a variable (GET DATA, GET 123 and GET VDF not at all); "
                            "give the data a variable of its own")
        args = tuple(self(a) for a in raw)
        if func in VENSIM_ARITY:
            self._arity(func, args, *VENSIM_ARITY[func])
        if func == "delay_fixed" and len(args) == 3 and isinstance(args[1], Num) and self.dt > 0:
            steps = math.floor(args[1].value / self.dt + 0.5)  # a number of time units stays one (for units)
            return Call("delay_fixed", (args[0], Num(steps * self.dt), args[2]))
        rewrite = _REWRITES.get(func)
        if rewrite is not None:
            low, high, build = rewrite
            self._arity(func, args, low, high)
            return build(args)
        if func in SAME_MEANING:
            row = BUILTINS[SAME_MEANING[func]]
            self._arity(func, args, row.min_args, row.max_args if row.max_args is not None else len(args))
            return Call(row.name, args)
        raise self.fail(f"unknown function {func.replace('_', ' ').upper()}: neither a Vensim function PolicyLab "
                        "supports (docs/vensim.md) nor a lookup defined in the model")

    def _time_value(self, raw: tuple[Expr, ...]) -> Expr:
        """``GET TIME VALUE(relativeto, offset, measure)`` in model time units (measure 0): relative to the current
        time (0) or to INITIAL TIME (1), plus ``offset``; the computer's clock (2) and the calendar measures
        (1-10: year, month, day… of a date) are refused, as a model time carries no date and runs must be
        reproducible."""
        self._arity("get_time_value", raw, 3, 3)
        relative, offset, measure = (self(a) for a in raw)
        if not (isinstance(relative, Num) and isinstance(measure, Num)):
            raise self.fail("GET TIME VALUE: give relativeto and measure as numbers (0 the current time or 1 the "
                            "initial time; measure 0, units of model time)")
        if relative.value == 2:
            raise self.fail("GET TIME VALUE(2, …) reads the computer's clock, which would make runs irreproducible; "
                            "use 0 (the current time) or 1 (the initial time)")
        if relative.value not in (0, 1):
            raise self.fail(f"GET TIME VALUE: relativeto must be 0, 1 or 2, got {relative.value:g}; PolicyLab reads 0 "
                            "(the current time) and 1 (the initial time), and refuses 2 (the computer's clock)")
        if measure.value != 0:
            raise self.fail(f"GET TIME VALUE: measure {measure.value:g} is a calendar measure (years, months, days… "
                            "of a date), and a Vensim model's time carries no date; PolicyLab reads measure 0, the "
                            "time in the model's units")
        base = Name("time") if relative.value == 0 else self.clock["initial_time"]
        return BinOp("+", base, offset)

    def _lookup_variant(self, func: str, raw: tuple[Expr, ...]) -> Expr:
        self._arity(func, raw, 2, 2)
        table_ref = raw[0]
        if not isinstance(table_ref, Name) or table_ref.name not in self.lookups:
            raise self.fail(f"{func.replace('_', ' ').upper()} needs the name of a lookup as its first argument")
        table = self.table_of(table_ref.name)
        assert table is not None
        if func == "lookup_extrapolate":
            return Call(self.add_table(table, "linear"), (self(raw[1]),))
        if func == "lookup_backward":
            return Call(self.add_table(table, "discrete"), (self(raw[1]),))
        mirrored = Table(tuple(-x for x in reversed(table.xs)), tuple(reversed(table.ys)))
        return Call(self.add_table(mirrored, "discrete"), (UnaryOp("-", self(raw[1])),))


def _pulse(args: tuple[Expr, ...]) -> Expr:
    start, width = args
    width_or_dt = Call("max", (width, Name("dt")))
    return Call("pulse_train", (start, width_or_dt, Num(0.0), BinOp("+", start, width_or_dt)))


def _delay_fixed(args: tuple[Expr, ...]) -> Expr:
    steps = Call("int", (BinOp("+", BinOp("/", args[1], Name("dt")), Num(0.5)),))
    return Call("delay_fixed", (args[0], BinOp("*", Name("dt"), steps), args[2]))


def _log(args: tuple[Expr, ...]) -> Expr:
    return BinOp("/", Call("ln", (args[0],)), Call("ln", (args[1],)))


_REWRITES: dict[str, tuple[int, int, Callable[[tuple[Expr, ...]], Expr]]] = {
    "if_then_else": (3, 3, lambda a: IfThenElse(a[0], a[1], a[2])),
    "smooth_n": (4, 4, lambda a: Call("smoothn", (a[0], a[1], a[3], a[2]))),
    "delay_n": (4, 4, lambda a: Call("delayn", (a[0], a[1], a[3], a[2]))),
    "pulse": (2, 2, _pulse),
    "delay_fixed": (3, 3, _delay_fixed),
    "pulse_train": (4, 4, lambda a: Call("pulse_train", a)),
    "log": (2, 2, _log),
    "power": (2, 2, lambda a: BinOp("^", a[0], a[1])),
    "quantum": (2, 2, lambda a: BinOp("*", a[1], Call("trunc", (BinOp("/", a[0], a[1]),)))),
    "game": (1, 1, lambda a: a[0]),
}
