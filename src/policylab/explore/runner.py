"""Evaluate a design as vectorised ensembles, chunk by chunk, so memory stays bounded.

A chunk is a contiguous slice of design rows. Within it, rows that share a scenario and
have consecutive ``sample`` indices are simulated as one ensemble with
``Model.run(params=…arrays…, first_run=sample, sample=False)``: run ``k`` uses random
stream ``k`` whatever the chunk, so results do not depend on the chunk size or on which
worker computed them. Only the variables that the outcomes and series read are saved,
and a chunk's trajectories are reduced to scalar outcomes and periodic series before the
next chunk starts.

Jobs are plain picklable values and :func:`run_chunk` is a module-level function, so any
executor (in process, a process pool, a Dask cluster) can run them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from policylab.api import (
    BackendFallbackWarning,
    Model,
    available_memory,
    check_backend,
    load,
    memory_needed,
    numba_available,
    resolve_backend,
)
from policylab.errors import UsageError
from policylab.explore.designs import DesignSource, parameter_columns
from policylab.explore.errors import DesignError
from policylab.explore.outcomes import OutcomeSpec, SeriesSpec, evaluate, needed_variables, series_indices
from policylab.model.guards import outside_range_expected

DEFAULT_CHUNK_BUDGET = 128 * 2**20  # bytes of saved trajectories per chunk
MIN_CHUNK, MAX_CHUNK = 16, 20_000


@dataclass(frozen=True)
class ModelRef:
    """How a worker finds the model: its path, content digest and bytes (for workers without the file)."""

    path: str
    sha256: str
    text: bytes = field(repr=False)

    @classmethod
    def of(cls, model: Model) -> ModelRef:
        path = Path(model.ir.path)
        if not path.is_file():
            raise DesignError(f"model {model.name!r} was not loaded from a file ({model.ir.path!r}); explore needs one")
        data = path.read_bytes()
        return cls(str(path.resolve()), hashlib.sha256(data).hexdigest(), data)

    def load(self) -> Model:
        return _load_model(self.path, self.sha256, self.text)


@lru_cache(maxsize=8)
def _load_model(path: str, sha256: str, text: bytes) -> Model:
    """Load once per process; use a private copy when the worker lacks the file or it changed."""
    here = Path(path)
    if here.is_file() and hashlib.sha256(here.read_bytes()).hexdigest() == sha256:
        return load(here)
    folder = Path(tempfile.gettempdir()) / "policylab-models" / sha256[:16]
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / here.name
    if not copy.is_file():
        temp = folder / f".{here.name}.{os.getpid()}.tmp"
        temp.write_bytes(text)
        os.replace(temp, copy)
    return load(copy)


@dataclass(frozen=True)
class ExplorePlan:
    """What each run records: scalar outcomes, optional periodic series; seed, mode and backend.

    ``backend`` is what ``Model.run`` is given; :func:`settle_backend` makes it ``numpy`` or
    ``numba`` before chunks are handed out, so every chunk of a run uses the same engine.
    """

    outcomes: tuple[OutcomeSpec, ...]
    series: SeriesSpec | None = None
    seed: int = 0
    deterministic: bool = False
    backend: str = "numpy"

    @property
    def variables(self) -> list[str]:
        return needed_variables(self.outcomes, self.series)


def settle_backend(model: Model, plan: ExplorePlan, scenarios: Iterable[str | None], first: pd.DataFrame) -> ExplorePlan:
    """``plan`` with the backend every chunk will use: ``numpy`` or ``numba``, decided once.

    ``auto`` is numba where it is installed. Numba becomes numpy for the whole run when the
    compiled backend cannot express one of ``scenarios`` (a warning when numba was asked for
    by name), so one run never mixes backends. ``first`` is a design row: which parameters
    are per-run arrays decides what the compiler can fold.
    """
    check_backend(plan.backend)
    engine = resolve_backend(plan.backend)
    if engine == "numba" and not numba_available():  # before the run is catalogued, not in its first chunk
        raise UsageError("backend 'numba' needs numba: pip install 'policylab[fast]' (or --backend auto)")
    if engine == "numba":
        params = {c: first[c].to_numpy(dtype=float)[:1] for c in parameter_columns(first)}
        for scenario in dict.fromkeys(scenarios):
            if model.backend_for("numba", scenario or None, params, 1, plan.deterministic, sample=False) != "numba":
                if plan.backend == "numba":
                    warnings.warn(f"{model.name}: the numba backend cannot run scenario {scenario or '(as written)'}; "
                                  "the exploration runs with the NumPy backend instead", BackendFallbackWarning,
                                  stacklevel=2)
                engine = "numpy"
                break
    return plan if engine == plan.backend else replace(plan, backend=engine)


@dataclass(frozen=True)
class ChunkJob:
    """One chunk of a design: its number, its rows, and what to compute."""

    chunk: int
    rows: pd.DataFrame
    model: ModelRef
    plan: ExplorePlan


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's outcomes (one row per run: design columns + outcomes) and long-format series."""

    chunk: int
    first_run: int
    outcomes: pd.DataFrame
    series: pd.DataFrame | None

    @property
    def n_runs(self) -> int:
        return len(self.outcomes)


def run_chunk(job: ChunkJob) -> ChunkResult:
    """Simulate one chunk and reduce it to outcomes and series (runs in any worker)."""
    return evaluate_rows(job.model.load(), job.rows, job.plan, job.chunk)


def evaluate_rows(model: Model, rows: pd.DataFrame, plan: ExplorePlan, chunk: int = 0) -> ChunkResult:
    """Outcomes (and series) of the design rows ``rows``, simulated as few ensembles as possible."""
    params = parameter_columns(rows)
    variables = plan.variables
    outcome_parts: list[pd.DataFrame] = []
    series_parts: list[pd.DataFrame] = []
    for scenario, group in rows.groupby("scenario", sort=False):
        samples = group["sample"].to_numpy()
        breaks = np.flatnonzero(np.diff(samples) != 1) + 1
        for positions in np.split(np.arange(len(group)), breaks):
            part = group.iloc[positions]
            with outside_range_expected():  # the design's levels were checked (and warned about) when it was made
                ds = model.run(
                    scenario or None,
                    params={c: part[c].to_numpy(dtype=float) for c in params},
                    runs=len(part),
                    seed=plan.seed,
                    variables=variables,
                    deterministic=plan.deterministic,
                    first_run=int(samples[positions[0]]),
                    sample=False,
                    backend=plan.backend,  # type: ignore[arg-type]
                )
            values = part.copy()
            for outcome in plan.outcomes:
                values[outcome.name] = evaluate(ds, outcome)
            outcome_parts.append(values)
            if plan.series is not None:
                series_parts.append(_series_frame(model, ds, part.index.to_numpy(), plan.series))
    outcomes = pd.concat(outcome_parts).sort_index()
    series = pd.concat(series_parts).sort_values(["run", "time"], kind="stable").reset_index(drop=True) if series_parts else None
    return ChunkResult(chunk, int(rows.index[0]), outcomes, series)


def _series_frame(model: Model, ds, runs: np.ndarray, spec: SeriesSpec) -> pd.DataFrame:
    times = ds["time"].values
    dates = ds["date"].values if "date" in ds.coords else None
    picks = series_indices(model.ir, times, dates, spec.every)
    n, t = len(runs), len(picks)
    frame: dict[str, np.ndarray] = {"run": np.repeat(runs.astype(np.int64), t), "time": np.tile(times[picks], n)}
    if dates is not None:
        frame["date"] = np.tile(dates[picks], n)
    for name in spec.variables:
        frame[name] = np.ascontiguousarray(ds[name].values[:, picks]).ravel()
    return pd.DataFrame(frame)


class DesignRows(Protocol):
    """A design that hands out its rows by range: a ``DesignSource`` or ``FrameRows``."""

    def __len__(self) -> int: ...

    def rows(self, start: int, stop: int) -> pd.DataFrame: ...


class FrameRows:
    """A design DataFrame seen as :class:`DesignRows`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self, start: int, stop: int) -> pd.DataFrame:
        return self.frame.iloc[start:stop].copy()


def chunk_jobs(design: DesignRows | pd.DataFrame, model: ModelRef, plan: ExplorePlan, chunk_size: int,
               skip: Iterable[int] = ()) -> Iterator[ChunkJob]:
    """The design's chunks as jobs, lazily (a chunk's rows are built only when its job is taken)."""
    source = FrameRows(design) if isinstance(design, pd.DataFrame) else design
    done = set(skip)
    for chunk, start in enumerate(range(0, len(source), chunk_size)):
        if chunk not in done:
            yield ChunkJob(chunk, source.rows(start, start + chunk_size), model, plan)


def n_chunks(design: DesignRows | pd.DataFrame, chunk_size: int) -> int:
    return -(-len(design) // chunk_size)


REDUCTION_COPIES = 3
"""Full-length (runs x times) arrays beyond the saved variables while a chunk is reduced: the two temporaries an
outcome statistic makes (a mask and a masked copy) and one freed array the allocator still holds (after the first
large free glibc raises its mmap threshold, so later chunk-sized arrays come from the heap and count in the peak
resident size). Measured by benchmarks/memory_estimate.py: with 2 the estimate was 77 MiB against 103 measured for
200,000 SIR samples (-25 %; Python's traced peak was 83), with 3 -2 to -6 % at 200,000-800,000."""


def explore_memory(model: Model, design: DesignSource, plan: ExplorePlan, chunk_size: int, workers: int) -> int:
    """Bytes an exploration needs beyond its interpreters: the design at its peak, or the held design plus
    one chunk's simulation and reduction per worker, whichever is larger."""
    spec = model.ir.time
    times = int(round((spec.stop - spec.start) / spec.save_every)) + 1
    chunk = memory_needed(max(1, len(plan.variables)) + REDUCTION_COPIES, times, chunk_size, model.model_size)
    return max(design.peak_bytes, design.held_bytes + workers * chunk)


def check_explore_memory(model: Model, design: DesignSource, plan: ExplorePlan, chunk_size: int, workers: int) -> None:
    """Refuse, before any run, an exploration whose chunks would not fit in memory together."""
    needed = explore_memory(model, design, plan, chunk_size, workers)
    if needed > available_memory() // 2:
        raise DesignError(f"{workers} worker(s) computing chunks of {chunk_size:,} runs need about "
                          f"{needed / 2**30:.1f} GiB, more than half of the memory available; use a smaller "
                          "--chunk-size or fewer --workers")


def auto_chunk_size(model: Model, plan: ExplorePlan, budget: int = DEFAULT_CHUNK_BUDGET) -> int:
    """Runs per chunk so a chunk's saved trajectories take about ``budget`` bytes."""
    spec = model.ir.time
    saved_times = int(round((spec.stop - spec.start) / spec.save_every)) + 1
    per_run = 8 * saved_times * max(1, len(plan.variables)) * 3 + 8 * 64  # arrays, views, reductions
    return int(min(MAX_CHUNK, max(MIN_CHUNK, budget // per_run)))


def evaluate_design(model: Model, design: pd.DataFrame, plan: ExplorePlan, chunk_size: int | None = None,
                    executor=None, on_chunk: Callable[[ChunkResult], None] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Outcomes (and series) of a whole design in memory: for designs that fit, e.g. sensitivity.

    ``executor`` is a ``policylab.scale`` executor (default: this process). Use
    ``policylab.explore.explore_to_store`` for designs too large to hold.
    """
    from policylab.scale import open_executor

    size = chunk_size or auto_chunk_size(model, plan)
    if len(design):
        plan = settle_backend(model, plan, design["scenario"].unique(), design.iloc[:1])
    jobs = chunk_jobs(design, ModelRef.of(model), plan, size)
    outcomes, series = [], []
    with (open_executor("local", workers=1) if executor is None else _borrowed(executor)) as pool:
        for result in pool.map_unordered(run_chunk, jobs):
            outcomes.append(result.outcomes)
            if result.series is not None:
                series.append(result.series)
            if on_chunk is not None:
                on_chunk(result)
    table = pd.concat(outcomes).sort_index()
    joined = pd.concat(series).sort_values(["run", "time"], kind="stable").reset_index(drop=True) if series else None
    return table, joined


class _borrowed:
    """Use a caller's executor in a ``with`` without closing it."""

    def __init__(self, executor) -> None:
        self.executor = executor

    def __enter__(self):
        return self.executor

    def __exit__(self, *exc) -> None:
        return None
