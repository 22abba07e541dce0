"""Run and compare scenarios for the API: caps, the simulation slots, bands and the outcome table.

Every request is checked against the server's caps before anything is simulated:
``runs`` ≤ ``max_runs`` and runs × integration steps × scenarios ≤ ``max_work``.

Simulations run in worker threads, at most ``simulation_slots`` at once; requests wait
for a slot in the event loop, not in a thread, so a queue of slider moves never starves
the cheap requests (describe, evidence, diagram) of threads. Identical requests share
one computation while it runs, recent results are kept in a small LRU cache as their
JSON (moving a slider back is instant), and when more than ``max_pending`` different
simulations are waiting the server answers 503 instead of queueing without bound.

A slider move runs a prepared :class:`policylab.api.Simulator` (judgement parameters drawn
and plan lowered once per model, scenario, ensemble and set of names moved) and computes
the fans and the table from its arrays: the numbers of ``Model.run``, without building a
labelled Dataset (a quarter of a 200-run flagship move's time outside the kernel).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import anyio

from policylab.errors import UsageError
from policylab.api import Simulator as Prepared
from policylab.compile.graph import suggest
from policylab.report.fan import fans, key_variables, policy_date, thinned_index, time_axis
from policylab.results.outcomes import Ensemble, needed_variables
from policylab.results.tables import default_rows, ensemble_table
from policylab.server import schemas as s
from policylab.server.catalogue import Entry
from policylab.server.config import ServerConfig

CACHE_SIZE = 64
PREPARED_SIZE = 16  # prepared simulators kept (one per model, scenario, ensemble and set of names moved)
T = TypeVar("T")


class FieldError(UsageError):
    """A request value the server refuses; ``field`` names it (e.g. ``runs``, ``params.gain``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Overloaded(UsageError):
    """Too many different simulations are waiting; the client should retry shortly."""


class Simulator:
    """Runs ensembles for requests, within the configured caps."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.slots = max(1, config.simulation_slots)
        self.limiter: anyio.CapacityLimiter | None = None
        self.cache: OrderedDict[str, object] = OrderedDict()
        self.pending: dict[str, asyncio.Task] = {}
        self.prepared: OrderedDict[tuple, Prepared] = OrderedDict()
        self.prepared_lock = threading.Lock()  # the simulation slots' threads share the prepared simulators

    async def _shared(self, key: str, compute: Callable[[], T]) -> T:
        """The cached result, else the running computation's, else a new one (in a worker thread, one slot)."""
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]  # type: ignore[return-value]
        task = self.pending.get(key)
        if task is None:
            if len(self.pending) >= self.config.max_pending:
                raise Overloaded(f"{len(self.pending)} simulations are already waiting; retry in a moment")
            if self.limiter is None:
                self.limiter = anyio.CapacityLimiter(self.slots)
            task = asyncio.ensure_future(self._compute(key, compute))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved even if all waiters left
            self.pending[key] = task
        return await asyncio.shield(task)

    async def _compute(self, key: str, compute: Callable[[], T]) -> T:
        try:
            value = await anyio.to_thread.run_sync(compute, limiter=self.limiter)
        finally:
            self.pending.pop(key, None)
        self.cache[key] = value
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        return value

    async def validation(self, entry: Entry) -> s.ValidationTable:
        """The model's written checks and units over ``dashboard_runs`` runs (computed once per model)."""
        key = json.dumps(["validation", entry.id, self.config.dashboard_runs])
        return await self._shared(key, lambda: self._validation(entry))

    def _validation(self, entry: Entry) -> s.ValidationTable:
        from policylab.report.build import REPORT_CHECK_KINDS
        from policylab.validation import validate

        report = validate(entry.model, kinds=REPORT_CHECK_KINDS, runs=self.config.dashboard_runs, seed=0,
                          backend=self.config.backend)  # type: ignore[arg-type]
        rows = [s.ValidationRow(**r.row(), doc=r.doc, detail=r.detail) for r in report.results]
        return s.ValidationTable(runs=report.runs, seed=report.seed, ok=report.ok, checks=rows)

    async def loops(self, entry: Entry, scenario: str | None) -> s.LoopDominance:
        """Loop dominance over time in ``scenario`` over ``dashboard_runs`` runs (computed once per scenario)."""
        ir = entry.model.ir
        if scenario is not None and scenario not in ir.scenarios:
            raise FieldError("scenario", f"{entry.id} has no scenario {scenario!r}; its scenarios: {', '.join(ir.scenarios)}")
        runs = min(self.config.dashboard_runs, self.config.max_runs)
        self.check_size(entry, runs)
        key = json.dumps(["loops", entry.id, scenario, runs])
        return await self._shared(key, lambda: self._loops(entry, scenario, runs))

    def _loops(self, entry: Entry, scenario: str | None, runs: int) -> s.LoopDominance:
        from policylab.report.dominance import chart_save_every, dominance_figure
        from policylab.report.structure import DOMINANT_IN_VIEW, analysed_loops

        ds = entry.model.loops(scenario=scenario, runs=runs, seed=0, backend=self.config.backend,  # type: ignore[arg-type]
                               save_every=chart_save_every(entry.model.ir))
        with entry.lock:
            entry.known_loops.update({loop.label: loop for loop in analysed_loops(ds)})
        figure, series = dominance_figure(ds)
        return s.LoopDominance(
            scenario=scenario, runs=runs, seed=0, mode=str(ds.attrs.get("loop_mode", "")), scored=int(ds.sizes["loop"]),
            partition_loops=series.partition_loops,
            loops=[s.LoopInfo(label=i, polarity=p, variables=m.split(" -> ")[:-1])
                   for i, p, m in zip(series.loops, series.polarity, series.members)],
            dominant_view="loops:" + ",".join(series.loops[:DOMINANT_IN_VIEW]),
            figure=json.loads(figure.to_json()))

    def check_size(self, entry: Entry, runs: int, scenarios: int = 1) -> None:
        """422 material: more runs, or more runs × steps, than this server allows per request."""
        cfg = self.config
        if runs > cfg.max_runs:
            raise FieldError("runs", f"runs={runs} exceeds this server's cap of {cfg.max_runs} runs per request")
        steps = max(1, entry.model.ir.time.n_steps)
        work = runs * steps * scenarios
        if work > cfg.max_work:
            most = max(1, cfg.max_work // (steps * scenarios))
            raise FieldError("runs", f"runs × steps × scenarios = {runs} × {steps} × {scenarios} = {work:,} exceeds this "
                                     f"server's cap of {cfg.max_work:,}; ask for at most {most} runs")

    def _check_names(self, entry: Entry, scenarios: Sequence[str | None], variables: Sequence[str] | None,
                     field_prefix: str) -> list[str]:
        """Scenario and variable names (parameters were checked by the schema layer, ``schemas.checked_params``)."""
        ir = entry.model.ir
        for i, name in enumerate(scenarios):
            if name is not None and name not in ir.scenarios:
                where = f"{field_prefix}[{i}]" if field_prefix == "scenarios" else "scenario"
                raise FieldError(where, f"scenario {name!r} is not defined in {entry.id}.{suggest(name, ir.scenarios)} "
                                        f"Choose one of: {', '.join(ir.scenarios) or '(none)'}")
        chosen = list(variables) if variables else key_variables(ir)
        known = set(entry.model.variables) | {n for n, v in ir.variables.items() if type(v).__name__ in ("Lever", "Event")}
        for i, name in enumerate(chosen):
            if _canonical(name) not in known:
                raise FieldError(f"variables[{i}]", f"variable {name!r} is not an output of {entry.id}."
                                                    f"{suggest(_canonical(name), known)}")
        return [_canonical(v) for v in chosen]

    async def run(self, entry: Entry, body: s.RunRequest) -> bytes:
        """Check the request now; simulate (or share a simulation) in a worker thread: the RunResult as JSON."""
        self.check_size(entry, body.runs)
        variables = self._check_names(entry, [body.scenario], body.variables, "scenario")
        key = json.dumps(["run", entry.id, body.model_dump()], sort_keys=True)
        return await self._shared(key, lambda: self._run(entry, body, variables).model_dump_json().encode())

    async def compare(self, entry: Entry, body: s.CompareRequest) -> bytes:
        """As :meth:`run`, for several scenarios: the CompareResult as JSON."""
        names = list(dict.fromkeys(body.scenarios))
        self.check_size(entry, body.runs, len(names))
        variables = self._check_names(entry, names, body.variables, "scenarios")
        key = json.dumps(["compare", entry.id, body.model_dump()], sort_keys=True)
        return await self._shared(key, lambda: self._compare(entry, body, names, variables).model_dump_json().encode())

    def _run(self, entry: Entry, body: s.RunRequest, variables: list[str]) -> s.RunResult:
        started = time.perf_counter()
        ir = entry.model.ir
        scenario = body.scenario if body.scenario is not None else ir.default_scenario
        ensemble, engine = self._ensemble(entry, scenario, body, variables)
        index = thinned_index(len(ensemble.times))
        x = time_axis(ir, ensemble.times, index)
        return s.RunResult(
            model=entry.id, scenario=scenario, runs=body.runs, seed=body.seed, x=x, x_kind=_x_kind(x),
            policy_date=policy_date(ir, scenario),
            series={v: s.Bands(**f.bands) for v, f in fans(ensemble.series, variables, index).items()},
            outcomes=_table(entry, {scenario or ir.name: ensemble}),
            elapsed_ms=round(1000 * (time.perf_counter() - started), 1), backend=engine)

    def _compare(self, entry: Entry, body: s.CompareRequest, names: list[str], variables: list[str]) -> s.CompareResult:
        started = time.perf_counter()
        ir = entry.model.ir
        ran = {n: self._ensemble(entry, n, body, variables) for n in names}
        results = {n: ensemble for n, (ensemble, _) in ran.items()}
        times = next(iter(results.values())).times
        index = thinned_index(len(times))
        x = time_axis(ir, times, index)
        return s.CompareResult(
            model=entry.id, runs=body.runs, seed=body.seed, x=x, x_kind=_x_kind(x),
            scenarios={n: {v: s.Bands(**f.bands) for v, f in fans(e.series, variables, index).items()}
                       for n, e in results.items()},
            policy_dates={n: policy_date(ir, n) for n in names}, table=_table(entry, results),
            elapsed_ms=round(1000 * (time.perf_counter() - started), 1),
            backend=",".join(sorted({engine for _, engine in ran.values()})))

    def _ensemble(self, entry: Entry, scenario: str | None, body: s.RunRequest | s.CompareRequest,
                  variables: list[str]) -> tuple[Ensemble, str]:
        """One scenario's ensemble for ``body`` as arrays, and the engine that ran it.

        From a prepared simulator; a model with arrays runs through ``Model.run`` instead, whose
        Dataset holds an array's elements as views of one block: a mean or sum over such a
        view adds in another order than over the simulator's array, which could move its last bit.
        """
        if entry.model.ir.arrays:
            save = list(dict.fromkeys(variables + needed_variables(entry.model.ir)))
            ds = entry.model.run(scenario, params=body.params or None, runs=body.runs, seed=body.seed, variables=save,
                                 deterministic=body.deterministic, backend=self.config.backend)  # type: ignore[arg-type]
            return Ensemble.of(ds), str(ds.attrs["backend"])
        simulator = self.simulator(entry, scenario, body, variables)
        return _arrays(simulator, body.params), simulator.engine

    def simulator(self, entry: Entry, scenario: str | None, body: s.RunRequest | s.CompareRequest,
                  variables: list[str]) -> Prepared:
        """``entry``'s model prepared for ``body``'s ensemble in ``scenario``, setting ``body``'s parameter names.

        Kept for the next request alike (a slider's next move): its judgement parameters are
        drawn and its plan lowered once, and a move runs it with new values — the numbers
        ``Model.run`` gives for the same call, without building a labelled Dataset.
        """
        save = list(dict.fromkeys(variables + needed_variables(entry.model.ir)))
        key = (entry.id, scenario, tuple(sorted(body.params)), body.runs, body.seed, bool(body.deterministic), tuple(save))
        with self.prepared_lock:
            found = self.prepared.get(key)
            if found is not None:
                self.prepared.move_to_end(key)
                return found
        made = entry.model.simulator(parameters=sorted(body.params), scenario=scenario, runs=body.runs, variables=save,
                                     seed=body.seed, deterministic=body.deterministic,
                                     backend=self.config.backend, sample=None)  # type: ignore[arg-type]
        with self.prepared_lock:
            kept = self.prepared.setdefault(key, made)
            while len(self.prepared) > PREPARED_SIZE:
                self.prepared.popitem(last=False)
        return kept


def _arrays(simulator: Prepared, params: dict[str, float]) -> Ensemble:
    """One simulation of ``params`` as arrays, with the parameter values (per run, or one for all) thresholds read."""
    return Ensemble(simulator.times, simulator.run(**params), simulator.parameters(**params))


def _x_kind(x: list[str] | list[float]) -> Literal["date", "time"]:
    """How the x axis counts: ISO dates (a calendar model's, from ``report.fan.time_axis``) or model time."""
    return "date" if x and isinstance(x[0], str) else "time"


def warm_up(entry: Entry, config: ServerConfig) -> float:
    """Run ``entry``'s model as the dashboard will (one run, then an ensemble): load the backend's machine code.

    Returns the seconds it took. The compiled backend's kernels (serial for small
    ensembles, parallel for large ones) load from numba's cache on first use, or compile
    the first time after an installation; doing it here keeps that off the first request.
    """
    started = time.perf_counter()
    save = key_variables(entry.model.ir)
    for runs in dict.fromkeys((1, max(1, min(config.dashboard_runs, config.max_runs)))):
        entry.model.simulator(variables=save, runs=runs, backend=config.backend, sample=None).run()  # type: ignore[arg-type]
    return time.perf_counter() - started


def _canonical(name: str) -> str:
    from policylab.expr.names import canonical

    return canonical(name)


def _table(entry: Entry, results: dict[str, Ensemble]) -> list[s.OutcomeRow]:
    ir = entry.model.ir
    if not ir.outcomes:
        return []
    rows = ensemble_table(ir, results, default_rows(ir, None))
    return [s.OutcomeRow(**{**r, "values": {k: s.OutcomeCell(**_finite(v)) for k, v in r["values"].items()}})
            for r in rows]


def _finite(cell: object) -> object:
    """The cell with every non-finite number as None (JSON has no NaN)."""
    if isinstance(cell, float):
        return cell if math.isfinite(cell) else None
    if isinstance(cell, dict):
        return {k: _finite(v) for k, v in cell.items()}
    if isinstance(cell, list):
        return [_finite(v) for v in cell]
    return cell
