"""An exploration from request to stored result, and its resumption after an interruption.

:class:`ExploreRequest` records everything that defines an exploration (the design and
what to record), so the manifest alone rebuilds it: ``resume`` reloads the model,
checks that its file and the rebuilt design are unchanged (by digest), and runs only
the chunks the catalogue does not list yet.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import pandas as pd

from policylab.api import Model, __version__, check_backend, load, numba_available
from policylab.explore.designs import RESERVED, Combine, DesignSource, Sampler, lever_grid, model_uncertainties
from policylab.explore.errors import DesignError
from policylab.explore.outcomes import SeriesSpec, parse_every, parse_outcome
from policylab.explore.runner import (
    ExplorePlan,
    ModelRef,
    auto_chunk_size,
    check_explore_memory,
    chunk_jobs,
    n_chunks,
    run_chunk,
    settle_backend,
)
from policylab.scale import Executor
from policylab.store import ResumeError, Store

ALL_SCENARIOS = "all"


class ProgressSink(Protocol):
    """Receives progress: the total, what was already done, then each finished chunk's runs."""

    def start(self, total: int, done: int, label: str) -> None: ...

    def advance(self, runs: int) -> None: ...


@dataclass(frozen=True)
class ExploreRequest:
    """What to explore: samples of the uncertainties × policies, and what to record per run.

    ``samples`` is the number of uncertainty samples; each policy (scenario × lever-grid
    point) runs every sample when ``combine`` is ``crossed``. ``scenarios`` empty means
    the model's default scenario; ``("all",)`` means every scenario of the model.
    """

    samples: int
    sampler: Sampler = "lhs"
    seed: int = 0
    scenarios: tuple[str, ...] = ()
    levers: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    grid: tuple[tuple[str, tuple[float, ...]], ...] = ()
    combine: Combine = "crossed"
    outcomes: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    every: str = "month"
    deterministic: bool = False
    backend: str = "auto"
    """numpy, numba or auto; a stored run records the one it settled on (``numpy`` or ``numba``)."""

    def __post_init__(self) -> None:
        names = [name for name, _levels in self.grid]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DesignError(f"lever(s) {', '.join(repeated)} appear twice in the grid; give each lever's levels "
                              f"once (name=v1,v2,...)")

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ExploreRequest:
        data = dict(data)
        data.setdefault("backend", "numpy")  # runs stored before the choice existed ran NumPy
        for key in ("scenarios", "levers", "outcomes", "series"):
            data[key] = tuple(data.get(key) or ())
        data["only"] = None if data.get("only") is None else tuple(data["only"])
        data["grid"] = tuple((str(n), tuple(float(v) for v in vals)) for n, vals in data.get("grid") or ())
        return cls(**data)

    def resolved_scenarios(self, model: Model) -> list[str]:
        """Scenario names to run ('' = the model as written when it has no scenarios)."""
        if list(self.scenarios) == [ALL_SCENARIOS]:
            return list(model.scenarios) or [""]
        if not self.scenarios:
            return [model.ir.default_scenario or ""]
        for name in self.scenarios:
            if name not in model.ir.scenarios:
                raise DesignError(f"{model.name} has no scenario {name!r}; choose from: "
                                  f"{', '.join(model.scenarios) or '(none)'} (or 'all')")
        return list(self.scenarios)

    def source(self, model: Model) -> DesignSource:
        """The design, computed chunk by chunk on demand."""
        uncertainties = model_uncertainties(model.ir, self.levers, self.only)
        grid = lever_grid(model.ir, {n: list(v) for n, v in self.grid}) if self.grid else None
        return DesignSource(uncertainties, self.samples, self.sampler, self.seed, self.resolved_scenarios(model),
                            grid, self.combine)

    def design(self, model: Model) -> pd.DataFrame:
        """The whole design as one DataFrame (for designs that fit in memory)."""
        return self.source(model).frame()

    def plan(self, model: Model) -> ExplorePlan:
        outcomes = [oc for oc in model.ir.outcomes.values()] + [parse_outcome(t) for t in self.outcomes]
        names = [o.name for o in outcomes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DesignError(f"outcome name(s) {repeated} are used twice (the model declares them, or --outcome repeats them)")
        series = SeriesSpec(tuple(self.series), parse_every(self.every)) if self.series else None
        if not outcomes and series is None:
            raise DesignError(f"{model.name} declares no outcomes; give --outcome name=variable:stat or --series VARS")
        check_backend(self.backend)
        return ExplorePlan(tuple(outcomes), series, self.seed, self.deterministic, self.backend)



def start(model: Model, request: ExploreRequest, store: Store, executor: Executor, chunk_size: int | None = None,
          progress: ProgressSink | None = None, on_start: Callable[[str], None] | None = None) -> str:
    """Run a new exploration into ``store`` and return its run id.

    ``on_start`` is told the run id as soon as the run is catalogued (so an interrupted
    run can be resumed by it).
    """
    design = request.source(model)
    plan = request.plan(model)
    size = chunk_size or auto_chunk_size(model, plan)
    if size < 1:
        raise DesignError(f"--chunk-size must be at least 1, got {size}")
    check_explore_memory(model, design, plan, size, executor.workers)
    if len(design):
        plan = settle_backend(model, plan, request.resolved_scenarios(model), design.rows(0, 1))
    request = replace(request, backend=plan.backend)  # stored as settled: a resumed run uses the same engine
    ref = ModelRef.of(model)
    manifest = {
        "format": 1,
        "model": {"name": model.name, "path": ref.path, "sha256": ref.sha256},
        "request": request.to_json(),
        "design_fingerprint": design.fingerprint(),
        "parameters": [c for c in design.columns if c not in RESERVED],
        "outcomes": [o.name for o in plan.outcomes],
        "series": list(plan.series.variables) if plan.series else [],
        "n_runs": len(design),
        "chunk_size": size,
        "n_chunks": n_chunks(design, size),
        "policylab_version": __version__,
        "command": " ".join(sys.argv)[:500],
    }
    with store.create_run(manifest) as writer:
        if on_start is not None:
            on_start(writer.run_id)
        _execute(writer, ref, design, plan, size, executor, progress)
        return writer.run_id


def resume(store: Store, run_id: str, executor: Executor, model: Model | None = None,
           progress: ProgressSink | None = None, backend: str | None = None) -> str:
    """Finish an interrupted run: only the chunks not yet catalogued are computed.

    The run keeps the backend it started with; ``backend`` (None or ``auto``: the stored one)
    naming another is refused, as is a numba run where numba cannot be imported.
    """
    with store.open_run(run_id) as writer:
        manifest = writer.manifest
        stored = stored_backend(manifest)
        if backend is not None and check_backend(backend, "--backend") != "auto" and backend != stored:
            raise ResumeError(f"run {run_id} was computed with the {stored} backend; it resumes with that backend only "
                              f"(one run never mixes backends) — drop --backend {backend}, or start a new run")
        if stored == "numba" and not numba_available():
            raise ResumeError(f"run {run_id} was computed with the numba backend, which cannot be imported here; "
                              "install it (pip install 'policylab[fast]') to resume this run")
        info = manifest["model"]
        loaded = model if model is not None else load(info["path"])  # type: ignore[index]
        ref = ModelRef.of(loaded)
        if ref.sha256 != info["sha256"]:  # type: ignore[index]
            raise ResumeError(f"the model file {ref.path} changed since run {run_id} started "
                              f"(digest {ref.sha256[:12]} ≠ {str(info['sha256'])[:12]}); "  # type: ignore[index]
                              "resume needs the same model — start a new run instead")
        request = ExploreRequest.from_json(manifest["request"])  # type: ignore[arg-type]
        design = request.source(loaded)
        if design.fingerprint() != manifest["design_fingerprint"]:
            raise ResumeError(f"run {run_id}: the rebuilt design differs from the stored one (another PolicyLab "
                              "or SciPy version?); resume needs the same design — start a new run instead")
        plan = replace(request.plan(loaded), backend=stored)
        _execute(writer, ref, design, plan, int(manifest["chunk_size"]), executor, progress)  # type: ignore[arg-type]
        return run_id


def stored_backend(manifest: dict) -> str:
    """The backend a stored run was computed with (runs stored before the choice existed ran NumPy)."""
    request = manifest.get("request") or {}
    return str(request.get("backend") or "numpy")


def _execute(writer, ref: ModelRef, design: DesignSource, plan: ExplorePlan, size: int, executor: Executor,
             progress: ProgressSink | None) -> None:
    done_runs = sum(min(size, len(design) - c * size) for c in writer.done)
    if progress is not None:
        name = str(writer.manifest.get("model", {}).get("name") or ref.path.rsplit("/", 1)[-1])  # type: ignore[union-attr]
        progress.start(len(design), done_runs, name if len(name) <= 24 else name[:23] + "…")
    jobs = chunk_jobs(design, ref, plan, size, skip=writer.done)
    for result in executor.map_unordered(run_chunk, jobs):
        writer.write_chunk(result.chunk, result.first_run, result.outcomes, result.series)
        if progress is not None:
            progress.advance(result.n_runs)
    writer.finish()
