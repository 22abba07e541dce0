"""Evaluate a model's declared outcomes (scalar summaries per run) on a simulated Dataset or its arrays."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from policylab.errors import UsageError
from policylab.model.ir import Model, Outcome


@dataclass(frozen=True)
class Ensemble:
    """One scenario's saved values as plain arrays: what outcomes, tables and fan charts read.

    ``times`` are the saved times; ``series[name]`` is a variable's ``(runs, times)`` array;
    ``parameters[name]`` the values of the parameters that were set or sampled (one per run,
    or one for all). A
    labelled Dataset gives one (:meth:`of`) and so do a :class:`policylab.api.Simulator`'s
    arrays, which lets the dashboard's slider moves skip building a Dataset: the same
    arrays either way, so the same numbers.
    """

    times: np.ndarray
    series: Mapping[str, np.ndarray]
    parameters: Mapping[str, float | np.ndarray]

    @classmethod
    def of(cls, ds: xr.Dataset) -> Ensemble:
        """The Dataset's arrays (views, no copies): variables as (run, time), run coordinates as parameters."""
        parameters = {str(k): c.values for k, c in ds.coords.items() if k != "run" and c.dims == ("run",)}
        return cls(_times(ds), _RunByTime(ds), parameters)

    def values(self, outcome: Outcome) -> np.ndarray:
        """One value per run of ``outcome`` (see :func:`outcome_array`)."""
        if outcome.variable not in self.series:
            raise UsageError(f"outcome {outcome.display or outcome.name!r} needs {outcome.variable!r}, which was not saved")
        window = np.asarray(self.series[outcome.variable], dtype=float)[:, _window(self.times, outcome)]
        return _reduce(window, outcome.stat)

    def threshold(self, model: Model, outcome: Outcome) -> np.ndarray | float | None:
        """The outcome's threshold: a number, or a constant's per-run values (where they were set or sampled)."""
        if outcome.threshold is None or isinstance(outcome.threshold, float):
            return outcome.threshold
        name = outcome.threshold
        if name in self.parameters:
            value = self.parameters[name]
            return value if isinstance(value, np.ndarray) else float(value)
        return float(model.variables[name].value)  # type: ignore[union-attr]


class _RunByTime(Mapping[str, np.ndarray]):
    """A Dataset's variables, each as its (run, time) array when first read (a transposed view, no copy)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.ds = ds

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.ds.data_vars:
            raise KeyError(name)
        return np.asarray(self.ds.variables[name].transpose("run", "time").values)  # no coordinates

    def __contains__(self, name: object) -> bool:
        return name in self.ds.data_vars

    def __iter__(self) -> Iterator[str]:
        return iter(str(k) for k in self.ds.data_vars)

    def __len__(self) -> int:
        return len(self.ds.data_vars)


def _times(ds: xr.Dataset) -> np.ndarray:
    return ds.indexes["time"].to_numpy() if "time" in ds.indexes else ds["time"].values


def _window(times: np.ndarray, outcome: Outcome) -> slice | np.ndarray:
    """The saved-time positions an outcome reads: a slice when they are contiguous (a view, no copy)."""
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


def _reduce(window: np.ndarray, stat: str) -> np.ndarray:
    """Each run's ``stat`` over its (run, time) window, skipping NaN as xarray's reductions do."""
    if stat in ("value", "final"):
        return window[:, -1].copy()
    if stat == "change":
        return window[:, -1] - window[:, 0]
    if stat == "sum":
        return np.nansum(window, axis=1)
    with warnings.catch_warnings():  # all-NaN rows give NaN, as xarray's skipna reductions do, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[stat](window, axis=1)


def outcome_array(ds: xr.Dataset, outcome: Outcome) -> np.ndarray:
    """One value per run, computed on the saved array itself (no coordinates to carry: the fast path).

    Reductions skip NaN as xarray's do (a sum of only NaN is 0, a mean, maximum or minimum NaN).
    """
    return Ensemble(_times(ds), _RunByTime(ds), {}).values(outcome)


def evaluate_outcome(ds: xr.Dataset, outcome: Outcome) -> xr.DataArray:
    """One value per run, labelled with the run coordinates of the variable it reads."""
    values = outcome_array(ds, outcome)
    series = ds[outcome.variable]
    coords = {k: c for k, c in series.coords.items() if "time" not in c.dims and k not in ("time", "date")}
    return xr.DataArray(values, dims=("run",), coords=coords, name=outcome.name)


def outcome_values(model: Model, ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Every declared outcome of ``model`` evaluated on ``ds``."""
    return {name: evaluate_outcome(ds, oc) for name, oc in model.outcomes.items()}


def needed_variables(model: Model) -> list[str]:
    """Variables the declared outcomes read."""
    return list(dict.fromkeys(oc.variable for oc in model.outcomes.values()))
