"""The public XMILE conformance suite (../shared/conformance/xmile), one test per model file."""

from __future__ import annotations

import filecmp
import warnings
from pathlib import Path

import pytest

from policylab.conformance import run_test
from policylab.errors import ExpressionError, ModelFileError
from policylab.formats.xmile import XmileRepairWarning, read_xmile

SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "xmile"
pytestmark = pytest.mark.skipif(not (SUITE / "TESTS.txt").exists(), reason="conformance suite not present")


def _listed() -> list[str]:
    if not (SUITE / "TESTS.txt").exists():
        return []
    return [line.strip() for line in (SUITE / "TESTS.txt").read_text().splitlines() if line.strip()]


def _identical_twins() -> list[str]:
    twins = []
    for name in _listed():
        twin = (SUITE / name).with_suffix(".stmx")
        if twin.exists() and filecmp.cmp(twin, SUITE / name, shallow=False):
            twins.append(str(twin.relative_to(SUITE)))
    return twins


@pytest.mark.parametrize("name", _listed())
def test_suite_model_matches_its_expected_output(name: str) -> None:
    outcome = run_test(SUITE / name)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("name", _identical_twins())
def test_stmx_twin_identical_to_its_xmile_gives_the_same_result(name: str) -> None:
    outcome = run_test(SUITE / name)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("name", ["teacup/teacup.stmx", "lookups/test_lookups.stmx",
                                  "special_characters_xmile/test_special_variable_names.stmx",
                                  "bpowers-hares_and_lynxes_modules/model.stmx"])
def test_stella_variants_with_different_text_also_pass(name: str) -> None:
    outcome = run_test(SUITE / name)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("name", ["teacup/teacup_legacy.stmx", "bpowers-hares_and_lynxes_modules/model_legacy.stmx",
                                  "comparisons/comparisons.stmx", "lookups/test_lookups_no-indirect.stmx"])
def test_legacy_stella_files_get_a_clear_unsupported_error(name: str) -> None:
    with pytest.raises(ModelFileError, match="unsupported: legacy Stella format") as info:
        read_xmile(SUITE / name)
    assert f"{name.split('/')[-1]}:" in str(info.value)


def test_a_garbled_equation_in_a_stella_twin_names_file_line_and_variable() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XmileRepairWarning)
        with pytest.raises(ExpressionError, match=r'test_logicals\.stmx:33: <aux name="NOT output">: cannot parse'):
            read_xmile(SUITE / "logicals" / "test_logicals.stmx")


def test_undeclared_isee_prefix_is_read_with_one_warning_saying_so() -> None:
    with pytest.warns(XmileRepairWarning, match="isee: without declaring its namespace") as record:
        read_xmile(SUITE / "abs" / "test_abs.xmile")
    assert len(record) == 1


def test_missing_end_tag_is_repaired_and_reported_with_its_line() -> None:
    path = SUITE / "non_negative_flows" / "test_non_negative_flows.xmile"
    with pytest.warns(XmileRepairWarning, match=r'<flow name="if_else3"> opened at line 34 was never closed'):
        model = read_xmile(path)
    assert {"teststock2", "teststock3", "if_else3"} <= set(model.variables)
    assert model.variables["teststock2"].inflows == ("if_else2",)


def test_vensim_export_with_rk4_attribute_is_integrated_with_euler() -> None:
    with pytest.warns(XmileRepairWarning, match="Vensim XMILE export"):
        model = read_xmile(SUITE / "rounding" / "test_rounding.xmile")
    assert model.time.method.value == "euler"
