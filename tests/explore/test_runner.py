"""Chunked evaluation: outcomes and series per run, independent of how the design is split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import policylab
from policylab.explore import (
    Crossing,
    DesignError,
    ExplorePlan,
    ExploreRequest,
    SeriesSpec,
    auto_chunk_size,
    evaluate_design,
    evaluate_rows,
    parse_outcome,
)
from policylab.model.ir import Outcome


@pytest.fixture(scope="module")
def request_() -> ExploreRequest:
    return ExploreRequest(samples=60, sampler="lhs", seed=4, scenarios=("all",), series=("level", "fill"), every="3",
                          outcomes=("t50=level:cross>=50",))


def test_a_run_in_a_chunk_equals_the_same_run_simulated_alone(model, request_):
    design = request_.design(model)
    plan = request_.plan(model)
    result = evaluate_rows(model, design.iloc[50:80], plan)
    row = design.loc[75]
    params = {c: float(row[c]) for c in ("capacity", "growth", "noise")}
    alone = model.run(row["scenario"], params=params, runs=1, seed=4, first_run=int(row["sample"]), sample=False)
    assert result.outcomes.loc[75, "final_level"] == float(alone["level"].isel(time=-1)[0])
    assert result.outcomes.loc[75, "peak_fill"] == float(alone["fill"].max())
    series = result.series[result.series["run"] == 75]
    np.testing.assert_array_equal(series["level"].to_numpy(), alone["level"].values[0, ::3])


def test_outcomes_do_not_depend_on_the_chunk_size(model, request_):
    design, plan = request_.design(model), request_.plan(model)
    whole, whole_series = evaluate_design(model, design, plan, chunk_size=len(design))
    for size in (13, 45):
        parts, series = evaluate_design(model, design, plan, chunk_size=size)
        pd.testing.assert_frame_equal(parts, whole)
        pd.testing.assert_frame_equal(series, whole_series)


def test_outcome_columns_follow_the_design_columns(model, request_):
    outcomes, series = evaluate_design(model, request_.design(model), request_.plan(model))
    assert list(outcomes.columns) == ["sample", "scenario", "policy", "capacity", "growth", "noise",
                                      "final_level", "peak_fill", "mean_late", "t50"]
    assert list(series.columns) == ["run", "time", "level", "fill"]
    assert series["time"].unique().tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24]


def test_crossing_time_is_the_first_time_the_threshold_is_reached_else_nan(model):
    ds = model.run(runs=3, params={"growth": [0.1, 0.1, 0.01], "noise": 0.5}, sample=False, deterministic=True)
    times = Crossing("t", "level", 20.0).evaluate(ds)
    first = ds["time"].values[(ds["level"].values[0] >= 20).argmax()]
    assert 0 < times[0] == first and np.isnan(times[2])
    assert Crossing("t", "level", 10.0, "down").evaluate(ds)[0] == 0.0


@pytest.mark.parametrize("text, expected", [
    ("peak=infected:max", Outcome("peak", "infected", "max", display="peak")),
    ("late=infected:mean@60-120", Outcome("late", "infected", "mean", start=60, end=120, display="late")),
    ("d60=infected:value@60", Outcome("d60", "infected", "value", at=60, display="d60")),
    ("t=Recovered:cross>=5e3", Crossing("t", "recovered", 5000.0, "up")),
    ("t=infected:cross<=10", Crossing("t", "infected", 10.0, "down")),
])
def test_outcomes_given_as_text_are_parsed(text, expected):
    assert parse_outcome(text) == expected


@pytest.mark.parametrize("text, message", [
    ("peak infected", "cannot read outcome"),
    ("p=infected:median", "stat must be one of"),
    ("p=infected:cross", "cross needs a threshold"),
    ("p=infected:value", "value needs one time"),
    ("p=infected:max>=3", "goes with the cross stat only"),
])
def test_bad_outcome_text_says_how_to_write_it(text, message):
    with pytest.raises(DesignError, match=message):
        parse_outcome(text)


def test_monthly_series_of_a_calendar_model_keep_the_first_day_of_each_month(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text("""
model: calendar
time: {start: 2020-01-01, stop: 2020-06-30, dt: 1, units: day}
stocks:
  days: {initial: 0, in: [tick]}
flows:
  tick: {equation: 1}
outcomes:
  total: {variable: days, stat: final}
""")
    loaded = policylab.load(path)
    plan = ExploreRequest(samples=2, series=("days",), every="month").plan(loaded)
    _, series = evaluate_design(loaded, ExploreRequest(samples=2, series=("days",)).design(loaded), plan)
    assert [str(d)[:10] for d in series["date"].unique()] == [f"2020-0{m}-01" for m in range(1, 7)]
    assert series["days"].tolist()[:6] == [0, 31, 60, 91, 121, 152]


def test_a_period_series_needs_time_units_that_name_a_length(tmp_path, model):
    plan = ExplorePlan((), SeriesSpec(("level",), "year"))
    rows = ExploreRequest(samples=2).design(model)
    result = evaluate_rows(model, rows, plan)
    assert result.series["time"].unique().tolist() == [0, 12, 24]
    with pytest.raises(DesignError, match="positive number"):
        SeriesSpec(("level",), -1.0)


def test_a_model_without_outcomes_needs_an_outcome_or_series(tmp_path):
    path = tmp_path / "bare.yaml"
    path.write_text("model: bare\ntime: {start: 0, stop: 2, dt: 1}\nstocks:\n  s: {initial: 1}\n")
    with pytest.raises(DesignError, match="declares no outcomes"):
        ExploreRequest(samples=2).plan(policylab.load(path))


def test_chunks_are_sized_to_the_saved_trajectories(model):
    plan = ExploreRequest(samples=2).plan(model)
    assert auto_chunk_size(model, plan) == 20_000
    assert auto_chunk_size(model, plan, budget=1000) == 16


def test_a_request_survives_the_manifest_round_trip_so_resume_rebuilds_it():
    import json

    request = ExploreRequest(samples=9, sampler="sobol", seed=3, scenarios=("base", "relief"), levers=("relief",),
                             only=("growth",), grid=(("relief", (0.0, 0.5)),), combine="paired", outcomes=("p=level:max",),
                             series=("level",), every="quarter", deterministic=True)
    assert ExploreRequest.from_json(json.loads(json.dumps(request.to_json()))) == request
