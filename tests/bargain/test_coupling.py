"""Coupling the stakeholders to a dated model's state, tested against a stand-in model."""

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import policylab
from policylab.bargain import forecast, forecast_case, forecast_scenarios, parse_date, read_case, read_coupling
from policylab.bargain.coupling import apply_coupling, check_rules, state_at
from policylab.bargain.stakeholders import sample_case
from policylab.errors import ModelFileError, UsageError

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "models" / "iraq_dialogue"
STANDIN = Path(__file__).parent / "fixtures" / "standin.yaml"
FLAGSHIP_OUTPUTS = {"attacks_per_month", "attacks", "us_troops", "us_bases", "us_diplomatic_staff", "us_influence",
                    "iranian_influence", "militia_legitimacy", "protest_strength", "withdrawal_pressure",
                    "state_capacity", "dialogue_sustainability"}  # the names issue 4 fixes
RUNS = 12


def standin_coupling(tmp_path: Path, rules: str | None = None) -> Path:
    text = (FLAGSHIP / "bargain_coupling.yaml").read_text(encoding="utf-8")
    text = text.replace("model: model.yaml", f"model: {STANDIN}")
    text = text.replace("stakeholders: stakeholders.yaml", f"stakeholders: {FLAGSHIP / 'stakeholders.yaml'}")
    if rules is not None:
        text = text[: text.index("rules:")] + rules
    path = tmp_path / "coupling.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def standin():
    return policylab.load(STANDIN)


def runner(model, runs=RUNS, seed=0, variables=None):
    return lambda name: model.run(name, runs=runs, seed=seed, variables=variables)


def test_a_month_means_its_last_day():
    assert parse_date("2020-06") == dt.date(2020, 6, 30)
    assert parse_date("2020-02") == dt.date(2020, 2, 29)
    assert parse_date("2020-06-11") == dt.date(2020, 6, 11)
    with pytest.raises(UsageError, match="YYYY-MM"):
        parse_date("June 2020")


def test_the_bundled_coupling_uses_flagship_outputs_and_known_actors():
    coupling = read_coupling(FLAGSHIP / "bargain_coupling.yaml")
    case = read_case(coupling.stakeholders)
    check_rules(coupling, case)
    assert set(coupling.variables) <= FLAGSHIP_OUTPUTS
    assert coupling.reference_scenario == "historical" and coupling.at == dt.date(2020, 6, 30)
    assert all(len(rule.basis) > 20 for rule in coupling.rules)


def test_under_the_reference_scenario_the_forecast_is_the_stakeholder_files_own(tmp_path, standin):
    coupling = read_coupling(standin_coupling(tmp_path))
    case = read_case(coupling.stakeholders)
    coupled = forecast_scenarios(case, coupling, runner(standin, variables=coupling.variables), ["historical"],
                                 runs=RUNS, seed=5)["historical"]
    alone = forecast_case(case, runs=RUNS, seed=5)
    for model in ("expected_utility", "median", "compromise", "nash"):
        np.testing.assert_array_equal(coupled[model].values, alone[model].values)


def test_a_scenario_scales_capabilities_by_the_ratio_of_states(tmp_path, standin):
    rules = ("rules:\n  - {variable: iranian_influence, actor: iran, attribute: capability, elasticity: 2.0,"
             " offset: 0.1, basis: \"test rule for the ratio\"}\n"
             "  - {variable: us_diplomatic_staff, actor: us_administration, attribute: salience,"
             " issue: force_presence, elasticity: 1.0, basis: \"test rule for the ratio\"}\n")
    coupling = read_coupling(standin_coupling(tmp_path, rules))
    case = read_case(coupling.stakeholders)
    results = forecast_scenarios(case, coupling, runner(standin, variables=coupling.variables),
                                 ["historical", "no_pressure"], at=dt.date(2020, 9, 1), runs=RUNS, seed=1)
    ref = results["historical"]["state_iranian_influence"].values
    new = results["no_pressure"]["state_iranian_influence"].values
    assert np.all(new < ref)                                  # no pressure: influence does not grow
    staff_ref = results["historical"]["state_us_diplomatic_staff"].values
    staff_new = results["no_pressure"]["state_us_diplomatic_staff"].values
    sample = sample_case(case, runs=RUNS, seed=1)
    expected_c = sample["capability"].sel(actor="iran").values * ((new + 0.1) / (ref + 0.1)) ** 2
    expected_s = np.clip(sample["salience"].sel(actor="us_administration", issue="force_presence").values
                         * staff_new / staff_ref, 0, 100)
    coupled = apply_coupling(sample, coupling, [((new + 0.1) / (ref + 0.1)) ** 2, staff_new / staff_ref])
    np.testing.assert_allclose(coupled["capability"].sel(actor="iran").values, expected_c)
    np.testing.assert_allclose(coupled["salience"].sel(actor="us_administration", issue="force_presence").values,
                               expected_s)
    np.testing.assert_allclose(results["no_pressure"]["compromise"].values, forecast(coupled)["compromise"].values)
    assert results["no_pressure"].attrs["at"] == "2020-09-01"


def test_coupling_never_mutates_the_sample_and_clips_salience(tmp_path):
    rules = ("rules:\n  - {variable: protest_strength, actor: iran, attribute: salience, elasticity: 1.0,"
             " basis: \"test rule for clipping\"}\n")
    coupling = read_coupling(standin_coupling(tmp_path, rules))
    sample = sample_case(read_case(coupling.stakeholders), runs=3)
    before = sample["salience"].values.copy()
    coupled = apply_coupling(sample, coupling, [np.full(3, 10.0)])
    np.testing.assert_array_equal(sample["salience"].values, before)
    assert coupled["salience"].sel(actor="iran").values.max() == 100.0


def test_a_rule_naming_an_unknown_actor_is_reported_with_its_line(tmp_path):
    rules = "rules:\n  - {variable: us_influence, actor: nobody, attribute: capability, elasticity: 1, basis: \"test rule\"}\n"
    coupling = read_coupling(standin_coupling(tmp_path, rules))
    with pytest.raises(ModelFileError, match=r"coupling.yaml:\d+: actor 'nobody' is not in"):
        check_rules(coupling, read_case(coupling.stakeholders))


def test_a_rule_with_capability_and_an_issue_is_refused(tmp_path):
    rules = ("rules:\n  - {variable: us_influence, actor: iran, attribute: capability, issue: force_presence,"
             " elasticity: 1, basis: \"test rule\"}\n")
    with pytest.raises(ModelFileError, match="drop `issue`"):
        read_coupling(standin_coupling(tmp_path, rules))


def test_a_date_outside_the_run_or_an_unsaved_variable_is_refused(standin):
    result = standin.run("historical", runs=2)
    with pytest.raises(UsageError, match="outside the model's run"):
        state_at(result, dt.date(2019, 6, 30), ["us_influence"])
    with pytest.raises(UsageError, match="lacks nope"):
        state_at(result, dt.date(2020, 6, 30), ["nope"])
    state = state_at(result, dt.date(2020, 6, 30), ["us_influence"])
    assert state["us_influence"].shape == (2,)
