"""Units: every equation's units are inferred and checked against the declared ones."""

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylab.compile.units import UnitIssue, check_units
from policylab.formats.yaml_reader import read_yaml, read_yaml_text
from policylab.model.ir import Model

ROOT = Path(__file__).resolve().parents[2]

HEADER = """
model: t
time: {start: 0, stop: 10, dt: 0.25, units: day}
"""


def issues_of(body: str, header: str = HEADER) -> list[UnitIssue]:
    return check_units(read_yaml_text(header + body, "t.yaml"))


def messages(body: str, header: str = HEADER) -> str:
    return "\n".join(str(issue) for issue in issues_of(body, header))


def aux(equation: str, units: str, constants: str = "") -> str:
    """A model with some constants and one auxiliary ``y``."""
    return f"constants: {{{constants}}}\nauxiliaries:\n  y: {{equation: '{equation}', units: '{units}'}}\n"


PEOPLE = "population: {value: 100, units: person}, rate: {value: 0.1, units: 1/day}, share: {value: 0.5, units: '1'}"


def test_the_bundled_sir_model_checks_clean():
    assert check_units(read_yaml(ROOT / "models" / "sir" / "model.yaml")) == []


def test_a_consistent_small_model_has_no_issues():
    body = """
constants:
  population: {value: 1000, units: persons}
  contact_rate: {value: 0.3, units: 1/day}
  delay: {value: 5, units: day}
  weight: {value: 2, units: dmnl}
levers: {distancing: {baseline: 0, units: "1"}}
lookups: {effect: {points: [[0, 1], [1, 0.5]]}}
stocks:
  sick: {initial: 1, units: person, in: [infection], out: [recovery]}
  well: {initial: population - 1, units: people, out: [infection]}
flows:
  infection: {equation: "contact_rate * (1 - distancing) * well * sick / population * effect(sick / population)",
              units: persons per day}
  recovery: {equation: "SMOOTH(sick / delay, delay) + PULSE(3, 2) + STEP(0.1, 5) * sick / delay", units: person/day}
auxiliaries:
  share_sick: {equation: "IF sick > 10 THEN MIN(1, sick / population) ELSE 0", units: "1"}
  growth: {equation: "TREND(sick, delay) + XIDZ(sick, population * delay, 0)", units: day^-1}
  elapsed: {equation: "TIME - DT + RAMP(weight, 2)", units: day}
  squared: {equation: "(sick / population) ^ 2 + EXP(-weight * share_sick)", units: "1"}
"""
    assert issues_of(body) == []


def test_an_equation_disagreeing_with_its_declared_units_is_reported_with_both_units_and_the_equation():
    [issue] = issues_of(aux("population * rate", "person", PEOPLE))
    assert issue.variable == "y"
    assert issue.where.file == "t.yaml" and issue.where.line > 0
    assert issue.equation == "population * rate"
    assert "the equation gives person / day but y is declared in person" in issue.message
    assert "fix the equation or the declared units" in issue.message


def test_adding_quantities_of_different_units_names_both_operands_and_their_units():
    [issue] = issues_of(aux("population + rate", "person", PEOPLE))
    assert "the two sides of '+' must have the same units" in issue.message
    assert "`population` is person and `rate` is 1 / day" in issue.message


def test_comparisons_and_if_branches_need_the_same_units():
    text = messages(aux("IF population > rate THEN population ELSE share", "person", PEOPLE))
    assert "the two sides of '>'" in text
    assert "the THEN and ELSE branches must have the same units" in text


def test_a_flow_that_is_not_in_stock_units_per_time_unit_is_reported_against_the_stock():
    body = """
stocks: {troops: {initial: 10, units: Force_units, in: [arrivals]}}
flows: {arrivals: {equation: "5", units: Force_units/Year}}
"""
    [issue] = issues_of(body)
    assert issue.variable == "arrivals"
    assert "flow arrivals is force_unit / year, but stock troops (force_unit) needs its flows in force_unit / day" in issue.message
    assert "a different scale" in issue.message


def test_a_stock_whose_initial_value_has_other_units_is_reported():
    body = """
constants: {population: {value: 100, units: person}, delay: {value: 3, units: day}}
stocks: {sick: {initial: population / delay, units: person}}
"""
    [issue] = issues_of(body)
    assert issue.equation == "population / delay"
    assert "the initial value gives person / day but sick is declared in person" in issue.message


def test_compatible_units_of_a_different_scale_are_a_mismatch_because_the_engine_does_not_convert():
    [issue] = issues_of(aux("wait", "day", "wait: {value: 2, units: Months}"))
    assert "month" in issue.message and "day" in issue.message
    assert "1 month = 30.4375 day" in issue.message
    assert "PolicyLab does not convert units" in issue.message


@pytest.mark.parametrize(
    ("declared", "equivalent"),
    [("1/day", "day^-1"), ("person/day", "persons per day"), ("people/day", "person / day"),
     ("dmnl", "1"), ("dimensionless", "Dmnl"), ("Year", "years"), ("staff", "Staff"), ("bases", "base")],
)
def test_equivalent_spellings_of_the_same_units_are_not_flagged(declared, equivalent):
    assert issues_of(aux("x", equivalent, f"x: {{value: 1, units: '{declared}'}}")) == []


def test_unknown_unit_names_become_dimensions_of_their_own():
    consts = "attacks: {value: 3, units: attacks/month}, bases: {value: 2, units: bases}"
    assert issues_of(aux("attacks / bases", "attack / base / Months", consts)) == []
    [issue] = issues_of(aux("attacks", "staff/month", consts))
    assert "attack / month" in issue.message and "staff / month" in issue.message


def test_a_bare_number_takes_the_units_it_is_added_to_and_is_dimensionless_in_products():
    assert issues_of(aux("population - 1", "person", PEOPLE)) == []
    assert issues_of(aux("1 - share", "1", PEOPLE)) == []
    assert issues_of(aux("2 * population", "person", PEOPLE)) == []
    assert issues_of(aux("1 / rate", "day", PEOPLE)) == []
    assert issues_of(aux("3", "person", PEOPLE)) == []


def test_functions_of_a_dimensionless_number_reject_units():
    [issue] = issues_of(aux("EXP(population)", "1", PEOPLE))
    assert "argument 1 of EXP should be dimensionless, but `population` is person" in issue.message


def test_a_quantity_with_units_can_be_raised_only_to_a_constant_power():
    assert issues_of(aux("population ^ 2", "person^2", PEOPLE)) == []
    [issue] = issues_of(aux("population ^ share", "person", PEOPLE))
    assert "can be raised only to a constant number" in issue.message


@pytest.mark.parametrize(
    ("equation", "units"),
    [("STEP(population, 3)", "person"),
     ("PULSE(population, 3)", "person/day"),
     ("RAMP(rate, 3)", "1"),
     ("SMOOTH3(population, 4)", "person"),
     ("DELAY_FIXED(population, 4, 0)", "person"),
     ("TREND(population, 4)", "1/day"),
     ("FORECAST(population, 4, 10)", "person"),
     ("POISSON(population)", "person"),
     ("NORMAL(population, population / 10)", "person"),
     ("MAX(population, 0, 1)", "person"),
     ("SAFEDIV(population, rate, 0)", "person day"),
     ("INIT(population) + PREVIOUS(population)", "person"),
     ("TIME * rate", "1")],
)
def test_builtins_have_the_units_their_semantics_give(equation, units):
    assert issues_of(aux(equation, units, PEOPLE)) == []


def test_a_delay_time_must_be_in_the_model_time_unit():
    [issue] = issues_of(aux("SMOOTH(population, lag)", "person", PEOPLE + ", lag: {value: 1, units: week}"))
    assert "argument 2 of SMOOTH is a time and should be day, but `lag` is week" in issue.message


def test_lookups_take_and_give_dimensionless_values_unless_declared():
    lookups = "lookups: {f: {points: [[0, 0], [1, 1]]}, g: {points: [[0, 0], [1, 1]], units: person}}\n"
    assert issues_of(lookups + aux("f(share) + g(TIME) / population", "1", PEOPLE)) == []
    [issue] = issues_of(lookups + aux("f(population)", "1", PEOPLE))
    assert "lookup f takes a dimensionless input" in issue.message and "`population` is person" in issue.message


def test_undeclared_units_are_inferred_through_other_equations():
    body = aux("population * rate", "person", PEOPLE) + "  z: {equation: population * rate}\n  w: {equation: z, units: person}\n"
    assert [issue.variable for issue in issues_of(body)] == ["y", "w"]


def test_an_undeclared_constant_silences_the_checks_it_feeds():
    assert issues_of(aux("population + mystery", "person", PEOPLE + ", mystery: 4")) == []


def test_unreadable_units_are_reported_and_do_not_raise():
    [issue] = issues_of(aux("population", "person/(day", PEOPLE))
    assert issue.message.startswith("cannot read units 'person/(day' of variable y")


def test_a_model_without_time_units_checks_flows_against_its_generic_time():
    body = "stocks: {s: {initial: 0, units: widget, in: [f]}}\nflows: {f: {equation: '1', units: widget/time}}\n"
    assert issues_of(body, "model: t\ntime: {start: 0, stop: 1, dt: 1}\n") == []


@cache
def small_model() -> Model:
    return read_yaml_text(HEADER + aux("population", "person", PEOPLE))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet="0123456789^*/()-.eE %$_per", max_size=30))
def test_no_unit_string_makes_the_check_raise(units):
    model = small_model()
    variables = dict(model.variables)
    variables["y"] = replace(variables["y"], units=units)
    variables["population"] = replace(variables["population"], units=units[::-1])
    for issue in check_units(replace(model, variables=variables)):
        assert isinstance(issue, UnitIssue) and issue.message


def test_thousand_million_and_billion_scale_the_unit_they_prefix():
    consts = "output: {value: 5, units: Bn_dollars/Year}, population: {value: 2, units: Million_people}"
    assert issues_of(aux("output / population", "Thousand_dollars/person/year", consts)) == []
    [issue] = issues_of(aux("population", "person", consts))
    assert "1 million_person = 1e+06 person" in issue.message


def test_a_lookup_may_declare_its_input_units_with_an_arrow():
    lookups = "lookups: {f: {points: [[0, 0], [1, 1]], units: person -> 1}}\n"
    assert issues_of(lookups + aux("f(population)", "1", PEOPLE)) == []
    [issue] = issues_of(lookups + aux("f(rate)", "1", PEOPLE))
    assert "the input of lookup f should be person, but `rate` is 1 / day" in issue.message


def test_arguments_of_a_builtin_that_share_units_must_agree():
    [issue] = issues_of(aux("MIN(population, rate)", "person", PEOPLE))
    assert "these arguments of MIN must have the same units, but `population` is person and `rate` is 1 / day" in issue.message
    [issue] = issues_of(aux("SMOOTH(population, 3, population / rate)", "person", PEOPLE))
    assert "these arguments of SMOOTH must have the same units" in issue.message


def test_a_constant_arithmetic_exponent_counts_as_a_number():
    assert issues_of(aux("(population * population) ^ (1 / 2)", "person", PEOPLE)) == []
