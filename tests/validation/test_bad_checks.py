"""Bad checks: each a clear error naming file:line, with a suggestion, before anything runs; exit 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.errors import CheckError
from policylab.validation import validate

runner = CliRunner()
MAPPING = "data: data.csv\nseries:\n  level_seen: {variable: level}\n"
DATA = "date,series,value\n2020-02-01,level_seen,3\n2020-03-01,level_seen,9\n"


def _fails(model, pattern: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckError, match=pattern):
        validate(model, runs=8, backend="numpy")
    result = runner.invoke(app, ["validate", model.ir.path, "--runs", "8", "--backend", "numpy"])
    assert result.exit_code == 1
    assert "model.yaml:" in result.output and "Traceback" not in result.output


def test_a_check_naming_an_unknown_variable(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  typo:\n    kind: behaviour\n    expect: 'max(levle) > 0'\n")
    _fails(model, r"model.yaml:\d+: checks.typo.expect: 'levle' is not a variable or outcome of growth. Did you mean 'level'")


def test_a_window_outside_the_run(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  late:\n    kind: behaviour\n    expect: 'mean(level, \"2020-06-01\", \"2021-06-30\") > 0'\n")
    _fails(model, r"model.yaml:\d+: checks.late.expect: mean\(\): time 2021-06-30 is outside the run "
                  r"\(2020-01-01 to 2020-12-31\)")


def test_a_given_on_something_that_is_not_a_lever_or_parameter(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  bad:\n    kind: reality\n    given: {gains: 0}\n    expect: 'max(level) > 0'\n")
    _fails(model, r"model.yaml:\d+: checks.bad.given.gains: 'gains' is not defined; `given` sets constants, "
                  r"levers \(from a date\) and stocks \(at a date\). Did you mean 'gain'")


def test_a_given_on_a_flow(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  bad:\n    kind: reality\n    given: {gain: 0}\n    expect: 'max(level) > 0'\n")
    _fails(model, r"'gain' is a flow; `given` sets constants, levers")


def test_a_holdout_whose_data_do_not_reach_the_cutoff(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  forecast:\n    kind: holdout\n    mapping: mapping.yaml\n    cutoff: \"2020-06-30\"\n"
                       "    fit: [growth_rate]\n", extra={"mapping.yaml": MAPPING, "data.csv": DATA})
    _fails(model, r"model.yaml:\d+: checks.forecast.cutoff: the data end before the cut-off .* move the cut-off earlier")


def test_a_data_check_naming_an_unknown_series(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  fit:\n    kind: data\n    mapping: mapping.yaml\n    series: level_sen\n"
                       "    tolerance: {relative: 0.1}\n    reason: test\n", extra={"mapping.yaml": MAPPING, "data.csv": DATA})
    _fails(model, r"checks.fit.series: 'level_sen' is not a series of .*mapping.yaml. Did you mean 'level_seen'")


def test_a_condition_that_is_a_series_must_be_reduced(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  series:\n    kind: behaviour\n    expect: 'level > 0'\n")
    _fails(model, r"is a time series, not one value per run; wrap it in a window function")


def test_an_unknown_function_is_named_with_the_ones_that_exist(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  f:\n    kind: behaviour\n    expect: 'maen(level) > 0'\n")
    _fails(model, r"maen\(\) is not a check function; use one of .* Did you mean 'mean'")


def test_a_lever_response_naming_an_unknown_outcome(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  lr:\n    kind: lever_response\n    lever: effort\n    expect: {levl: auto}\n")
    _fails(model, r"model.yaml:\d+: checks.lr.expect.levl: 'levl' is not a variable or outcome of growth. Did you mean 'level'")


def test_a_lever_response_on_something_that_is_not_a_lever(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  lr:\n    kind: lever_response\n    lever: efort\n    expect: {level: auto}\n")
    _fails(model, r"model.yaml:\d+: checks.lr.lever: 'efort' is not a lever of growth. Did you mean 'effort'")


def test_an_auto_direction_is_refused_when_the_causal_paths_disagree(model_with) -> None:  # type: ignore[no-untyped-def]
    # effort raises the gain (+ to level) and, here, also the loss (- to level): declare the direction
    model = model_with("  lr:\n    kind: lever_response\n    lever: effort\n    expect: {level: auto}\n",
                       loss="0.01 * level / settle_time * (1 + effort)")
    _fails(model, r"model.yaml:\d+: checks.lr.expect.level: causal paths from effort to level disagree in sign")


def test_a_holdout_with_no_data_before_the_cutoff(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("  forecast:\n    kind: holdout\n    mapping: mapping.yaml\n    cutoff: \"2020-01-15\"\n"
                       "    fit: [growth_rate]\n", extra={"mapping.yaml": MAPPING, "data.csv": DATA})
    _fails(model, r"model.yaml:\d+: checks.forecast.cutoff: no series of .*mapping.yaml has an observation between the "
                  r"start of the run and the cut-off")
