"""Error messages say where the problem is and what to do: file, line, key, names, run, time."""

from __future__ import annotations

import re

import pytest

import policylab
from policylab.api import Model
from policylab.errors import (
    AlgebraicLoopError,
    ExpressionError,
    ModelFileError,
    PolicyLabError,
    SimulationError,
    UnknownNameError,
    UsageError,
)
from policylab.formats.yaml_reader import read_yaml_text

HEADER = "model: errors\ntime: {start: 0, stop: 10, dt: 0.5}\n"  # lines 1-2; a body starts on line 3


def load(body: str, header: str = HEADER) -> Model:
    return Model(read_yaml_text(header + body, "model.yaml"))


def run(body: str, header: str = HEADER, **kwargs: object):  # type: ignore[no-untyped-def]
    return load(body, header).run(**kwargs)  # type: ignore[arg-type]


# --- unknown names ----------------------------------------------------------------------

def test_an_equation_naming_an_undefined_variable_suggests_the_closest_name() -> None:
    body = "constants:\n  contact_rate: 2\nauxiliaries:\n  spread: {equation: contact_rat * 2}\n"
    with pytest.raises(UnknownNameError, match=r"model\.yaml:6: spread refers to 'contact_rat'.*Did you mean 'contact_rate'\?"):
        run(body)


def test_an_unknown_name_error_is_also_a_key_error_with_a_readable_message() -> None:
    with pytest.raises(KeyError) as caught:
        run("auxiliaries:\n  a: {equation: nothing_like_it + 1}\n")
    assert str(caught.value).startswith("model.yaml:4: a refers to 'nothing_like_it'")
    assert "Did you mean" not in str(caught.value)


def test_an_unknown_function_suggests_the_closest_builtin() -> None:
    with pytest.raises(ExpressionError, match=r"model\.yaml:4: a: unknown function SMOTH\(\)\. Did you mean SMOOTH\(\)\?"):
        run("auxiliaries:\n  a: {equation: 'SMOTH(TIME, 2)'}\n")


def test_an_unknown_function_suggests_a_lookup_with_a_similar_name() -> None:
    body = "lookups:\n  effect: {points: [[0, 1], [1, 2]]}\nauxiliaries:\n  a: {equation: 'efect(TIME)'}\n"
    with pytest.raises(ExpressionError, match=r"Did you mean EFFECT\(\)\?"):
        run(body)


def test_a_stock_listing_an_undefined_flow_suggests_the_closest_flow() -> None:
    body = "stocks:\n  x: {initial: 1, in: [birth]}\nflows:\n  births: {equation: 1}\n"
    with pytest.raises(ModelFileError, match=r"model\.yaml:4: stock 'x' lists flow 'birth'.*Did you mean 'births'\?"):
        run(body)


def test_a_scenario_setting_an_undefined_name_suggests_the_closest_constant() -> None:
    body = "constants:\n  tax_rate: 0.2\nscenarios:\n  high: {set: {tax_rte: 0.3}}\n"
    with pytest.raises(ModelFileError, match=r"model\.yaml:6: scenarios\.high\.set\.tax_rte: .*Did you mean 'tax_rate'\?"):
        load(body)


def test_params_naming_an_undefined_constant_suggest_the_closest_one() -> None:
    with pytest.raises(UsageError, match=r"'tax_rte' is not a constant or lever.*Did you mean 'tax_rate'\?"):
        run("constants:\n  tax_rate: 0.2\n", params={"tax_rte": 0.3})


def test_saving_an_undefined_variable_suggests_the_closest_one() -> None:
    with pytest.raises(UsageError, match=r"variable 'revenu' is not in errors\. Did you mean 'revenue'\?"):
        run("auxiliaries:\n  revenue: {equation: TIME}\n", variables=["revenu"])


def test_an_undefined_scenario_lists_the_defined_ones() -> None:
    with pytest.raises(UsageError, match=r"scenario 'hihg' is not defined in model\.yaml; choose one of: high, low"):
        run("scenarios:\n  high: {doc: up}\n  low: {doc: down}\n", scenario="hihg")


# --- algebraic loops --------------------------------------------------------------------

def test_an_algebraic_loop_prints_the_loop_path_and_the_lines_of_its_equations() -> None:
    body = "auxiliaries:\n  price: {equation: demand * 2}\n  unrelated: {equation: 3}\n  demand: {equation: 100 - price}\n"
    with pytest.raises(AlgebraicLoopError) as caught:
        run(body)
    message = str(caught.value)
    assert re.match(r"Algebraic loop: (price -> demand -> price|demand -> price -> demand) \(", message)
    assert "model.yaml:4" in message and "model.yaml:6" in message and "model.yaml:5" not in message
    assert "SMOOTH/DELAY" in message  # and says how to break it


def test_a_longer_loop_names_every_variable_on_it() -> None:
    body = "auxiliaries:\n  a: {equation: b + 1}\n  b: {equation: c * 2}\n  c: {equation: a}\n"
    with pytest.raises(AlgebraicLoopError, match=r"Algebraic loop: (\w+) -> (\w+) -> (\w+) -> \1 \(model\.yaml:\d, model\.yaml:\d, model\.yaml:\d\)"):
        run(body)


def test_a_loop_through_a_smooth_is_not_algebraic() -> None:
    body = "auxiliaries:\n  price: {equation: 'SMOOTH(demand, 2, 10)'}\n  demand: {equation: 100 - price}\n"
    assert run(body)["price"].shape == (1, 21)


def test_stocks_whose_initial_values_depend_on_each_other_are_an_initialisation_loop() -> None:
    body = "stocks:\n  x: {initial: y}\n  y: {initial: x + 1}\n"
    with pytest.raises(AlgebraicLoopError, match=r"Initialisation loop: (x -> y -> x|y -> x -> y) \(model\.yaml:4, model\.yaml:5\)"):
        run(body)


# --- YAML errors: file, line, key, accepted values --------------------------------------

def test_an_unknown_key_names_file_line_key_and_the_accepted_keys() -> None:
    body = "stocks:\n  x:\n    initial: 1\n    inflow: [f]\n"
    with pytest.raises(ModelFileError, match=r"model\.yaml:6: unknown key 'stocks\.x\.inflow'; accepted here: .*\bin\b.*\bout\b"):
        load(body)


def test_a_value_of_the_wrong_type_names_file_line_and_key() -> None:
    with pytest.raises(ModelFileError, match=r"model\.yaml:4: time\.dt: .*number.*\(got 'fast'\)"):
        load("", header="model: errors\ntime:\n  start: 0\n  dt: fast\n  stop: 10\n")


def test_a_bad_option_value_lists_the_accepted_values() -> None:
    with pytest.raises(ModelFileError, match=r"model\.yaml:2: time\.method: .*'euler' or 'rk4'"):
        load("", header="model: errors\ntime: {start: 0, stop: 10, dt: 1, method: heun}\n")


def test_a_missing_section_is_named() -> None:
    with pytest.raises(ModelFileError, match=r"model\.yaml:1: time is required but missing"):
        load("", header="model: errors\n")


def test_an_equation_that_does_not_parse_names_file_line_key_and_column() -> None:
    with pytest.raises(ExpressionError, match=r"model\.yaml:5: flows\.f\.equation: cannot parse '2 \+\* x': unexpected '\*' at column 4"):
        load("flows:\n  f:\n    equation: 2 +* x\n")


def test_broken_yaml_syntax_names_the_line() -> None:
    with pytest.raises(ModelFileError, match=r"model\.yaml:5: not valid YAML: expected .,. or .\]."):
        load("constants:\n  a: [1, 2\n  b: 3\n")


def test_a_duplicate_key_names_its_line() -> None:
    with pytest.raises(ModelFileError, match=r"model\.yaml:5: not valid YAML: found duplicate key \"a\""):
        load("constants:\n  a: 1\n  a: 2\n")


def test_names_that_differ_only_in_case_or_spacing_collide_with_a_clear_message() -> None:
    with pytest.raises(ModelFileError, match=r"model\.yaml:6: auxiliaries\.Birth Rate: 'Birth Rate' is the same name as 'birth_rate'"):
        load("constants:\n  birth_rate: 1\nauxiliaries:\n  Birth Rate: {equation: 2}\n")


def test_evidence_citing_an_unlisted_source_names_the_key() -> None:
    body = ("flows:\n  f:\n    equation: 1\n    evidence:\n"
            "      - {from: x, sign: '+', source: nowhere, quote: 'q'}\n")
    with pytest.raises(ModelFileError, match=r"model\.yaml:7: flows\.f\.evidence\.0\.source: source 'nowhere' is not listed"):
        load(body)


def test_a_missing_model_file_is_a_model_file_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelFileError, match=r"no such file"):
        policylab.load(tmp_path / "absent.yaml")


# --- NaN and infinity stop the run ------------------------------------------------------
# 1/(TIME - 5) is exactly 1/0 = inf at TIME = 5, which dt = 0.5 reaches exactly.

DIVIDE_BY_ZERO = "stocks:\n  total: {initial: 0, in: [spike]}\nflows:\n  spike: {equation: 1 / (TIME - 5)}\n"


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_an_infinite_flow_stops_the_run_naming_the_variable_run_and_time(method: str) -> None:
    header = f"model: errors\ntime: {{start: 0, stop: 10, dt: 0.5, method: {method}}}\n"
    with pytest.raises(SimulationError, match=r"^spike became infinite at time 5 in run 0; check its equation"):
        run(DIVIDE_BY_ZERO, header)


def test_the_error_names_the_run_that_failed_by_its_index_in_the_whole_ensemble() -> None:
    body = ("constants:\n  pole: 5\nstocks:\n  total: {initial: 0, in: [spike]}\n"
            "flows:\n  spike: {equation: 1 / (TIME - pole)}\n")
    poles = [1.25, 2.25, 7.0, 8.5]  # only 7 lies on the time grid
    with pytest.raises(SimulationError, match=r"^spike became infinite at time 7 in run 12;"):
        run(body, params={"pole": poles}, runs=4, first_run=10)


def test_an_infinite_auxiliary_that_feeds_no_stock_still_stops_the_run() -> None:
    with pytest.raises(SimulationError, match=r"^ratio became infinite at time 5 in run 0;"):
        run("auxiliaries:\n  ratio: {equation: 1 / (TIME - 5)}\n")


def test_a_nan_names_itself_as_nan() -> None:
    with pytest.raises(SimulationError, match=r"^logarithm became NaN at time 0 in run 0;"):
        run("auxiliaries:\n  logarithm: {equation: LN(TIME - 5)}\n")


def test_an_overflowing_stock_stops_the_run_at_the_step_it_overflows() -> None:
    body = "stocks:\n  x: {initial: 10, in: [growth]}\nflows:\n  growth: {equation: x * x}\n"
    with pytest.raises(SimulationError, match=r"^growth became infinite at time \d+(\.5)? in run 0;"):
        run(body)


def test_a_nonfinite_value_inside_a_smooth_names_the_smooth_and_its_owner() -> None:
    body = "auxiliaries:\n  smoothed: {equation: 'SMOOTH(1 / (TIME - 5), 1, 0)'}\n"
    with pytest.raises(SimulationError, match=r"^SMOOTH inside smoothed became infinite at time 5 in run 0"):
        run(body)


def test_every_error_above_is_a_policylab_error() -> None:
    for error in (UnknownNameError, AlgebraicLoopError, ModelFileError, ExpressionError, SimulationError, UsageError):
        assert issubclass(error, PolicyLabError)
