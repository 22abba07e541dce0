"""The results store: atomic chunk files catalogued in DuckDB, resumable, locked, exportable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import policylab
from policylab.explore import ExploreRequest, evaluate_design, resume, start
from policylab.explore.runner import ModelRef, chunk_jobs, run_chunk
from policylab.scale import InProcess
from policylab.store import ResumeError, RunNotFoundError, Store, StoreLockedError, export_run, summarise, to_dataset
from policylab.store.locks import FileLock

NOISY = Path(__file__).parents[1] / "explore" / "noisy.yaml"
REQUEST = ExploreRequest(samples=40, sampler="lhs", seed=1, scenarios=("all",), series=("level",), every="6")


@pytest.fixture(scope="module")
def model() -> policylab.Model:
    return policylab.load(NOISY)


@pytest.fixture()
def store(tmp_path) -> Store:
    return Store(tmp_path / "store", lock_timeout=2)


def _catalogued_files(store: Store, run_id: str) -> list[Path]:
    info = store.info(run_id)
    names = list(info.chunks["outcomes_file"]) + [f for f in info.chunks["series_file"] if isinstance(f, str)]
    return [store.root / n for n in names]


def test_a_stored_run_holds_exactly_what_the_design_evaluates_to(model, store):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=15)
    outcomes, series = evaluate_design(model, REQUEST.design(model), REQUEST.plan(model))
    stored = store.read(run_id).set_index("run")
    pd.testing.assert_frame_equal(stored, outcomes, check_index_type=False, check_dtype=False)
    pd.testing.assert_frame_equal(store.read(run_id, "series"), series, check_dtype=False)
    info = store.info(run_id)
    assert info.status == "complete" and info.runs_done == 80 and len(info.chunks) == 6


def test_the_catalogue_points_only_at_complete_files_and_no_temporaries_remain(model, store):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=30)
    for path in _catalogued_files(store, run_id):
        assert path.is_file() and len(pd.read_parquet(path)) > 0
    assert not list(store.root.rglob("*.tmp"))
    manifest = json.loads((store.run_folder(run_id) / "manifest.json").read_text())
    assert manifest["n_runs"] == 80 and manifest["outcomes"] == ["final_level", "peak_fill", "mean_late"]


def test_an_interrupted_run_resumes_with_only_its_missing_chunks(model, store, tmp_path):
    complete = start(model, REQUEST, store, InProcess(), chunk_size=15)
    design, plan = REQUEST.design(model), REQUEST.plan(model)
    manifest = json.loads((store.run_folder(complete) / "manifest.json").read_text())
    manifest.pop("run_id")
    computed: list[int] = []
    with store.create_run(manifest) as writer:  # a run that stopped after chunks 0 and 3
        for job in chunk_jobs(design, ModelRef.of(model), plan, 15):
            if job.chunk in (0, 3):
                result = run_chunk(job)
                writer.write_chunk(result.chunk, result.first_run, result.outcomes, result.series)
        partial = writer.run_id
    (store.run_folder(partial) / "outcomes" / ".chunk-000001.parquet.99.abcd.tmp").write_bytes(b"half")
    assert store.info(partial).status == "interrupted"

    class Counting(InProcess):
        def map_unordered(self, fn, jobs, window=None):
            for job in jobs:
                computed.append(job.chunk)
                yield fn(job)

    resume(store, partial, Counting())
    assert sorted(computed) == [1, 2, 4, 5]
    pd.testing.assert_frame_equal(store.read(partial), store.read(complete))
    pd.testing.assert_frame_equal(store.read(partial, "series"), store.read(complete, "series"))
    assert not list(store.root.rglob("*.tmp"))
    with pytest.raises(ResumeError, match="already complete"):
        resume(store, partial, InProcess())


def test_resuming_refuses_a_model_file_that_changed(model, store, tmp_path):
    copy = tmp_path / "noisy.yaml"
    copy.write_text(NOISY.read_text())
    changed = policylab.load(copy)
    with store.create_run({"model": {"name": "noisy-growth", "path": str(copy), "sha256": ModelRef.of(changed).sha256},
                           "request": REQUEST.to_json(), "design_hash": "x", "chunk_size": 15, "n_chunks": 6}) as writer:
        run_id = writer.run_id
    copy.write_text(NOISY.read_text().replace("0.02 * level", "0.03 * level"))
    with pytest.raises(ResumeError, match="changed since run .* started"):
        resume(store, run_id, InProcess())


def test_a_second_writer_of_a_run_is_told_who_holds_it(model, store):
    with store.create_run({"request": REQUEST.to_json(), "n_chunks": 1}) as writer:
        with pytest.raises(StoreLockedError, match=rf"run {writer.run_id} is locked by pid \d+ .*since"):
            store.open_run(writer.run_id)
        assert store.list_runs()["status"].tolist() == ["running"]
    assert store.list_runs()["status"].tolist() == ["interrupted"]


def test_a_writer_waits_for_the_catalogue_lock_then_names_its_holder(model, tmp_path, monkeypatch):
    notes: list[str] = []
    monkeypatch.setattr("policylab.store.locks.NOTICE_AFTER", 0.2)
    store = Store(tmp_path / "store", lock_timeout=0.5, on_wait=notes.append)
    store.root.mkdir(parents=True)
    other = FileLock(store.catalogue_lock.path, "the catalogue")
    other.acquire()
    try:
        with pytest.raises(StoreLockedError, match=r"is locked by pid \d+ on .* after waiting 0.5 s"):
            start(model, REQUEST, store, InProcess())
    finally:
        other.release()
    assert len(notes) == 1 and notes[0].startswith("waiting for the run catalogue") and "locked by pid" in notes[0]


def test_readers_retry_while_another_process_writes_the_catalogue_then_say_so(model, store):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=40)
    script = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", script, str(store.catalogue_path)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(StoreLockedError, match="held by another process"):
                Store(store.root, lock_timeout=0.3).info(run_id)
        finally:
            holder.kill()
    assert Store(store.root).info(run_id).complete


def test_delete_removes_the_catalogue_entry_and_the_files(model, store):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=40)
    files = _catalogued_files(store, run_id)
    store.delete(run_id)
    assert not any(f.exists() for f in files) and not store.run_folder(run_id).exists()
    assert store.list_runs().empty
    with pytest.raises(RunNotFoundError, match="no run .* in the store"):
        store.info(run_id)
    with pytest.raises(RunNotFoundError, match="is not a run id"):
        store.info("../etc")


def test_an_empty_store_lists_no_runs(tmp_path):
    assert Store(tmp_path / "nothing").list_runs().empty
    assert not (tmp_path / "nothing" / "runs.duckdb").exists()


def test_exports_in_csv_parquet_and_netcdf_hold_the_stored_values(model, store, tmp_path):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=40)
    stored = store.read(run_id)
    csv = pd.read_csv(export_run(store, run_id, "csv", tmp_path / "o.csv"))
    np.testing.assert_allclose(csv["final_level"], stored["final_level"], rtol=1e-15)
    parquet = pd.read_parquet(export_run(store, run_id, "parquet", tmp_path / "o.parquet"))
    pd.testing.assert_frame_equal(parquet, stored)
    series = pd.read_parquet(export_run(store, run_id, "parquet", tmp_path / "s.parquet", "series"))
    assert len(series) == 80 * 5
    with xr.open_dataset(export_run(store, run_id, "netcdf", tmp_path / "o.nc"), engine="scipy") as ds:
        np.testing.assert_array_equal(ds["final_level"].values, stored["final_level"].to_numpy())
        assert ds["level"].dims == ("run", "time") and ds.sizes["time"] == 5
        assert list(ds["policy"].values[:1]) == ["base"]
    assert to_dataset(store, run_id).attrs["status"] == "complete"


def test_the_summary_gives_percentiles_per_policy_and_outcome(model, store):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=40)
    frame = summarise(store, run_id)
    assert frame["policy"].unique().tolist() == ["base", "relief"]
    assert frame["outcome"].tolist()[:3] == ["final_level", "peak_fill", "mean_late"]
    base = store.read(run_id).query("policy == 'base'")["final_level"]
    assert frame.iloc[0]["median"] == pytest.approx(base.median())


def test_readers_open_the_catalogue_read_only(model, store):
    run_id = start(model, REQUEST, store, InProcess(), chunk_size=40)
    con = duckdb.connect(str(store.catalogue_path), read_only=True)
    try:
        assert store.info(run_id).complete  # a second read-only reader is fine
    finally:
        con.close()


def test_a_runs_fingerprint_holds_while_its_files_stand_and_is_withheld_while_they_are_fresh(model, store, monkeypatch):
    from policylab.store import store as store_module

    run_id = start(model, REQUEST, store, InProcess(), chunk_size=40)
    assert store.fingerprint(run_id) is None  # just written: a change in the same clock tick could go unseen
    monkeypatch.setattr(store_module, "SETTLED", 0.0)
    settled = store.fingerprint(run_id)
    assert settled is not None and store.fingerprint(run_id) == settled
    chunk = _catalogued_files(store, run_id)[0]
    chunk.write_bytes(chunk.read_bytes()[:-1])  # truncated in place
    assert store.fingerprint(run_id) not in (None, settled)
    assert store.fingerprint("20200101-000000-abcdef") is not None  # a run that is not there has one too
    with pytest.raises(RunNotFoundError):
        store.fingerprint("../etc")
