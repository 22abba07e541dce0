"""`policylab validate` from the command line, and the counter-example command reproducing a failure."""

from __future__ import annotations

import io
import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import policylab
from policylab.cli import app
from policylab.formats.xmile import save_xmile

runner = CliRunner()
FAILING = """  shrinks_in_fast_runs:
    kind: behaviour
    require: 0.9
    expect: 'growth_rate < 0.05 or at(level, "2020-12-31") < 20'
"""


def test_validate_prints_one_line_per_check_and_exits_0_when_all_pass(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with("""  grows:
    kind: behaviour
    expect: 'at(level, "2020-12-31") > at(level, "2020-01-01")'
""")
    result = runner.invoke(app, ["validate", model.ir.path, "--runs", "16", "--backend", "numpy"])
    assert result.exit_code == 0, result.output
    for name in ("grows", "units", "extreme_conditions", "integration_half_dt", "integration_method"):
        assert name in result.output
    assert "5 passed, 0 failed" in result.output


def test_a_failing_check_exits_1_and_its_command_reproduces_the_failing_run(model_with) -> None:  # type: ignore[no-untyped-def]
    model = model_with(FAILING)
    result = runner.invoke(app, ["validate", model.ir.path, "--runs", "32", "--kind", "behaviour", "--format", "json",
                                 "--backend", "numpy"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    check = report["checks"][0]
    assert check["verdict"] == "FAIL" and check["share"] < 0.9
    example = check["counter_example"]
    words = shlex.split(example["command"])
    assert words[:2] == ["policylab", "run"] and "--run-index" in words
    rerun = runner.invoke(app, words[1:])  # the command as printed, without the program name
    assert rerun.exit_code == 0, rerun.output
    frame = pd.read_csv(io.StringIO(rerun.stdout))
    # the rerun is the failing run: the condition fails in it, with the parameters the report names
    final = float(frame.loc[frame["date"] == "2020-12-31", "level"].iloc[0])
    assert example["parameters"]["growth_rate"] >= 0.05 and final >= 20
    ensemble = model.run(runs=32, seed=0, variables=["level"])
    np.testing.assert_allclose(frame["level"].to_numpy(), ensemble["level"].values[example["run"]], rtol=1e-9)  # CSV: 10 digits


def test_validate_on_an_xmile_file_runs_the_automatic_checks(model_with, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = model_with()
    xmile = tmp_path / "growth.xmile"
    save_xmile(model.ir, xmile)
    result = runner.invoke(app, ["validate", str(xmile), "--runs", "16", "--backend", "numpy", "--format", "json"])
    assert result.exit_code == 0, result.output
    kinds = {c["kind"] for c in json.loads(result.stdout)["checks"]}
    assert kinds == {"units", "extreme", "integration"}


def test_an_unknown_kind_is_a_usage_error(model_with) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["validate", model_with().ir.path, "--kind", "behavior"])
    assert result.exit_code == 2 and "Did you mean 'behaviour'" in result.output


def test_the_python_api_gives_the_same_report(model_with) -> None:  # type: ignore[no-untyped-def]
    from policylab.validation import validate

    model = policylab.load(model_with(FAILING).ir.path)
    report = validate(model, kinds=["behaviour"], runs=32, backend="numpy")
    assert not report.ok and report.to_json()["checks"][0]["name"] == "shrinks_in_fast_runs"
