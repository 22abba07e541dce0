"""Stored runs carry the store's schema version; a store written by a newer PolicyLab is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from policylab.store import Store
from policylab.store.errors import StoreError
from policylab.store.store import SCHEMA_VERSION


def _run(store: Store) -> str:
    writer = store.create_run({"model": {"name": "m"}, "n_runs": 1, "chunk_size": 1, "n_chunks": 1})
    writer.close()
    return writer.run_id


def test_a_new_run_and_its_catalogue_record_the_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path)
    run_id = _run(store)
    assert store.manifest(run_id)["schema_version"] == SCHEMA_VERSION
    with duckdb.connect(str(store.catalogue_path), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(SCHEMA_VERSION),)]


def test_a_run_written_by_a_newer_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path)
    run_id = _run(store)
    path = store.run_folder(run_id) / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(StoreError, match=r"newer PolicyLab .*upgrade PolicyLab"):
        store.info(run_id)


def test_a_catalogue_written_by_a_newer_version_is_refused_for_reading_and_writing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _run(store)
    with duckdb.connect(str(store.catalogue_path)) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with pytest.raises(StoreError, match="newer PolicyLab"):
        store.list_runs()
    with pytest.raises(StoreError, match="newer PolicyLab"):
        _run(store)


def test_a_store_from_before_schema_versions_reads_as_version_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    run_id = _run(store)
    path = store.run_folder(run_id) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["schema_version"]
    path.write_text(json.dumps(manifest))
    with duckdb.connect(str(store.catalogue_path)) as con:
        con.execute("DELETE FROM meta")
    assert store.info(run_id).manifest["run_id"] == run_id
