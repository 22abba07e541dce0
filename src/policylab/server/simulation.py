"""Run and compare scenarios for the API: caps, the simulation slots, bands and the outcome table.

Every request is checked against the server's caps before anything is simulated:
``runs`` ≤ ``max_runs`` and runs × integration steps × scenarios ≤ ``max_work``. At most
``simulation_slots`` ensembles run at once (the others wait), so a burst of slider moves
cannot exhaust memory. Recent results are kept in a small LRU cache: moving a slider
back to where it was is instant.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import xarray as xr

from policylab.errors import UsageError
from policylab.report.fan import fan, key_variables, policy_date, thinned_index, x_axis
from policylab.results.outcomes import needed_variables
from policylab.results.tables import comparison_table, default_rows
from policylab.server import schemas as s
from policylab.server.catalogue import Entry
from policylab.server.config import ServerConfig

CACHE_SIZE = 64


class FieldError(UsageError):
    """A request value the server refuses; ``field`` names it (e.g. ``runs``, ``params.gain``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Simulator:
    """Runs ensembles for requests, within the configured caps."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.slots = threading.BoundedSemaphore(max(1, config.simulation_slots))
        self.cache: OrderedDict[str, object] = OrderedDict()
        self.cache_lock = threading.Lock()

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

    def _check_names(self, entry: Entry, scenarios: Sequence[str | None], params: dict[str, float],
                     variables: Sequence[str] | None, field_prefix: str) -> list[str]:
        ir = entry.model.ir
        for i, name in enumerate(scenarios):
            if name is not None and name not in ir.scenarios:
                where = f"{field_prefix}[{i}]" if field_prefix == "scenarios" else "scenario"
                raise FieldError(where, f"scenario {name!r} is not defined in {entry.id}; choose one of: "
                                        f"{', '.join(ir.scenarios) or '(none)'}")
        settable = {n for n, v in ir.variables.items() if type(v).__name__ in ("Constant", "Lever")}
        for name in params:
            if _canonical(name) not in settable:
                raise FieldError(f"params.{name}", f"params: {name!r} is not a lever or constant of {entry.id}")
        chosen = list(variables) if variables else key_variables(ir)
        known = set(entry.model.variables) | {n for n, v in ir.variables.items() if type(v).__name__ in ("Lever", "Event")}
        for i, name in enumerate(chosen):
            if _canonical(name) not in known:
                raise FieldError(f"variables[{i}]", f"variable {name!r} is not an output of {entry.id}")
        return [_canonical(v) for v in chosen]

    def _ensemble(self, entry: Entry, scenario: str | None, params: dict[str, float], runs: int, seed: int,
                  save: list[str], deterministic: bool) -> xr.Dataset:
        with self.slots:
            return entry.model.run(scenario, params=params or None, runs=runs, seed=seed, variables=save,
                                   deterministic=deterministic)

    def _cached(self, key: str) -> object | None:
        with self.cache_lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        return None

    def _remember(self, key: str, value: object) -> None:
        with self.cache_lock:
            self.cache[key] = value
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)

    def run(self, entry: Entry, body: s.RunRequest) -> s.RunResult:
        key = json.dumps(["run", entry.id, body.model_dump()], sort_keys=True)
        hit = self._cached(key)
        if isinstance(hit, s.RunResult):
            return hit
        self.check_size(entry, body.runs)
        started = time.perf_counter()
        ir = entry.model.ir
        variables = self._check_names(entry, [body.scenario], body.params, body.variables, "scenario")
        scenario = body.scenario if body.scenario is not None else ir.default_scenario
        save = list(dict.fromkeys(variables + needed_variables(ir)))
        ds = self._ensemble(entry, scenario, body.params, body.runs, body.seed, save, body.deterministic)
        index = thinned_index(ds.sizes["time"])
        result = s.RunResult(
            model=entry.id, scenario=scenario, runs=body.runs, seed=body.seed, x=x_axis(ir, ds, index),
            x_kind="date" if "date" in ds.coords else "time", policy_date=policy_date(ir, scenario),
            series={v: s.Bands(**fan(ds, v, index).bands) for v in variables},
            outcomes=_table(entry, {scenario or ir.name: ds}),
            elapsed_ms=round(1000 * (time.perf_counter() - started), 1))
        self._remember(key, result)
        return result

    def compare(self, entry: Entry, body: s.CompareRequest) -> s.CompareResult:
        key = json.dumps(["compare", entry.id, body.model_dump()], sort_keys=True)
        hit = self._cached(key)
        if isinstance(hit, s.CompareResult):
            return hit
        names = list(dict.fromkeys(body.scenarios))
        self.check_size(entry, body.runs, len(names))
        started = time.perf_counter()
        ir = entry.model.ir
        variables = self._check_names(entry, names, body.params, body.variables, "scenarios")
        save = list(dict.fromkeys(variables + needed_variables(ir)))
        results = {n: self._ensemble(entry, n, body.params, body.runs, body.seed, save, body.deterministic) for n in names}
        first = next(iter(results.values()))
        index = thinned_index(first.sizes["time"])
        result = s.CompareResult(
            model=entry.id, runs=body.runs, seed=body.seed, x=x_axis(ir, first, index),
            x_kind="date" if "date" in first.coords else "time",
            scenarios={n: {v: s.Bands(**fan(ds, v, index).bands) for v in variables} for n, ds in results.items()},
            policy_dates={n: policy_date(ir, n) for n in names}, table=_table(entry, results),
            elapsed_ms=round(1000 * (time.perf_counter() - started), 1))
        self._remember(key, result)
        return result


def _canonical(name: str) -> str:
    from policylab.expr.names import canonical

    return canonical(name)


def _table(entry: Entry, results: dict[str, xr.Dataset]) -> list[s.OutcomeRow]:
    ir = entry.model.ir
    if not ir.outcomes:
        return []
    rows = comparison_table(ir, results, default_rows(ir, None))
    return [s.OutcomeRow(name=r["name"], doc=r["doc"], values={k: s.OutcomeCell(**_finite(v)) for k, v in r["values"].items()})
            for r in rows]


def _finite(cell: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if math.isfinite(v) else None) for k, v in cell.items()}
