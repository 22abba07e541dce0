"""Acceptance: the same 10,000-run design gives identical stored results with 1 worker,
2 workers of a real ``dask.distributed.LocalCluster``, and three different chunk sizes.

Run ``k`` always uses random stream ``k`` and the model here draws a NORMAL every step,
so any dependence on the split would show.
"""

from __future__ import annotations


import pandas as pd
import pytest

from policylab.explore import ExploreRequest, start
from policylab.scale import DaskCluster, InProcess, ProcessPool, SchedulerError, open_executor
from policylab.store import Store

REQUEST = ExploreRequest(samples=5_000, sampler="sobol", seed=11, scenarios=("all",), series=("level", "fill"), every="6",
                         outcomes=("t20=level:cross>=20",), backend="numpy")  # the numba backend: test_numba_identical.py


@pytest.fixture(scope="module")
def reference(model, store) -> tuple[pd.DataFrame, pd.DataFrame]:
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=10_000)
    return store.read(run_id), store.read(run_id, "series")


def _assert_same(store: Store, run_id: str, reference) -> None:
    outcomes, series = reference
    assert len(outcomes) == 10_000
    pd.testing.assert_frame_equal(store.read(run_id), outcomes, check_exact=True)
    pd.testing.assert_frame_equal(store.read(run_id, "series"), series, check_exact=True)


@pytest.mark.parametrize("chunk_size", [997, 2500, 4096])
def test_chunk_size_does_not_change_stored_results(model, store, reference, chunk_size):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=chunk_size)
    _assert_same(store, run_id, reference)


def test_two_workers_of_a_dask_local_cluster_store_identical_results(model, store, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:  # any free port: 8787 may be taken
        with open_executor(cluster.scheduler_address) as executor:
            assert isinstance(executor, DaskCluster) and executor.workers == 2
            run_id = start(model, REQUEST, store, executor, chunk_size=1500)
    _assert_same(store, run_id, reference)


def test_a_local_process_pool_stores_identical_results(model, store, reference):
    with open_executor("local", workers=2) as executor:
        assert isinstance(executor, ProcessPool)
        run_id = start(model, REQUEST, store, executor, chunk_size=5000)
    _assert_same(store, run_id, reference)


def test_schedulers_other_than_local_or_an_address_are_refused():
    with pytest.raises(SchedulerError, match="must be 'local' or a Dask scheduler address"):
        with open_executor("cluster"):
            pass
    with pytest.raises(SchedulerError, match="at least 1"):
        with open_executor("local", workers=0):
            pass
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        DaskCluster("tcp://127.0.0.1:9", timeout=0.5)
