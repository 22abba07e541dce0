"""Checks every model gets without writing them: extreme conditions, integration error, units.

Extreme conditions (Sterman 2000, ch. 21.4.3): every lever at each end of its range from
the start, every judgement parameter at each end of its range — and, where it is a time
(units of the model's clock), also at 2·dt and at 10 times its nominal value; where it is a
rate (1/time), at 1/(2·dt) and at a tenth of its nominal value. The other judgement
parameters keep their sampled values, so run k of a sweep is run k of an ensemble with one
parameter overridden (``policylab run --run-index k --set p=v`` reproduces it). Nothing may
become NaN or infinite and every variable must stay within its declared ``bounds``, in 100 %
of runs. All parameter settings run as one ensemble (in chunks that fit in memory); each
lever's settings as one more.

Integration error (ch. 21.4.6): half the time step, and RK4 against Euler, in deterministic
mode (halving dt changes the random draws): the model's declared outcomes (else every stock's
final value) move by less than ``INTEGRATION_TOLERANCE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from policylab.errors import PolicyLabError, SimulationError
from policylab.model.guards import outside_range_expected
from policylab.model.ir import Event, GeneratedEvent, Lever, Method
from policylab.results.outcomes import outcome_array
from policylab.simulate import Streams, judgement_parameters, sample_judgements
from policylab.simulate.results import dates_of, series_names
from policylab.validation import derived
from policylab.validation.context import Context, display_path
from policylab.validation.results import CheckResult, CounterExample, run_command

INTEGRATION_TOLERANCE = 0.02
"""Largest relative change of an outcome allowed between integration settings, with a floor
of 1 % of the variable's largest magnitude over the run (so values near zero do not fail on noise)."""
CHUNK_BYTES = 256 * 2**20
BOUND_SLACK = 1e-9


@dataclass(frozen=True)
class Setting:
    """One extreme condition: ``name`` held at ``value`` (``label`` says which end)."""

    name: str
    value: float
    label: str


def _unit(text: str) -> str:
    return text.replace(" ", "").lower().rstrip("s")


def extreme_settings(ctx: Context) -> tuple[list[Setting], list[Setting]]:
    """(judgement parameter settings, lever settings) of the sweep."""
    ir = ctx.ir
    clock = _unit(ir.time.units)
    dt = ir.time.dt
    params = []
    for name, const in judgement_parameters(ir).items():
        low, high = const.range  # type: ignore[misc]
        params += [Setting(name, low, "range minimum"), Setting(name, high, "range maximum")]
        units = _unit(const.units)
        if units == clock:
            params += [Setting(name, 2 * dt, "2·dt"), Setting(name, 10 * const.value, "10 × nominal")]
        elif units in (f"1/{clock}", f"{clock}^-1") and const.value != 0:
            params += [Setting(name, 1 / (2 * dt), "1/(2·dt)"), Setting(name, const.value / 10, "nominal / 10")]
    levers = []
    for name, lever in ir.of_kind(Lever).items():
        span = derived.finite_range(lever)  # type: ignore[arg-type]
        if span is not None:
            levers += [Setting(name, span[0], "range minimum"), Setting(name, span[1], "range maximum")]
    return params, levers


@dataclass
class Violation:
    run: int
    setting: Setting
    message: str


def _bounded(ctx: Context) -> dict[str, tuple[float, float]]:
    return {n: v.bounds for n, v in ctx.ir.variables.items() if v.bounds is not None and n in ctx.model.variables}


def _inspect(ctx: Context, ds: xr.Dataset, settings: list[Setting], bounds: dict[str, tuple[float, float]]) -> list[Violation]:
    """Each run's first non-finite value or bound violation (variable, setting, first time)."""
    found: dict[int, Violation] = {}
    times = ds["time"].values
    dates = dates_of(ctx.ir, times)
    for name in series_names(ds):
        values = ds.variables[name].transpose("run", "time").values  # the Variable: no coordinates to carry
        bad = ~np.isfinite(values)
        what = "is NaN or infinite"
        low, high = bounds.get(name, (-math.inf, math.inf))
        slack = BOUND_SLACK * max(1.0, abs(low) if math.isfinite(low) else 1.0, abs(high) if math.isfinite(high) else 1.0)
        outside = np.isfinite(values) & ((values < low - slack) | (values > high + slack))
        for position in np.flatnonzero((bad | outside).any(axis=1)):
            if position in found:
                continue
            first = int(np.argmax(bad[position] | outside[position]))
            value = values[position, first]
            when = str(dates[first])[:10] if dates is not None else f"time {times[first]:g}"
            text = what if bad[position, first] else f"= {value:.6g}, outside its bounds [{low:g}, {high:g}]"
            found[int(position)] = Violation(int(ds["run"].values[position]), settings[position],
                                             f"{name} {text} at {when}")
    return [found[k] for k in sorted(found)]


def _run_chunked(ctx: Context, scenario: str | None, params: dict[str, np.ndarray], settings: list[Setting],
                 first_run: int, bounds: dict[str, tuple[float, float]]) -> list[Violation]:
    """Run the settings as ensembles of at most CHUNK_BYTES of output; bisect a chunk that fails to integrate."""
    total = len(settings)
    per_run = max(1, len(ctx.model.variables) * (ctx.ir.time.n_steps + 1) * 8)
    size = max(1, min(total, CHUNK_BYTES // per_run))
    violations: list[Violation] = []
    for start in range(0, total, size):
        violations += _run_part(ctx, scenario, params, settings, first_run, start, min(total, start + size), bounds)
    return violations


def _run_part(ctx: Context, scenario: str | None, params: dict[str, np.ndarray], settings: list[Setting],
              first_run: int, start: int, stop: int, bounds: dict[str, tuple[float, float]]) -> list[Violation]:
    part = {name: values[start:stop] for name, values in params.items()}
    try:
        with outside_range_expected():  # extreme conditions leave the sampling ranges on purpose
            ds = ctx.model.run(scenario, params=part, runs=stop - start, seed=ctx.seed, first_run=first_run + start,
                               sample=True, backend=ctx.backend)
    except SimulationError as error:
        if stop - start == 1:
            return [Violation(first_run + start, settings[start], str(error))]
        middle = (start + stop) // 2
        return (_run_part(ctx, scenario, params, settings, first_run, start, middle, bounds)
                + _run_part(ctx, scenario, params, settings, first_run, middle, stop, bounds))
    return _inspect(ctx, ds, settings[start:stop], bounds)


def run_extreme(ctx: Context) -> CheckResult:
    """The extreme-condition sweep under the default scenario (module docstring)."""
    scenario = ctx.ir.default_scenario
    param_settings, lever_settings = extreme_settings(ctx)
    n_settings = len(param_settings) + len(lever_settings)
    if not n_settings:
        return CheckResult("extreme_conditions", "extreme", scenario, None, 1.0, True, "runs", 0,
                           "no judgement parameter or lever with a range: nothing to sweep",
                           "Every lever and judgement parameter at its extremes: no NaN, every variable within bounds")
    reps = max(1, ctx.runs // n_settings)
    bounds = _bounded(ctx)
    violations: list[Violation] = []
    runs = 0
    if param_settings:
        expanded = [s for s in param_settings for _ in range(reps)]
        sampled = sample_judgements(ctx.ir, Streams(ctx.seed, np.arange(len(expanded), dtype=np.int64)))
        params = {name: values.copy() for name, values in sampled.items()}
        for k, setting in enumerate(expanded):
            params[setting.name][k] = setting.value
        violations += _run_chunked(ctx, scenario, params, expanded, 0, bounds)
        runs += len(expanded)
    for lever in dict.fromkeys(s.name for s in lever_settings):
        expanded = [s for s in lever_settings if s.name == lever for _ in range(reps)]
        params = {lever: np.array([s.value for s in expanded])}
        violations += _run_chunked(ctx, scenario, params, expanded, 0, bounds)
        runs += len(expanded)
    share = 1 - len(violations) / runs
    example = None
    if violations:
        first = violations[0]
        command = run_command(_path(ctx), scenario, ctx.seed, first.run, {first.setting.name: first.setting.value},
                              [])
        example = CounterExample(first.run, ctx.seed, scenario, {}, {first.setting.name: first.setting.value}, command,
                                 first.message)
    listed = "; ".join(f"{v.setting.name} at {v.setting.label} ({v.setting.value:g}), run {v.run}: {v.message}"
                       for v in violations[:5])
    more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
    detail = (listed + more) if violations else (f"{n_settings} settings × {reps} runs; {len(bounds)} variables "
                                                 "with declared bounds")
    return CheckResult("extreme_conditions", "extreme", scenario, share, 1.0, not violations, "runs", runs, detail,
                       "Every lever and judgement parameter at its extremes: no NaN, every variable within bounds",
                       counter_example=example,
                       metrics={"settings": n_settings, "runs_per_setting": reps,
                                "violations": [{"setting": v.setting.name, "value": v.setting.value, "run": v.run,
                                                "message": v.message} for v in violations[:50]]})


def _path(ctx: Context) -> str:
    return display_path(ctx.path)


def _figures(ctx: Context, ds: xr.Dataset) -> dict[str, tuple[float, float]]:
    """(value, scale) of each outcome: declared outcomes, else each stock's final value."""
    ir = ctx.ir
    figures = {}
    if ir.outcomes:
        for name, outcome in ir.outcomes.items():
            value = float(outcome_array(ds, outcome)[0])
            scale = float(np.nanmax(np.abs(ds[outcome.variable].values)))
            figures[name] = (value, scale)
    else:
        from policylab.model.ir import Stock

        for name in ir.of_kind(Stock):
            if name in ds.data_vars:
                values = ds[name].values[0]
                figures[f"{name} (final)"] = (float(values[-1]), float(np.nanmax(np.abs(values))))
    return figures


def _outcome_variables(ctx: Context) -> list[str] | None:
    ir = ctx.ir
    if ir.outcomes:
        return sorted({o.variable for o in ir.outcomes.values()})
    from policylab.model.ir import Stock

    return sorted(n for n in ir.of_kind(Stock) if n in ctx.model.variables) or None


def run_integration(ctx: Context) -> list[CheckResult]:
    """Half dt, and the other integration method, against the model as written (deterministic, nominal)."""
    ir = ctx.ir
    scenario = ir.default_scenario
    names = _outcome_variables(ctx)
    base = ctx.model.run(scenario, deterministic=True, variables=names, backend=ctx.backend)
    reference = _figures(ctx, base)
    other = Method.RK4 if ir.time.method == Method.EULER else Method.EULER
    variants = {
        "integration_half_dt": (f"dt {ir.time.dt:g} against dt {ir.time.dt / 2:g}",
                                derived.with_clock(ir, dt=ir.time.dt / 2)),
        "integration_method": (f"{ir.time.method.value} against {other.value}", derived.with_clock(ir, method=other.value)),
    }
    results = []
    discrete = sorted(n for n, v in ir.variables.items() if isinstance(v, (Event, GeneratedEvent)))
    if discrete and ir.time.method == Method.EULER:
        label, _ = variants.pop("integration_method")
        results.append(CheckResult(
            "integration_method", "integration", scenario, None, None, True, "outcomes", 0,
            f"{label}: not applicable — the model has discrete events ({', '.join(discrete[:3])}"
            f"{'…' if len(discrete) > 3 else ''}) whose jumps are defined per Euler step; RK4 would integrate each "
            "pulse as a continuous input over the step. The half-dt check measures the integration error instead.",
            _integration_doc(label)))
    for name, (label, variant_ir) in variants.items():
        try:
            variant = derived.load_ir(variant_ir).run(scenario, deterministic=True, variables=names, backend=ctx.backend)
        except PolicyLabError as error:
            results.append(CheckResult(name, "integration", scenario, None, None, False, "outcomes", len(reference),
                                       f"{label}: the variant does not run: {error}", _integration_doc(label)))
            continue
        figures = _figures(ctx, variant)
        worst, moved = 0.0, []
        for key, (value, scale) in reference.items():
            changed = figures[key][0]
            relative = abs(changed - value) / max(abs(value), 0.01 * scale, 1e-12)
            worst = max(worst, relative if math.isfinite(relative) else math.inf)
            if not relative <= INTEGRATION_TOLERANCE:
                moved.append(f"{key}: {value:.6g} -> {changed:.6g}")
        ok = not moved
        share = 1 - len(moved) / max(len(reference), 1)
        detail = f"{label}: largest change {worst:.2%} of the value (tolerance {INTEGRATION_TOLERANCE:.0%})"
        if moved:
            detail += "; moved: " + "; ".join(moved[:5])
        results.append(CheckResult(name, "integration", scenario, share, 1.0, ok, "outcomes", len(reference), detail,
                                   _integration_doc(label), metrics={"largest_change": worst}))
    return results


def _integration_doc(label: str) -> str:
    return f"Integration error ({label}, deterministic): outcomes move by less than {INTEGRATION_TOLERANCE:.0%}"


def run_units(ctx: Context) -> CheckResult:
    """Dimensional consistency, as ``policylab check`` reports it."""
    from policylab.compile.units import check_units

    issues = check_units(ctx.ir)
    detail = "; ".join(str(i) for i in issues[:5]) + (f" (and {len(issues) - 5} more)" if len(issues) > 5 else "")
    return CheckResult("units", "units", None, None, None, not issues, "issues", len(issues),
                       detail or "consistent", "Dimensional consistency of every equation (as `policylab check`)")

