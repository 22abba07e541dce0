"""Link polarity: does each declared evidence sign agree with the equation's partial derivative?

For a link ``x -> y`` declared ``+`` (or ``-``), the partial derivative of y's equation
with respect to x is estimated by a finite difference at many operating points: the
states the model actually passes through, over an ensemble that samples every judgement
parameter over its range (deterministic mode). A declared sign is contradicted when the
derivative has the opposite sign at any operating point where it is not negligible. When
x acts through a stateful builtin (e.g. ``SMOOTH(x, tau)``), the hidden rate that reads x
is differentiated instead: the sign of the link is the sign with which x feeds the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policylab.compile.interpret import evaluate
from policylab.compile.desugar import HIDDEN
from policylab.compile.graph import references
from policylab.errors import ExpressionError
from policylab.model.ir import Event, GeneratedEvent, Lever, Lookup, Stock

OPERATING_RUNS = 32
TIME_SAMPLES = 60


@dataclass(frozen=True)
class PolarityFinding:
    """One link whose declared sign the equation does not bear out (an error) or could not test (a warning)."""

    variable: str
    from_: str
    declared: str
    severity: str  # "error" or "warning"
    message: str


def _operating_points(model, names: list[str]) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Values of ``names`` over sampled runs, times and scenarios, flattened to one axis.

    Half of the points are the states the model passes through; in the other half every
    lever is redrawn uniformly over its range and every event is on or off at random, so
    links that act only under other policies are exercised too.
    """
    ir = model.ir
    scenarios = list(ir.scenarios) or [None]
    runs = max(OPERATING_RUNS // len(scenarios), 4)
    chunks: list[dict[str, np.ndarray]] = []
    for scenario in scenarios:
        ds = model.run(scenario=scenario, runs=runs, seed=12345, variables=names, deterministic=True, sample=True)
        step = max(ds.sizes["time"] // TIME_SAMPLES, 1)
        sub = ds.isel(time=slice(0, None, step))
        chunk = {n: np.ascontiguousarray(sub[n].values.reshape(-1)) for n in names}
        chunk["time"] = np.tile(sub["time"].values, runs)
        for name, coord in ds.coords.items():
            if coord.dims == ("run",) and name != "run":
                chunk[name] = np.repeat(coord.values, sub.sizes["time"])
        chunks.append(chunk)
    keys = set.intersection(*(set(c) for c in chunks))
    actual = {k: np.concatenate([c[k] for c in chunks]) for k in keys}
    size = actual["time"].size
    varied = {k: v.copy() for k, v in actual.items()}
    rng = np.random.default_rng(12345)
    for name in names:
        var = ir.variables.get(name)
        if isinstance(var, Lever) and var.range is not None:
            varied[name] = rng.uniform(var.range[0], var.range[1], size)
        elif isinstance(var, Event):
            varied[name] = rng.integers(0, 2, size) * (var.magnitude / ir.time.dt)
    points = {k: np.concatenate([actual[k], varied[k]]) for k in keys}
    points["dt"] = np.full(2 * size, ir.time.dt)
    return points


def _derivative(expr, target: str, values: dict[str, np.ndarray], model_ir, size: int) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    lookups = {n: v for n, v in model_ir.variables.items() if isinstance(v, Lookup)}
    if target not in values:
        return None
    base = values[target]
    step = np.maximum(np.abs(base) * 1e-4, 1e-6)
    time = np.broadcast_to(np.asarray(values.get("time", 0.0), dtype=float), (size,))
    dt = float(np.asarray(values.get("dt", model_ir.time.dt)).reshape(-1)[0])

    def at(x: np.ndarray) -> np.ndarray:
        shifted = dict(values)
        shifted[target] = x
        return evaluate(expr, shifted, lookups, time, dt, owner="polarity")

    with np.errstate(all="ignore"):
        try:
            return (at(base + step) - at(base - step)) / (2 * step)
        except ExpressionError:  # it reads a value not sampled (a DELAY_FIXED's output): no estimate, sign "?"
            return None


def _rate_equations(model, names: list[str]) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Each rate's desugared equation plus the hidden rates made from it.

    A generated event is differentiated through its hazard: the sign of a link into a random
    event is the sign with which the source moves the event's expected rate.
    """
    system = model.compiled.system
    found: dict[str, list] = {}
    for name in names:
        var = model.ir.variables.get(name)
        if isinstance(var, GeneratedEvent) and var.hazard is not None:
            found[name] = [var.hazard]
            continue
        exprs = [system.rates[name].expr] if name in system.rates else []
        exprs += [r.expr for n, r in system.rates.items() if n.startswith(name + HIDDEN)]
        found[name] = exprs
    return found


def link_derivatives(model, links: list[tuple[str, str]]) -> dict[tuple[str, str], np.ndarray]:  # type: ignore[no-untyped-def]
    """Finite-difference partial derivatives d(to)/d(from) at sampled operating points, per link."""
    ir = model.ir
    system = model.compiled.system
    equations = _rate_equations(model, sorted({to for _, to in links if to in system.rates}))
    needed: set[str] = set()
    for exprs in equations.values():
        for expr in exprs:
            needed |= references(expr)
    inputs = {n for n in needed if n in system.stocks or n in system.rates or n in ir.variables}
    constants = {n for n in inputs if n not in system.stocks and n not in system.rates
                 and type(ir.variables.get(n)).__name__ == "Constant"}
    saved = sorted(inputs - constants)
    points = _operating_points(model, saved)
    size = points["dt"].size
    for n in constants:
        if n not in points:
            points[n] = np.full(size, float(ir.variables[n].value))  # type: ignore[union-attr]
    result: dict[tuple[str, str], np.ndarray] = {}
    for source, target in links:
        parts = [
            d for expr in equations.get(target, [])
            if source in references(expr)
            and (d := _derivative(expr, source, points, ir, size)) is not None
        ]
        if parts:
            d = np.concatenate(parts)
            result[(source, target)] = d[np.isfinite(d)]
    return result


def sign_of(derivative: np.ndarray) -> str:
    """'+', '-', '±' (both signs occur) or '0' (no effect seen) for a sample of derivatives."""
    scale = np.max(np.abs(derivative)) if derivative.size else 0.0
    if scale == 0.0:
        return "0"
    material = derivative[np.abs(derivative) > 1e-9 * scale]
    if (material >= 0).all():
        return "+"
    if (material <= 0).all():
        return "-"
    return "±"


def check_polarity(model) -> list[PolarityFinding]:  # type: ignore[no-untyped-def]
    """Findings for every evidence link whose sign the equations contradict or that showed no effect."""
    ir = model.ir
    findings: list[PolarityFinding] = []
    links = [(ev.from_, name) for name, var in ir.variables.items() if not isinstance(var, Stock) for ev in var.evidence]
    derivatives = link_derivatives(model, links) if links else {}
    for name, var in ir.variables.items():
        for ev in var.evidence:
            if isinstance(var, Stock):
                findings += [PolarityFinding(name, ev.from_, ev.sign, "error", m) for m in _stock_link(name, var, ev)]
                continue
            d = derivatives.get((ev.from_, name))
            if d is None:
                continue
            if sign_of(d) == "0":
                findings.append(PolarityFinding(name, ev.from_, ev.sign, "warning",
                                f"{ev.where}: link {ev.from_} -> {name} is declared {ev.sign!r} but {name} never "
                                f"changed with {ev.from_} at the operating points sampled (every scenario, levers over "
                                f"their ranges); the sign could not be tested — check the equation"))
                continue
            scale = np.max(np.abs(d))
            material = d[np.abs(d) > 1e-9 * scale]
            wrong = material < 0 if ev.sign == "+" else material > 0
            if wrong.any():
                findings.append(PolarityFinding(name, ev.from_, ev.sign, "error",
                                f"{ev.where}: link {ev.from_} -> {name} is declared {ev.sign!r}, but the equation's "
                                f"partial derivative has the opposite sign at {wrong.mean():.0%} of sampled operating "
                                f"points; fix the sign or the equation"))
    return findings


def _stock_link(name: str, stock: Stock, ev) -> list[str]:  # type: ignore[no-untyped-def]
    if ev.from_ in stock.inflows and ev.sign == "-" or ev.from_ in stock.outflows and ev.sign == "+":
        role = "an inflow" if ev.from_ in stock.inflows else "an outflow"
        return [f"{ev.where}: link {ev.from_} -> {name} is declared {ev.sign!r}, but {ev.from_} is {role} of the stock"]
    return []
