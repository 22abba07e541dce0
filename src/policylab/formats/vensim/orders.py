"""The order of Vensim's DELAY N and SMOOTH N, fixed when reading as Vensim fixes it at the initial time.

Vensim evaluates the order once, at INITIAL TIME, and lowers a DELAY N's order while
``order × TIME STEP`` exceeds the delay time (each stage would otherwise empty faster than
one step). PolicyLab's expansion into hidden stocks needs the order as a number, so the
reader computes it from the model's values at the start (numbers, constants, the time
functions at INITIAL TIME, auxiliaries and initial values of levels); when that needed
more than a number, or the order was lowered, a ``VensimReadWarning`` says that the order
is fixed and does not follow later changes to the values it came from.

Vensim's DELAY N is a discrete delay whose output "depends only on the values delay time had
in previous Time Steps" (Vensim's reference for DELAY N): its last stage empties at the rate
its level over the stage time of the previous step, while the earlier stages use the current
delay time. ``discrete_delay_n`` writes that chain from registry rows when the delay time may
change; with a constant delay time it is the registry's ``delayn``.
"""

from __future__ import annotations

import math

import numpy as np

from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, UnaryOp, children
from policylab.expr.builtins import BUILTINS, OPERATORS
from policylab.model.ir import AnyVariable, Auxiliary, Constant, Flow, Lookup, Stock

MAX_DEPTH = 200
ORDERED = {"delayn": 2, "smoothn": 2}
"""The builtins whose argument at that index is an order."""


class NotStatic(Exception):
    """The expression has no value before the run (it needs a level's history or a random draw)."""


_UNKNOWN = (NotStatic, ArithmeticError, ValueError, KeyError, TypeError, RecursionError)
"""What makes an order unknown before the run: the compiler then reports it as for any model."""


class StartValues:
    """Values of expressions at the initial time, from the variables as read."""

    def __init__(self, variables: dict[str, AnyVariable], start: float, dt: float) -> None:
        self.variables, self.start, self.dt = variables, start, dt

    def __call__(self, expr: Expr, depth: int = 0) -> float:
        if depth > MAX_DEPTH:
            raise NotStatic
        value = lambda sub: self(sub, depth + 1)  # noqa: E731 - one-line recursion helper
        match expr:
            case Num(value=v):
                return v
            case Name(name="time"):
                return self.start
            case Name(name="dt"):
                return self.dt
            case Name(name=n):
                return self._variable(n, depth)
            case UnaryOp(op=op, operand=o):
                return -value(o) if op == "-" else value(o)
            case BinOp(op=op, left=a, right=b) | Compare(op=op, left=a, right=b) | BoolOp(op=op, left=a, right=b):
                return float(OPERATORS[op].fold(value(a), value(b)))
            case Not(operand=o):
                return float(OPERATORS["not"].fold(value(o)))
            case IfThenElse(condition=c, then=t, otherwise=o):
                return value(t) if value(c) != 0 else value(o)
            case Call(func=f, args=args):
                return self._call(f, args, depth)
        raise NotStatic

    def _variable(self, name: str, depth: int) -> float:
        var = self.variables.get(name)
        if isinstance(var, Constant):
            return var.value
        if isinstance(var, (Auxiliary, Flow)) and var.equation is not None:
            return self(var.equation, depth + 1)
        if isinstance(var, Stock) and var.initial is not None:
            return self(var.initial, depth + 1)
        if isinstance(var, Lookup) and var.input is not None:
            return self._table(var, self(var.input, depth + 1))
        raise NotStatic

    def _table(self, table: Lookup, x: float) -> float:
        if table.extrapolation != "clamp" or not table.xs:
            raise NotStatic
        return float(np.interp(x, table.xs, table.ys))

    def _call(self, func: str, args: tuple[Expr, ...], depth: int) -> float:
        var = self.variables.get(func)
        if isinstance(var, Lookup) and len(args) == 1:
            return self._table(var, self(args[0], depth + 1))
        row = BUILTINS.get(func)
        values = [self(a, depth + 1) for a in args]
        if func == "init" and len(values) == 1:
            return values[0]
        if row is None or row.impl is None or row.kind not in ("pure", "time"):
            raise NotStatic
        result = row.impl(*values) if row.kind == "pure" else row.impl(self.start, self.dt, *values)
        return float(result)


def may_vary(expr: Expr, variables: dict[str, AnyVariable]) -> bool:
    """True when ``expr`` may change during the run: it reaches TIME, a level, or a time, random or stateful call."""
    seen: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            if node.name == "time":
                return True
            if node.name in seen:
                continue
            seen.add(node.name)
            var = variables.get(node.name)
            if isinstance(var, Stock):
                return True
            if isinstance(var, (Auxiliary, Flow)) and var.equation is not None:
                stack.append(var.equation)
            elif isinstance(var, Lookup) and var.input is not None:
                stack.append(var.input)
        elif isinstance(node, Call):
            row = BUILTINS.get(node.func)
            if row is not None and row.kind in ("time", "random", "stateful") and node.func != "init":
                return True
        stack.extend(children(node))
    return False


def discrete_delay_n(source: Expr, delay: Expr, n: int, initial: Expr) -> Expr:
    """Vensim's DELAY N(source, delay, initial, n) for a delay time that may change: n - 1 stages of the current
    delay / n, then one stage of the previous step's delay / n (``previous``), so a change of the delay time
    reaches the output one step later, as in Vensim, and what enters still leaves (material is conserved)."""
    previous_delay = Call("previous", (delay, delay))
    if n == 1:
        return Call("delay1", (source, previous_delay, initial))
    earlier = Call("delayn", (source, BinOp("*", delay, Num((n - 1) / n)), Num(float(n - 1)), initial))
    return Call("delay1", (earlier, BinOp("/", previous_delay, Num(float(n))), initial))


def fixed_order(func: str, args: tuple[Expr, ...], values: StartValues) -> tuple[int, str] | None:
    """The order Vensim would use for this DELAY N / SMOOTH N call, and why it needs saying ("" if not);
    None when it cannot be known before the run (then the compiler reports the order as it does today)."""
    order_arg = args[ORDERED[func]]
    try:
        raw = values(order_arg)
    except _UNKNOWN:
        return None
    if not math.isfinite(raw) or raw < 1:
        return None
    order, notes = int(raw), []
    if not isinstance(order_arg, Num):
        notes.append(f"taken as {order} from its value at the initial time")
    if func == "delayn":
        try:
            delay = values(args[1])
        except _UNKNOWN:
            delay = math.inf
        lowered = order
        while lowered > 1 and lowered * values.dt > delay:
            lowered -= 1
        if lowered != order:
            notes.append(f"lowered from {order} to {lowered} because the delay time {delay:g} is less than "
                         f"order × TIME STEP, as Vensim does")
            order = lowered
    return order, "; ".join(notes)
