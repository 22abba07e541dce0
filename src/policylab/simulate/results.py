"""Assemble a labelled ``xarray.Dataset`` over (run, time) from a trajectory."""

from __future__ import annotations

import inspect
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr
from xarray.indexes import PandasIndex

from policylab.expr.names import free_name
from policylab.model.ir import Model, doc_line
from policylab.simulate.engine import Trajectory


def dates_of(model: Model, times: np.ndarray) -> np.ndarray | None:
    """Calendar dates of model times (None for non-calendar models)."""
    spec = model.time
    if spec.calendar_start is None or spec.days_per_unit is None:
        return None
    start = pd.Timestamp(spec.calendar_start)
    days = (times - spec.start) * spec.days_per_unit
    return (start + pd.to_timedelta(np.round(days * 86400), unit="s")).values


def to_dataset(
    model: Model,
    trajectory: Trajectory,
    run_indices: np.ndarray,
    parameters: dict[str, np.ndarray],
    attrs: dict[str, object],
    direct: bool = True,
) -> xr.Dataset:
    """Variables as (run, time) arrays, parameters as run coordinates, provenance in attrs.

    ``direct``: assemble the Dataset from its variables and indexes as xarray's own methods do
    (:func:`assemble`), not through its public constructor, which aligns and merges every variable
    (3 ms of a flagship run's 6, with its hundred parameter coordinates); both give identical Datasets.
    """
    times = trajectory.times
    coords: dict[str, xr.Variable] = {"run": xr.Variable("run", run_indices),
                                      "time": xr.Variable("time", times, {"units": model.time.units})}
    dates = dates_of(model, times)
    if dates is not None:
        coords["date"] = xr.Variable("time", dates)
    scalars = [float(v) for v in parameters.values() if isinstance(v, float)]
    block = np.empty((len(scalars), len(run_indices)))  # the scalar parameters' columns, filled at once
    block[:] = np.array(scalars)[:, None]
    k = 0
    for name, values in parameters.items():
        if isinstance(values, float):
            column, k = block[k], k + 1
        else:
            column = np.broadcast_to(np.asarray(values, dtype=float), run_indices.shape).copy()
        coords[name] = _numeric(("run",), column, _attrs(model, name))
    data = {name: _numeric(("run", "time"), array.T, _attrs(model, name)) for name, array in trajectory.data.items()}
    for name, dims, block in _arrays(model, trajectory):
        labels = result_dims(model, dims)
        for dim, label in zip(dims, labels, strict=True):
            if label not in coords:
                coords[label] = xr.Variable(label, list(model.dimensions[dim].elements),
                                            {"long_name": model.dimensions[dim].display})
        dims = labels
        flat = block.reshape(block.shape[0], block.shape[1], -1)
        for index, element in enumerate(model.elements_of(name)):  # each element's column: a view of the array
            data[element] = xr.Variable(("run", "time"), flat[:, :, index], attrs=data[element].attrs)
        data[name] = xr.Variable(("run", "time", *dims), block, attrs={**_attrs(model, model.elements_of(name)[0]),
                                                                       "long_name": model.display_name(name)})
    kept = {k: v for k, v in attrs.items() if v is not None}
    return assemble(data, coords, kept) if direct else xr.Dataset(data, coords=coords, attrs=kept)


def assemble(data: dict[str, xr.Variable], coords: dict[str, xr.Variable], attrs: dict[str, object]) -> xr.Dataset:
    """``xr.Dataset(data, coords=coords, attrs=attrs)`` for variables known to agree (one size per dimension, no
    name twice): each dimension coordinate gets its default index as the constructor would give it, and the
    Dataset is built from them directly (xarray's ``Dataset._construct_direct``; where a version lacks it, the
    public constructor)."""
    if _construct_direct is None:  # pragma: no cover - every xarray this package supports has it
        return xr.Dataset(data, coords=coords, attrs=attrs)
    variables: dict[str, xr.Variable] = dict(data)
    indexes = {}
    sizes: dict[str, int] = {}
    for name, var in coords.items():
        if var.dims == (name,):
            index = _default_index(name, var)
            indexes[name] = index
            variables.update(index.create_variables({name: var}))
        else:
            variables[name] = var
    for var in variables.values():
        sizes.update(zip(var.dims, var.shape, strict=True))
    return _construct_direct(variables, set(coords), sizes, attrs, indexes)  # type: ignore[no-any-return]


_construct_direct = getattr(xr.Dataset, "_construct_direct", None)
_FASTPATH = "fastpath" in inspect.signature(xr.Variable.__init__).parameters
_INDEXED = 16_384  # coordinates up to this long keep their index (the saved times, small ensembles' runs)


def _numeric(dims: tuple[str, ...], data: np.ndarray, attrs: dict[str, str]) -> xr.Variable:
    """``xr.Variable(dims, data, attrs)`` for a float NumPy array, without xarray's conversions of other types
    (its ``fastpath``, where it has one: the flagship's hundred parameter coordinates cost 0.3 ms)."""
    return xr.Variable(dims, data, attrs, fastpath=True) if _FASTPATH else xr.Variable(dims, data, attrs)


def _default_index(name: str, var: xr.Variable) -> PandasIndex:
    """The index xarray's constructor gives dimension coordinate ``var``; kept for recurring values (a model's
    saved times: building it cost a tenth of a millisecond per run). Indexes are immutable: Datasets share them."""
    values = var.values
    if values.size > _INDEXED or values.dtype.hasobject:
        return PandasIndex.from_variables({name: var}, options={})
    return _kept_index(name, values.dtype.str, values.shape, values.tobytes())


@lru_cache(maxsize=32)  # at most 32 x 16,384 values x 2 (bytes and index): 8 MiB
def _kept_index(name: str, dtype: str, shape: tuple[int, ...], data: bytes) -> PandasIndex:
    """:func:`_default_index` of values given by their bytes (hashable), built once."""
    values = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    return PandasIndex.from_variables({name: xr.Variable(name, values.copy())}, options={})


def _arrays(model: Model, trajectory: Trajectory) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """Each saved arrayed variable as one block over (run, time, *its dimensions)."""
    out = []
    for name, array in model.arrays.items():
        elements = model.elements_of(name)
        if name in trajectory.data or not all(e in trajectory.data for e in elements):
            continue
        first = trajectory.data[elements[0]]
        block = np.empty((first.shape[1], first.shape[0], len(elements)))
        for index, element in enumerate(elements):
            block[:, :, index] = trajectory.data[element].T
        shape = [len(model.dimensions[d].elements) for d in array.dims]
        out.append((name, array.dims, block.reshape(first.shape[1], first.shape[0], *shape)))
    return out


def result_dims(model: Model, dims: tuple[str, ...]) -> tuple[str, ...]:
    """An array's dimensions as its result names them: a dimension listed twice (Vensim's ``x[Dim, Dim]``, pairs of
    its elements) is ``dim`` then ``dim_2`` (a name no dimension has), since a Dataset's dimensions are distinct."""
    out: list[str] = []
    for dim in dims:
        label, count = dim, 1
        while label in out:
            count += 1
            label = free_name(f"{dim}_{count}", model.dimensions)
        out.append(label)
    return tuple(out)


def series_names(ds: xr.Dataset) -> list[str]:
    """The saved series over (run, time) only: scalar variables and array elements (``name[elem]``), not whole
    arrays (which are over (run, time, *dimensions) beside their elements)."""
    return [str(name) for name, var in ds.data_vars.items() if var.dims == ("run", "time")]


def _attrs(model: Model, name: str) -> dict[str, str]:
    """CF-style attributes of a variable or parameter: units, ``long_name`` (the doc's first sentence), the full doc."""
    var = model.variables.get(name)
    if var is None or not var.doc.strip():
        return {"units": var.units if var is not None else "", "long_name": model.long_name(name)}
    return _documented(var.units, var.doc)


@lru_cache(maxsize=4096)
def _documented(units: str, doc: str) -> dict[str, str]:
    """:func:`_attrs` of a documented variable (a run labels each of its variables and parameters: kept; xarray
    copies the dict it is given)."""
    return {"units": units, "long_name": doc_line(doc), "description": " ".join(doc.split())}


def iso_dates(values: np.ndarray) -> list[str]:
    """ISO date strings (the day each instant falls on) for a datetime64 array, in one NumPy call."""
    return np.datetime_as_string(np.asarray(values, dtype="datetime64[ns]"), unit="D").tolist()  # type: ignore[no-any-return]
