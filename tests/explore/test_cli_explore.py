"""The ``explore`` and ``runs`` verbs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from policylab.cli import app

NOISY = Path(__file__).with_name("noisy.yaml")


@pytest.fixture()
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLAB_STORE", str(tmp_path / "store"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_explore_prints_the_run_id_and_runs_list_shows_it(cli):
    result = cli("explore", NOISY, "--runs", 30, "--scenario", "all", "--workers", 1, "--quiet")
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    listing = cli("runs", "list")
    assert run_id[:8] in listing.stdout and "complete" in listing.stdout and "60/60" in listing.stdout
    numpy_id = cli("explore", NOISY, "--runs", 5, "--workers", 1, "--backend", "numpy", "-q").stdout.strip()
    rows = {line.split()[0]: line.split()[-1] for line in cli("runs", "list").stdout.splitlines()[1:]}
    assert rows[numpy_id] == "numpy" and rows[run_id] in ("numpy", "numba")  # auto: numba where installed


def test_runs_show_describes_the_design_and_summarises_outcomes(cli):
    run_id = cli("explore", NOISY, "--runs", 20, "--lever", "relief=0,1", "--workers", 1, "-q").stdout.strip()
    shown = cli("runs", "show", run_id)
    assert shown.exit_code == 0, shown.output
    for text in ("noisy-growth", "40 of 40", "capacity, growth, noise, relief", "final_level", "base | relief=1"):
        assert text in shown.stdout


def test_runs_export_writes_csv_parquet_and_netcdf(cli, tmp_path):
    run_id = cli("explore", NOISY, "--runs", 10, "--series", "level", "--every", "12", "--workers", 1, "-q").stdout.strip()
    for fmt, name in (("csv", "o.csv"), ("parquet", "o.parquet"), ("netcdf", "o.nc")):
        result = cli("runs", "export", run_id, "--format", fmt, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output and (tmp_path / name).stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "o.csv")) == 10
    cli("runs", "export", run_id, "--table", "series", "--out", tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "s.csv")["time"].unique().tolist() == [0, 12, 24]


def test_runs_export_without_out_writes_standard_output_and_nothing_here(cli, tmp_path, monkeypatch):
    """Outputs go to --out or standard output (docs/cli.md), never to a file the user did not name."""
    run_id = cli("explore", NOISY, "--runs", 10, "--workers", 1, "-q").stdout.strip()
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli("runs", "export", run_id)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.csv").write_text(result.stdout) and len(pd.read_csv(tmp_path / "o.csv")) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "o.csv"])
    binary = CliRunner().invoke(app, ["runs", "export", run_id, "--format", "parquet"])
    assert binary.exit_code == 0 and binary.stdout_bytes[:4] == b"PAR1"


def test_runs_delete_removes_the_run(cli):
    run_id = cli("explore", NOISY, "--runs", 5, "--workers", 1, "-q").stdout.strip()
    assert cli("runs", "delete", run_id).exit_code == 0
    missing = cli("runs", "show", run_id)
    assert missing.exit_code == 1 and f"no run {run_id}" in missing.stderr


@pytest.mark.parametrize("args, message", [
    (["--sampler", "halton"], "invalid value for '--sampler': 'halton' is not one of 'mc', 'lhs', 'sobol'"),
    (["--scenario", "nope"], "has no scenario 'nope'"),
    (["--scheduler", "cluster"], "must be 'local' or a Dask scheduler address"),
    (["--combine", "zip"], "invalid value for '--combine': 'zip' is not one of 'crossed', 'paired'"),
    (["--lever", "relief=a"], "levels must be numbers"),
])
def test_bad_explore_options_are_usage_errors(cli, args, message):
    result = cli("explore", NOISY, "--runs", 5, "--workers", 1, "-q", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_resuming_an_unknown_run_says_where_to_look(cli):
    result = cli("explore", "--resume", "20200101-000000-abcdef", "-q")
    assert result.exit_code == 1 and "see `policylab runs list`" in result.stderr


def test_runs_show_writes_numbers_as_every_table_does(cli, tmp_path):
    from policylab.results.numbers import number
    from policylab.store import Store, summarise

    run_id = cli("explore", NOISY, "--runs", 20, "--workers", 1, "-q").stdout.strip()
    shown = cli("runs", "show", run_id).stdout.splitlines()
    frame = summarise(Store(tmp_path / "store"), run_id)
    assert len(frame)
    for row in frame.itertuples(index=False):
        line = next(text for text in shown if text.split()[:2] == [row.policy, row.outcome])
        median, spread = line.split(maxsplit=2)[2].split(maxsplit=1)
        assert median == number(float(row.median))  # 3 significant figures, thousands separated (results.numbers)
        assert spread.strip() == f"{number(float(row.p10))} – {number(float(row.p90))}"
