"""Global sensitivity analysis: Sobol indices (scalar and time-varying) and Morris screening.

Sobol indices follow Saltelli et al. (2010): a scrambled Sobol' design of ``N (k + 2)``
parameter sets (matrices A, B and the k matrices A with column j from B), the
first-order estimator of Saltelli 2010 and the total-effect estimator of Jansen (1999),
with bootstrap confidence intervals (SALib's ``sample.sobol`` / ``analyze.sobol``). The
whole design is one chunked vectorised ensemble (``evaluate_outcomes``).

*Time-varying* indices apply the same estimators to a variable at each analysed saved
time step: the same design, one ensemble, one SALib analysis per step. They show when a
parameter matters (e.g. an initial condition early, a feedback gain late), which a
single end-of-run index hides.

Morris screening (Morris 1991; Campolongo, Cariboni & Saltelli 2007) ranks many
parameters by the mean absolute elementary effect ``mu_star`` at a cost of
``r (k + 1)`` runs. Effects are measured in the unit cube (a step of one level is the
same share of every parameter's prior), so ``mu_star`` is comparable across parameters
with different units.

References
----------
Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M. & Tarantola, S. (2010).
Variance based sensitivity analysis of model output. Computer Physics Communications
181(2), 259-270. doi:10.1016/j.cpc.2009.09.018
Jansen, M. J. W. (1999). Analysis of variance designs for model output. Computer Physics
Communications 117, 35-43.
Morris, M. D. (1991). Factorial sampling plans for preliminary computational
experiments. Technometrics 33(2), 161-174.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from policylab.analysis.evaluate import Progress, evaluate_outcomes, evaluate_series, resolve_outcomes, saved_times
from policylab.analysis.space import Space, parameter_space
from policylab.api import Backend, Model
from policylab.errors import UsageError
from policylab.expr.names import canonical

Method = Literal["sobol", "morris"]
METHODS: tuple[Method, ...] = ("sobol", "morris")


def _problem(space: Space) -> dict[str, object]:
    return {"num_vars": len(space), "names": space.names, "bounds": [[0.0, 1.0]] * len(space)}


def _analysis_seed(seed: int) -> int:
    """A non-zero seed for SALib's bootstrap (SALib treats 0 as 'unseeded')."""
    return int(np.random.SeedSequence([seed, 0x5A1]).generate_state(1)[0]) | 1


def sobol_design(space: Space, base_samples: int, seed: int = 0) -> np.ndarray:
    """The Saltelli design in the unit cube: ``base_samples * (k + 2)`` rows, ``k`` columns.

    ``base_samples`` must be a power of two (the balance properties of Sobol' points).
    """
    if base_samples < 2 or base_samples & (base_samples - 1):
        raise UsageError(f"base samples must be a power of two (e.g. 256, 1024), got {base_samples}")
    return sobol_sample.sample(_problem(space), base_samples, calc_second_order=False, scramble=True, seed=seed)


def analyze_sobol(space: Space, y: np.ndarray, *, conf_level: float = 0.95, resamples: int = 100,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """S1, S1_conf, ST, ST_conf of outputs ``y`` of a ``sobol_design`` (NaN where ``y`` is constant).

    ``*_conf`` is the half-width of the bootstrap confidence interval at ``conf_level``.
    """
    y = np.asarray(y, dtype=float)
    keys = ("S1", "S1_conf", "ST", "ST_conf")
    if not np.isfinite(y).all():
        raise UsageError("the outputs contain NaN or infinity; Sobol indices need finite values")
    if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return {k: np.full(len(space), np.nan) for k in keys}
    found = sobol_analyze.analyze(_problem(space), y, calc_second_order=False, num_resamples=resamples,
                                  conf_level=conf_level, seed=_analysis_seed(seed))
    return {k: np.asarray(found[k], dtype=float) for k in keys}


def sobol_indices(
    model: Model,
    outcomes: Sequence[str] | None = None,
    *,
    parameters: Sequence[str] | None = None,
    base_samples: int = 1024,
    scenario: str | None = None,
    seed: int = 0,
    deterministic: bool = True,
    conf_level: float = 0.95,
    resamples: int = 100,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    backend: Backend = "auto",
) -> xr.Dataset:
    """First-order and total Sobol indices of scalar outcomes over (outcome, parameter).

    Parameters
    ----------
    outcomes : declared outcome names or ``VARIABLE:STAT`` (default: every declared outcome).
    parameters : judgement parameters to vary (default: all); the rest stay at their values.
    base_samples : N, a power of two; the design has ``N (k + 2)`` runs.
    deterministic : random functions return their means (default), so the indices measure
        the parameters' effect, not sampling noise.
    """
    space = parameter_space(model.ir, parameters)
    chosen = resolve_outcomes(model.ir, outcomes)
    design = sobol_design(space, base_samples, seed)
    values = evaluate_outcomes(model, space.values(design), chosen, scenario=scenario, seed=seed,
                               deterministic=deterministic, chunk_size=chunk_size, progress=progress, backend=backend)
    rows = [analyze_sobol(space, values[o.name].values, conf_level=conf_level, resamples=resamples, seed=seed)
            for o in chosen]
    data = {k: (("outcome", "parameter"), np.array([r[k] for r in rows])) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    return xr.Dataset(data, coords={"outcome": [o.name for o in chosen], "parameter": space.names},
                      attrs=_attrs(model, "sobol", scenario, seed, len(design), deterministic,
                                   base_samples=base_samples, conf_level=conf_level, backend=values.attrs["backend"]))


def sobol_over_time(
    model: Model,
    variable: str,
    *,
    parameters: Sequence[str] | None = None,
    base_samples: int = 512,
    max_times: int = 100,
    scenario: str | None = None,
    seed: int = 0,
    deterministic: bool = True,
    conf_level: float = 0.95,
    resamples: int = 100,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    backend: Backend = "auto",
) -> xr.Dataset:
    """Time-varying Sobol indices of ``variable`` over (time, parameter).

    Analyses every saved time step, or ``max_times`` of them evenly spaced when the run
    saves more. Steps where the variable does not vary across the design (e.g. a fixed
    initial value) get NaN indices. Also returns the variable's mean and variance per step,
    so a reader can tell an index of a large variance from one of a negligible variance.
    """
    if max_times < 1:
        raise UsageError(f"max_times must be at least 1, got {max_times}")
    space = parameter_space(model.ir, parameters)
    times = saved_times(model)
    picked = np.unique(np.linspace(0, len(times) - 1, min(max_times, len(times))).round().astype(int))
    design = sobol_design(space, base_samples, seed)
    series = evaluate_series(model, space.values(design), variable, times=picked, scenario=scenario, seed=seed,
                             deterministic=deterministic, chunk_size=chunk_size, progress=progress, backend=backend)
    matrix = series.transpose("run", "time").values
    rows = [analyze_sobol(space, matrix[:, i], conf_level=conf_level, resamples=resamples, seed=seed)
            for i in range(matrix.shape[1])]
    data = {k: (("time", "parameter"), np.array([r[k] for r in rows])) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    data["mean"] = (("time",), matrix.mean(axis=0))
    data["variance"] = (("time",), matrix.var(axis=0))
    coords: dict[str, object] = {"time": series["time"].values, "parameter": space.names}
    if "date" in series.coords:
        coords["date"] = ("time", series["date"].values)
    return xr.Dataset(data, coords=coords,
                      attrs=_attrs(model, "sobol", scenario, seed, len(design), deterministic, variable=canonical(variable),
                                   base_samples=base_samples, conf_level=conf_level, backend=series.attrs["backend"]))


def morris_screening(
    model: Model,
    outcomes: Sequence[str] | None = None,
    *,
    parameters: Sequence[str] | None = None,
    trajectories: int = 20,
    levels: int = 4,
    scenario: str | None = None,
    seed: int = 0,
    deterministic: bool = True,
    conf_level: float = 0.95,
    resamples: int = 1000,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    backend: Backend = "auto",
) -> xr.Dataset:
    """Morris elementary effects over (outcome, parameter): ``mu``, ``mu_star``, ``sigma``, ``mu_star_conf``.

    ``trajectories * (k + 1)`` runs. ``levels`` must be even (Morris's recommendation keeps
    the step at ``levels / (2 (levels - 1))`` so every level is visited equally).
    """
    if trajectories < 2:
        raise UsageError(f"Morris screening needs at least 2 trajectories, got {trajectories}")
    if levels < 2 or levels % 2:
        raise UsageError(f"Morris levels must be an even number of at least 2, got {levels}")
    space = parameter_space(model.ir, parameters)
    chosen = resolve_outcomes(model.ir, outcomes)
    problem = _problem(space)
    design = morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed)
    values = evaluate_outcomes(model, space.values(design), chosen, scenario=scenario, seed=seed,
                               deterministic=deterministic, chunk_size=chunk_size, progress=progress, backend=backend)
    keys = ("mu", "mu_star", "sigma", "mu_star_conf")
    rows = []
    for o in chosen:
        y = values[o.name].values.astype(float)
        if not np.isfinite(y).all():
            raise UsageError(f"outcome {o.name!r} has NaN or infinite values; Morris screening needs finite values")
        found = morris_analyze.analyze(problem, design, y, num_resamples=resamples, conf_level=conf_level,
                                       num_levels=levels, seed=seed)
        rows.append({k: np.asarray(found[k], dtype=float) for k in keys})
    data = {k: (("outcome", "parameter"), np.array([r[k] for r in rows])) for k in keys}
    return xr.Dataset(data, coords={"outcome": [o.name for o in chosen], "parameter": space.names},
                      attrs=_attrs(model, "morris", scenario, seed, len(design), deterministic,
                                   trajectories=trajectories, levels=levels, conf_level=conf_level,
                                   backend=values.attrs["backend"]))


def _attrs(model: Model, method: str, scenario: str | None, seed: int, runs: int, deterministic: bool,
           **extra: object) -> dict[str, object]:
    return {"model": model.name, "method": method, "scenario": scenario or model.ir.default_scenario or "",
            "seed": int(seed), "runs": int(runs), "deterministic": int(deterministic), **extra}
