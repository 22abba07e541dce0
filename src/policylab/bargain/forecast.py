"""Forecast a stakeholder case with every model, alone or coupled to a model's scenarios.

``forecast`` runs the four models on a stakeholder sample (one row per run);
``forecast_case`` samples a case and forecasts it; ``forecast_scenarios`` runs a
system-dynamics model's scenarios, couples each to the case at a date (see
:mod:`policylab.bargain.coupling`) and forecasts every scenario over the ensemble.
``summary`` reduces a forecast to median and 10-90 % band per model and issue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import xarray as xr

from policylab.bargain.coupling import Coupling, apply_coupling, check_rules, multipliers, state_at
from policylab.bargain.expected_utility import EUSettings, expected_utility_model
from policylab.bargain.spatial import compromise, median_voter, nash_bargaining
from policylab.bargain.stakeholders import Case, sample_case
from policylab.errors import UsageError

ModelName = Literal["expected_utility", "median", "compromise", "nash"]
MODEL_NAMES: tuple[ModelName, ...] = ("expected_utility", "median", "compromise", "nash")
MODEL_LABELS: dict[ModelName, str] = {
    "expected_utility": "exp. utility",
    "median": "median",
    "compromise": "compromise",
    "nash": "Nash",
}
DEFAULT_ROUNDS = 5
QUANTILES = (0.1, 0.5, 0.9)


def forecast(sample: xr.Dataset, rounds: int = DEFAULT_ROUNDS, settings: EUSettings = EUSettings()) -> xr.Dataset:
    """Every model's forecast for every issue of a stakeholder sample.

    Parameters
    ----------
    sample : a Dataset from :func:`policylab.bargain.stakeholders.sample_case` (possibly coupled).
    rounds : rounds of the expected-utility model; its forecast is the weighted median of
        the positions after the last round.
    settings : the expected-utility model's settings.

    Returns
    -------
    xarray.Dataset over ``(run, issue)`` with one variable per model (``nash`` is NaN for
    issues without a Nash reading) and ``eu_position (run, issue, round, actor)``.
    """
    runs = sample.sizes["run"]
    issues = list(sample["issue"].values)
    actors = list(sample["actor"].values)
    c = sample["capability"].values
    out = {name: np.full((runs, len(issues)), np.nan) for name in MODEL_NAMES}
    paths = np.empty((runs, len(issues), rounds + 1, len(actors)))
    for k, issue in enumerate(issues):
        x = sample["position"].values[:, k, :]
        s = sample["salience"].values[:, k, :]
        out["compromise"][:, k] = compromise(x, c, s)
        out["median"][:, k] = median_voter(x, c, s)
        path = expected_utility_model(x, c, s, rounds=rounds, settings=settings, actors=actors)
        paths[:, k] = path["position"].values
        out["expected_utility"][:, k] = path["median"].values[:, -1]
        key = f"disagreement_{issue}"
        if key in sample:
            parties = [str(p) for p in sample[f"party_{issue}"].values]
            ia, ib = actors.index(parties[0]), actors.index(parties[1])
            d = sample[key].values
            width = float(sample["scale_high"].values[k] - sample["scale_low"].values[k])
            out["nash"][:, k] = nash_bargaining(x[:, ia], x[:, ib], d[:, 0], d[:, 1], width)
    data = {name: (("run", "issue"), values) for name, values in out.items()}
    data["eu_position"] = (("run", "issue", "round", "actor"), paths)
    coords = {"run": sample["run"].values, "issue": issues, "round": np.arange(rounds + 1), "actor": actors,
              "scale_low": ("issue", sample["scale_low"].values), "scale_high": ("issue", sample["scale_high"].values)}
    attrs = dict(sample.attrs)
    attrs.update({"rounds": rounds, "eu_q": settings.q, "eu_conflict": settings.conflict, "eu_offer": settings.offer})
    return xr.Dataset(data, coords=coords, attrs=attrs)


def forecast_case(case: Case, runs: int = 1, seed: int = 0, rounds: int = DEFAULT_ROUNDS,
                  settings: EUSettings = EUSettings()) -> xr.Dataset:
    """Sample ``case`` (nominal values when ``runs == 1``) and forecast it with every model."""
    return forecast(sample_case(case, runs=runs, seed=seed), rounds, settings)


Runner = Callable[[str], xr.Dataset]


def forecast_scenarios(case: Case, coupling: Coupling, run_scenario: Runner, scenarios: Sequence[str],
                       at: dt.date | None = None, runs: int = 1, seed: int = 0, rounds: int = DEFAULT_ROUNDS,
                       settings: EUSettings = EUSettings()) -> dict[str, xr.Dataset]:
    """Forecast the case under each scenario of a model, coupled at ``at``.

    Parameters
    ----------
    case, coupling : the stakeholder case and the coupling rules (checked against each other).
    run_scenario : ``run_scenario(name)`` returns the model's Dataset for that scenario over
        ``runs`` runs with ``seed`` (the same for every scenario, so runs pair up), saving at
        least ``coupling.variables``; e.g. ``lambda s: model.run(s, runs=n, seed=seed,
        variables=coupling.variables)``.
    scenarios : scenario names, in the order wanted.
    at : the date whose state sets the bargaining inputs (default: the coupling's ``at``).

    Returns
    -------
    ``{scenario: forecast Dataset}`` (see :func:`forecast`), each with the scenario's
    coupled state as ``state_<variable> (run,)`` and the multipliers as attrs.
    """
    if not scenarios:
        raise UsageError("name at least one scenario")
    check_rules(coupling, case)
    when = at or coupling.at
    sample = sample_case(case, runs=runs, seed=seed)
    results: dict[str, xr.Dataset] = {}
    cache: dict[str, dict[str, np.ndarray]] = {}

    def state(name: str) -> dict[str, np.ndarray]:
        if name not in cache:
            ds = run_scenario(name)
            if ds.sizes.get("run") != runs:
                raise UsageError(f"scenario {name!r} returned {ds.sizes.get('run')} runs, expected {runs}")
            cache[name] = state_at(ds, when, coupling.variables)
        return cache[name]

    reference = state(coupling.reference_scenario)
    for name in scenarios:
        values = state(name)
        factors = multipliers(coupling, values, reference)
        result = forecast(apply_coupling(sample, coupling, factors), rounds, settings)
        for variable, v in values.items():
            result[f"state_{variable}"] = (("run",), v)
        result.attrs.update({"scenario": name, "at": when.isoformat(), "reference_scenario": coupling.reference_scenario})
        results[name] = result
    return results


def summary(result: xr.Dataset, issue: str | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """``{issue: {model: {"median", "p10", "p90", "runs"}}}`` over the runs (NaNs ignored)."""
    issues = [issue] if issue is not None else [str(i) for i in result["issue"].values]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in issues:
        if name not in result["issue"].values:
            raise UsageError(f"no issue {name!r}; issues: {', '.join(map(str, result['issue'].values))}")
        per_model = {}
        for model in MODEL_NAMES:
            values = result[model].sel(issue=name).values
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            p10, p50, p90 = np.quantile(values, QUANTILES)
            per_model[model] = {"median": float(p50), "p10": float(p10), "p90": float(p90), "runs": int(values.size)}
        out[name] = per_model
    return out
