"""Property: a vectorised ensemble is exactly the runs it contains, simulated one by one.

Run ``k`` draws from its own stream (``SeedSequence(seed, spawn_key=(k,))``) and every
equation is evaluated element-wise over the run axis, so nothing may depend on the
ensemble's size or on where run ``k`` sits in it. "Exactly" means bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylab.api import Model
from policylab.formats.yaml_reader import read_yaml_text

MODEL = """
model: ensemble-property
time: {start: 0, stop: 3, dt: 0.25, method: %s}
constants:
  growth: 0.1
  threshold: 40
  noise: {value: 1, range: [0.5, 2], judgement: true}
lookups:
  crowding: {points: [[0, 1], [50, 0.8], [100, 0.2], [150, 0]], extrapolation: linear}
stocks:
  population: {initial: 10, in: [births], out: [deaths], non_negative: true}
flows:
  births: {equation: growth * population * crowding(population) + POISSON(noise)}
  deaths: {equation: 'if population > threshold then 0.05 * population else 0.01 * population'}
auxiliaries:
  perceived: {equation: 'SMOOTH(population + NORMAL(0, noise), 2)'}
  alarm: {equation: 'IF_THEN_ELSE(perceived > threshold, 1, 0) + UNIFORM(0, 0.001)'}
"""

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def model(method: str = "euler") -> Model:
    return Model(read_yaml_text(MODEL % method, "ensemble_property.yaml"))


MODELS = {method: model(method) for method in ("euler", "rk4")}


def assert_identical(ensemble: xr.Dataset, singles: list[xr.Dataset]) -> None:
    """Every variable and parameter coordinate of ``ensemble`` equals the singles' bit for bit."""
    joined = xr.concat(singles, dim="run")
    for name in ensemble.data_vars:
        assert np.array_equal(ensemble[name].values, joined[name].values), name
    parameters = [name for name, coord in ensemble.coords.items() if coord.dims == ("run",)]
    assert parameters == [name for name, coord in joined.coords.items() if coord.dims == ("run",)]
    for name in parameters:
        assert np.array_equal(ensemble[name].values, joined[name].values), name
    assert np.array_equal(ensemble["run"].values, joined["run"].values)


@st.composite
def ensembles(draw: st.DrawFn) -> tuple[int, int, np.ndarray, np.ndarray, str]:
    runs = draw(st.integers(1, 64))
    growth = draw(st.lists(st.floats(0.0, 0.5, allow_subnormal=False), min_size=runs, max_size=runs))
    threshold = draw(st.lists(st.floats(5, 100), min_size=runs, max_size=runs))
    seed = draw(st.integers(0, 2**63 - 1))
    method = draw(st.sampled_from(["euler", "rk4"]))
    return runs, seed, np.array(growth), np.array(threshold), method


def check_ensemble_equals_single_runs(case: tuple[int, int, np.ndarray, np.ndarray, str]) -> None:
    runs, seed, growth, threshold, method = case
    m = MODELS[method]
    ensemble = m.run(params={"growth": growth, "threshold": threshold}, runs=runs, seed=seed, sample=True)
    singles = [
        m.run(params={"growth": float(growth[k]), "threshold": float(threshold[k])}, runs=1, seed=seed,
              first_run=k, sample=True)
        for k in range(runs)
    ]
    assert_identical(ensemble, singles)


@SETTINGS
@given(ensembles())
def test_an_ensemble_with_per_run_parameters_equals_its_runs_simulated_alone(case) -> None:  # type: ignore[no-untyped-def]
    check_ensemble_equals_single_runs(case)


@pytest.mark.slow
@SLOW_SETTINGS
@given(ensembles())
def test_many_ensembles_with_per_run_parameters_equal_their_runs_simulated_alone(case) -> None:  # type: ignore[no-untyped-def]
    check_ensemble_equals_single_runs(case)


@SETTINGS
@given(st.integers(2, 64), st.data())
def test_run_k_is_the_same_in_ensembles_of_any_size_and_any_split(runs: int, data: st.DataObject) -> None:
    m = MODELS["rk4"]
    seed = data.draw(st.integers(0, 2**32))
    cut = data.draw(st.integers(1, runs - 1))
    whole = m.run(runs=runs, seed=seed, sample=True)
    parts = [m.run(runs=cut, seed=seed, sample=True), m.run(runs=runs - cut, seed=seed, first_run=cut, sample=True)]
    assert_identical(whole, parts)


def test_random_draws_of_run_k_do_not_depend_on_the_ensemble_it_is_in() -> None:
    m = MODELS["euler"]
    saved = ["births", "perceived", "alarm"]
    alone = m.run(runs=1, seed=5, first_run=7, variables=saved, sample=False)
    small = m.run(runs=8, seed=5, variables=saved, sample=False)
    large = m.run(runs=50, seed=5, variables=saved, sample=False)
    for name in ("births", "perceived", "alarm"):
        assert np.array_equal(alone[name].values[0], small[name].values[7])
        assert np.array_equal(alone[name].values[0], large[name].values[7])


def test_different_runs_of_one_ensemble_draw_different_numbers() -> None:
    ds = MODELS["euler"].run(runs=20, seed=5, sample=False, variables=["alarm"])
    assert len(np.unique(ds["alarm"].values[:, 3])) == 20


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_a_scalar_parameter_equals_the_same_value_given_per_run(method: str) -> None:
    m = MODELS[method]
    scalar = m.run(params={"growth": 0.3}, runs=6, seed=2)
    per_run = m.run(params={"growth": np.full(6, 0.3)}, runs=6, seed=2)
    for name in scalar.data_vars:
        assert np.array_equal(scalar[name].values, per_run[name].values), name
