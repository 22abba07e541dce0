"""The plan: compile a model once, then bind it to one call's inputs.

``compile_model`` does the structural work (desugaring, name checks, ordering) and is
independent of scenario and parameters; ``bind`` numbers the slots of one call and gathers
the constants to fold into a ``Program``, which :func:`policylab.compile.opcodes.lower`
turns into the tape both engines run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from policylab.compile.desugar import HIDDEN, System, desugar, describe, is_hidden
from policylab.compile.graph import check_names, equation_reads, init_order, rate_order, suggest
from policylab.compile.inputs import Inputs
from policylab.errors import ModelFileError
from policylab.model.ir import Constant, Event, Lever, Lookup, Model, Stock

Value = float | np.ndarray


@dataclass(frozen=True)
class CompiledModel:
    """A model's flat system and evaluation orders (scenario-independent)."""

    model: Model
    system: System
    rate_order: tuple[str, ...]
    init_order: tuple[str, ...]
    reads: Mapping[str, frozenset[str]]  # a stock's start value's or a rate's references (graph.equation_reads)
    elements: Mapping[str, tuple[str, int]]  # an array element's name -> (its array, its position)

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
    reads = equation_reads(system)
    check_names(system, known, reads)
    elements = {element: (array, index) for array in model.arrays
                for index, element in enumerate(model.elements_of(array))}
    return CompiledModel(model, system, tuple(rate_order(system, elements, reads)),
                         tuple(init_order(system, elements, reads)), reads, elements)


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
    """The slot table of one call (scenario + parameters + ensemble size): what :func:`~policylab.compile.opcodes.lower`
    turns into a tape.

    Every stock, rate, lever, event and pipeline output has a slot (its register is slot + 1);
    ``values`` holds each slot's start value (constants' values; 0 for what the tape computes).
    """

    slots: dict[str, int]
    values: list[Value]
    stock_names: list[str]
    stock_slots: list[int]
    non_negative: list[int]
    pipelines: list[tuple[int, int, int | None, int]]
    runs: int
    dt: float
    evaluation_order: list[str] = field(default_factory=list)
    constants: dict[str, Value] = field(default_factory=dict)  # folded names (constants and DT)
    deterministic: bool = False
    parameters: tuple[str, ...] = ()  # constants bound as slots, not folded (``bind(opaque=...)``)


def bind(
    compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool, opaque: frozenset[str] = frozenset()
) -> Program:
    """Number the slots of an ensemble of ``runs`` under ``inputs`` and gather the constants to fold.

    Constants named in ``opaque`` are not folded: each gets a slot holding one value per run,
    read at run time, so a program lowered once can run with other values of them (parameter
    registers). Rates are folded, or not, when the program is lowered.
    """
    model, system = compiled.model, compiled.system
    values: dict[str, Value] = {n: per_run(v, runs) for n, v in inputs.constants.items() if n not in opaque}
    values["dt"] = model.time.dt
    names: list[str] = []
    slots: dict[str, int] = {}

    def slot(name: str) -> int:
        if name not in slots:
            slots[name] = len(names)
            names.append(name)
        return slots[name]

    ordered = [n for n in model.variables if n in opaque] + sorted(opaque.difference(model.variables))
    # model order, not name order: an array's parameters are consecutive slots in element order (x[r2] before
    # x[r10]), a block the vector lowering reads instead of gathering
    held = {n: np.broadcast_to(np.asarray(inputs.constants[n], dtype=float), (runs,)).copy() for n in ordered}
    for name in [*held, *model.of_kind(Lever), *model.of_kind(Event), *system.stocks]:
        slot(name)
    for pipe in system.pipelines:
        slot(pipe.out)
    for name in compiled.rate_order:
        slot(name)
    table: list[Value] = [held[n] if n in held else values.get(n, 0.0) for n in names]
    pipelines = [
        (slots[p.out], slot(p.source) if p.source in slots else _const_slot(p.source, values, slot, table),
         None if p.delay is None else (slots[p.delay] if p.delay in slots else _const_slot(p.delay, values, slot, table)),
         slots[p.init] if p.init in slots else _const_slot(p.init, values, slot, table))
        for p in system.pipelines
    ]
    return Program(
        slots=slots,
        values=table,
        stock_names=list(system.stocks),
        stock_slots=[slots[s] for s in system.stocks],
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


def per_run(value: Value, runs: int) -> Value:
    """A folded value as the tape holds it: a float for all runs, or exactly one value per run."""
    if isinstance(value, np.ndarray) and value.ndim:
        if value.shape != (runs,):
            raise ModelFileError(f"a per-run parameter array has shape {value.shape}; expected ({runs},)")
        return value
    return float(value)


__all__ = ["CompiledModel", "Program", "bind", "compile_model", "describe", "per_run"]
