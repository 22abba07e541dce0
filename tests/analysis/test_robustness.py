"""Robustness metrics over one uncertainty sample shared by every scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import policylab
from policylab.analysis.evaluate import Condition, evaluate_outcomes, parse_condition, resolve_condition, resolve_outcomes
from policylab.analysis.robustness import compare_policies, uncertainty_sample
from policylab.api import Model
from policylab.errors import UsageError
from policylab.formats.yaml_reader import read_yaml_text

SIR = Path(__file__).resolve().parents[2] / "models" / "sir" / "model.yaml"

NOISY = """model: noisy
time: {start: 0, stop: 5, dt: 1}
constants:
  gain: {value: 1, range: [0, 2], judgement: true}
stocks:
  level: {initial: 0, in: [inflow]}
flows:
  inflow: {equation: "gain + NORMAL(0, 1)"}
scenarios:
  baseline: {}
  boost: {set: {gain: 3}}
outcomes:
  final_level: {variable: level, stat: final}
"""


def test_the_uncertainty_sample_is_the_one_policylab_run_draws():
    model = policylab.load(SIR)
    sample = uncertainty_sample(model, 50, seed=7)
    ds = model.run(runs=50, seed=7, variables=["infected"])
    for name, values in sample.items():
        np.testing.assert_array_equal(values, ds.coords[name].values)


def test_every_scenario_sees_the_same_runs_so_percentiles_match_policylab_run():
    model = policylab.load(SIR)
    found = compare_policies(model, runs=200, seed=3)
    alone = model.run("distancing", runs=200, seed=3, variables=["infected"])
    np.testing.assert_allclose(found["value"].sel(outcome="peak_infected", scenario="distancing").values,
                               alone["infected"].max("time").values)


def test_a_chunked_design_equals_one_ensemble_run_for_run():
    model = Model(read_yaml_text(NOISY, "noisy.yaml"))
    params = {"gain": np.linspace(0, 2, 23)}
    outcomes = resolve_outcomes(model.ir)
    whole = evaluate_outcomes(model, params, outcomes, seed=5)
    chunked = evaluate_outcomes(model, params, outcomes, seed=5, chunk_size=4)
    np.testing.assert_array_equal(whole["final_level"].values, chunked["final_level"].values)


def test_satisficing_share_regret_and_minimax_choice_on_a_known_case():
    model = Model(read_yaml_text(NOISY, "noisy.yaml"))
    found = compare_policies(model, conditions=[parse_condition("final_level>=8")], runs=400, seed=1,
                             deterministic=True)
    gain = found.coords["gain"].values
    baseline, boost = found["value"].sel(outcome="final_level").values
    np.testing.assert_allclose(baseline, 5 * gain)  # deterministic: 5 steps of `gain`
    np.testing.assert_allclose(boost, 15.0)  # the scenario's own gain wins over the sample
    assert float(found["satisficing"].sel(condition="all", scenario="baseline")) == pytest.approx(np.mean(5 * gain >= 8))
    assert float(found["satisficing"].sel(condition="all", scenario="boost")) == 1.0
    assert float(found["max_regret"].sel(outcome="final_level", scenario="baseline")) == pytest.approx(15 - 5 * gain.min())
    assert str(found["minimax_choice"].sel(outcome="final_level").item()) == "boost"
    assert str(found["direction"].sel(outcome="final_level").item()) == "max"


def test_an_unknown_scenario_lists_the_models_scenarios():
    with pytest.raises(UsageError, match="unknown scenario 'lockdown'; sir-epidemic has baseline, distancing"):
        compare_policies(policylab.load(SIR), ["lockdown"], runs=2)


@pytest.mark.parametrize("text", ["peak_infected=>3", "peak infected >= 3x", ">= 3"])
def test_a_malformed_condition_shows_the_expected_form(text):
    with pytest.raises(UsageError, match="write OUTCOME>=VALUE"):
        parse_condition(text)


def test_an_ad_hoc_outcome_names_a_variable_and_a_stat():
    model = policylab.load(SIR)
    (outcome,) = resolve_outcomes(model.ir, ["infected:max"])
    assert (outcome.variable, outcome.stat, outcome.name) == ("infected", "max", "infected_max")
    with pytest.raises(UsageError, match="stat must be one of mean, max, min, final, sum, change"):
        resolve_outcomes(model.ir, ["infected:median"])


def test_a_condition_may_name_a_constant_or_use_the_declared_threshold():
    model = policylab.load(SIR)
    assert resolve_condition(model.ir, parse_condition("peak_infected<population")) == Condition("peak_infected", "<", 10000.0)
    assert resolve_condition(model.ir, parse_condition("ever_infected")) == Condition("ever_infected", ">=", 5000.0)
    with pytest.raises(UsageError, match="'contact_rate' is a judgement parameter"):
        resolve_condition(model.ir, parse_condition("peak_infected>=contact_rate"))
    with pytest.raises(UsageError, match="'peak_infected' declares no threshold"):
        resolve_condition(model.ir, parse_condition("peak_infected"))
