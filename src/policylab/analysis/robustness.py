"""Robustness of policies (scenarios) across one sample of the uncertainties.

Every scenario is run on the *same* parameter sets with the *same* run indices, so run
``k`` of each scenario sees the same parameters and the same random streams (common
random numbers): differences between scenarios in a run are the policy's doing, not
sampling noise. Three views of the same ensemble (Lempert, Popper & Bankes 2003; McPhail
et al. 2018 compare these metrics):

* **percentiles** of each outcome per scenario;
* **satisficing share**: the share of runs in which a scenario meets every user-stated
  threshold (``dialogue_sustainability>=0.5``), and each threshold alone;
* **regret** (Savage 1951): in each run, how far a scenario falls short of the best
  scenario *in that run*; *minimax regret* picks the scenario whose worst regret over
  the runs is smallest. Regret needs a direction per outcome: from its threshold's
  operator (``>=`` means larger is better) or stated explicitly.

A scenario that sets a judgement parameter itself keeps its own value (the policy
decides it); the other parameters follow the shared sample.

References
----------
Savage, L. J. (1951). The theory of statistical decision. JASA 46(253), 55-67.
Lempert, R. J., Popper, S. W. & Bankes, S. C. (2003). Shaping the Next One Hundred Years.
RAND MR-1626.
McPhail, C., Maier, H. R., Kwakkel, J. H., et al. (2018). Robustness metrics: how are they
calculated, when should they be used and why do they give different results? Earth's
Future 6, 169-191.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import xarray as xr

from policylab.analysis.evaluate import Condition, Progress, evaluate_outcomes, resolve_condition, resolve_outcomes
from policylab.api import Backend, Model
from policylab.errors import UsageError
from policylab.model.ir import Outcome
from policylab.results.intervals import Interval
from policylab.simulate import Streams, judgement_parameters, sample_judgements

Direction = Literal["max", "min"]
QUANTILES = Interval().quantiles  # the project's one interval convention


def uncertainty_sample(model: Model, runs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The judgement parameters exactly as ``model.run(runs=runs, seed=seed)`` samples them."""
    if runs < 1:
        raise UsageError(f"runs must be at least 1, got {runs}")
    if not judgement_parameters(model.ir):
        return {}
    return sample_judgements(model.ir, Streams(int(seed), np.arange(runs, dtype=np.int64)))


def compare_policies(
    model: Model,
    scenarios: Sequence[str] | None = None,
    outcomes: Sequence[str] | None = None,
    *,
    conditions: Sequence[Condition] = (),
    directions: Mapping[str, Direction] | None = None,
    runs: int = 1000,
    seed: int = 0,
    params: Mapping[str, np.ndarray] | None = None,
    deterministic: bool = False,
    quantiles: Sequence[float] = QUANTILES,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    backend: Backend = "auto",
) -> xr.Dataset:
    """Evaluate ``scenarios`` on one uncertainty sample and summarise their robustness.

    Parameters
    ----------
    scenarios : default every scenario of the model.
    outcomes : declared names or ``VARIABLE:STAT``; default every declared outcome, plus
        those the conditions and directions name.
    conditions : thresholds that define success (all must hold for the joint share).
    directions : ``{"outcome": "max" | "min"}`` where larger (or smaller) is better;
        outcomes with a condition take its direction unless given here.
    params : the uncertainty sample as per-run arrays (e.g. a posterior from
        ``calibrate``); default ``runs`` draws from the priors (as ``policylab run``).

    Returns
    -------
    Dataset with ``value`` (outcome, scenario, run), ``percentile`` (outcome, scenario,
    quantile), ``mean`` (outcome, scenario), ``satisficing`` (condition, scenario; the
    condition ``all`` is the joint share), ``max_regret`` and ``mean_regret`` (outcome,
    scenario; NaN without a direction) and ``minimax_choice`` (outcome).
    """
    names = list(scenarios) if scenarios else list(model.scenarios)
    if not names:
        raise UsageError(f"{model.name} has no scenarios to compare; add some under `scenarios:`")
    unknown = [s for s in names if s not in model.ir.scenarios]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]!r}; {model.name} has {', '.join(model.scenarios)}")
    chosen = _outcomes(model, outcomes, conditions, directions or {})
    sample = dict(params) if params is not None else uncertainty_sample(model, runs, seed)
    n = len(next(iter(sample.values()))) if sample else runs
    per_scenario = []
    for i, name in enumerate(names):
        def step(done: int, total: int, i: int = i) -> None:
            if progress is not None:
                progress(i * total + done, len(names) * total)

        values = evaluate_outcomes(model, sample, chosen, scenario=name, seed=seed, deterministic=deterministic,
                                   chunk_size=chunk_size, progress=step, runs=n, backend=backend)
        per_scenario.append(np.stack([values[o.name].values for o in chosen]))
    coords: dict[str, object] = {"outcome": [o.name for o in chosen], "scenario": names, "run": np.arange(n)}
    coords.update({k: ("run", np.asarray(v, dtype=float)) for k, v in sample.items()})
    value = xr.DataArray(np.stack(per_scenario, axis=1), dims=("outcome", "scenario", "run"), coords=coords)
    resolved = [resolve_condition(model.ir, c) for c in conditions]
    named = {resolve_outcomes(model.ir, [k])[0].name: d for k, d in (directions or {}).items()}
    return summarise_policies(value, resolved, named, quantiles,
                              {"model": model.name, "seed": int(seed), "deterministic": int(deterministic)})


def _outcomes(model: Model, specs: Sequence[str] | None, conditions: Sequence[Condition],
              directions: Mapping[str, Direction]) -> list[Outcome]:
    chosen = resolve_outcomes(model.ir, specs) if specs or model.ir.outcomes else []
    for condition in conditions:
        outcome = resolve_outcomes(model.ir, [condition.outcome])[0]
        if outcome.name not in {o.name for o in chosen}:
            chosen.append(outcome)
    for name in directions:
        outcome = resolve_outcomes(model.ir, [name])[0]
        if outcome.name not in {o.name for o in chosen}:
            chosen.append(outcome)
    if not chosen:
        raise UsageError(f"{model.name} declares no outcomes; name some with --outcome VARIABLE:STAT or a --threshold")
    return chosen


def summarise_policies(
    value: xr.DataArray,
    conditions: Sequence[Condition] = (),
    directions: Mapping[str, Direction] | None = None,
    quantiles: Sequence[float] = QUANTILES,
    attrs: Mapping[str, object] | None = None,
) -> xr.Dataset:
    """Robustness metrics of outcome values over (outcome, scenario, run) (see ``compare_policies``).

    ``conditions`` and ``directions`` name outcomes by their coordinate in ``value``;
    ``value``'s run coordinates (e.g. the parameters) are kept.
    """
    outcomes = [str(o) for o in value["outcome"].values]
    scenarios = [str(s) for s in value["scenario"].values]
    for c in conditions:
        if c.outcome not in outcomes:
            raise UsageError(f"condition {c} names {c.outcome!r}, which is not among the outcomes {', '.join(outcomes)}")
    array = value.transpose("outcome", "scenario", "run").values.astype(float)
    index = {o: i for i, o in enumerate(outcomes)}
    meets = [c.holds(array[index[c.outcome]]) for c in conditions]  # each (scenario, run)
    shares = [m.mean(axis=1) for m in meets] + ([np.logical_and.reduce(meets).mean(axis=1)] if meets else [])
    labels = [str(c) for c in conditions] + (["all"] if meets else [])
    direction = {o: "" for o in outcomes}
    for c in conditions:
        direction[c.outcome] = "max" if c.maximize else "min"
    for name, d in (directions or {}).items():
        if d not in ("max", "min"):
            raise UsageError(f"direction of {name!r} must be 'max' or 'min', not {d!r}")
        if name not in direction:
            raise UsageError(f"{name!r} is not among the outcomes {', '.join(outcomes)}")
        direction[name] = d
    regret = np.full_like(array, np.nan)
    for o in outcomes:
        v = array[index[o]]
        if direction[o] == "max":
            regret[index[o]] = v.max(axis=0) - v
        elif direction[o] == "min":
            regret[index[o]] = v - v.min(axis=0)
    has_direction = np.array([bool(direction[o]) for o in outcomes])
    with np.errstate(all="ignore"):
        max_regret = np.where(has_direction[:, None], np.max(regret, axis=2), np.nan)
        mean_regret = np.where(has_direction[:, None], np.mean(regret, axis=2), np.nan)
    choice = [scenarios[int(np.argmin(max_regret[i]))] if has_direction[i] else "" for i in range(len(outcomes))]
    coords = {name: c for name, c in value.coords.items() if name not in ("outcome", "scenario")}
    coords.update({"outcome": outcomes, "scenario": scenarios, "quantile": list(quantiles), "condition": labels})
    data = {
        "value": (("outcome", "scenario", "run"), array),
        "percentile": (("outcome", "scenario", "quantile"), np.moveaxis(np.quantile(array, quantiles, axis=2), 0, -1)),
        "mean": (("outcome", "scenario"), array.mean(axis=2)),
        "satisficing": (("condition", "scenario"), np.array(shares).reshape(len(labels), len(scenarios))),
        "max_regret": (("outcome", "scenario"), max_regret),
        "mean_regret": (("outcome", "scenario"), mean_regret),
        "minimax_choice": (("outcome",), np.array(choice, dtype=object)),
        "direction": (("outcome",), np.array([direction[o] for o in outcomes], dtype=object)),
    }
    return xr.Dataset(data, coords=coords, attrs={**(attrs or {}), "runs": int(array.shape[2])})
