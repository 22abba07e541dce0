"""`policylab run`'s table: 100 columns for seven scenarios and twenty outcomes, probabilities, modes, thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.results.intervals import Interval, bimodal

ROOT = Path(__file__).resolve().parents[1]
SIR = (ROOT / "models" / "sir" / "model.yaml").read_text()


def _wide_model(tmp_path: Path) -> Path:
    """SIR with seven scenarios (long names) and twenty outcomes, two of them probabilities with labels."""
    scenarios = "".join(
        f"  distancing_from_day_{day}_at_a_long_named_level:\n    policy_from: {day}\n    set: {{distancing: 0.{day % 8}}}\n"
        for day in (10, 20, 30, 40, 50)
    )
    outcomes = "".join(
        f"  infected_on_day_{day}_of_the_epidemic_with_a_long_name: {{variable: infected, stat: value, at: {day}}}\n"
        for day in range(10, 180, 10)
    )
    outcomes += ("  half_recovered: {variable: half_recovered, stat: value, at: 120, probability: true,\n"
                 "                   label: \"Half the population recovered by day 120\"}\n")
    text = SIR.replace("scenarios:\n", "scenarios:\n" + scenarios).replace("outcomes:\n", "outcomes:\n" + outcomes)
    text = text.replace("auxiliaries:\n", "auxiliaries:\n  half_recovered: {equation: \"if recovered >= population / 2 then 1 else 0\", units: \"1\"}\n")
    path = tmp_path / "wide.yaml"
    path.write_text(text)
    return path


def test_seven_scenarios_and_21_outcomes_fit_100_columns_with_nothing_cut(tmp_path: Path) -> None:
    path = _wide_model(tmp_path)
    result = CliRunner().invoke(app, ["run", str(path), "-n", "120", "-q"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 100
    assert "…" not in result.stdout  # no scenario name, label or number cut
    assert lines[1].endswith("median [10–90 % of runs]; probabilities: share of runs [80 % Wilson interval]")
    for scenario in ("baseline", "distancing", "distancing_from_day_50_at_a_long_named_level"):
        assert sum(line.split()[0] == scenario for line in lines if line.strip()) == 21  # outcomes
    heading = next(line for line in lines if line.startswith("Half the population recovered by day 120"))
    assert "probability" in heading and heading.rstrip().endswith("half_recovered")
    assert "ever_infected [person]" in result.stdout and "≥ 5,000 in" in result.stdout  # units and threshold stated
    assert "Kermack" not in result.stdout  # the model's description is prose: stderr, with --verbose


def test_a_probability_outcome_shows_the_share_of_runs_and_its_wilson_interval(tmp_path: Path) -> None:
    path = _wide_model(tmp_path)
    result = CliRunner().invoke(app, ["run", str(path), "-n", "200", "-s", "baseline", "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    row = next(r for r in json.loads(result.stdout)["rows"] if r["name"] == "half_recovered")
    cell = row["values"]["baseline"]
    assert row["probability"] and row["label"] == "Half the population recovered by day 120"
    assert cell["low"] <= cell["share"] <= cell["high"] and cell["not_binary_runs"] == 0
    assert 0 < cell["share"] < 1


def test_the_interval_is_settable_and_named() -> None:
    result = CliRunner().invoke(app, ["run", str(ROOT / "models" / "sir" / "model.yaml"), "-n", "50", "--interval", "90"])
    assert result.exit_code == 0, result.output
    assert "median [5–95 % of runs]" in result.stdout and "      5 %      95 %" in result.stdout


def test_wilson_interval_matches_the_closed_form() -> None:
    low, high = Interval(0.95).wilson(20, 100)  # textbook: 0.1333–0.2888
    assert low == pytest.approx(0.1333, abs=1e-4) and high == pytest.approx(0.2888, abs=1e-4)


def test_bimodality_is_found_in_two_separate_groups_and_not_in_one_skewed_group() -> None:
    rng = np.random.default_rng(0)
    two = np.concatenate([rng.normal(0, 1, 600), rng.normal(6, 1, 400)])
    modes = bimodal(two)
    assert modes is not None and 1 < modes.split < 5
    assert modes.below == pytest.approx(0.6, abs=0.01) and modes.above == pytest.approx(0.4, abs=0.01)
    for one in (rng.lognormal(0, 1, 1000), rng.uniform(0, 1, 1000), rng.normal(0, 1, 1000)):
        assert bimodal(one) is None
