"""Vensim models in the conformance runner: our own .mdl twins, the public Vensim suite, TESTS.txt lists."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.conformance import Expected, compare, find_matching, find_tests, read_expected, run_test
from policylab.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "tests" / "conformance"
TWINS = sorted(OWN.glob("*/model.mdl"))
SUITE = ROOT.parent / "shared" / "conformance" / "vensim"
KNOWN_CAUSES = re.compile(
    r"install the xls extra|a time setting must be a number|GET TIME VALUE: measure 1 is a calendar measure"
    r"|ALLOCATE AVAILABLE is not supported yet")
"""Why a case of the public suite may fail today (docs/vensim.md lists them by case)."""


@pytest.mark.parametrize("path", TWINS, ids=lambda p: p.parent.name)
def test_own_mdl_twin_matches_the_oracle_output_of_its_xmile_model(path: Path) -> None:
    assert (path.parent / "model.xmile").exists(), "a twin restates the folder's XMILE model"
    outcome = run_test(path)
    assert outcome.passed, outcome.message


def test_there_are_mdl_twins() -> None:
    assert len(TWINS) >= 4


@pytest.mark.skipif(not (SUITE / "TESTS.txt").exists(), reason="Vensim conformance suite not present")
def test_public_vensim_suite_passes_or_fails_only_for_a_known_cause() -> None:
    tests = find_tests(SUITE)
    assert len(tests) == 106
    outcomes = [run_test(path) for path in tests]
    unexplained = [o.line(SUITE) for o in outcomes if not o.passed and not KNOWN_CAUSES.search(o.message)]
    assert not unexplained, unexplained
    # the 5 cases reading old binary .xls workbooks need xlrd (the xls extra)
    assert sum(o.passed for o in outcomes) >= (103 if importlib.util.find_spec("xlrd") else 98)


def test_tests_txt_chooses_the_tests(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(OWN / "delays" / "model.mdl", tmp_path / name / "model.mdl")
    (tmp_path / "b" / "other.xmile").write_text("<xmile/>", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in find_tests(tmp_path)] == [
        "a/model.mdl", "b/model.mdl", "b/other.xmile"]
    (tmp_path / "TESTS.txt").write_text("# the one test\nb/model.mdl\n\n", encoding="utf-8")
    assert find_tests(tmp_path) == [tmp_path / "b" / "model.mdl"]
    (tmp_path / "TESTS.txt").write_text("../escape.mdl\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"TESTS.txt:1: '../escape.mdl' is outside the folder"):
        find_tests(tmp_path)


def test_conformance_command_runs_mdl_with_the_same_output(tmp_path: Path) -> None:
    shutil.copytree(OWN / "delays", tmp_path / "delays")
    (tmp_path / "delays" / "model.xmile").unlink()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.mdl").write_text("x[d] = 1 ~ ~ |\n", encoding="utf-8")
    shutil.copy(OWN / "delays" / "output.csv", broken / "output.csv")
    result = CliRunner().invoke(app, ["conformance", str(tmp_path)])
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("FAIL broken/model.mdl: ModelFileError: ") and "model.mdl:1: x[d]" in lines[0]
    assert lines[1:] == ["PASS delays/model.mdl", "1 passed, 1 failed"]
    assert result.exit_code == 1


def test_an_expected_output_in_latin1_is_read(tmp_path: Path) -> None:
    table = tmp_path / "output.tab"
    table.write_bytes("Time\tTempérature\n0\t1\n1\t2\n".encode("latin-1"))
    assert list(read_expected(table).columns) == ["température"]


def test_the_control_variables_are_not_compared() -> None:
    expected = Expected(np.array([0.0, 1.0]), {"final_time": ("FINAL TIME", np.array([100.0, 100.0])),
                                               "x": ("x", np.array([1.0, 2.0]))})
    times = np.array([0.0, 1.0])
    assert compare(expected, times, {"final_time": np.array([28.0, 28.0]), "x": np.array([1.0, 2.0])}) is None
    assert compare(expected, times, {"x": np.array([1.0, 2.5])}) == "x at time 1: expected 2, got 2.5"


TWIN_CAUSES = {
    "active_initial/test_active_initial.xmile": r"^Stock A at time 0: expected 45, got 0$",
    **{f"{case}.xmile": r"calls a function whose name has spaces" for case in (
        "macro_expression/test_macro_expression", "macro_multi_expression/test_macro_multi_expression",
        "macro_multi_macros/test_macro_multi_macros", "macro_stock/test_macro_stock")},
    **{f"{case}.xmile": r"the equation is '\?\?\?'" for case in (
        "subscript_1d_arrays/test_subscript_1d_arrays", "subscript_constant_call/test_subscript_constant_call",
        "subscript_multiples/test_multiple_subscripts", "subscript_subranges/test_subscript_subrange",
        "subscripted_flows/test_subscripted_flows")},
}
"""The Vensim suite's XMILE twins whose file cannot give the expected output, and the message that says why."""


@pytest.mark.skipif(not (SUITE / "TESTS.txt").exists(), reason="Vensim conformance suite not present")
def test_the_xmile_twins_pass_unless_docs_xmile_md_explains_why_their_expected_output_cannot_apply() -> None:
    doc = (ROOT / "docs" / "xmile.md").read_text(encoding="utf-8")
    outcomes = {path.relative_to(SUITE).as_posix(): run_test(path) for path in find_matching(SUITE, "*.xmile")}
    assert len(outcomes) == 33
    for name, outcome in outcomes.items():
        if name in TWIN_CAUSES:
            assert not outcome.passed and re.search(TWIN_CAUSES[name], outcome.message), (name, outcome.message)
            assert f"`{name.split('/')[0]}`" in doc, f"docs/xmile.md does not explain {name}"
        else:
            assert outcome.passed, (name, outcome.message)
    assert sum(o.passed for o in outcomes.values()) == 23


@pytest.mark.skipif(not (SUITE / "TESTS.txt").exists(), reason="Vensim conformance suite not present")
def test_the_active_initial_twin_gives_what_stella_computes_for_the_same_file() -> None:
    case = SUITE / "active_initial"
    assert run_test(case / "test_active_initial.xmile", case / "output_stella.csv").passed
    assert run_test(case / "test_active_initial.mdl").passed


def test_glob_runs_the_files_tests_txt_leaves_out(tmp_path: Path) -> None:
    shutil.copytree(OWN / "delays", tmp_path / "delays")
    (tmp_path / "TESTS.txt").write_text("delays/model.mdl\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["conformance", str(tmp_path), "--glob", "*.xmile"])
    assert result.stdout.strip().splitlines() == ["PASS delays/model.xmile", "1 passed, 0 failed"]
    assert result.exit_code == 0
