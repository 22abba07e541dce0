"""Resolve a scenario into the exogenous inputs of one run: constants, lever paths, event steps."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from policylab.compile.graph import suggest
from policylab.errors import UsageError
from policylab.expr.builtins import TIME_TOLERANCE
from policylab.expr.names import canonical
from policylab.model.ir import Constant, Event, Lever, Model, Override, Scenario, Schedule

Value = float | np.ndarray


@dataclass(frozen=True)
class LeverInput:
    """A lever's effective path for one scenario, plus an optional per-run level from ``from_time``."""

    baseline: float
    schedule: Schedule | None
    level: Value | None = None
    from_time: float | None = None

    def at(self, time: float, tol: float = TIME_TOLERANCE) -> Value:
        """The lever's value at model time ``time``."""
        value = _path_value(self.baseline, self.schedule, time, tol)
        if self.level is not None and (self.from_time is None or time >= self.from_time - tol):
            return self.level
        return value


def _path_value(baseline: float, schedule: Schedule | None, time: float, tol: float) -> float:
    if schedule is None or not schedule.times:
        return baseline
    times = schedule.times
    if schedule.interpolation == "linear":
        if time < times[0] - tol:
            return baseline
        return float(np.interp(time, times, schedule.values))
    idx = bisect.bisect_right(times, time + tol) - 1
    return baseline if idx < 0 else schedule.values[idx]


@dataclass
class Inputs:
    """Everything outside the equations that a run needs."""

    constants: dict[str, Value] = field(default_factory=dict)
    levers: dict[str, LeverInput] = field(default_factory=dict)
    events: dict[str, tuple[tuple[float, ...], float]] = field(default_factory=dict)
    scenario: str | None = None
    policy_from: float | None = None


def _merge(base: Schedule | None, new: Schedule) -> Schedule:
    """Keep the base path before the override's first time, then the override's points."""
    if base is None or not new.times:
        return new
    cut = new.times[0]
    kept = [(t, v) for t, v in zip(base.times, base.values) if t < cut]
    times = tuple(t for t, _ in kept) + new.times
    values = tuple(v for _, v in kept) + new.values
    return Schedule(times, values, new.interpolation)


def _apply_override(model: Model, scenario: Scenario, override: Override, inputs: Inputs) -> None:
    var = model.variables.get(override.target)
    where = f"{override.where}: scenario {scenario.name!r}"
    if isinstance(var, Constant):
        if override.value is None:
            raise UsageError(f"{where}: constant {var.name!r} takes a number")
        inputs.constants[var.name] = override.value
    elif isinstance(var, Lever):
        current = inputs.levers[var.name]
        if override.schedule is not None:
            inputs.levers[var.name] = LeverInput(current.baseline, _merge(current.schedule, override.schedule))
        elif override.value is not None and scenario.policy_from is not None:
            step = Schedule((scenario.policy_from,), (override.value,), "hold")
            inputs.levers[var.name] = LeverInput(current.baseline, _merge(current.schedule, step))
        elif override.value is not None:
            inputs.levers[var.name] = LeverInput(override.value, None)
        else:
            raise UsageError(f"{where}: lever {var.name!r} takes a number or a path")
    elif isinstance(var, Event):
        if override.times is None:
            raise UsageError(f"{where}: event {var.name!r} takes dates")
        inputs.events[var.name] = (override.times, var.magnitude)
    else:
        known = list(model.of_kind(Constant)) + list(model.of_kind(Lever)) + list(model.of_kind(Event))
        raise UsageError(
            f"{where}: {override.target!r} is not a constant, lever or event of the model.{suggest(override.target, known)}"
        )


def resolve_inputs(model: Model, scenario: str | None) -> Inputs:
    """The inputs of ``model`` under ``scenario`` (None: the model as written)."""
    inputs = Inputs(scenario=scenario)
    for name, var in model.variables.items():
        if isinstance(var, Constant):
            inputs.constants[name] = var.value
        elif isinstance(var, Lever):
            inputs.levers[name] = LeverInput(var.baseline, var.schedule)
        elif isinstance(var, Event):
            inputs.events[name] = (var.times, var.magnitude)
    if scenario is None:
        return inputs
    if scenario not in model.scenarios:
        raise UsageError(
            f"scenario {scenario!r} is not defined in {model.path or model.name}; "
            f"choose one of: {', '.join(model.scenarios) or '(none)'}.{suggest(scenario, model.scenarios)}"
        )
    chosen = model.scenarios[scenario]
    inputs.policy_from = chosen.policy_from
    for override in chosen.overrides:
        _apply_override(model, chosen, override, inputs)
    return inputs


def apply_params(model: Model, inputs: Inputs, params: dict[str, Value]) -> Inputs:
    """Override constants (per-run arrays allowed) and lever levels (from the scenario's policy date on)."""
    for raw_name, value in params.items():
        name = canonical(raw_name)
        var = model.variables.get(name)
        if isinstance(var, Constant):
            inputs.constants[name] = value
        elif isinstance(var, Lever):
            current = inputs.levers[name]
            inputs.levers[name] = LeverInput(current.baseline, current.schedule, value, inputs.policy_from)
        else:
            known = list(model.of_kind(Constant)) + list(model.of_kind(Lever))
            raise UsageError(
                f"params: {raw_name!r} is not a constant or lever of {model.name}; only those can be set.{suggest(name, known)}"
            )
    return inputs


def lever_fn(lever: LeverInput, tol: float) -> Callable[[float], Value]:
    """A function of model time giving the lever's value."""
    return lambda t: lever.at(t, tol)
