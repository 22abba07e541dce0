"""Outcomes computed on the saved arrays agree with xarray's own reductions, NaN handling included."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from policylab.errors import UsageError
from policylab.model.ir import Outcome
from policylab.results.outcomes import evaluate_outcome, outcome_array


def _dataset() -> xr.Dataset:
    rng = np.random.default_rng(4)
    values = rng.normal(size=(7, 5))  # time x run
    values[2, 1] = np.nan  # one hole
    values[:, 3] = np.nan  # a run that is NaN throughout
    return xr.Dataset({"x": (("time", "run"), values)},
                      coords={"time": np.arange(7.0), "run": np.arange(5), "p": ("run", np.arange(5.0) / 10)})


def _xarray_reference(ds: xr.Dataset, outcome: Outcome) -> np.ndarray:
    series = ds["x"].sel(time=slice(outcome.start, outcome.end)) if outcome.at is None else ds["x"].sel(time=[outcome.at])
    reduce = {"mean": lambda w: w.mean("time"), "max": lambda w: w.max("time"), "min": lambda w: w.min("time"),
              "sum": lambda w: w.sum("time"), "value": lambda w: w.isel(time=-1), "final": lambda w: w.isel(time=-1),
              "change": lambda w: w.isel(time=-1) - w.isel(time=0)}[outcome.stat]
    return reduce(series).values


@pytest.mark.parametrize("stat", ["mean", "max", "min", "sum", "value", "final", "change"])
@pytest.mark.parametrize("window", [(None, None, None), (1.0, 4.0, None), (None, None, 2.0)])
def test_each_statistic_matches_xarrays_reduction(stat: str, window: tuple) -> None:
    start, end, at = window
    outcome = Outcome(name="o", variable="x", stat=stat, start=start, end=end, at=at)  # type: ignore[arg-type]
    ds = _dataset()
    expected = _xarray_reference(ds, outcome)
    np.testing.assert_array_equal(outcome_array(ds, outcome), expected)
    labelled = evaluate_outcome(ds, outcome)
    np.testing.assert_array_equal(labelled.values, expected)
    assert labelled.dims == ("run",) and labelled.name == "o" and list(labelled["p"].values) == list(ds["p"].values)


def test_an_outcome_on_a_variable_not_saved_or_a_window_with_no_time_is_a_clear_error() -> None:
    ds = _dataset()
    with pytest.raises(UsageError, match="needs 'y', which was not saved"):
        outcome_array(ds, Outcome(name="o", variable="y", stat="mean"))
    outside = dataclasses.replace(Outcome(name="o", variable="x", stat="mean"), start=50.0, end=60.0)
    with pytest.raises(UsageError, match="no saved time falls in its window"):
        outcome_array(ds, outside)


def test_an_ensemble_of_plain_arrays_gives_the_datasets_outcomes_thresholds_and_table() -> None:
    from policylab.model.ir import Constant, Model, Stock, TimeSpec
    from policylab.results.outcomes import Ensemble
    from policylab.results.tables import comparison_table, ensemble_table

    ds = _dataset()
    threshold = np.array([0.0, 0.5, -0.5, 1.0, 0.2])  # a judgement constant's per-run draws
    ds = ds.assign_coords(level=("run", threshold))
    arrays = Ensemble(ds["time"].values, {"x": ds["x"].transpose("run", "time").values}, {"level": threshold, "p": 0.3})
    model = Model(name="m", time=TimeSpec(start=0, stop=6, dt=1, save_every=1), variables={
        "x": Stock(name="x"), "level": Constant(name="level", value=0.1, judgement=True)})
    rows = [Outcome(name="o", variable="x", stat=stat, threshold=t) for stat in ("mean", "final", "max")
            for t in (None, 0.25, "level")]
    for outcome in rows:
        np.testing.assert_array_equal(arrays.values(outcome), outcome_array(ds, outcome))
    assert ensemble_table(model, {"s": arrays}, rows) == comparison_table(model, {"s": ds}, rows)
    assert Ensemble.of(ds).threshold(model, rows[2]).tolist() == threshold.tolist()
    assert arrays.threshold(model, rows[1]) == 0.25
