"""Variants of a model that checks run: extra scenarios, stocks reset at a date, another clock.

Each variant is a new IR (the original is never changed) loaded as a new ``policylab.Model``;
compiling one costs milliseconds. A check runs both of its arms on the same variant, so the
arms share parameters and random streams run by run.
"""

from __future__ import annotations

import dataclasses
import math

from policylab.api import Model
from policylab.errors import CheckError
from policylab.expr.ast import BinOp, Name, Num
from policylab.expr.names import canonical
from policylab.model.ir import Constant, Event, Flow, Given, Lever, Override, Scenario, Schedule, Stock
from policylab.model.ir import Model as ModelIR

RESET = "validate_reset_"  # prefix of the variables a variant adds (refused if the model uses it)


def reset_names(stock: str) -> tuple[str, str, str]:
    """The event, target constant and flow that set ``stock`` to a value at a date."""
    return canonical(f"{RESET}{stock}"), canonical(f"{RESET}{stock}_to"), canonical(f"{RESET}{stock}_flow")


def with_resets(ir: ModelIR, stocks: set[str]) -> ModelIR:
    """``ir`` with, for each stock, an event (never firing unless a scenario dates it) that sets the
    stock to a target value in one step.

    During that step the stock's own flows are gated off (the stock reads gated copies; other
    stocks still read the flows) and a reset flow ``event * (target - stock)`` moves it: under
    Euler, ``stock + dt * (target - stock) / dt`` is the target exactly, so a stock set to 0 in
    an exponential process stays at 0 instead of regrowing from rounding. A variant with resets
    therefore integrates with Euler (RK4's stages would spread the pulse); both arms of a check
    run on the variant, like for like.
    """
    from policylab.model.ir import Method

    variables = dict(ir.variables)
    for name in sorted(stocks):
        stock = variables[name]
        event, target, flow = reset_names(name)
        gated = {f: canonical(f"{RESET}{name}_{f}") for f in (*stock.inflows, *stock.outflows)} \
            if isinstance(stock, Stock) else {}
        clash = [n for n in (event, target, flow, *gated.values()) if n in variables]
        if clash or not isinstance(stock, Stock):
            raise CheckError(f"{ir.path or ir.name}: {clash[0] if clash else name!r} is in the way of the reset "
                             f"of stock {name!r} by a reality check; rename it")
        variables[event] = Event(event, times=(), magnitude=1.0)
        variables[target] = Constant(target, value=0.0)
        off = BinOp("-", Num(1.0), BinOp("*", Name(event), Name("dt")))  # 0 in the reset step, else 1
        for original, copy in gated.items():
            variables[copy] = Flow(copy, equation=BinOp("*", Name(original), off))
        variables[flow] = Flow(flow, equation=BinOp("*", Name(event), BinOp("-", Name(target), Name(name))))
        variables[name] = dataclasses.replace(stock, inflows=tuple(gated[f] for f in stock.inflows) + (flow,),
                                              outflows=tuple(gated[f] for f in stock.outflows))
    time = dataclasses.replace(ir.time, method=Method.EULER) if stocks else ir.time
    return dataclasses.replace(ir, variables=variables, time=time)


def given_scenario(ir: ModelIR, base: str | None, name: str, given: tuple[Given, ...],
                   where: str) -> tuple[Scenario, dict[str, float]]:
    """A scenario applying ``given`` on top of ``base``, and the constants to pass as run parameters.

    Constants go through run parameters (they override sampled judgement values); levers
    get a path from their date; stocks get their reset event dated.
    """
    scenario = ir.scenarios[base] if base is not None else Scenario(base or "")
    overrides = list(scenario.overrides)
    params: dict[str, float] = {}
    start = ir.time.start
    for item in given:
        var = ir.variables.get(item.target)
        here = f"{item.where}: {where}.given.{item.target}"
        if isinstance(var, Constant):
            if item.start is not None and item.start > start + 1e-9 or item.at is not None:
                raise CheckError(f"{here}: {item.target} is a constant: it holds for the whole run, so it cannot "
                                 "change at a date; give `name: value`, or make it a lever")
            params[item.target] = item.value
        elif isinstance(var, Lever):
            if item.at is not None:
                raise CheckError(f"{here}: `at` sets a stock once; a lever takes `from: DATE` (held from then on)")
            overrides.append(Override(item.target, schedule=Schedule((start if item.start is None else item.start,),
                                                                     (item.value,)), where=item.where))
        elif isinstance(var, Stock):
            if item.at is None:
                raise CheckError(f"{here}: {item.target} is a stock; set it at a date with "
                                 f"`{{value: {item.value:g}, at: DATE}}`")
            event, target, _ = reset_names(item.target)
            overrides.append(Override(event, times=(item.at,), where=item.where))
            params[target] = item.value
        else:
            from policylab.compile.graph import suggest

            settable = sorted(n for n in ir.variables if not n.startswith(RESET))
            kind = "not defined" if var is None else f"a {type(var).__name__.lower()}"
            raise CheckError(f"{here}: {item.target!r} is {kind}; `given` sets constants, levers (from a date) and "
                             f"stocks (at a date).{suggest(item.target, settable)}")
    return dataclasses.replace(scenario, name=name, overrides=tuple(overrides)), params


def lever_scenario(ir: ModelIR, base: str | None, name: str, lever: str, value: float, start: float) -> Scenario:
    """``base`` with ``lever`` held at ``value`` from ``start`` on (its path before ``start`` kept)."""
    scenario = ir.scenarios[base] if base is not None else Scenario(name)
    step = Override(lever, schedule=Schedule((start,), (value,)))
    return dataclasses.replace(scenario, name=name, overrides=scenario.overrides + (step,))


def with_scenarios(ir: ModelIR, scenarios: dict[str, Scenario]) -> ModelIR:
    return dataclasses.replace(ir, scenarios={**ir.scenarios, **scenarios})


def with_clock(ir: ModelIR, dt: float | None = None, method: str | None = None) -> ModelIR:
    """``ir`` with another time step (saving at the same times) or integration method."""
    from policylab.model.ir import Method

    time = ir.time
    if dt is not None:
        time = dataclasses.replace(time, dt=dt, save_every=time.save_every)
    if method is not None:
        time = dataclasses.replace(time, method=Method(method))
    return dataclasses.replace(ir, time=time)


def load_ir(ir: ModelIR) -> Model:
    """A runnable Model of a variant IR."""
    return Model(ir)


def finite_range(var: Lever | Constant) -> tuple[float, float] | None:
    low, high = var.range or (math.nan, math.nan)
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None
