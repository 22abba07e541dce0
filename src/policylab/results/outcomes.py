"""Evaluate a model's declared outcomes (scalar summaries per run) on a simulated Dataset."""

from __future__ import annotations

import numpy as np
import xarray as xr

from policylab.errors import UsageError
from policylab.model.ir import Model, Outcome


def _window(ds: xr.Dataset, outcome: Outcome) -> xr.DataArray:
    if outcome.variable not in ds:
        raise UsageError(f"outcome {outcome.display or outcome.name!r} needs {outcome.variable!r}, which was not saved")
    series = ds[outcome.variable]
    if outcome.at is not None:
        times = ds["time"].values
        idx = int(np.argmin(np.abs(times - outcome.at)))
        return series.isel(time=[idx])
    start = -np.inf if outcome.start is None else outcome.start
    end = np.inf if outcome.end is None else outcome.end
    times = ds.indexes["time"].to_numpy() if "time" in ds.indexes else ds["time"].values
    inside = np.flatnonzero((times >= start - 1e-9) & (times <= end + 1e-9))
    if not inside.size:
        raise UsageError(f"outcome {outcome.display or outcome.name!r}: no saved time falls in its window")
    if inside[-1] - inside[0] + 1 == inside.size:  # saved times ascend: the window is a slice (a view, no copy)
        return series.isel(time=slice(int(inside[0]), int(inside[-1]) + 1))
    return series.isel(time=inside)


def evaluate_outcome(ds: xr.Dataset, outcome: Outcome) -> xr.DataArray:
    """One value per run."""
    window = _window(ds, outcome)
    reducers = {
        "mean": lambda w: w.mean("time"),
        "value": lambda w: w.isel(time=-1),
        "final": lambda w: w.isel(time=-1),
        "max": lambda w: w.max("time"),
        "min": lambda w: w.min("time"),
        "sum": lambda w: w.sum("time"),
        "change": lambda w: w.isel(time=-1) - w.isel(time=0),
    }
    result = reducers[outcome.stat](window)
    return result.drop_vars([c for c in ("time", "date") if c in result.coords]).rename(outcome.name)


def threshold_value(model: Model, ds: xr.Dataset, outcome: Outcome) -> xr.DataArray | float | None:
    """The outcome's threshold: a number, or a constant's per-run value."""
    if outcome.threshold is None or isinstance(outcome.threshold, float):
        return outcome.threshold
    name = outcome.threshold
    if name in ds.coords:
        return ds.coords[name]
    return float(model.variables[name].value)  # type: ignore[union-attr]


def outcome_values(model: Model, ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Every declared outcome of ``model`` evaluated on ``ds``."""
    return {name: evaluate_outcome(ds, oc) for name, oc in model.outcomes.items()}


def needed_variables(model: Model) -> list[str]:
    """Variables the declared outcomes read."""
    return list(dict.fromkeys(oc.variable for oc in model.outcomes.values()))
