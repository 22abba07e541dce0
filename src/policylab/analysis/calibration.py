"""Calibration: fit judgement parameters to observed series.

A calibration *problem* ties observed series (``observations``) to model variables and
fixes the parameter space (the judgement parameters' priors, as a unit cube). Every
candidate parameter set is scored by a weighted, scaled sum of squares::

    loss = sum_s W_s * [sum_i w_i ((model_i - observed_i) / scale_s)^2 / sum_i w_i] / sum_s W_s

(series ``s`` with weight ``W_s`` and error scale ``scale_s``, observations ``i`` with
weights ``w_i``), so ``sqrt(loss)`` reads as a root-mean-square error in units of each
series' scale (by default its mean absolute value: "off by 10 %"). Model values at
observation dates are interpolated linearly between saved steps; a series with a
baseline date is compared as ``x(date) - x(baseline)`` (counts since a date).

Two estimators share the problem:

* ``fit_de`` — differential evolution (Storn & Price 1997) over the unit cube, each
  generation evaluated as **one** vectorised ensemble (SciPy's ``vectorized=True`` with
  ``updating='deferred'``): a best-fitting point.
* ``abc.abc_rejection`` / ``abc.abc_smc`` — approximate Bayesian computation: a posterior
  sample of parameter sets (see ``policylab.analysis.abc``).

By default the fit is to the model's deterministic skeleton (random functions at their
means), which is what a least-squares fit can match; ``deterministic=False`` keeps the
noise with common random numbers (the same run indices for every candidate).

References
----------
Storn, R. & Price, K. (1997). Differential evolution - a simple and efficient heuristic for
global optimization over continuous spaces. Journal of Global Optimization 11, 341-359.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import differential_evolution

from policylab.analysis.evaluate import Progress, evaluate_design, saved_times
from policylab.analysis.observations import MappingFile, SeriesMap, model_time, read_mapping, read_observations
from policylab.analysis.space import Space, parameter_space
from policylab.api import Backend, Model, check_backend
from policylab.compile.graph import suggest
from policylab.errors import DataError, UsageError
from policylab.expr.names import canonical
from policylab.simulate.results import dates_of


@dataclass(frozen=True)
class Target:
    """One observed series aligned with model time."""

    name: str
    variable: str
    dates: tuple[str, ...]
    times: np.ndarray
    values: np.ndarray
    weights: np.ndarray
    baseline: float | None
    weight: float
    scale: float


@dataclass(frozen=True)
class Problem:
    """What to fit (``space``), to what (``targets``), and how to run the model."""

    model: Model
    space: Space
    targets: tuple[Target, ...]
    scenario: str | None = None
    deterministic: bool = True
    seed: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    """(series, date) of observations outside the run or the mapping's window, not fitted."""
    backend: Backend = "auto"
    """``Model.run``'s backend for every evaluation (``auto``: numba when installed)."""

    @property
    def observations(self) -> int:
        return sum(len(t.values) for t in self.targets)


def calibration_problem(
    model: Model,
    mapping: str | Path | MappingFile,
    data: str | Path | None = None,
    *,
    parameters: Sequence[str] | None = None,
    scenario: str | None = None,
    deterministic: bool = True,
    seed: int = 0,
    backend: Backend = "auto",
) -> Problem:
    """Read the mapping and data, check them against ``model`` and align them with its clock.

    ``data``, ``parameters`` and ``scenario`` override the mapping file's own entries.
    """
    spec = mapping if isinstance(mapping, MappingFile) else read_mapping(mapping)
    source = Path(data) if data is not None else spec.data
    if source is None:
        raise UsageError(f"{spec.where}: no data file; give one with --data or `data:` in the mapping")
    frame = read_observations(source)
    chosen_scenario = scenario or spec.scenario
    if chosen_scenario is not None and chosen_scenario not in model.ir.scenarios:
        raise UsageError(f"unknown scenario {chosen_scenario!r}; {model.name} has {', '.join(model.scenarios) or 'none'}")
    space = parameter_space(model.ir, list(parameters or spec.parameters) or None)
    time = model.ir.time
    first = max(time.start, -np.inf if spec.start is None else model_time(time, spec.start, f"{spec.where}: from"))
    last = min(time.stop, np.inf if spec.until is None else model_time(time, spec.until, f"{spec.where}: until"))
    skipped: list[tuple[str, str]] = []
    targets = tuple(_target(model, source, frame, entry, (first, last), skipped) for entry in spec.series)
    return Problem(model, space, targets, chosen_scenario, deterministic, seed, tuple(skipped),
                   check_backend(backend))  # type: ignore[arg-type]


def _target(model: Model, source: Path, frame: pd.DataFrame, entry: SeriesMap, window: tuple[float, float],
            skipped: list[tuple[str, str]]) -> Target:
    variable = canonical(entry.variable)
    known = set(model.variables)
    if variable not in known:
        raise DataError(f"{entry.where}: series.{entry.name}: {entry.variable!r} is not a variable of {model.name}."
                        f"{suggest(variable, known)}")
    rows = frame[frame["series"] == entry.name]
    if rows.empty:
        close = suggest(entry.name, sorted(set(frame["series"])))
        raise DataError(f"{entry.where}: series {entry.name!r} has no rows in {source}.{close}")
    bad = rows[~np.isfinite(rows["value"])]
    if not bad.empty:
        raise DataError(f"{source}:{int(bad['line'].iloc[0])}: series {entry.name}: value is not a number")
    spec = model.ir.time
    times = np.array([model_time(spec, d, f"{source}:{line}") for d, line in zip(rows["date"], rows["line"])])
    baseline = None if entry.baseline is None else model_time(spec, entry.baseline, f"{entry.where}: series.{entry.name}.baseline")
    if baseline is not None and not spec.start - 1e-9 <= baseline <= spec.stop + 1e-9:
        raise DataError(f"{entry.where}: series.{entry.name}.baseline {entry.baseline} is outside the model's run "
                        f"({spec.start:g} to {spec.stop:g} {spec.units})")
    inside = (times >= window[0] - 1e-9) & (times <= window[1] + 1e-9)
    skipped.extend((entry.name, str(d)) for d in rows["date"][~inside])
    if not inside.any():
        raise DataError(f"{entry.where}: series {entry.name}: no observation falls in the model's run and the "
                        f"mapping's window (dates {', '.join(rows['date'])})")
    rows, times = rows[inside], times[inside]
    values = rows["value"].to_numpy(dtype=float)
    weights = rows["weight"].to_numpy(dtype=float) if np.ndim(rows["weight"]) else np.ones(len(rows))
    weights = np.where(np.isfinite(weights), weights, 1.0)
    scale = entry.scale or float(np.mean(np.abs(values))) or 1.0
    order = np.argsort(times, kind="stable")
    return Target(entry.name, variable, tuple(np.asarray(rows["date"])[order]), times[order], values[order],
                  weights[order], baseline, entry.weight, scale)


def _interpolator(saved: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights to interpolate saved steps linearly at times ``at``."""
    left = np.clip(np.searchsorted(saved, at, side="right") - 1, 0, len(saved) - 2) if len(saved) > 1 else np.zeros(len(at), int)
    width = (saved[left + 1] - saved[left]) if len(saved) > 1 else np.ones(len(at))
    frac = np.clip((at - saved[left]) / width, 0.0, 1.0) if len(saved) > 1 else np.zeros(len(at))
    return left, frac


def predict(problem: Problem, unit: np.ndarray, *, first_run: int = 0, chunk_size: int | None = None,
            progress: Progress | None = None) -> np.ndarray:
    """Model values at every observation, ``(n, observations)``, for a ``(n, k)`` unit-cube design."""
    saved = saved_times(problem.model)
    plans = []
    for target in problem.targets:
        at = target.times if target.baseline is None else np.append(target.times, target.baseline)
        plans.append((target, *_interpolator(saved, at)))

    def reduce(ds: xr.Dataset) -> xr.DataArray:
        columns = []
        for target, left, frac in plans:
            series = ds[target.variable].transpose("run", "time").values
            if series.shape[1] == 1:
                values = np.repeat(series, len(left), axis=1)
            else:
                values = series[:, left] * (1 - frac) + series[:, left + 1] * frac
            columns.append(values if target.baseline is None else values[:, :-1] - values[:, -1:])
        return xr.DataArray(np.concatenate(columns, axis=1), dims=("run", "observation"))

    params = problem.space.values(unit)
    found = evaluate_design(problem.model, params, sorted({t.variable for t in problem.targets}), reduce,
                            scenario=problem.scenario, seed=problem.seed, first_run=first_run,
                            deterministic=problem.deterministic, chunk_size=chunk_size, progress=progress,
                            backend=problem.backend)
    return np.asarray(found.values)


def loss(problem: Problem, predictions: np.ndarray) -> np.ndarray:
    """The weighted, scaled sum of squares of each row of ``predictions`` (module docstring)."""
    predictions = np.atleast_2d(predictions)
    total = np.zeros(predictions.shape[0])
    start = 0
    for t in problem.targets:
        part = predictions[:, start:start + len(t.values)]
        start += len(t.values)
        residual = (part - t.values) / t.scale
        total += t.weight * (residual**2 @ t.weights) / t.weights.sum()
    total /= sum(t.weight for t in problem.targets)
    return np.where(np.isfinite(total), total, np.inf)


@dataclass(frozen=True)
class Fit:
    """A best fit: parameter values, its loss and the observed-versus-fitted table."""

    parameters: dict[str, float]
    loss: float
    table: pd.DataFrame
    """series, date, time, observed, fitted, weight: one row per observation."""
    evaluations: int
    generations: int
    message: str
    converged: bool = True
    """Whether the optimiser met its tolerance (not merely ran out of generations)."""

    @property
    def rms_error(self) -> float:
        """sqrt(loss): the root-mean-square error in units of each series' scale."""
        return float(np.sqrt(self.loss))


def fit_table(problem: Problem, unit: np.ndarray) -> pd.DataFrame:
    """Observed against fitted values at one point of the unit cube.

    Columns: series, variable, date (as in the data), time, x (calendar date, or time),
    observed, fitted, weight.
    """
    fitted = predict(problem, np.atleast_2d(unit))[0]
    rows = []
    start = 0
    for t in problem.targets:
        for i in range(len(t.values)):
            rows.append({"series": t.name, "variable": t.variable, "date": t.dates[i], "time": float(t.times[i]),
                         "observed": float(t.values[i]), "fitted": float(fitted[start + i]), "weight": float(t.weights[i])})
        start += len(t.values)
    table = pd.DataFrame(rows)
    dates = dates_of(problem.model.ir, table["time"].to_numpy(dtype=float))
    table.insert(4, "x", dates if dates is not None else table["time"])
    return table


def fitted_series(problem: Problem, unit: np.ndarray) -> dict[str, pd.DataFrame]:
    """The run at one point of the unit cube, per series as columns x (date or time) and y."""
    params = {n: float(v[0]) for n, v in problem.space.values(np.atleast_2d(unit)).items()}
    ds = problem.model.run(problem.scenario, params=params, seed=problem.seed, sample=False,
                           variables=sorted({t.variable for t in problem.targets}), deterministic=problem.deterministic,
                           backend=problem.backend)
    x = ds["date"].values if "date" in ds.coords else ds["time"].values
    found = {}
    for t in problem.targets:
        y = ds[t.variable].values[0]
        if t.baseline is not None:
            y = y - np.interp(t.baseline, ds["time"].values, y)
        found[t.name] = pd.DataFrame({"x": x, "y": y})
    return found


def fit_de(
    problem: Problem,
    *,
    popsize: int = 15,
    generations: int = 100,
    tol: float = 1e-3,
    seed: int = 0,
    progress: Progress | None = None,
) -> Fit:
    """Differential evolution over the unit cube; one vectorised ensemble per generation.

    ``popsize`` is SciPy's multiplier: a generation has ``popsize * k`` members.
    """
    if popsize < 4 or generations < 1:
        raise UsageError(f"differential evolution needs popsize >= 4 and generations >= 1, got {popsize} and {generations}")
    k = len(problem.space)
    evaluations = 0
    done = 0

    def objective(x: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        unit = np.clip(x.T if x.ndim == 2 else x[None, :], 0.0, 1.0)
        evaluations += unit.shape[0]
        return loss(problem, predict(problem, unit))

    def callback(intermediate_result: object) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, generations)

    rng_arg = {"rng": np.random.default_rng(seed)} if "rng" in inspect.signature(differential_evolution).parameters else {"seed": seed}
    result = differential_evolution(objective, [(0.0, 1.0)] * k, popsize=popsize, maxiter=generations, tol=tol,
                                    vectorized=True, updating="deferred", polish=False, init="latinhypercube", callback=callback, **rng_arg)
    best = np.clip(np.asarray(result.x), 0.0, 1.0)
    values = {name: float(v[0]) for name, v in problem.space.values(best[None, :]).items()}
    return Fit(values, float(result.fun), fit_table(problem, best), evaluations, int(result.nit), str(result.message),
               bool(result.success))


IDENTIFIABLE = 0.05
"""Below this sensitivity (RMS change of the scaled residuals per whole prior range) the data do not constrain a parameter."""
COLLINEAR = 15.0
"""Collinearity index above which parameters trade off against each other (Brun et al. 2001 use 10-15)."""


@dataclass(frozen=True)
class Identifiability:
    """Which parameters the data constrain, from the local sensitivity of the fit (Brun et al. 2001).

    ``sensitivity[p]`` is delta^msqr: the root-mean-square change of the scaled residuals
    when ``p`` moves across its whole prior range, by central differences at the best fit.
    ``collinearity`` is the index of the constrained parameters together: large when the
    fit cannot tell them apart (one can make up for another).
    """

    sensitivity: dict[str, float]
    collinearity: float

    @property
    def constrained(self) -> list[str]:
        return [name for name, value in self.sensitivity.items() if value >= IDENTIFIABLE]

    @property
    def unconstrained(self) -> list[str]:
        return [name for name, value in self.sensitivity.items() if value < IDENTIFIABLE]


def identifiability(problem: Problem, unit: np.ndarray, step: float = 0.05) -> Identifiability:
    """Local sensitivities and the collinearity index at ``unit`` (one ensemble of 2 k runs)."""
    k = len(problem.space)
    centre = np.clip(np.asarray(unit, dtype=float), step, 1 - step)
    points = np.repeat(centre[None, :], 2 * k, axis=0)
    points[np.arange(k), np.arange(k)] += step
    points[k + np.arange(k), np.arange(k)] -= step
    scaled = np.concatenate([np.full(len(t.values), t.scale) for t in problem.targets])
    jacobian = ((predict(problem, points[:k]) - predict(problem, points[k:])) / scaled / (2 * step)).T  # (n, k)
    jacobian = np.where(np.isfinite(jacobian), jacobian, 0.0)
    sensitivity = np.sqrt(np.mean(jacobian**2, axis=0))
    names = problem.space.names
    strong = sensitivity >= IDENTIFIABLE
    collinearity = 1.0
    if strong.sum() > 1:
        normal = jacobian[:, strong] / np.linalg.norm(jacobian[:, strong], axis=0)
        smallest = float(np.linalg.eigvalsh(normal.T @ normal)[0])
        collinearity = float("inf") if smallest <= 1e-12 else 1 / np.sqrt(smallest)
    return Identifiability({n: float(v) for n, v in zip(names, sensitivity)}, collinearity)


def warnings_for(problem: Problem, fit: Fit | None, found: Identifiability | None) -> list[str]:
    """What limits trust in a calibration, one sentence each (empty for a well-posed, converged fit)."""
    notes = []
    k, n = len(problem.space), problem.observations
    if k > n:
        notes.append(f"{k} parameters were fitted to {n} observations: the data cannot determine them all")
    if fit is not None and not fit.converged:
        notes.append(f"the optimiser did not converge ({fit.message}); this is the best point found, not a best fit; "
                     "raise --generations or fit fewer --params")
    if found is not None and found.unconstrained:
        names = ", ".join(found.unconstrained[:6]) + (", …" if len(found.unconstrained) > 6 else "")
        notes.append(f"the data do not constrain {len(found.unconstrained)} of {k} parameters (moving one across its "
                     f"prior range changes the fit by less than {IDENTIFIABLE:.0%} of the series' scale): {names}; "
                     "their fitted values are arbitrary")
    if found is not None and found.collinearity > COLLINEAR:
        notes.append(f"the constrained parameters trade off against each other (collinearity index "
                     f"{found.collinearity:.3g} > {COLLINEAR:g}): several combinations fit equally well")
    return notes


def check_determined(problem: Problem, allow: bool = False) -> None:
    """Refuse to fit more parameters than there are observations, unless ``allow``."""
    k, n = len(problem.space), problem.observations
    if k > n and not allow:
        raise UsageError(f"{k} parameters cannot be fitted to {n} observations (more unknowns than data); choose "
                         f"the parameters the data speak to with --params, or pass --allow-underdetermined to fit "
                         "anyway (the result says which parameters the data constrain)")
