"""Scenario overrides files (the dashboard's export): read back exactly, refused with file and line, usable by `run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policylab.cli import app
from policylab.errors import ModelFileError
from policylab.formats.overrides import Overrides, read_overrides

ROOT = Path(__file__).resolve().parents[2]
SIR = ROOT / "models" / "sir" / "model.yaml"


def test_written_overrides_read_back_unchanged(tmp_path: Path) -> None:
    written = Overrides(model="sir-epidemic", scenario='odd "name": yes', runs=20, seed=4,
                        set={"distancing": 0.25, "contact_rate": 1e-7})
    path = tmp_path / "o.yaml"
    path.write_text(written.to_yaml())
    assert read_overrides(path) == written


@pytest.mark.parametrize(("text", "where", "says"), [
    ("scenario: a\nrunz: 3\n", ":2:", "unknown key 'runz'"),
    ("set:\n  distancing: lots\n", ":2:", "set.distancing"),
    ("set:\n  distancing: .nan\n", "", "finite"),
    ("runs: 0\n", ":1:", "runs"),
    ("- a\n- b\n", ":1:", "mapping"),
    ("set: {a: 1\n", "", "not valid YAML"),
])
def test_a_bad_overrides_file_is_refused_naming_file_and_line(tmp_path: Path, text: str, where: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ModelFileError) as caught:
        read_overrides(path)
    message = str(caught.value)
    assert message.startswith(f"{path}{where}") and says in message


def _json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, ["run", str(SIR), "-f", "json", "-q", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_with_an_overrides_file_equals_run_with_the_same_options(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(Overrides(scenario="baseline", runs=6, seed=2, set={"distancing": 0.3}).to_yaml())
    from_file = _json(["--overrides", str(path)])
    by_hand = _json(["-s", "baseline", "-n", "6", "--seed", "2", "--set", "distancing=0.3"])
    untouched = _json(["-s", "baseline", "-n", "6", "--seed", "2"])
    assert from_file["rows"] == by_hand["rows"] and from_file["seed"] == 2 and from_file["runs"] == 6
    assert from_file["rows"] != untouched["rows"]  # the setting took effect
    assert _json(["--overrides", str(path), "--set", "distancing=0"])["rows"] != from_file["rows"]  # the command line wins


def test_overrides_for_another_model_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(Overrides(model="iraq-strategic-dialogue", set={"distancing": 0.3}).to_yaml())
    result = CliRunner().invoke(app, ["run", str(SIR), "--overrides", str(path)])
    assert result.exit_code == 2 and "iraq-strategic-dialogue" in result.output and "Traceback" not in result.output


def test_a_sector_declared_in_the_model_file_reaches_the_variable(tmp_path: Path) -> None:
    from policylab.formats.yaml_reader import read_yaml_text

    text = SIR.read_text().replace("contact_rate: {value: 6,", 'contact_rate: {sector: "Transmission", value: 6,')
    ir = read_yaml_text(text)
    assert ir.variables["contact_rate"].sector == "Transmission" and ir.variables["infectivity"].sector == ""
