"""The numba backend in explorations: stored results identical whatever the chunk size or the
number of workers; the backend recorded in the run and kept by ``--resume``.

As in ``test_identical_results.py`` (the NumPy backend), the model draws a NORMAL every
step, so any dependence of a run's numbers on how the design is split would show.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import replace

import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("numba")

from policylab.cli import app  # noqa: E402
from policylab.explore import ExploreRequest, resume, start  # noqa: E402
from policylab.scale import DaskCluster, InProcess, ProcessPool, open_executor  # noqa: E402
from policylab.store import ResumeError, Store  # noqa: E402

REQUEST = ExploreRequest(samples=1_500, sampler="sobol", seed=11, scenarios=("all",), series=("level", "fill"), every="6",
                         outcomes=("t20=level:cross>=20",), backend="numba")


@pytest.fixture(scope="module")
def reference(model, store) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=3_000)
    return run_id, store.read(run_id), store.read(run_id, "series")


def _assert_same(store: Store, run_id: str, reference) -> None:
    _, outcomes, series = reference
    assert len(outcomes) == 3_000
    pd.testing.assert_frame_equal(store.read(run_id), outcomes, check_exact=True)
    pd.testing.assert_frame_equal(store.read(run_id, "series"), series, check_exact=True)


def test_the_run_records_the_numba_backend(store, reference):
    run_id = reference[0]
    assert store.info(run_id).manifest["request"]["backend"] == "numba"  # type: ignore[index]
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "--store", str(store.root)])
    assert shown.exit_code == 0 and "backend    numba" in shown.output


@pytest.mark.parametrize("chunk_size", [397, 1000])
def test_chunk_size_does_not_change_numba_results(model, store, reference, chunk_size):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=chunk_size)
    _assert_same(store, run_id, reference)


def test_two_local_workers_with_one_numba_thread_each_store_identical_results(model, store, reference):
    with open_executor("local", workers=2) as executor:
        assert isinstance(executor, ProcessPool)
        run_id = start(model, REQUEST, store, executor, chunk_size=700)
        seen = set(executor.map_unordered(functools.partial(os.getenv, "NUMBA_NUM_THREADS"), ["unset"] * 4))
    _assert_same(store, run_id, reference)
    assert seen == {"1"}  # two workers on the machine's cores: no numba thread pool of their own on top


def test_two_workers_of_a_dask_local_cluster_store_identical_numba_results(model, store, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        with open_executor(cluster.scheduler_address) as executor:
            assert isinstance(executor, DaskCluster) and executor.workers == 2
            run_id = start(model, REQUEST, store, executor, chunk_size=500)
    _assert_same(store, run_id, reference)


def test_auto_settles_on_one_backend_and_stores_it(model, store):
    run_id = start(model, replace(REQUEST, samples=20, backend="auto"), store, InProcess(), chunk_size=16)
    assert store.info(run_id).manifest["request"]["backend"] == "numba"  # type: ignore[index]


def _interrupted(model, store: Store, request: ExploreRequest) -> str:
    """A run of ``request`` that stopped before its first chunk."""
    complete = start(model, request, store, InProcess(), chunk_size=10)
    manifest = json.loads((store.run_folder(complete) / "manifest.json").read_text())
    manifest.pop("run_id")
    with store.create_run(manifest) as writer:
        return writer.run_id


def test_resume_keeps_the_stored_backend_and_refuses_another(model, store):
    numba_run = _interrupted(model, store, replace(REQUEST, samples=20))
    with pytest.raises(ResumeError, match="computed with the numba backend.*drop --backend numpy"):
        resume(store, numba_run, InProcess(), backend="numpy")
    done = CliRunner().invoke(app, ["explore", "--resume", numba_run, "--store", str(store.root), "--workers", "1",
                                    "--backend", "numpy", "--quiet"])
    assert done.exit_code != 0 and "numba backend" in done.output
    assert resume(store, numba_run, InProcess(), backend="auto") == numba_run
    numpy_run = _interrupted(model, store, replace(REQUEST, samples=20, backend="numpy"))
    assert store.info(numpy_run).manifest["request"]["backend"] == "numpy"  # type: ignore[index]
    resume(store, numpy_run, InProcess())
    assert store.info(numpy_run).complete
