"""The command line's conventions (docs/cli.md): -h, choices in help, one meaning per short flag, light --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from policylab.cli import app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "xarray", "scipy", "policylab.api", "policylab.simulate")


def _commands(command, path=()):  # type: ignore[no-untyped-def]
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def test_every_verb_answers_dash_h_and_lists_its_choices() -> None:
    runner = CliRunner()
    for path, _ in _commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "-h"])
        assert result.exit_code == 0, (path, result.output)
        assert "<list[str]>" not in result.stdout and "range>" not in result.stdout
    assert "<table|csv|json>" in runner.invoke(app, ["run", "-h"]).stdout
    assert "<numpy|numba|auto>" in runner.invoke(app, ["sensitivity", "-h"]).stdout


def test_a_short_flag_means_the_same_option_in_every_verb() -> None:
    meaning: dict[str, set[str]] = {}
    for _, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            for flag in [*param.opts, *param.secondary_opts]:
                if len(flag) == 2 and flag.startswith("-"):
                    long = next((o for o in param.opts if o.startswith("--")), flag)
                    meaning.setdefault(flag, set()).add(long)
    same = {"-n": {"--runs", "--samples"}, "-s": {"--scenario", "--from-scenario"}}  # one meaning, two spellings
    for flag, longs in meaning.items():
        assert len(longs) == 1 or longs <= same.get(flag, set()), (flag, longs)


def test_command_line_errors_are_one_line_and_exit_2() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-m", "policylab", "run", "--format", "xml"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: invalid value for '--format' / '-f': 'xml' is not one of 'table', 'csv', 'json'. (see `policylab run -h`)"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"]])
def test_help_and_version_do_not_import_the_engine(args: list[str]) -> None:
    """Speed is measured by benchmarks/cli_startup.py; this guards its cause: nothing heavy is imported."""
    code = ("import sys; sys.argv = ['policylab', *sys.argv[1:]]\n"
            "from policylab.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted(m for m in sys.modules if m in {HEAVY!r}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_metavars_name_the_option() -> None:
    command = typer.main.get_command(app)
    runs = next(p for p in command.commands["run"].params if p.name == "runs")
    assert runs.metavar == "RUNS"


@pytest.mark.parametrize("target", ["missing-folder/x.csv", "."])
def test_a_bad_out_path_is_one_clear_line(tmp_path, target) -> None:
    out = tmp_path / target
    result = CliRunner().invoke(app, ["run", str(ROOT / "models" / "sir" / "model.yaml"), "-f", "csv", "--out", str(out)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}") and "Errno" not in result.output


FAILING = """model: failing
time: {start: 0, stop: 10, dt: 1, units: day}
constants:
  k: {value: 1, units: "1", range: [0.5, 1.5], judgement: true, basis: "a test"}
stocks:
  level: {initial: 5, units: "1", in: [drop]}
flows:
  drop: {equation: "k / (5 - time)", units: 1/day}
outcomes:
  final_level: {variable: level, stat: final}
"""


@pytest.mark.parametrize("runs", ["1", "6"])
def test_a_numerical_failure_is_the_same_error_in_every_output_format(tmp_path, runs) -> None:
    """A division by zero at time 5: one line naming the variable and time, exit 1, no data and no file, whatever the format."""
    model = tmp_path / "failing.yaml"
    model.write_text(FAILING)
    seen = set()
    for fmt in ("table", "json", "csv"):
        out = tmp_path / f"out.{fmt}"
        result = CliRunner().invoke(app, ["run", str(model), "-f", fmt, "-n", runs, "-q", "--out", str(out)])
        assert result.exit_code == 1 and result.stdout == "" and not out.exists(), (fmt, result.output)
        assert "drop became infinite at time 5" in result.stderr and "Traceback" not in result.output
        seen.add(result.stderr)
    assert len(seen) == 1
