"""The vectorised plan: compile a model once, bind it to inputs, get closures over slots.

``compile_model`` does the structural work (desugaring, name checks, ordering) and is
independent of scenario and parameters; ``bind`` folds the constants of one call into
the closures and returns a ``Program`` the simulator steps through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from policylab.compile.closures import Const, Context, Fn, Node, Value, build
from policylab.compile.desugar import HIDDEN, System, desugar, describe, is_hidden
from policylab.compile.graph import check_names, init_order, rate_order, suggest
from policylab.compile.inputs import Inputs
from policylab.errors import ModelFileError
from policylab.expr.builtins import TIME_TOLERANCE
from policylab.model.ir import Constant, Event, Lever, Lookup, Model, Stock


@dataclass(frozen=True)
class CompiledModel:
    """A model's flat system and evaluation orders (scenario-independent)."""

    model: Model
    system: System
    rate_order: tuple[str, ...]
    init_order: tuple[str, ...]

    @property
    def output_names(self) -> list[str]:
        """User-visible stocks, flows and auxiliaries, in file order."""
        return [n for n in self.model.variables if n in self.system.stocks or n in self.system.rates]


def compile_model(model: Model) -> CompiledModel:
    """Desugar, check names, and order the equations of ``model``."""
    _check_reserved(model)
    _check_flows(model)
    system = desugar(model)
    known = set(model.variables)
    check_names(system, known)
    return CompiledModel(model, system, tuple(rate_order(system)), tuple(init_order(system)))


RESERVED_NAMES = frozenset({"time", "dt", "run", "date"})  # the clock, and the result's coordinates


def _check_reserved(model: Model) -> None:
    for name, var in model.variables.items():
        if name in RESERVED_NAMES or HIDDEN in name:
            raise ModelFileError(
                f"{var.where}: {var.display or name!r} cannot be a variable name: TIME, DT, run and date are reserved "
                f"and '{HIDDEN}' marks the compiler's hidden variables; rename it"
            )


def _check_flows(model: Model) -> None:
    for stock in model.of_kind(Stock).values():
        for flow in (*stock.inflows, *stock.outflows):  # type: ignore[union-attr]
            if flow not in model.variables:
                flows = [n for n, v in model.variables.items() if not isinstance(v, (Stock, Constant, Lookup))]
                raise ModelFileError(
                    f"{stock.where}: stock {stock.name!r} lists flow {flow!r}, which is not defined.{suggest(flow, flows)}"
                )
            if isinstance(model.variables[flow], (Stock, Constant, Lookup)):
                raise ModelFileError(
                    f"{stock.where}: stock {stock.name!r} lists {flow!r} as a flow, but it is a "
                    f"{type(model.variables[flow]).__name__.lower()}"
                )


@dataclass
class Program:
    """Closures over numbered slots for one call (scenario + parameters + ensemble size)."""

    slots: dict[str, int]
    values: list[Value]
    input_steps: list[tuple[int, Fn]]
    init_steps: list[tuple[int, Fn]]
    rate_steps: list[tuple[int, Fn]]
    stock_names: list[str]
    stock_slots: list[int]
    derivatives: list[Node]
    non_negative: list[int]
    pipelines: list[tuple[int, int, int | None, int]]
    runs: int
    dt: float
    evaluation_order: list[str] = field(default_factory=list)
    constants: dict[str, Value] = field(default_factory=dict)  # folded names (constants, DT, constant rates)
    deterministic: bool = False
    parameters: tuple[str, ...] = ()  # constants bound as slots, not folded (``bind(opaque=...)``)


def _event_fn(times: tuple[float, ...], magnitude: float, model: Model) -> Fn:
    spec = model.time
    steps = {int(np.floor((t - spec.start) / spec.dt + TIME_TOLERANCE)) for t in times if spec.start <= t <= spec.stop}
    pulse = magnitude / spec.dt
    return lambda e: pulse if e.step in steps else 0.0


def _lever_fn(inputs: Inputs, name: str, tol: float) -> Fn:
    lever = inputs.levers[name]
    return lambda e: lever.at(e.time, tol)


def bind(
    compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool, opaque: frozenset[str] = frozenset()
) -> Program:
    """Fold ``inputs`` into closures for an ensemble of ``runs``.

    Constants named in ``opaque`` are not folded: each gets a slot holding one value per run,
    read at run time, so a program lowered once can run with other values of them (the
    compiled backend's parameter registers).

    Folding may divide by zero or overflow; like the simulator it does so silently, and
    the simulator reports the non-finite value with the variable, run and time.
    """
    with np.errstate(all="ignore"):
        return _bind(compiled, inputs, runs, deterministic, opaque)


def _bind(compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool, opaque: frozenset[str]) -> Program:
    model, system = compiled.model, compiled.system
    lookups = {n: v for n, v in model.variables.items() if isinstance(v, Lookup)}
    values: dict[str, Value] = {n: _per_run(v, runs) for n, v in inputs.constants.items() if n not in opaque}
    values["dt"] = model.time.dt
    names: list[str] = []
    slots: dict[str, int] = {}

    def slot(name: str) -> int:
        if name not in slots:
            slots[name] = len(names)
            names.append(name)
        return slots[name]

    held = {n: np.broadcast_to(np.asarray(inputs.constants[n], dtype=float), (runs,)).copy() for n in sorted(opaque)}
    for name in held:
        slot(name)

    tol = TIME_TOLERANCE * model.time.dt
    input_steps = [(slot(n), _lever_fn(inputs, n, tol)) for n in model.of_kind(Lever)]
    input_steps += [(slot(n), _event_fn(*inputs.events[n], model)) for n in model.of_kind(Event)]
    for name in system.stocks:
        slot(name)
    for pipe in system.pipelines:
        slot(pipe.out)
    rate_steps: list[tuple[int, Fn]] = []
    rate_fns: dict[str, Node] = {}
    for name in compiled.rate_order:
        rate = system.rates[name]
        ctx = Context(name, str(rate.where), slots, values, lookups, deterministic)
        node = build(rate.expr, ctx)
        if rate.non_negative:
            node = _clip(node)
        if isinstance(node, Const):
            values[name] = _per_run(node.value, runs)
            slot(name)  # folded, but still saveable: its slot holds the value
        else:
            rate_fns[name] = node
            rate_steps.append((slot(name), node))
    init_steps: list[tuple[int, Fn]] = []
    pipe_by_out = {p.out: p for p in system.pipelines}
    for name in compiled.init_order:
        if name in system.stocks:
            ctx = Context(name, str(system.stocks[name].where), slots, values, lookups, deterministic)
            init_steps.append((slots[name], _as_fn(build(system.stocks[name].initial, ctx))))
        elif name in rate_fns:
            init_steps.append((slots[name], rate_fns[name]))  # type: ignore[arg-type]
        elif name in pipe_by_out:
            init_steps.append((slots[name], _reader(pipe_by_out[name].init, slots, values)))
    derivatives = [_derivative(system.stocks[s].inflows, system.stocks[s].outflows, slots, values) for s in system.stocks]
    table = [held[n] if n in held else values.get(n, 0.0) for n in names]
    pipelines = [
        (slots[p.out], slot(p.source) if p.source in slots else _const_slot(p.source, values, slot, table),
         None if p.delay is None else (slots[p.delay] if p.delay in slots else _const_slot(p.delay, values, slot, table)),
         slots[p.init] if p.init in slots else _const_slot(p.init, values, slot, table))
        for p in system.pipelines
    ]
    table += [values.get(n, 0.0) for n in names[len(table):]]
    return Program(
        slots=slots,
        values=table,
        input_steps=input_steps,
        init_steps=init_steps,
        rate_steps=rate_steps,
        stock_names=list(system.stocks),
        stock_slots=[slots[s] for s in system.stocks],
        derivatives=derivatives,
        non_negative=[i for i, s in enumerate(system.stocks.values()) if s.non_negative],
        pipelines=pipelines,
        runs=runs,
        dt=model.time.dt,
        evaluation_order=[n for n in compiled.rate_order if not is_hidden(n)],
        constants=values,
        deterministic=deterministic,
        parameters=tuple(held),
    )


def _const_slot(name: str, values: dict[str, Value], slot, table: list[Value]) -> int:  # type: ignore[no-untyped-def]
    index = slot(name)
    while len(table) <= index:
        table.append(0.0)
    table[index] = values[name]
    return index


def _per_run(value: Value, runs: int) -> Value:
    if isinstance(value, np.ndarray) and value.ndim:
        if value.shape != (runs,):
            raise ModelFileError(f"a per-run parameter array has shape {value.shape}; expected ({runs},)")
        return value
    return float(value)


def _clip(node: Node) -> Node:
    if isinstance(node, Const):
        return Const(np.maximum(node.value, 0.0))
    return lambda e: np.maximum(node(e), 0.0)  # type: ignore[operator]


def _as_fn(node: Node) -> Fn:
    if isinstance(node, Const):
        value = node.value
        return lambda e: value
    return node


def _reader(name: str, slots: dict[str, int], values: dict[str, Value]) -> Fn:
    if name in values:
        value = values[name]
        return lambda e: value
    i = slots[name]
    return lambda e: e.v[i]


def _derivative(inflows: tuple[str, ...], outflows: tuple[str, ...], slots: dict[str, int], values: dict[str, Value]) -> Node:
    """Net flow of one stock, with folded constant flows."""
    constant = 0.0
    plus: list[int] = []
    minus: list[int] = []
    for name in inflows:
        if name in values:
            constant = constant + values[name]
        else:
            plus.append(slots[name])
    for name in outflows:
        if name in values:
            constant = constant - values[name]
        else:
            minus.append(slots[name])
    if not plus and not minus:
        return Const(constant)
    if len(plus) == 1 and not minus and isinstance(constant, float) and constant == 0.0:
        i = plus[0]
        return lambda e: e.v[i]
    if len(plus) == 1 and len(minus) == 1 and isinstance(constant, float) and constant == 0.0:
        i, j = plus[0], minus[0]
        return lambda e: e.v[i] - e.v[j]

    def net(e):  # type: ignore[no-untyped-def]
        v = e.v
        total = constant
        for i in plus:
            total = total + v[i]
        for j in minus:
            total = total - v[j]
        return total

    return net


__all__ = ["CompiledModel", "Program", "bind", "compile_model", "describe"]
