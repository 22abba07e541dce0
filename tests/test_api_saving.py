"""What a run keeps: only the requested variables, at the requested interval, in bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import policylab
from policylab import api
from policylab.cli import app
from policylab.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
SIR = ROOT / "models" / "sir" / "model.yaml"
BACKENDS = ["numpy"] + (["numba"] if api.numba_available() else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_every_keeps_every_kth_saved_time_and_nothing_else(backend: str) -> None:
    model = policylab.load(SIR)
    full = model.run(runs=4, seed=3, backend=backend, variables=["infected", "recovered"])
    weekly = model.run(runs=4, seed=3, backend=backend, variables=["infected", "recovered"], save_every=7)
    assert np.array_equal(weekly["time"].values, full["time"].values[::7])
    for name in ("infected", "recovered"):
        assert np.array_equal(weekly[name].values, full[name].values[:, ::7]), name
    assert weekly.attrs["save_every"] == 7.0 and full.attrs["save_every"] == model.ir.time.save_every


@pytest.mark.parametrize("bad", [0, -2, 0.1, float("nan"), float("inf"), True, "7"])
def test_a_save_interval_that_is_not_a_multiple_of_dt_is_refused_naming_dt(bad: object) -> None:
    model = policylab.load(SIR)
    with pytest.raises(UsageError, match=r"save_every must be a positive multiple of sir-epidemic's time step dt = 0.25"):
        model.run(save_every=bad)  # type: ignore[arg-type]


def test_a_result_too_big_for_memory_is_refused_before_simulating(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = policylab.load(SIR)
    monkeypatch.setattr(api, "available_memory", lambda: 2 * 2**20)  # 2 MiB: 1 MiB may be used
    small = model.run(runs=10, variables=["infected"])  # 10 runs x 181 times x 8 bytes fits
    assert small["infected"].shape == (10, 181)
    with pytest.raises(UsageError) as caught:
        model.run(runs=1000, variables=["infected"])  # 1.4 MB does not
    message = str(caught.value)
    assert "saving 1 variables x 181 times x 1,000 runs" in message
    assert "save_every" in message and "policylab explore" in message
    assert model.run(runs=1000, variables=["infected"], save_every=30)["infected"].shape == (1000, 7)


def test_the_cli_prints_csv_at_the_requested_interval_and_refuses_it_for_tables() -> None:
    done = CliRunner().invoke(app, ["run", str(SIR), "-f", "csv", "--vars", "infected", "--save-every", "30"])
    assert done.exit_code == 0, done.output
    assert [line.split(",")[0] for line in done.output.strip().splitlines()] == ["time", "0", "30", "60", "90", "120",
                                                                                  "150", "180"]
    done = CliRunner().invoke(app, ["run", str(SIR), "--save-every", "30"])
    assert done.exit_code == 2 and "--save-every sets the interval of --format csv" in done.output
