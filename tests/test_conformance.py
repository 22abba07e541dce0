"""PolicyLab's own XMILE test models (tests/conformance) and the conformance runner and command."""

from __future__ import annotations

import csv
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import policylab
from policylab.cli import app
from policylab.conformance import Expected, column_key, compare, find_tests, read_expected, run_test, summary
from policylab.formats.xmile import XmileRepairWarning, read_xmile
from policylab.model.ir import Method

OWN = Path(__file__).resolve().parent / "conformance"
_spec = importlib.util.spec_from_file_location("xmile_oracle", OWN / "oracle.py")
assert _spec is not None and _spec.loader is not None
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)


@pytest.mark.parametrize("name", sorted(oracle.MODELS))
def test_own_model_matches_its_independently_computed_output(name: str) -> None:
    outcome = run_test(OWN / name / "model.xmile")
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("name", sorted(oracle.MODELS))
def test_committed_expected_output_is_what_the_oracle_computes(name: str) -> None:
    with (OWN / name / "output.csv").open(newline="", encoding="utf-8") as handle:
        committed = list(csv.reader(handle))
    computed = oracle.table(name)
    assert committed[0] == computed[0]
    np.testing.assert_allclose(np.array(committed[1:], dtype=float), np.array(computed[1:], dtype=float),
                               rtol=1e-12, atol=1e-12)


def test_every_own_model_folder_has_an_oracle() -> None:
    assert {p.parent.name for p in find_tests(OWN)} == set(oracle.MODELS)


def test_the_vensim_export_rule_ignores_the_method_only_in_vensim_exports() -> None:
    with pytest.warns(XmileRepairWarning, match="Vensim XMILE export"):
        vensim = read_xmile(OWN / "vensim_export" / "model.xmile")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xmutil = read_xmile(OWN / "xmutil_export" / "model.xmile")
    assert vensim.time.method == Method.EULER
    assert xmutil.time.method == Method.RK4


def test_flows_exported_as_auxiliaries_become_flows() -> None:
    with pytest.warns(XmileRepairWarning):
        model = read_xmile(OWN / "messy_export" / "model.xmile")
    assert type(model.variables["orders_in"]).__name__ == "Flow"
    assert type(model.variables["completion_rate"]).__name__ == "Flow"


def test_units_and_documentation_are_read() -> None:
    model = read_xmile(OWN / "time_functions" / "model.xmile")
    step_up = model.variables["step_up"]
    assert (step_up.units, step_up.doc, step_up.display) == ("widgets", "5 from time 2 on", "Step Up")
    assert model.time.units == "Months"


def test_sim_specs_reciprocal_dt_and_save_interval() -> None:
    model = read_xmile(OWN / "sim_specs" / "model.xmile")
    assert (model.time.start, model.time.stop, model.time.dt, model.time.save_every) == (2.0, 6.0, 0.25, 0.5)
    assert model.time.units == "Years"


def test_run_prints_an_xmile_model_as_csv_per_the_command_line_contract() -> None:
    result = CliRunner().invoke(app, ["run", str(OWN / "arrays" / "model.xmile"), "--format", "csv",
                                      "--vars", "pop[North],total"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "time,pop[North],total"
    assert lines[1].split(",")[:3] == ["0", "100", "600"]
    assert len(lines) == 12


def test_conformance_command_prints_one_line_per_file_and_the_summary_last() -> None:
    result = CliRunner().invoke(app, ["conformance", str(OWN)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    twins = len(list(OWN.glob("*/model.mdl")))  # Vensim restatements of some models, sharing their output.csv
    assert lines[-1] == f"{len(oracle.MODELS) + twins} passed, 0 failed"
    assert all(line.startswith("PASS ") for line in lines[:-1])
    assert "warning:" in result.stderr


def test_conformance_command_reports_the_first_difference_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "model.xmile").write_bytes((OWN / "rk4" / "model.xmile").read_bytes())
    rows = oracle.table("vensim_export")  # the wrong expectation on purpose
    (folder / "output.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    result = CliRunner().invoke(app, ["conformance", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("FAIL case/model.xmile: variable 'Inventory' is not produced")
    assert lines[-1] == "0 passed, 1 failed"


def test_conformance_command_rejects_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["conformance", str(tmp_path / "nowhere")])
    assert result.exit_code == 2


def test_column_names_match_xmile_style() -> None:
    assert column_key('"Stock A"[Entry 1]') == column_key("stock_a[entry_1]")
    assert column_key("Matrix[North, Old]") == "matrix[north,old]"
    assert column_key("Stock with \\n Newline") == column_key("stock_with_newline")


def test_tab_files_fill_constants_down(tmp_path: Path) -> None:
    path = tmp_path / "output.tab"
    path.write_text("Time\tA\tB\n0\t1\t5\n1\t2\t\n2\t3\t\n")
    expected = read_expected(path)
    assert expected.columns["b"][1].tolist() == [5.0, 5.0, 5.0]


def test_an_empty_cell_in_a_varying_column_expects_no_value_vensims_na(tmp_path: Path) -> None:
    path = tmp_path / "output.tab"
    path.write_text("Time\tV\n0\t0\n1\t1\n2\t\n3\t\n")  # Vensim writes :NA: as an empty cell
    expected = read_expected(path)
    times = np.arange(4.0)
    assert np.isnan(expected.columns["v"][1][2:]).all()
    assert compare(expected, times, {"v": np.array([0.0, 1.0, np.nan, -1.298074214633707e33])}) is None
    problem = compare(expected, times, {"v": np.array([0.0, 1.0, 1.0, np.nan])})
    assert problem == "V at time 2: expected no value (an empty cell: Vensim's :NA:), got 1"
    assert "expected 1, got nan" in (compare(expected, times, {"v": np.array([0.0, np.nan, np.nan, np.nan])}) or "")


def test_the_cell_rule_uses_relative_and_absolute_tolerance() -> None:
    expected = Expected(np.array([0.0, 1.0]), {"x": ("x", np.array([1000.0, 0.0]))})
    assert compare(expected, np.array([0.0, 1.0]), {"x": np.array([1000.009, 9e-6])}) is None
    problem = compare(expected, np.array([0.0, 1.0]), {"x": np.array([1000.02, 0.0])})
    assert problem == "x at time 0: expected 1000, got 1000.02"
    assert "no output at time 1" in (compare(expected, np.array([0.0, 2.0]), {"x": np.zeros(2)}) or "")


def test_summary_counts_passes_and_failures() -> None:
    outcomes = [run_test(OWN / "rk4" / "model.xmile"), run_test(OWN / "rk4" / "missing.xmile")]
    assert summary(outcomes) == "1 passed, 1 failed"
    assert policylab.__version__
