"""The command-line contract of DESIGN.md, exercised through the real Typer app."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policylab.cli import app

ROOT = Path(__file__).resolve().parents[1]
SIR = str(ROOT / "models" / "sir" / "model.yaml")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_version_prints_the_package_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("policylab ")


def test_csv_has_time_then_variables_in_model_order():
    result = invoke("run", SIR, "--format", "csv", "--vars", "infected,recovered")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["time", "infected", "recovered"]
    assert frame["time"].iloc[0] == 0 and frame["time"].iloc[-1] == 180
    assert len(frame) == 181


def test_csv_of_an_ensemble_has_a_run_column():
    result = invoke("run", SIR, "--format", "csv", "--runs", "3", "--vars", "infected")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["time", "run", "infected"]
    assert sorted(frame["run"].unique()) == [0, 1, 2]


def test_csv_with_two_scenarios_is_a_usage_error():
    result = invoke("run", SIR, "--format", "csv", "-s", "baseline", "-s", "distancing")
    assert result.exit_code == 2
    assert "exactly one scenario" in result.stderr


def test_unknown_scenario_is_a_usage_error_that_lists_the_choices():
    result = invoke("run", SIR, "--scenario", "lockdown")
    assert result.exit_code == 2
    assert "baseline, distancing" in result.stderr


def test_missing_model_file_is_a_model_error():
    result = invoke("run", "no/such/model.yaml")
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def test_json_table_is_versioned_and_compares_scenarios():
    result = invoke("run", SIR, "--format", "json", "--runs", "20")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "policylab.run-table/2"
    assert data["interval"]["label"] == "median [10–90 % of runs]"
    assert data["scenarios"] == ["baseline", "distancing"]
    assert data["runs"] == 20
    first = data["rows"][0]["values"]["baseline"]
    assert first["low"] <= first["median"] <= first["high"]


def test_unknown_variable_in_vars_suggests_a_name():
    result = invoke("run", SIR, "--format", "csv", "--vars", "infectd")
    assert result.exit_code == 2
    assert "Did you mean 'infected'" in result.stderr


def test_table_is_printed_for_people():
    result = invoke("run", SIR, "--runs", "10")
    assert result.exit_code == 0, result.output
    assert "sir-epidemic: 10 runs" in result.stdout


@pytest.mark.parametrize("fmt", ["xml", "TABLE"])
def test_bad_format_is_a_usage_error(fmt):
    result = invoke("run", SIR, "--format", fmt)
    assert result.exit_code == 2
