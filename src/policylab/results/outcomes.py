"""Evaluate a model's declared outcomes (scalar summaries per run) on a simulated Dataset."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from policylab.errors import UsageError
from policylab.model.ir import Model, Outcome


def _window(ds: xr.Dataset, outcome: Outcome) -> slice | np.ndarray:
    """The saved-time positions an outcome reads: a slice when they are contiguous (a view, no copy)."""
    if outcome.variable not in ds:
        raise UsageError(f"outcome {outcome.display or outcome.name!r} needs {outcome.variable!r}, which was not saved")
    times = ds.indexes["time"].to_numpy() if "time" in ds.indexes else ds["time"].values
    if outcome.at is not None:
        idx = int(np.argmin(np.abs(times - outcome.at)))
        return slice(idx, idx + 1)
    start = -np.inf if outcome.start is None else outcome.start
    end = np.inf if outcome.end is None else outcome.end
    inside = np.flatnonzero((times >= start - 1e-9) & (times <= end + 1e-9))
    if not inside.size:
        raise UsageError(f"outcome {outcome.display or outcome.name!r}: no saved time falls in its window")
    if inside[-1] - inside[0] + 1 == inside.size:
        return slice(int(inside[0]), int(inside[-1]) + 1)
    return inside


def outcome_array(ds: xr.Dataset, outcome: Outcome) -> np.ndarray:
    """One value per run, computed on the saved array itself (no coordinates to carry: the fast path).

    Reductions skip NaN as xarray's do (a sum of only NaN is 0, a mean, maximum or minimum NaN).
    """
    where = _window(ds, outcome)
    window = np.asarray(ds.variables[outcome.variable].transpose("run", "time").values, dtype=float)[:, where]
    stat = outcome.stat
    if stat in ("value", "final"):
        return window[:, -1].copy()
    if stat == "change":
        return window[:, -1] - window[:, 0]
    if stat == "sum":
        return np.nansum(window, axis=1)
    with warnings.catch_warnings():  # all-NaN rows give NaN, as xarray's skipna reductions do, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[stat](window, axis=1)


def evaluate_outcome(ds: xr.Dataset, outcome: Outcome) -> xr.DataArray:
    """One value per run, labelled with the run coordinates of the variable it reads."""
    values = outcome_array(ds, outcome)
    series = ds[outcome.variable]
    coords = {k: c for k, c in series.coords.items() if "time" not in c.dims and k not in ("time", "date")}
    return xr.DataArray(values, dims=("run",), coords=coords, name=outcome.name)


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
