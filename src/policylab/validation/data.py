"""Checks against observed data: ``data`` (consistency, with a stated tolerance) and ``holdout``
(calibrate up to a cut-off, score the prediction after it).

Both read the calibration mapping format (``policylab.analysis.observations``). Holdout
scores follow Sterman (1984): the mean squared error split by Theil's inequality
statistics into bias (U^M), unequal variation (U^S) and unequal covariation (U^C).

Sterman, J. D. (1984). Appropriate summary statistics for evaluating the historical fit
of system dynamics models. *Dynamica* 10(2), 51-66.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from policylab.analysis.observations import MappingFile, SeriesMap, model_time, read_mapping, read_observations
from policylab.compile.graph import suggest
from policylab.errors import CheckError, DataError
from policylab.model.ir import CONDITIONED_UNTIL, Check
from policylab.validation.conditions import _at
from policylab.validation.context import Context, where
from policylab.validation.results import CheckResult

BANDS = (0.5, 0.8, 0.9)
MIN_THEIL_POINTS = 4


@dataclass(frozen=True)
class Observed:
    """One series' observations, aligned with model time."""

    series: SeriesMap
    dates: tuple[str, ...]
    times: np.ndarray
    values: np.ndarray



def _mapping(ctx: Context, check: Check) -> MappingFile:
    path = Path(check.mapping)
    if not path.is_absolute():
        path = Path(ctx.path).parent / path
    try:
        return read_mapping(path)
    except DataError as err:
        raise CheckError(f"{where(check, 'mapping')}: {err}") from err


def _observed(ctx: Context, check: Check, mapping: MappingFile, name: str, frame: pd.DataFrame) -> Observed:
    entry = next((s for s in mapping.series if s.name == name), None)
    if entry is None:
        names = [s.name for s in mapping.series]
        raise CheckError(f"{where(check, 'series')}: {name!r} is not a series of {mapping.where.file}.{suggest(name, names)}")
    if entry.variable not in ctx.model.variables:
        raise CheckError(f"{entry.where}: series.{name}: {entry.variable!r} is not a variable of {ctx.ir.name}."
                         f"{suggest(entry.variable, ctx.model.variables)}")
    rows = frame[frame["series"] == name]
    if rows.empty:
        raise CheckError(f"{where(check, 'series')}: series {name!r} has no rows in {mapping.data}")
    spec = ctx.ir.time
    times = np.array([model_time(spec, d, f"{mapping.data}:{line}") for d, line in zip(rows["date"], rows["line"])])
    order = np.argsort(times, kind="stable")
    return Observed(entry, tuple(np.asarray(rows["date"])[order]), times[order], rows["value"].to_numpy(float)[order])


def _model_values(ds, observed: Observed, ctx: Context) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(runs, observations): the model's reading of each observation (minus its baseline date's value)."""
    series = ds[observed.series.variable].transpose("run", "time").values
    times = ds["time"].values.astype(float)
    columns = [_at(series, times, np.array([[t]]))[:, 0] for t in observed.times]
    values = np.stack(columns, axis=1) if columns else np.empty((series.shape[0], 0))
    if observed.series.baseline is not None:
        base = model_time(ctx.ir.time, observed.series.baseline, f"{observed.series.where}: baseline")
        values = values - _at(series, times, np.array([[base]]))
    return values


# --------------------------------------------------------------------------- data
def prepare_data(ctx: Context, check: Check) -> tuple[Check, Observed]:
    mapping = _mapping(ctx, check)
    if mapping.data is None:
        raise CheckError(f"{where(check, 'mapping')}: {mapping.where.file} names no `data:` file")
    frame = _read(mapping, check)
    observed = _observed(ctx, check, mapping, check.series, frame)
    spec = ctx.ir.time
    low = spec.start if check.start is None else check.start
    high = spec.stop if check.until is None else check.until
    inside = (observed.times >= max(low, spec.start) - 1e-9) & (observed.times <= min(high, spec.stop) + 1e-9)
    if not inside.any():
        raise CheckError(f"{check.where}: checks.{check.display or check.name}: no observation of {check.series!r} "
                         f"falls in the run and the check's window (dates: {', '.join(observed.dates)})")
    kept = dataclasses.replace(observed, dates=tuple(np.asarray(observed.dates)[inside]),
                               times=observed.times[inside], values=observed.values[inside])
    ctx.need(ctx.scenario_of(check), [observed.series.variable])
    return check, kept


def _read(mapping: MappingFile, check: Check) -> pd.DataFrame:
    try:
        return read_observations(mapping.data)  # type: ignore[arg-type]
    except DataError as err:
        raise CheckError(f"{where(check, 'mapping')}: {err}") from err


def within(kind: str, tolerance: float, model: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Whether model statistics are within ``tolerance`` of the observations (module docs of the kinds)."""
    if kind == "relative":
        return np.abs(model - observed) <= tolerance * np.abs(observed) + 1e-12
    if kind == "absolute":
        return np.abs(model - observed) <= tolerance + 1e-12
    return model >= (1 - tolerance) * observed - 1e-12  # lower_bound


def run_data(ctx: Context, item: tuple[Check, Observed]) -> CheckResult:
    check, observed = item
    scenario = ctx.scenario_of(check)
    ds = ctx.ensemble(scenario, ctx.runs_of(check))
    values = _model_values(ds, observed, ctx)
    median = np.median(values, axis=0)
    ok = within(check.tolerance or "relative", check.tolerance_value or 0.0, median, observed.values)
    share = float(ok.mean())
    rows = [{"date": d, "observed": float(o), "median": float(m), "within": bool(w)}
            for d, o, m, w in zip(observed.dates, observed.values, median, ok)]
    detail = ""
    if not ok.all():
        worst = int(np.argmax(np.abs(median - observed.values) * ~ok))
        detail = (f"{observed.dates[worst]}: ensemble median {median[worst]:.4g}, observed {observed.values[worst]:.4g} "
                  f"({check.tolerance} tolerance {check.tolerance_value:g})")
    return CheckResult(check.display or check.name, check.kind, scenario, share, 1.0, bool(ok.all()), "observations",
                       len(ok), detail, check.doc, str(check.where),
                       metrics={"series": check.series, "tolerance": check.tolerance,
                                "tolerance_value": check.tolerance_value, "reason": check.reason, "points": rows})


# --------------------------------------------------------------------------- holdout
def prepare_holdout(ctx: Context, check: Check) -> tuple[Check, MappingFile]:
    mapping = _mapping(ctx, check)
    if mapping.data is None:
        raise CheckError(f"{where(check, 'mapping')}: {mapping.where.file} names no `data:` file")
    frame = _read(mapping, check)
    cutoff = check.cutoff if check.cutoff is not None else ctx.ir.time.stop
    latest, fitted = [], []
    for entry in mapping.series:
        observed = _observed(ctx, check, mapping, entry.name, frame)
        latest.append(float(observed.times.max()))
        if (observed.times >= ctx.ir.time.start - 1e-9).any() and (observed.times <= cutoff + 1e-9).any():
            fitted.append(entry.name)
    if not fitted:
        raise CheckError(f"{where(check, 'cutoff')}: no series of {mapping.where.file} has an observation between the "
                         "start of the run and the cut-off, so nothing can be fitted; move the cut-off later")
    if max(latest) < cutoff - 1e-9:
        raise CheckError(f"{where(check, 'cutoff')}: the data end before the cut-off (last observation at model time "
                         f"{max(latest):g}, cut-off {cutoff:g}); there is nothing to predict — move the cut-off earlier")
    from policylab.simulate import judgement_parameters

    known = judgement_parameters(ctx.ir)
    for name in check.fit:
        if name not in known:
            raise CheckError(f"{where(check, 'fit')}: {name!r} is not a judgement parameter.{suggest(name, known)}")
    return check, mapping


def theil(model: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Mean squared error and Theil's U^M, U^S, U^C (shares of the MSE; they sum to 1)."""
    mse = float(np.mean((model - observed) ** 2))
    if mse == 0:
        return {"mse": 0.0, "um": 0.0, "us": 0.0, "uc": 0.0}
    sm, so = float(np.std(model)), float(np.std(observed))
    r = float(np.corrcoef(model, observed)[0, 1]) if sm > 0 and so > 0 else 0.0
    return {"mse": mse, "um": (float(np.mean(model)) - float(np.mean(observed))) ** 2 / mse,
            "us": (sm - so) ** 2 / mse, "uc": 2 * (1 - r) * sm * so / mse}


def run_holdout(ctx: Context, item: tuple[Check, MappingFile]) -> CheckResult:
    """Fit ``fit`` by differential evolution on observations up to the cut-off, then score after it."""
    from policylab.analysis.calibration import calibration_problem, fit_de

    check, mapping = item
    cutoff = float(check.cutoff)  # type: ignore[arg-type]
    scenario = ctx.scenario_of(check)
    spec = ctx.ir.time
    until_text = _model_date(ctx, cutoff)
    fitted = tuple(entry for entry in mapping.series if _has_data_before(ctx, check, mapping, entry.name, cutoff))
    fitting = dataclasses.replace(mapping, series=fitted, until=until_text)  # series with data up to the cut-off
    problem = calibration_problem(ctx.model, fitting, parameters=list(check.fit), scenario=scenario, seed=ctx.seed,
                                  backend=ctx.backend)
    fit = fit_de(problem, popsize=6, generations=15, seed=ctx.seed)
    runs = ctx.runs_of(check)
    ds = ctx.model.run(scenario, params=fit.parameters | _no_record_after(ctx, scenario, cutoff), runs=runs,
                       seed=ctx.seed, sample=True, backend=ctx.backend,
                       variables=sorted({s.variable for s in mapping.series}))
    frame = _read(mapping, check)
    end = spec.stop if check.until is None else check.until
    series_metrics: dict[str, dict[str, object]] = {}
    for entry in mapping.series:
        observed = _observed(ctx, check, mapping, entry.name, frame)
        after = (observed.times > cutoff + 1e-9) & (observed.times <= end + 1e-9)
        if not after.any():
            series_metrics[entry.name] = {"n": 0}
            continue
        part = dataclasses.replace(observed, dates=tuple(np.asarray(observed.dates)[after]),
                                   times=observed.times[after], values=observed.values[after])
        values = _model_values(ds, part, ctx)
        median = np.median(values, axis=0)
        stats: dict[str, object] = {"n": int(after.sum()), "rmse": float(np.sqrt(np.mean((median - part.values) ** 2)))}
        if stats["n"] >= MIN_THEIL_POINTS:  # type: ignore[operator]
            stats.update(theil(median, part.values))
        else:
            stats["theil"] = f"not computed: {stats['n']} points after the cut-off (needs {MIN_THEIL_POINTS})"
        for band in BANDS:
            low, high = np.quantile(values, [(1 - band) / 2, (1 + band) / 2], axis=0)
            stats[f"coverage_{int(band * 100)}"] = float(((part.values >= low) & (part.values <= high)).mean())
        series_metrics[entry.name] = stats
    points = sum(int(s["n"]) for s in series_metrics.values())  # type: ignore[call-overload]
    covered = sum(float(s["coverage_90"]) * int(s["n"]) for s in series_metrics.values() if s.get("n"))  # type: ignore[arg-type, call-overload]
    share = covered / points if points else float("nan")
    passed = points > 0 and share >= check.require - 1e-12
    detail = "; ".join(f"{k}: n={v['n']}" + (f", RMSE {v['rmse']:.3g}, 90% band covers {v['coverage_90']:.0%}"
                                               if v.get("n") else "") for k, v in series_metrics.items())
    return CheckResult(check.display or check.name, check.kind, scenario, share, check.require, passed,
                       "observations", points,
                       detail if points else "no observation after the cut-off to score", check.doc, str(check.where),
                       metrics={"fitted": fit.parameters, "fit_rms_error": fit.rms_error, "series": series_metrics,
                                "fitted_on": [entry.name for entry in fitted]})


def _has_data_before(ctx: Context, check: Check, mapping: MappingFile, name: str, cutoff: float) -> bool:
    observed = _observed(ctx, check, mapping, name, _read(mapping, check))
    inside = (observed.times >= ctx.ir.time.start - 1e-9) & (observed.times <= cutoff + 1e-9)
    return bool(inside.any())


def _no_record_after(ctx: Context, scenario: str | None, cutoff: float) -> dict[str, float]:
    """A prediction after the cut-off must not follow the record after it: condition generated events up to the cut-off."""
    if CONDITIONED_UNTIL not in ctx.ir.variables or scenario is None:
        return {}
    until = ctx.ir.scenarios[scenario].condition_until
    return {} if until is None or until <= cutoff else {CONDITIONED_UNTIL: cutoff}


def _model_date(ctx: Context, time: float) -> str:
    """A model time as the text ``model_time`` reads back (a date for calendar models)."""
    spec = ctx.ir.time
    if spec.calendar_start is None or spec.days_per_unit is None:
        return repr(time)
    import datetime as dt

    return (spec.calendar_start + dt.timedelta(days=int(np.floor((time - spec.start) * spec.days_per_unit + 1e-9)))).isoformat()
