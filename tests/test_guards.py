"""Guards on values a user sets: physical bounds refuse, sampling ranges warn, units refuse native models."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import policylab
from policylab.cli import app
from policylab.errors import UsageError
from policylab.formats.yaml_reader import read_yaml_text
from policylab.model.guards import OutsideRangeWarning

ROOT = Path(__file__).resolve().parents[1]
SIR = ROOT / "models" / "sir" / "model.yaml"
BOUNDED = SIR.read_text().replace(
    "  distancing:\n    baseline: 0\n    range: [0, 0.8]\n", "  distancing:\n    baseline: 0\n    range: [0, 0.8]\n    bounds: [0, 1]\n")


def test_a_value_outside_a_lever_range_runs_with_a_warning_naming_the_range() -> None:
    model = policylab.load(SIR)
    with pytest.warns(OutsideRangeWarning, match=r"distancing = 0\.9 is outside the lever's range \[0, 0\.8\]"):
        model.run("baseline", params={"distancing": 0.9}, deterministic=True, variables=["infected"])


def test_a_value_inside_every_range_runs_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideRangeWarning)
        policylab.load(SIR).run("baseline", params={"distancing": 0.5, "contact_rate": 4}, variables=["infected"])


def test_a_judgement_parameter_outside_its_range_is_named_as_one() -> None:
    with pytest.warns(OutsideRangeWarning, match="judgement parameter's range"):
        policylab.load(SIR).run(params={"contact_rate": [3.0, 5.0]}, runs=2, variables=["infected"])


def test_a_value_outside_physical_bounds_is_refused_with_the_file_line() -> None:
    model = policylab.Model(read_yaml_text(BOUNDED, "sir.yaml"))
    with pytest.raises(UsageError, match=r"distancing = 2 is outside its physical bounds \[0, 1\] \(sir\.yaml:\d+\)"):
        model.run("baseline", params={"distancing": 2.0}, variables=["infected"])


def test_run_set_reports_the_range_warning_on_stderr_and_refuses_a_name_given_twice() -> None:
    result = CliRunner().invoke(app, ["run", str(SIR), "-s", "baseline", "-n", "3", "--set", "distancing=0.9"])
    assert result.exit_code == 0, result.output
    assert "outside the lever's range [0, 0.8]" in result.stderr and "warning" not in result.stdout
    twice = CliRunner().invoke(app, ["run", str(SIR), "--set", "distancing=0.1", "--set", "distancing=0.2"])
    assert twice.exit_code == 2 and "given twice" in twice.stderr


def test_explore_levers_outside_the_range_warn() -> None:
    result = CliRunner().invoke(app, ["explore", str(SIR), "--lever", "distancing=0,2", "-n", "2", "-q",
                                      "--store", str(Path(__import__("tempfile").mkdtemp()))])
    assert result.exit_code == 0, result.output
    assert "distancing = 0 to 2 is outside the lever's range [0, 0.8]" in result.stderr


def test_a_unit_mismatch_refuses_run_of_a_native_model_unless_told(tmp_path: Path) -> None:
    bad = tmp_path / "sir.yaml"
    bad.write_text(SIR.read_text().replace("    units: person/day\n", "    units: person\n", 1))
    refused = CliRunner().invoke(app, ["run", str(bad), "-n", "2"])
    assert refused.exit_code == 1
    assert "unit mismatch" in refused.stderr and "--no-unit-check" in refused.stderr
    allowed = CliRunner().invoke(app, ["run", str(bad), "-n", "2", "--no-unit-check"])
    assert allowed.exit_code == 0, allowed.output


def test_code_that_leaves_a_range_on_purpose_silences_the_warning_for_its_own_thread_only() -> None:
    import threading

    from policylab.model.guards import outside_range_expected

    model = policylab.load(SIR)
    inside, outside = threading.Event(), threading.Event()
    seen: list[str] = []

    def on_purpose() -> None:  # holds its block open while the other thread runs outside one
        with outside_range_expected():
            inside.set()
            outside.wait(60)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.run("baseline", params={"distancing": 0.9}, deterministic=True, variables=["infected"])
            seen.extend(str(w.message) for w in caught if issubclass(w.category, OutsideRangeWarning))

    worker = threading.Thread(target=on_purpose)
    worker.start()
    inside.wait(60)
    try:
        with pytest.warns(OutsideRangeWarning, match="outside the lever's range"):
            model.run("baseline", params={"distancing": 0.9}, deterministic=True, variables=["infected"])
    finally:
        outside.set()
        worker.join(60)
    assert seen == []
