"""The results store: Parquet files per run, catalogued in an embedded DuckDB database.

Layout under the store folder (``~/.policylab`` by default, ``$POLICYLAB_STORE`` or
``--store DIR``)::

    runs.duckdb                 catalogue: tables ``runs`` and ``chunks``
    runs.duckdb.lock            who is writing the catalogue now (pid, command)
    runs/<run id>/manifest.json what was asked: model, design, outcomes, chunking
    runs/<run id>/.writer.lock  who is computing this run now
    runs/<run id>/outcomes/chunk-000000.parquet   design columns + scalar outcomes per run
    runs/<run id>/series/chunk-000000.parquet     periodic series, long format (run, time…)

Rules that keep it consistent through crashes (even SIGKILL):

* every file is written to a temporary name, flushed and renamed (``atomic.py``);
* a chunk is catalogued only after its files are in place, and a run is catalogued
  only after its manifest is; deleting removes catalogue rows before files — so the
  catalogue never points at a missing or partial file;
* one process computes a run at a time (the run's ``.writer.lock``); catalogue writes
  take ``runs.duckdb.lock`` for a moment and then DuckDB's own lock (DuckDB allows one
  writing process), waiting up to ``lock_timeout`` seconds and then naming the holder;
* readers open the catalogue read-only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from policylab.store.atomic import remove_temporaries, write_bytes_atomic, write_parquet_atomic
from policylab.store.errors import CorruptRunError, ResumeError, RunNotFoundError, StoreError, StoreLockedError
from policylab.store.locks import NOTICE_AFTER, FileLock, describe_holder

CATALOGUE = "runs.duckdb"
SETTLED = 2.0  # seconds after which a file's size, time and inode vouch for its content (Store.fingerprint)
SCHEMA_VERSION = 1  # of the catalogue and of each manifest.json; a store written by a newer version is refused
_RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR, created TIMESTAMP, model VARCHAR, model_path VARCHAR, model_hash VARCHAR,
        n_runs BIGINT, chunk_size BIGINT, n_chunks BIGINT, sampler VARCHAR, seed BIGINT,
        scenarios VARCHAR, status VARCHAR, finished TIMESTAMP, command VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS chunks (
        run_id VARCHAR, chunk BIGINT, first_run BIGINT, n_runs BIGINT,
        outcomes_file VARCHAR, series_file VARCHAR, bytes BIGINT, written TIMESTAMP)""",
)


def default_store_root() -> Path:
    """``$POLICYLAB_STORE`` if set, else ``~/.policylab``."""
    env = os.environ.get("POLICYLAB_STORE")
    return Path(env).expanduser() if env else Path.home() / ".policylab"


def new_run_id() -> str:
    """A sortable, readable, unique id: date-time plus 6 random hex digits."""
    return f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunInfo:
    """A catalogued run: its catalogue row, manifest and finished chunks."""

    run_id: str
    row: dict[str, object]
    manifest: dict[str, object]
    chunks: pd.DataFrame
    writing: bool

    @property
    def runs_done(self) -> int:
        return int(self.chunks["n_runs"].sum()) if len(self.chunks) else 0

    @property
    def complete(self) -> bool:
        return self.row.get("status") == "complete"

    @property
    def status(self) -> str:
        if self.complete:
            return "complete"
        return "running" if self.writing else "interrupted"


class Store:
    """A results store folder (created on first write)."""

    def __init__(self, root: str | Path | None = None, lock_timeout: float = 60.0,
                 on_wait: Callable[[str], None] | None = None) -> None:
        """``on_wait`` is told once per wait who holds a lock this store is waiting for."""
        self.root = Path(root).expanduser() if root is not None else default_store_root()
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        self.catalogue_path = self.root / CATALOGUE
        self.catalogue_lock = FileLock(self.root / (CATALOGUE + ".lock"), f"the run catalogue {self.catalogue_path}")

    def __repr__(self) -> str:
        return f"<policylab.store.Store {str(self.root)!r}>"

    # -- catalogue connections --------------------------------------------------------

    @contextmanager
    def _writing(self, on_wait: Callable[[str], None] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.catalogue_lock.hold(self.lock_timeout, on_wait or self.on_wait):
            con = self._connect(read_only=False)
            try:
                for statement in _SCHEMA:
                    con.execute(statement)
                _check_schema(con, self.catalogue_path)
                con.execute("INSERT INTO meta SELECT 'schema_version', ? WHERE NOT EXISTS "
                            "(SELECT 1 FROM meta WHERE key = 'schema_version')", [str(SCHEMA_VERSION)])
                yield con
            finally:
                con.close()

    @contextmanager
    def _reading(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        if not self.catalogue_path.exists():
            yield None
            return
        con = self._connect(read_only=True)
        try:
            if _has_tables(con):
                _check_schema(con, self.catalogue_path)
            yield con
        finally:
            con.close()

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the catalogue, retrying while another process has it open for writing."""
        self.root.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        deadline = began + self.lock_timeout
        delay, told = 0.01, False
        while True:
            try:
                return duckdb.connect(str(self.catalogue_path), read_only=read_only)
            except duckdb.Error as error:
                if not _held_elsewhere(error):
                    raise StoreError(f"cannot open the run catalogue {self.catalogue_path} ({error}); if it is "
                                     "damaged, move it aside and start a new store") from error
                if not told and self.on_wait is not None and time.monotonic() - began >= NOTICE_AFTER:
                    told = True
                    self.on_wait(f"waiting for the run catalogue {self.catalogue_path}, open in another process")
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"the run catalogue {self.catalogue_path} is held by another process "
                        f"({describe_holder(self.catalogue_lock.path)}): {error}") from error
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    # -- writing ----------------------------------------------------------------------

    def run_folder(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id):
            raise RunNotFoundError(f"{run_id!r} is not a run id (they look like 20260101-120000-a1b2c3); "
                                   "see `policylab runs list`")
        return self.root / "runs" / run_id

    def create_run(self, manifest: dict[str, object], on_wait: Callable[[str], None] | None = None) -> RunWriter:
        """Start a new run: write its manifest, catalogue it, and return its writer (holding its lock)."""
        run_id = new_run_id()
        folder = self.run_folder(run_id)
        folder.mkdir(parents=True)
        writer = RunWriter(self, run_id, {**manifest, "run_id": run_id, "schema_version": SCHEMA_VERSION}, set())
        writer.lock.acquire(timeout=0)
        try:
            write_bytes_atomic(folder / "manifest.json", json.dumps(writer.manifest, indent=2, default=str).encode())
            m = writer.manifest
            with self._writing(on_wait) as con:
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', NULL, ?)",
                    [run_id, dt.datetime.now(), m.get("model", {}).get("name"), m.get("model", {}).get("path"),  # type: ignore[union-attr]
                     m.get("model", {}).get("sha256"), m.get("n_runs"), m.get("chunk_size"), m.get("n_chunks"),  # type: ignore[union-attr]
                     m.get("request", {}).get("sampler"), m.get("request", {}).get("seed"),  # type: ignore[union-attr]
                     ",".join(str(s) for s in m.get("request", {}).get("scenarios", [])), m.get("command")])  # type: ignore[union-attr]
        except BaseException:
            writer.close()
            raise
        return writer

    def open_run(self, run_id: str) -> RunWriter:
        """The writer of an unfinished run, to resume it (fails at once if another process writes it)."""
        info = self.info(run_id)
        if info.complete:
            raise ResumeError(f"run {run_id} is already complete ({info.runs_done} runs); nothing to resume")
        writer = RunWriter(self, run_id, info.manifest, set())
        writer.lock.acquire(timeout=0)
        try:
            info = self.info(run_id)  # re-read under the run lock
            remove_temporaries(self.run_folder(run_id))
            writer.done = set(int(c) for c in info.chunks["chunk"])
        except BaseException:
            writer.close()
            raise
        return writer

    def delete(self, run_id: str) -> None:
        """Remove a run: catalogue rows first, then its files (a damaged manifest does not stop it)."""
        folder = self.run_folder(run_id)
        self._catalogued(run_id)
        lock = FileLock(folder / ".writer.lock", f"run {run_id}")
        lock.acquire(timeout=0)
        try:
            with self._writing() as con:
                con.execute("BEGIN TRANSACTION")
                con.execute("DELETE FROM chunks WHERE run_id = ?", [run_id])
                con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
                con.execute("COMMIT")
        finally:
            lock.release()
        shutil.rmtree(folder, ignore_errors=True)

    # -- reading ----------------------------------------------------------------------

    def list_runs(self) -> pd.DataFrame:
        """One row per run, newest first, with runs done and a live status."""
        columns = ["run_id", "created", "model", "status", "runs_done", "n_runs", "sampler", "seed", "scenarios"]
        with self._reading() as con:
            if con is None or not _has_tables(con):
                return pd.DataFrame(columns=columns)
            frame = con.execute(
                "SELECT r.run_id, r.created, r.model, r.status, COALESCE(SUM(c.n_runs), 0) AS runs_done, r.n_runs, "
                "r.sampler, r.seed, r.scenarios FROM runs r LEFT JOIN chunks c USING (run_id) "
                "GROUP BY ALL ORDER BY r.created DESC, r.run_id DESC").df()
        frame["status"] = [s if s == "complete" else self._live_status(r) for s, r in zip(frame["status"], frame["run_id"])]
        return frame[columns]

    def _live_status(self, run_id: str) -> str:
        lock = FileLock(self.run_folder(run_id) / ".writer.lock", f"run {run_id}")
        return "running" if lock.is_locked_elsewhere() else "interrupted"

    def manifest(self, run_id: str) -> dict:
        """What a run was asked to compute (model, design, request), as written when it started."""
        path = self.run_folder(run_id) / "manifest.json"
        try:
            manifest = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError as error:
            raise CorruptRunError(run_id, "its manifest.json is missing", repairable=False) from error
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CorruptRunError(run_id, f"its manifest.json cannot be read ({error})", repairable=False) from error
        if not isinstance(manifest, dict):
            raise CorruptRunError(run_id, "its manifest.json is not a JSON object", repairable=False)
        _refuse_newer(manifest.get("schema_version", 1), path)
        return manifest

    def _catalogued(self, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The run's catalogue row and chunk rows (RunNotFoundError when it has none)."""
        self.run_folder(run_id)  # refuses what is not a run id (e.g. a path) before touching the catalogue
        with self._reading() as con:
            rows = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).df() if con is not None and _has_tables(con) else None
            if rows is None or rows.empty:
                raise RunNotFoundError(f"no run {run_id} in the store {self.root}; see `policylab runs list`")
            chunks = con.execute("SELECT * FROM chunks WHERE run_id = ? ORDER BY chunk", [run_id]).df()  # type: ignore[union-attr]
        return rows, chunks

    def info(self, run_id: str) -> RunInfo:
        rows, chunks = self._catalogued(run_id)
        manifest = self.manifest(run_id)
        row = rows.iloc[0].to_dict()
        writing = row["status"] != "complete" and self._live_status(run_id) == "running"
        return RunInfo(run_id, row, manifest, chunks, writing)

    def fingerprint(self, run_id: str) -> tuple | None:
        """The state of every file a read of ``run_id`` depends on; None while one changed too recently to vouch for.

        Equal fingerprints mean the same answers from ``info``, ``read`` and ``summarise`` (a
        server keeps its answers under them): a file written, renamed, truncated or removed
        changes its size, time or inode, and so does the catalogue. Times within
        ``SETTLED`` seconds of now are never vouched for — a later write in the same tick of
        the file system's clock could leave size and time as they were (git's "racy" index
        entries). Costs a few ``stat`` calls and one lock probe, never a catalogue connection.
        """
        folder = self.run_folder(run_id)
        paths = [self.catalogue_path, self.catalogue_path.with_name(CATALOGUE + ".wal"), folder]
        if folder.is_dir():
            paths += sorted(p for sub in (folder, folder / "outcomes", folder / "series") if sub.is_dir()
                            for p in sub.iterdir())
        states: list[tuple[str, int, int, int] | tuple[str]] = []
        settled = time.time_ns() - int(SETTLED * 1e9)
        for path in paths:
            try:
                st = path.lstat()
            except FileNotFoundError:
                states.append((str(path.relative_to(self.root)),))
                continue
            if st.st_mtime_ns > settled or st.st_ctime_ns > settled:
                return None
            states.append((str(path.relative_to(self.root)), st.st_ino, st.st_size, st.st_mtime_ns))
        writing = FileLock(folder / ".writer.lock", f"run {run_id}").is_locked_elsewhere()
        return (*states, writing)

    def files(self, run_id: str, table: str = "outcomes") -> list[Path]:
        """The catalogued Parquet files of one table (``outcomes`` or ``series``), in chunk order."""
        if table not in ("outcomes", "series"):
            raise StoreError(f"table must be outcomes or series, not {table!r}")
        info = self.info(run_id)
        names = [f for f in info.chunks[f"{table}_file"] if isinstance(f, str) and f]
        return [self.root / f for f in names]

    def read(self, run_id: str, table: str = "outcomes") -> pd.DataFrame:
        """A whole table of a run, sorted by run (and time): for runs that fit in memory."""
        files = self.files(run_id, table)
        if not files:
            return pd.DataFrame()
        order = "run, time" if table == "series" else "run"
        with self.querying(run_id) as con:
            return con.execute(f"SELECT * FROM read_parquet(?) ORDER BY {order}", [[str(f) for f in files]]).df()

    @contextmanager
    def querying(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection for queries over the run's chunk files; a failure is diagnosed, not passed on raw."""
        con = duckdb.connect()
        try:
            yield con
        except duckdb.Error as error:
            damaged = self.damaged_chunks(run_id)
            if damaged:
                listed = ", ".join(f"chunk {chunk} ({why})" for chunk, why in damaged[:5])
                more = f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""
                raise CorruptRunError(run_id, f"{listed}{more}") from error
            raise StoreError(f"run {run_id}: the query over its results failed ({str(error).splitlines()[0]})") from error
        finally:
            con.close()

    def damaged_chunks(self, run_id: str) -> list[tuple[int, str]]:
        """The catalogued chunks of a run whose files are missing or not readable Parquet, with why."""
        _rows, chunks = self._catalogued(run_id)
        damaged = []
        for row in chunks.itertuples():
            for name in (row.outcomes_file, row.series_file):
                if not isinstance(name, str) or not name:
                    continue
                why = _parquet_problem(self.root / name)
                if why is not None:
                    damaged.append((int(row.chunk), why))
                    break
        return damaged

    def repair(self, run_id: str) -> list[tuple[int, str]]:
        """Drop the damaged chunks of a run from the catalogue and disk; the run becomes resumable."""
        self.manifest(run_id)  # a run without a readable manifest cannot be resumed: delete it instead
        lock = FileLock(self.run_folder(run_id) / ".writer.lock", f"run {run_id}")
        lock.acquire(timeout=0)
        try:
            damaged = self.damaged_chunks(run_id)
            if damaged:
                _rows, chunks = self._catalogued(run_id)
                numbers = [chunk for chunk, _why in damaged]
                with self._writing() as con:
                    con.execute("BEGIN TRANSACTION")
                    for chunk in numbers:
                        con.execute("DELETE FROM chunks WHERE run_id = ? AND chunk = ?", [run_id, chunk])
                    con.execute("UPDATE runs SET status = 'running', finished = NULL WHERE run_id = ?", [run_id])
                    con.execute("COMMIT")
                for row in chunks[chunks["chunk"].isin(numbers)].itertuples():
                    for name in (row.outcomes_file, row.series_file):
                        if isinstance(name, str) and name:
                            (self.root / name).unlink(missing_ok=True)
        finally:
            lock.release()
        return damaged


class RunWriter:
    """Writes one run's chunks; holds the run's lock until closed."""

    def __init__(self, store: Store, run_id: str, manifest: dict[str, object], done: set[int]) -> None:
        self.store = store
        self.run_id = run_id
        self.manifest = manifest
        self.done = done
        self.folder = store.run_folder(run_id)
        self.lock = FileLock(self.folder / ".writer.lock", f"run {run_id}")

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.lock.release()

    def write_chunk(self, chunk: int, first_run: int, outcomes: pd.DataFrame, series: pd.DataFrame | None) -> None:
        """Write a chunk's files atomically, then catalogue them (in that order)."""
        if not self.lock.held:
            raise StoreError(f"run {self.run_id} is not open for writing")
        outcome_file = Path("runs") / self.run_id / "outcomes" / f"chunk-{chunk:06d}.parquet"
        table = pa.Table.from_pandas(outcomes.reset_index(), preserve_index=False)
        write_parquet_atomic(self.store.root / outcome_file, table)
        size = (self.store.root / outcome_file).stat().st_size
        series_file = None
        if series is not None:
            series_file = Path("runs") / self.run_id / "series" / f"chunk-{chunk:06d}.parquet"
            write_parquet_atomic(self.store.root / series_file, pa.Table.from_pandas(series, preserve_index=False))
            size += (self.store.root / series_file).stat().st_size
        with self.store._writing() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM chunks WHERE run_id = ? AND chunk = ?", [self.run_id, chunk])
            con.execute("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [self.run_id, chunk, first_run, len(outcomes), outcome_file.as_posix(),
                         None if series_file is None else series_file.as_posix(), size, dt.datetime.now()])
            con.execute("COMMIT")
        self.done.add(chunk)

    def finish(self) -> None:
        """Mark the run complete (after every chunk is catalogued)."""
        expected = int(self.manifest.get("n_chunks", 0))  # type: ignore[arg-type]
        missing = sorted(set(range(expected)) - self.done)
        if missing:
            raise StoreError(f"run {self.run_id} cannot be marked complete: chunks {missing[:5]} are missing")
        with self.store._writing() as con:
            con.execute("UPDATE runs SET status = 'complete', finished = ? WHERE run_id = ?", [dt.datetime.now(), self.run_id])


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a catalogue written by a newer PolicyLab (one without a version is version 1)."""
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    _refuse_newer(row[0] if row else 1, path)


def _refuse_newer(version: object, path: Path) -> None:
    try:
        number = int(version)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = SCHEMA_VERSION + 1  # unreadable: not ours to interpret
    if number > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer PolicyLab (store schema {version}; this version reads up to "
                         f"{SCHEMA_VERSION}); upgrade PolicyLab to read it, or use another --store folder")


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return {"runs", "chunks"} <= names


def _parquet_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable Parquet file (None when it is)."""
    try:
        pq.read_metadata(path)
    except FileNotFoundError:
        return "file missing"
    except (OSError, pa.ArrowException) as error:
        return f"file unreadable: {str(error).splitlines()[0][:120]}"
    return None


def _held_elsewhere(error: duckdb.Error) -> bool:
    """Whether opening the catalogue failed because a writer has it open (another process, or this one)."""
    text = str(error).lower()
    return (isinstance(error, duckdb.IOException) and "lock" in text) or (
        isinstance(error, duckdb.ConnectionException) and "different configuration" in text)
