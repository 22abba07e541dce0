"""Acceptance: a process running ``policylab explore`` is killed with SIGKILL mid-run;
``--resume`` completes the run and the stored result equals an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import policylab
from policylab.cli import app
from policylab.explore import ExploreRequest, start
from policylab.scale import InProcess
from policylab.store import Store

NOISY = Path(__file__).parents[1] / "explore" / "noisy.yaml"
ARGS = ["explore", str(NOISY), "--runs", "1000", "--sampler", "lhs", "--seed", "7", "--scenario", "all",
        "--series", "level", "--every", "6", "--outcome", "t20=level:cross>=20", "--chunk-size", "100", "--workers", "1"]


def _wait_for_chunks(store: Store, proc: subprocess.Popen, at_least: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "explore finished before it could be killed"
        runs = store.list_runs()
        if len(runs) and int(runs.iloc[0]["runs_done"]) >= at_least * 100:
            return str(runs.iloc[0]["run_id"])
        time.sleep(0.2)
    raise AssertionError("explore made no progress")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_run_killed_mid_way_resumes_to_the_same_result_as_an_uninterrupted_run(tmp_path):
    store = Store(tmp_path / "store", lock_timeout=10)
    env = {**os.environ, "POLICYLAB_STORE": str(store.root)}
    command = [sys.executable, "-c", "from policylab.cli import main; main()", *ARGS, "--quiet"]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            run_id = _wait_for_chunks(store, proc, at_least=3)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    info = store.info(run_id)
    assert info.status == "interrupted" and 300 <= info.runs_done < 2000
    for name in info.chunks["outcomes_file"]:
        pd.read_parquet(store.root / name)  # every catalogued file is whole

    result = CliRunner().invoke(app, ["explore", "--resume", run_id, "--store", str(store.root), "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == run_id
    assert store.info(run_id).complete

    request = ExploreRequest(samples=1000, sampler="lhs", seed=7, scenarios=("all",), series=("level",), every="6",
                             outcomes=("t20=level:cross>=20",))
    reference = start(policylab.load(NOISY), request, store, InProcess(), chunk_size=2000)
    pd.testing.assert_frame_equal(store.read(run_id), store.read(reference), check_exact=True)
    pd.testing.assert_frame_equal(store.read(run_id, "series"), store.read(reference, "series"), check_exact=True)
