"""Tabular views of results: the CSV time-series contract and the scenario comparison table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from policylab.model.ir import Model, Outcome, Stock
from policylab.results.outcomes import evaluate_outcome, threshold_value

JSON_FORMAT = "policylab.run-table/1"


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


def _summary(values: np.ndarray) -> dict[str, float]:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90)}


def _final_outcome(model: Model, name: str) -> Outcome:
    return Outcome(name=name, variable=name, stat="final", display=model.display_name(name),
                   doc=f"{model.display_name(name)} at the end of the run")


def default_rows(model: Model, variables: list[str] | None) -> list[Outcome]:
    """Declared outcomes, or the final value of each chosen variable (default: the stocks)."""
    if variables is None and model.outcomes:
        return list(model.outcomes.values())
    names = variables if variables is not None else [n for n, v in model.variables.items() if isinstance(v, Stock)]
    return [_final_outcome(model, n) for n in names]


def comparison_table(model: Model, results: dict[str, xr.Dataset], rows: list[Outcome]) -> list[dict[str, Any]]:
    """One entry per row: per scenario, median and 10–90 % band over the ensemble (and threshold share)."""
    table = []
    for outcome in rows:
        entry: dict[str, Any] = {"name": outcome.display or outcome.name, "doc": outcome.doc, "values": {}}
        for scenario, ds in results.items():
            values = evaluate_outcome(ds, outcome)
            cell: dict[str, Any] = _summary(values.values)
            threshold = threshold_value(model, ds, outcome)
            if threshold is not None:
                limit = np.asarray(threshold.values if isinstance(threshold, xr.DataArray) else threshold)
                cell["share_at_least_threshold"] = float(np.mean(values.values >= limit))
            entry["values"][scenario] = cell
        table.append(entry)
    return table


def to_json(model: Model, results: dict[str, xr.Dataset], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The documented, versioned JSON form of the comparison table."""
    first = next(iter(results.values()))
    return {
        "format": JSON_FORMAT,
        "model": model.name,
        "runs": int(first.sizes["run"]),
        "seed": int(first.attrs.get("seed", 0)),
        "policylab_version": first.attrs.get("policylab_version", ""),
        "scenarios": list(results),
        "rows": rows,
    }


def format_cell(cell: dict[str, Any], runs: int) -> str:
    """Human text for one table cell."""
    text = _number(cell["median"]) if runs == 1 else (
        f"{_number(cell['median'])} [{_number(cell['p10'])}–{_number(cell['p90'])}]"
    )
    if "share_at_least_threshold" in cell:
        text += f" ({cell['share_at_least_threshold']:.0%} of runs ≥ threshold)"
    return text


def _number(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{x:.2e}"
