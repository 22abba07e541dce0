"""Random builtins are bounded and agree between engines for any finite parameter (issue 16, item 2).

POISSON used to search forever on the NumPy engine for a mean near 2**53 while the numba
engine returned NaN. Every random builtin is run here on both engines with parameters from
tiny to huge; each call must finish (the pytest timeout catches a hang) and give the same
numbers, or the same error, on both.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from policylab.api import Model
from policylab.errors import SimulationError
from policylab.expr.builtins import POISSON_NORMAL_FROM, find_builtin, poisson_normal
from policylab.formats.yaml_reader import read_yaml_text

EXTREMES = [0.0, -5.0, 1e-300, 1e-9, 0.5, 30.0, 1e6, POISSON_NORMAL_FROM * 0.999, POISSON_NORMAL_FROM, 3e7, 1e16,
            2.0**53, 1e20, 1e300]
CALLS = {
    "POISSON": "POISSON({a})",
    "EXPONENTIAL": "EXPONENTIAL({a})",
    "UNIFORM": "UNIFORM(-{a}, {a})",
    "NORMAL": "NORMAL({a}, {a})",
    "LOGNORMAL": "LOGNORMAL({a}, {a})",
}


def _model(call: str, value: float) -> Model:
    text = f"""
model: random-extremes
time: {{start: 0, stop: 2, dt: 1}}
constants:
  a: {value!r}
auxiliaries:
  x: {{equation: '{call.format(a="a")}'}}
"""
    return Model(read_yaml_text(text, "random_extremes.yaml"))


def _outcome(model: Model, backend: str) -> np.ndarray | str:
    try:
        return model.run(runs=40, seed=3, sample=False, backend=backend)["x"].values
    except SimulationError as error:
        return str(error)


@pytest.mark.timeout(600)  # the first call may compile the numba interpreter (a minute or more on a busy machine)
@pytest.mark.parametrize("value", EXTREMES)
@pytest.mark.parametrize("function", list(CALLS))
def test_a_random_builtin_finishes_and_agrees_on_both_engines_for_any_parameter(function: str, value: float) -> None:
    pytest.importorskip("numba")
    model = _model(CALLS[function], value)
    numpy_result, numba_result = _outcome(model, "numpy"), _outcome(model, "numba")
    if isinstance(numpy_result, str):
        assert numba_result == numpy_result
        return
    assert not isinstance(numba_result, str), numba_result
    np.testing.assert_allclose(numba_result, numpy_result, rtol=1e-12, atol=0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mean", [1e16, 2.0**53, 1e20, 1e300])
def test_poisson_with_a_huge_mean_is_the_documented_normal_approximation(mean: float) -> None:
    u = np.random.default_rng(1).random(1000)
    counts = find_builtin("poisson").impl(u, mean)
    np.testing.assert_array_equal(counts, poisson_normal(special.ndtri(u), mean))
    assert np.all(np.abs(counts - mean) < 10 * np.sqrt(mean))  # within ten standard deviations: no NaN, no zero


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mean", [POISSON_NORMAL_FROM, 1e8])
def test_the_normal_approximation_is_within_one_count_of_the_exact_quantile(mean: float) -> None:
    u = np.random.default_rng(7).random(2000)
    exact = stats.poisson.ppf(u, mean)
    approximate = find_builtin("poisson").impl(u, mean)
    assert np.max(np.abs(approximate - exact)) <= 1


def test_poisson_below_the_threshold_is_still_scipys_exact_quantile() -> None:
    u = np.random.default_rng(2).random(2000)
    mean = POISSON_NORMAL_FROM / 2
    np.testing.assert_array_equal(find_builtin("poisson").impl(u, mean), stats.poisson.ppf(u, mean))


@pytest.mark.timeout(120)
def test_a_huge_poisson_mean_through_a_model_gives_counts_near_the_mean() -> None:
    result = _model(CALLS["POISSON"], 1e20).run(runs=20, seed=1, sample=False)["x"].values
    assert np.all(np.isfinite(result))
    assert np.all(np.abs(result / 1e20 - 1) < 1e-8)
