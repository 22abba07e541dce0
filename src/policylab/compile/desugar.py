"""Rewrite a model into a flat equation system: stateful builtins become hidden stocks.

SMOOTH*, DELAY1/3/N, TREND and FORECAST become chains of hidden stocks and flows, so
they are integrated by the same Euler/RK4 step as the user's stocks; INIT becomes a
stock with no flows; DELAY_FIXED and PREVIOUS become discrete pipeline states updated
once per step. Random calls get a stable site number for the per-run stream.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from policylab.errors import ExpressionError, Location
from policylab.expr.ast import BinOp, Call, Expr, Name, Num, children
from policylab.expr.builtins import ALIASES, BUILTINS, find_builtin
from policylab.model.ir import Auxiliary, Constant, Flow, Lookup, Model, Stock

HIDDEN = "~"


@dataclass(frozen=True)
class Draw:
    """A random draw from the run's stream at a fixed site (compile-stage AST node)."""

    func: str
    args: tuple[Expr, ...]
    site: int


@dataclass(frozen=True)
class LookupCall:
    """A graphical function applied to an argument (compile-stage AST node)."""

    table: str
    arg: Expr


@dataclass(frozen=True)
class StockEq:
    """A stock of the flat system: initial expression and the rates that change it."""

    name: str
    initial: Expr
    inflows: tuple[str, ...]
    outflows: tuple[str, ...]
    non_negative: bool
    where: Location


@dataclass(frozen=True)
class RateEq:
    """A flow or auxiliary of the flat system."""

    name: str
    expr: Expr
    non_negative: bool
    where: Location


@dataclass(frozen=True)
class Pipeline:
    """A discrete state: ``out`` is ``source`` as it was ``delay`` ago (``init`` before that)."""

    out: str
    source: str
    delay: str | None  # name of the rate holding the delay time; None means one step
    init: str
    where: Location


@dataclass
class System:
    """The flat equation system the planner orders and binds."""

    stocks: dict[str, StockEq] = field(default_factory=dict)
    rates: dict[str, RateEq] = field(default_factory=dict)
    pipelines: list[Pipeline] = field(default_factory=list)
    n_sites: int = 0


def is_hidden(name: str) -> bool:
    """True for compiler-made variables (not part of the user's output)."""
    return HIDDEN in name


def describe(name: str) -> str:
    """A readable name for messages: hidden variables name their owner and function."""
    if not is_hidden(name):
        return name
    owner, _, what = name.partition(HIDDEN)
    return f"{what.split(HIDDEN)[0].rstrip('0123456789').upper()} inside {owner}"


def _static_number(expr: Expr, model: Model, where: str) -> float:
    """Evaluate an order argument (n of SMOOTHN/DELAYN) from literals and constants."""
    match expr:
        case Num(value=v):
            return v
        case Name(name=n) if isinstance(model.variables.get(n), Constant):
            return model.variables[n].value  # type: ignore[union-attr]
        case BinOp(op=op, left=a, right=b) if op in "+-*/":
            x, y = _static_number(a, model, where), _static_number(b, model, where)
            return {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else float("nan")}[op]
    raise ExpressionError(f"{where}: the order argument of SMOOTHN/DELAYN must be a number or a constant")


class _Rewriter:
    """Holds the counters and the system being built while equations are rewritten."""

    def __init__(self, model: Model, system: System) -> None:
        self.model = model
        self.system = system
        self.counter = 0

    def hidden(self, owner: str, what: str) -> str:
        self.counter += 1
        return f"{owner}{HIDDEN}{what}{self.counter}"

    def rate(self, name: str, expr: Expr, where: Location) -> Name:
        self.system.rates[name] = RateEq(name, expr, False, where)
        return Name(name)

    def stock(self, name: str, initial: Expr, inflows: tuple[str, ...], outflows: tuple[str, ...], where: Location) -> Name:
        self.system.stocks[name] = StockEq(name, initial, inflows, outflows, False, where)
        return Name(name)

    def rewrite(self, expr: Expr, owner: str, where: Location) -> Expr:
        """Return ``expr`` with every stateful, random and lookup call replaced."""
        if not isinstance(expr, Call):
            kids = children(expr)
            if not kids:
                return expr
            new = tuple(self.rewrite(k, owner, where) for k in kids)
            return _rebuild(expr, new)
        args = tuple(self.rewrite(a, owner, where) for a in expr.args)
        target = self.model.variables.get(expr.func)
        if isinstance(target, Lookup):
            if len(args) != 1:
                raise ExpressionError(f"{where}: {owner}: lookup {expr.func}() takes one argument, got {len(args)}")
            return LookupCall(expr.func, args[0])  # type: ignore[return-value]
        spec = find_builtin(expr.func)
        if spec is None:
            callable_names = [*BUILTINS, *ALIASES, *self.model.of_kind(Lookup)]
            close = difflib.get_close_matches(expr.func, callable_names, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0].upper()}()?" if close else ""
            raise ExpressionError(
                f"{where}: {owner}: unknown function {expr.func.upper()}().{hint} See docs/model-format.md for the builtins."
            )
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            most = "any number of" if spec.max_args is None else str(spec.max_args)
            raise ExpressionError(
                f"{where}: {owner}: {spec.name.upper()} takes {spec.min_args} to {most} arguments, got {len(args)}"
            )
        if spec.kind == "lookup":
            table = args[0]
            if not (isinstance(table, Name) and isinstance(self.model.variables.get(table.name), Lookup)):
                raise ExpressionError(f"{where}: {owner}: LOOKUP's first argument must name a lookup")
            return LookupCall(table.name, args[1])  # type: ignore[return-value]
        if spec.kind == "random":
            self.system.n_sites += 1
            return Draw(spec.name, args, self.system.n_sites)  # type: ignore[return-value]
        if spec.kind == "stateful":
            return _EXPANSIONS[spec.name](self, args, owner, where)
        return Call(spec.name, args)


def _rebuild(expr: Expr, kids: tuple[Expr, ...]) -> Expr:
    from dataclasses import fields, replace

    names = [f.name for f in fields(expr) if f.name not in ("op", "func", "name", "value", "indices")]
    return replace(expr, **dict(zip(names, kids, strict=True)))


def _smooth_chain(rw: _Rewriter, inp: Expr, tau: Expr, n: int, init: Expr | None, owner: str, where: Location) -> Expr:
    stage_tau = tau if n == 1 else BinOp("/", tau, Num(float(n)))
    previous = inp
    out: Name = Name("")
    for _ in range(n):
        stock = rw.hidden(owner, "smooth")
        flow = rw.rate(f"{stock}{HIDDEN}rate", BinOp("/", BinOp("-", previous, Name(stock)), stage_tau), where)
        out = rw.stock(stock, init if init is not None else inp, (flow.name,), (), where)
        previous = out
    return out


def _delay_chain(rw: _Rewriter, inp: Expr, tau: Expr, n: int, init: Expr | None, owner: str, where: Location) -> Expr:
    stage_tau = tau if n == 1 else BinOp("/", tau, Num(float(n)))
    start_level = BinOp("*", init if init is not None else inp, stage_tau)
    inflow = rw.rate(rw.hidden(owner, "delayin"), inp, where)
    outflow: Name = inflow
    for _ in range(n):
        stock = rw.hidden(owner, "delay")
        outflow_name = f"{stock}{HIDDEN}out"
        rw.stock(stock, start_level, (inflow.name,), (outflow_name,), where)
        outflow = rw.rate(outflow_name, BinOp("/", Name(stock), stage_tau), where)
        inflow = outflow
    return outflow


def _smooth(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return _smooth_chain(rw, args[0], args[1], 1, args[2] if len(args) > 2 else None, owner, where)


def _smooth3(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return _smooth_chain(rw, args[0], args[1], 3, args[2] if len(args) > 2 else None, owner, where)


def _order(rw: _Rewriter, arg: Expr, owner: str, where: Location) -> int:
    n = _static_number(arg, rw.model, f"{where}: {owner}")
    if not (n >= 1 and float(n).is_integer() and n <= 1000):
        raise ExpressionError(f"{where}: {owner}: the order of SMOOTHN/DELAYN must be a whole number from 1 to 1000, got {n}")
    return int(n)


def _smoothn(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    n = _order(rw, args[2], owner, where)
    return _smooth_chain(rw, args[0], args[1], n, args[3] if len(args) > 3 else None, owner, where)


def _delay1(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return _delay_chain(rw, args[0], args[1], 1, args[2] if len(args) > 2 else None, owner, where)


def _delay3(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return _delay_chain(rw, args[0], args[1], 3, args[2] if len(args) > 2 else None, owner, where)


def _delayn(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    n = _order(rw, args[2], owner, where)
    return _delay_chain(rw, args[0], args[1], n, args[3] if len(args) > 3 else None, owner, where)


def _pipeline(rw: _Rewriter, source: Expr, delay: Expr | None, init: Expr | None, owner: str, where: Location) -> Expr:
    out = rw.hidden(owner, "pipeline")
    src = rw.rate(f"{out}{HIDDEN}in", source, where)
    delay_name = rw.rate(f"{out}{HIDDEN}time", delay, where).name if delay is not None else None
    init_name = rw.rate(f"{out}{HIDDEN}init", init if init is not None else source, where).name
    rw.system.pipelines.append(Pipeline(out, src.name, delay_name, init_name, where))
    return Name(out)


def _delay_fixed(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return _pipeline(rw, args[0], args[1], args[2] if len(args) > 2 else None, owner, where)


def _previous(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return _pipeline(rw, args[0], None, args[1] if len(args) > 1 else None, owner, where)


def _init(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    return rw.stock(rw.hidden(owner, "init"), args[0], (), (), where)


def _trend(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    inp, avg_time = args[0], args[1]
    initial_trend = args[2] if len(args) > 2 else Num(0.0)
    start = BinOp("/", inp, BinOp("+", Num(1.0), BinOp("*", initial_trend, avg_time)))
    average = _smooth_chain(rw, inp, avg_time, 1, start, owner, where)
    return Call("zidz", (BinOp("-", inp, average), BinOp("*", average, avg_time)))


def _forecast(rw: _Rewriter, args: tuple[Expr, ...], owner: str, where: Location) -> Expr:
    inp, avg_time, horizon = args[0], args[1], args[2]
    trend = _trend(rw, (inp, avg_time) + args[3:4], owner, where)
    return BinOp("*", inp, BinOp("+", Num(1.0), BinOp("*", trend, horizon)))


_EXPANSIONS = {
    "smooth": _smooth,
    "smooth3": _smooth3,
    "smoothn": _smoothn,
    "delay1": _delay1,
    "delay3": _delay3,
    "delayn": _delayn,
    "delay_fixed": _delay_fixed,
    "previous": _previous,
    "init": _init,
    "trend": _trend,
    "forecast": _forecast,
}


def desugar(model: Model) -> System:
    """Build the flat system for ``model`` (hidden variables named ``owner~what``)."""
    system = System()
    rw = _Rewriter(model, system)
    for name, var in model.variables.items():
        if isinstance(var, Stock):
            initial = rw.rewrite(var.initial if var.initial is not None else Num(0.0), name, var.where)
            system.stocks[name] = StockEq(name, initial, var.inflows, var.outflows, var.non_negative, var.where)
        elif isinstance(var, (Flow, Auxiliary)):
            expr = rw.rewrite(var.equation if var.equation is not None else Num(0.0), name, var.where)
            non_negative = isinstance(var, Flow) and var.non_negative
            system.rates[name] = RateEq(name, expr, non_negative, var.where)
        elif isinstance(var, Lookup) and var.input is not None:
            arg = rw.rewrite(var.input, name, var.where)
            system.rates[name] = RateEq(name, LookupCall(name, arg), False, var.where)  # type: ignore[arg-type]
    return system
