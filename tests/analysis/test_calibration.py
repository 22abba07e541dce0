"""Calibration recovers the known parameters of a synthetic model from noisy data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policylab.analysis.abc import abc_rejection, abc_smc, read_parameter_sets, resample, write_posterior
from policylab.analysis.calibration import calibration_problem, fit_de, loss, predict
from policylab.analysis.observations import read_mapping
from policylab.api import Model
from policylab.errors import DataError, UsageError
from policylab.formats.yaml_reader import read_yaml_text

LOGISTIC = """model: logistic
time: {start: 0, stop: 60, dt: 0.5, save_every: 1}
constants:
  growth_rate: {value: 0.1, range: [0.05, 0.5], judgement: true}
  capacity: {value: 1500, range: [500, 3000], judgement: true, distribution: loguniform}
stocks:
  population: {initial: 10, in: [growth]}
  arrivals: {initial: 0, in: [growth]}
flows:
  growth: {equation: growth_rate * population * (1 - population / capacity)}
"""
TRUTH = {"growth_rate": 0.2, "capacity": 1000.0}


@pytest.fixture()
def model() -> Model:
    return Model(read_yaml_text(LOGISTIC, "logistic.yaml"))


@pytest.fixture()
def observed(tmp_path: Path, model: Model) -> Path:
    """Population every 4 days with 3 % noise, and arrivals counted from day 20 on."""
    truth = model.run(params=TRUTH)
    rng = np.random.default_rng(0)
    t = np.arange(0, 61, 4)
    population = truth["population"].sel(time=t).values[0] * (1 + 0.03 * rng.standard_normal(len(t)))
    later = np.arange(24, 61, 6)
    arrivals = truth["arrivals"].sel(time=later).values[0] - float(truth["arrivals"].sel(time=20).values[0])
    rows = [{"date": float(d), "series": "pop_survey", "value": v, "note": "x"} for d, v in zip(t, population)]
    rows += [{"date": float(d), "series": "arrivals_since_day_20", "value": v, "note": ""} for d, v in zip(later, arrivals)]
    pd.DataFrame(rows).to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(
        "data: data.csv\nseries:\n  pop_survey: {variable: population}\n"
        "  arrivals_since_day_20: {variable: arrivals, baseline: 20, weight: 0.5}\n", encoding="utf-8")
    return tmp_path / "mapping.yaml"


def test_differential_evolution_recovers_the_parameters_from_noisy_data(model, observed):
    fit = fit_de(calibration_problem(model, observed), seed=1)
    assert fit.parameters["growth_rate"] == pytest.approx(0.2, rel=0.05)
    assert fit.parameters["capacity"] == pytest.approx(1000, rel=0.05)
    assert fit.rms_error < 0.05
    assert set(fit.table["series"]) == {"pop_survey", "arrivals_since_day_20"}


def test_a_baseline_series_is_compared_as_the_change_since_the_baseline(model, observed):
    problem = calibration_problem(model, observed)
    unit = problem.space.unit({k: np.array([v]) for k, v in TRUTH.items()})
    predicted = predict(problem, unit)[0]
    arrivals = problem.targets[1]
    np.testing.assert_allclose(predicted[-len(arrivals.values):], arrivals.values, rtol=1e-9)


def test_every_generation_is_one_vectorised_ensemble(model, observed, monkeypatch):
    calls = []
    original = Model.run

    def counting(self, *args, **kwargs):
        calls.append(kwargs["runs"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Model, "run", counting)
    fit = fit_de(calibration_problem(model, observed), popsize=10, generations=5, seed=0)
    population = 10 * 2
    assert calls[:fit.generations + 1] == [population] * (fit.generations + 1)


def test_abc_smc_posterior_concentrates_around_the_truth(model, observed):
    posterior = abc_smc(calibration_problem(model, observed), particles=200, generations=8, seed=2)
    mean, sd = posterior.mean(), posterior.std()
    assert mean["growth_rate"] == pytest.approx(0.2, rel=0.05) and sd["growth_rate"] < 0.02
    assert mean["capacity"] == pytest.approx(1000, rel=0.05) and sd["capacity"] < 60
    assert posterior.sample["weight"].sum() == pytest.approx(1.0)
    epsilons = posterior.history["epsilon"].to_numpy()
    assert (np.diff(epsilons) < 0).all()


def test_abc_rejection_keeps_the_closest_share_of_prior_draws(model, observed):
    problem = calibration_problem(model, observed)
    posterior = abc_rejection(problem, samples=2000, accept=0.02, seed=0)
    assert len(posterior.sample) == 40
    assert posterior.sample["distance"].max() == pytest.approx(posterior.epsilon)
    assert abs(posterior.mean()["growth_rate"] - 0.2) < 0.03
    assert (loss(problem, predict(problem, problem.space.unit(posterior.sample))) ** 0.5).max() <= posterior.epsilon + 1e-12


def test_a_posterior_file_round_trips_into_per_run_parameter_sets(model, observed, tmp_path):
    posterior = abc_rejection(calibration_problem(model, observed), samples=500, accept=0.1, seed=0)
    path = write_posterior(posterior, tmp_path / "posterior.csv")
    values, weights = read_parameter_sets(path, ["capacity", "growth_rate"])
    assert len(weights) == 50 and weights.sum() == pytest.approx(1.0)
    runs = resample(values, weights, 300, seed=1)
    assert runs["capacity"].shape == (300,) and set(runs["capacity"]) <= set(values["capacity"])
    ds = model.run(params=runs, runs=300, variables=["population"])
    assert ds.sizes["run"] == 300


def test_mapping_errors_name_the_file_line_and_key(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("series:\n  pop: {variable: population, wieght: 2}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"mapping\.yaml:2: series\.pop: unknown key 'wieght'; accepted: variable, baseline, weight, scale"):
        read_mapping(path)


def test_a_series_missing_from_the_data_suggests_the_closest_name(model, observed):
    text = observed.read_text(encoding="utf-8").replace("pop_survey:", "pop_surveys:")
    observed.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"mapping\.yaml:3: series 'pop_surveys' has no rows in .*data\.csv\. Did you mean 'pop_survey'\?"):
        calibration_problem(model, observed)


def test_a_mapped_variable_must_exist_in_the_model(model, observed):
    observed.write_text(observed.read_text(encoding="utf-8").replace("variable: population", "variable: populaton"), encoding="utf-8")
    with pytest.raises(DataError, match=r"'populaton' is not a variable of logistic\. Did you mean 'population'\?"):
        calibration_problem(model, observed)


def test_observations_outside_the_run_or_the_window_are_skipped_and_reported(model, observed):
    data = observed.parent / "data.csv"
    data.write_text(data.read_text(encoding="utf-8") + "99,pop_survey,5,\n", encoding="utf-8")
    observed.write_text("until: 50\n" + observed.read_text(encoding="utf-8"), encoding="utf-8")
    problem = calibration_problem(model, observed)
    assert ("pop_survey", "99") in problem.skipped and ("pop_survey", "52.0") in problem.skipped
    assert problem.targets[0].times.max() == 48


def test_a_series_with_no_observation_in_the_run_is_an_error(model, observed):
    observed.write_text("until: 3\n" + observed.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataError, match="series arrivals_since_day_20: no observation falls in the model's run"):
        calibration_problem(model, observed)


def test_a_mapping_without_data_asks_for_it(model, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("series:\n  pop: {variable: population}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no data file; give one with --data"):
        calibration_problem(model, path)
