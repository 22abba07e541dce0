"""`policylab bargain` through the real Typer app."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policylab.cli import app

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "models" / "iraq_dialogue"
STANDIN = Path(__file__).parent / "fixtures" / "standin.yaml"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["bargain", *args])


def coupling_file(tmp_path: Path, model: Path = STANDIN) -> str:
    text = (FLAGSHIP / "bargain_coupling.yaml").read_text(encoding="utf-8")
    text = text.replace("model: model.yaml", f"model: {model}")
    text = text.replace("stakeholders: stakeholders.yaml", f"stakeholders: {FLAGSHIP / 'stakeholders.yaml'}")
    path = tmp_path / "coupling.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_without_coupling_csv_has_every_issue_and_model_within_the_scale():
    result = invoke("--no-coupling", "--runs", "40", "--format", "csv")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["scenario", "issue", "model", "median", "p10", "p90", "runs"]
    assert set(frame["issue"]) == {"force_presence", "economic_cooperation"}
    assert set(frame["model"]) == {"expected_utility", "median", "compromise", "nash"}
    assert ((frame["p10"] >= 0) & (frame["p90"] <= 100) & (frame["p10"] <= frame["median"])).all()


def test_each_scenario_is_a_row_named_as_the_scenario(tmp_path):
    result = invoke("--coupling", coupling_file(tmp_path), "--runs", "10", "--at", "2020-06", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc["forecasts"]) == ["historical", "no_pressure"]
    assert doc["at"] == "2020-06-30" and doc["runs"] == 10 and doc["version"] == 1
    cell = doc["forecasts"]["no_pressure"]["force_presence"]["expected_utility"]
    assert 0 <= cell["p10"] <= cell["median"] <= cell["p90"] <= 100


def test_the_table_names_the_scale_and_the_band(tmp_path):
    result = invoke("--coupling", coupling_file(tmp_path), "--from-scenario", "no_pressure", "--runs", "5",
                    "--issue", "force_presence")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "no_pressure" in text and "historical" not in text.split("seed")[1]
    assert "0 = all foreign forces out" in text and "median [10–90 % of runs]" in text
    assert "Scope of US-Iraq economic" not in text


def test_an_unknown_scenario_is_a_usage_error(tmp_path):
    result = invoke("--coupling", coupling_file(tmp_path), "--from-scenario", "nope", "--runs", "2")
    assert result.exit_code == 2
    assert "no scenario 'nope'" in result.output and "historical, no_pressure" in result.output


def test_when_the_model_is_missing_it_says_the_flagship_is_not_available(tmp_path):
    result = invoke("--coupling", coupling_file(tmp_path, tmp_path / "missing.yaml"), "--runs", "2")
    assert result.exit_code == 1
    assert "flagship model is not available" in result.output and "--no-coupling" in result.output


def test_inputs_trace_every_attribute_to_a_source_or_to_judgement():
    result = invoke("--inputs")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), comment="#")
    assert {"actor", "attribute", "issue", "value", "low", "high", "source", "basis"} <= set(frame.columns)
    assert set(frame["source"]) <= {"dodge2020", "iraq_timeline", "iraq_series", "judgement"}
    assert (frame["source"] != "judgement").sum() >= 15
    assert frame["basis"].str.len().min() > 10


def test_no_coupling_refuses_scenarios():
    result = invoke("--no-coupling", "--from-scenario", "historical")
    assert result.exit_code == 2 and "--no-coupling" in result.output


@pytest.mark.slow
def test_with_no_arguments_every_flagship_scenario_is_forecast_at_june_2020():
    """The DESIGN.md contract on the real flagship (slow: it simulates every scenario)."""
    result = runner.invoke(app, ["bargain", "--runs", "8", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    import policylab

    assert list(doc["forecasts"]) == policylab.load(FLAGSHIP / "model.yaml").scenarios
    assert doc["at"] == "2020-06-30"
