"""A damaged store is a clear error naming the run and the way out, in the API, the CLI and the server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import policylab
from policylab.explore import ExploreRequest, resume, start
from policylab.scale import InProcess
from policylab.server import ServerConfig
from policylab.server.runner import running
from policylab.store import CorruptRunError, Store, export_run, summarise

ROOT = Path(__file__).resolve().parents[2]
NOISY = Path(__file__).parents[1] / "explore" / "noisy.yaml"
REQUEST = ExploreRequest(samples=20, sampler="lhs", seed=1, series=("level",), every="6")


@pytest.fixture(scope="module")
def model() -> policylab.Model:
    return policylab.load(NOISY)


def _run(model: policylab.Model, root: Path) -> tuple[Store, str]:
    store = Store(root, lock_timeout=2)
    return store, start(model, REQUEST, store, InProcess(), chunk_size=5)


def _chunk(store: Store, run_id: str, number: int) -> Path:
    return store.root / store.info(run_id).chunks["outcomes_file"][number]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_chunk_is_named_in_every_read(model, tmp_path, damage):
    store, run_id = _run(model, tmp_path / "store")
    chunk = _chunk(store, run_id, 2)
    _truncate(chunk) if damage == "truncated" else chunk.unlink()
    why = "file unreadable" if damage == "truncated" else "file missing"
    for read in (lambda: store.read(run_id), lambda: summarise(store, run_id),
                 lambda: export_run(store, run_id, "csv", tmp_path / "out.csv")):
        with pytest.raises(CorruptRunError, match=rf"run {run_id} is damaged: chunk 2 \({why}.*runs repair {run_id}"):
            read()


def test_repair_drops_the_damaged_chunk_and_resume_restores_the_same_results(model, tmp_path):
    store, run_id = _run(model, tmp_path / "store")
    before = store.read(run_id)
    _truncate(_chunk(store, run_id, 1))
    assert [chunk for chunk, _ in store.repair(run_id)] == [1]
    assert store.info(run_id).status == "interrupted" and store.damaged_chunks(run_id) == []
    resume(store, run_id, InProcess(), model=model)
    assert store.info(run_id).status == "complete"
    assert store.read(run_id).equals(before)


def test_a_corrupt_manifest_is_an_error_that_says_to_delete_and_delete_works(model, tmp_path):
    store, run_id = _run(model, tmp_path / "store")
    (store.run_folder(run_id) / "manifest.json").write_text('{"model": ', encoding="utf-8")
    with pytest.raises(CorruptRunError, match=rf"manifest\.json cannot be read .*policylab runs delete {run_id}"):
        store.info(run_id)
    with pytest.raises(CorruptRunError, match="cannot be repaired"):
        store.repair(run_id)
    store.delete(run_id)
    assert store.list_runs().empty


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import sys; sys.argv[0] = 'policylab'; from policylab.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.timeout(300)
def test_the_cli_reports_damage_with_exit_1_and_repairs_it(model, tmp_path):
    store, run_id = _run(model, tmp_path / "store")
    _truncate(_chunk(store, run_id, 0))
    for verb in (["runs", "show", run_id], ["runs", "export", run_id, "--out", str(tmp_path / "x.csv")]):
        done = _cli(*verb, "--store", str(store.root))
        assert done.returncode == 1, done.stderr
        assert f"error: run {run_id} is damaged: chunk 0" in done.stderr and "Traceback" not in done.stderr
    done = _cli("runs", "repair", run_id, "--store", str(store.root))
    assert done.returncode == 0 and "dropped chunk 0" in done.stderr and f"--resume {run_id}" in done.stderr
    (store.run_folder(run_id) / "manifest.json").write_bytes(b"\xff\xfe")
    done = _cli("runs", "show", run_id, "--store", str(store.root))
    assert done.returncode == 1 and "manifest.json cannot be read" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.timeout(300)
def test_the_server_answers_damage_with_a_500_that_names_no_path_or_query(model, tmp_path):
    store, run_id = _run(model, tmp_path / "store")
    _, other = _run(model, tmp_path / "store")
    _truncate(_chunk(store, run_id, 0))
    (store.run_folder(other) / "manifest.json").write_text("not json", encoding="utf-8")
    config = ServerConfig(models={"noisy": NOISY}, store_root=store.root, warm_up=False)
    with running(config) as url, httpx.Client(base_url=url, timeout=60) as http:
        for broken in (run_id, other):
            response = http.get(f"/api/runs/{broken}")
            assert response.status_code == 500, response.text
            assert f"run {broken} is damaged" in response.json()["detail"]
            assert str(tmp_path) not in response.text and "SELECT" not in response.text
            assert "parquet" not in response.text.lower()
        missing = http.get("/api/runs/20200101-000000-abcdef")
        assert missing.status_code == 404 and str(tmp_path) not in missing.text
        assert http.get("/api/runs").status_code == 200
