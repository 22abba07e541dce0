"""Tabular views of results: the CSV time-series contract and the scenario comparison table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from policylab.model.ir import Constant, Model, Outcome, Stock
from policylab.results.intervals import Interval, bimodal
from policylab.results.numbers import number, percent
from policylab.results.outcomes import Ensemble

JSON_FORMAT = "policylab.run-table/2"


def to_csv_frame(model: Model, ds: xr.Dataset, variables: list[str]) -> pd.DataFrame:
    """Columns time, run (ensembles only), date (calendar models only), then the variables."""
    runs = ds.sizes["run"]
    n_times = ds.sizes["time"]
    columns: dict[str, Any] = {"time": np.tile(ds["time"].values, runs)}
    if runs > 1:
        columns["run"] = np.repeat(ds["run"].values, n_times)
    if "date" in ds.coords:
        dates = pd.DatetimeIndex(ds["date"].values).strftime("%Y-%m-%d")
        columns["date"] = np.tile(np.asarray(dates), runs)
    for name in variables:
        columns[model.display_name(name)] = ds[name].values.reshape(-1)
    return pd.DataFrame(columns)


def _final_outcome(model: Model, name: str) -> Outcome:
    return Outcome(name=name, variable=name, stat="final", display=model.display_name(name),
                   doc=f"{model.display_name(name)} at the end of the run")


def default_rows(model: Model, variables: list[str] | None) -> list[Outcome]:
    """Declared outcomes, or the final value of each chosen variable (default: the stocks)."""
    if variables is None and model.outcomes:
        return list(model.outcomes.values())
    names = variables if variables is not None else [n for n, v in model.variables.items() if isinstance(v, Stock)]
    return [_final_outcome(model, n) for n in names]


def outcome_units(model: Model, outcome: Outcome) -> str:
    """The units an outcome is in: its variable's (a probability outcome is a share of runs)."""
    if outcome.probability:
        return "share of runs"
    var = model.variables.get(outcome.variable)
    return var.units if var is not None else ""


def threshold_text(model: Model, outcome: Outcome) -> str:
    """``≥ 5000`` or ``≥ dialogue_threshold (0.5)``: the threshold stated where a share is shown."""
    if outcome.threshold is None:
        return ""
    if isinstance(outcome.threshold, float):
        return f"≥ {number(outcome.threshold)}"
    var = model.variables[outcome.threshold]
    judged = isinstance(var, Constant) and var.judgement
    return f"≥ {model.display_name(outcome.threshold)}" + ("" if judged else f" ({number(var.value)})")  # type: ignore[union-attr]


def _cell(model: Model, ensemble: Ensemble, outcome: Outcome, interval: Interval) -> dict[str, Any]:
    values = ensemble.values(outcome)
    finite = np.isfinite(values)
    cell: dict[str, Any] = {"runs": int(values.size), "failed_runs": int(values.size - finite.sum())}
    if outcome.probability:
        hits = int(np.sum(values[finite] >= 0.5))
        cell["share"] = hits / max(1, int(finite.sum())) if finite.any() else float("nan")
        cell["low"], cell["high"] = interval.wilson(hits, int(finite.sum()))
        cell["not_binary_runs"] = int(np.sum(finite & (np.abs(values) > 1e-9) & (np.abs(values - 1) > 1e-9)))
        return cell
    cell.update(interval.summarise(values))
    threshold = ensemble.threshold(model, outcome)
    if threshold is not None:
        limit = np.asarray(threshold)
        reached = np.broadcast_to(values >= limit, values.shape)
        hits, n = int(np.sum(reached[finite])), int(finite.sum())
        cell["share_at_least_threshold"] = hits / n if n else float("nan")
        cell["share_interval"] = list(interval.wilson(hits, n))
    modes = bimodal(values)
    if modes is not None:
        cell["bimodal"] = {"split": modes.split, "share_below": modes.below, "share_above": modes.above}
    return cell


def comparison_table(model: Model, results: dict[str, xr.Dataset], rows: list[Outcome],
                     interval: Interval = Interval()) -> list[dict[str, Any]]:
    """One entry per outcome: per scenario, the median and band (or the share of a probability outcome).

    Cells also carry the share reaching the threshold with its Wilson interval, the two
    modes of a bimodal outcome and the number of runs that failed (NaN).
    """
    return ensemble_table(model, {scenario: Ensemble.of(ds) for scenario, ds in results.items()}, rows, interval)


def ensemble_table(model: Model, results: dict[str, Ensemble], rows: list[Outcome],
                   interval: Interval = Interval()) -> list[dict[str, Any]]:
    """:func:`comparison_table` of scenarios given as arrays (the dashboard's slider moves build no Dataset)."""
    table = []
    for outcome in rows:
        entry: dict[str, Any] = {
            "name": outcome.display or outcome.name, "label": outcome.title, "units": outcome_units(model, outcome),
            "doc": outcome.doc, "probability": outcome.probability, "threshold": threshold_text(model, outcome),
            "values": {scenario: _cell(model, ensemble, outcome, interval) for scenario, ensemble in results.items()},
        }
        table.append(entry)
    return table


def to_json(model: Model, results: dict[str, xr.Dataset], rows: list[dict[str, Any]],
            interval: Interval = Interval()) -> dict[str, Any]:
    """The documented, versioned JSON form of the comparison table."""
    first = next(iter(results.values()))
    return {
        "format": JSON_FORMAT,
        "model": model.name,
        "runs": int(first.sizes["run"]),
        "seed": int(first.attrs.get("seed", 0)),
        "policylab_version": first.attrs.get("policylab_version", ""),
        "interval": {"coverage": interval.coverage, "low_quantile": interval.low_q, "high_quantile": interval.high_q,
                     "label": interval.label, "share_label": interval.share_label},
        "scenarios": list(results),
        "rows": rows,
    }
