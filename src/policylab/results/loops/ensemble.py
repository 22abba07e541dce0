"""Loop scores over an ensemble: run the model in chunks of runs, score every step, keep what was asked.

The model is run (``model.run``, any backend) saving every variable the scores read at every
step; each chunk is scored at once over all its runs and steps, then reduced to the saved
times (each saved value is the mean over the steps since the previous saved time) and, when
periods are given, to one mean per period and run. Memory stays bounded by the chunk size.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from policylab.compile.inputs import resolve_inputs
from policylab.errors import ModelFileError, UsageError
from policylab.model.ir import Event, Lever, Lookup
from policylab.results.loops.discovery import DISCOVERY_POINTS, DISCOVERY_RUNS, discover
from policylab.results.loops.scores import LinkScorer, Trace, fill_pipelines, loop_scores, needed_names, relative_scores
from policylab.results.loops.structure import LoopSet, SystemGraph, loop_set, system_links
from policylab.simulate.results import dates_of
from policylab.simulate.streams import Streams

CHUNK_ELEMENTS = 30_000_000  # floats held per chunk of runs (about 240 MB)
SCHEMA = 1


class NoLoopsError(ModelFileError):
    """The model has no feedback loop, so there is nothing to score."""


@dataclass(frozen=True)
class Period:
    """A stretch of model time ``[start, end)`` summarised as one number per loop and run."""

    label: str
    start: float
    end: float


def default_periods(ir) -> list[Period]:  # type: ignore[no-untyped-def]
    """Calendar years for calendar models, else the run in four equal parts."""
    spec = ir.time
    if spec.calendar_start is not None and spec.days_per_unit is not None:
        first = spec.calendar_start.year
        last = (spec.calendar_start + dt.timedelta(days=(spec.stop - spec.start) * spec.days_per_unit)).year
        periods = []
        for year in range(first, last + 1):
            start = max(spec.to_time(dt.date(year, 1, 1)), spec.start)
            end = min(spec.to_time(dt.date(year + 1, 1, 1)), spec.stop + spec.dt / 2)
            if end > start:
                periods.append(Period(str(year), start, end))
        return periods
    edges = np.linspace(spec.start, spec.stop, 5)
    return [Period(f"{a:g}-{b:g}", float(a), float(b) + (spec.dt / 2 if k == 3 else 0.0))
            for k, (a, b) in enumerate(zip(edges, edges[1:]))]


def _constants(model, ds: xr.Dataset) -> dict[str, float | np.ndarray]:  # type: ignore[no-untyped-def]
    """Each constant as the runs saw it: the scenario's value, or the sampled or given value per run."""
    scenario = ds.attrs.get("scenario") or None
    constants: dict[str, float | np.ndarray] = dict(resolve_inputs(model.ir, scenario).constants)
    for name, coord in ds.coords.items():
        if coord.dims == ("run",) and name in constants:
            constants[str(name)] = np.asarray(coord.values, dtype=float)
    return constants


def _chunk_runs(runs: int, steps: int, arrays: int) -> int:
    return int(max(1, min(runs, CHUNK_ELEMENTS // max(steps * arrays, 1))))


def _slice_params(params: Mapping[str, object] | None, start: int, stop: int, runs: int) -> dict[str, object]:
    chosen: dict[str, object] = {}
    for name, value in (params or {}).items():
        array = np.asarray(value, dtype=float)
        chosen[name] = array[start:stop] if array.ndim == 1 and array.shape[0] == runs else value
    return chosen


def _reduce(values: np.ndarray, stride: int) -> np.ndarray:
    """(loops, steps, runs) to the saved times: step 0, then the mean of each ``stride`` steps."""
    steps = values.shape[1]
    saved = (steps - 1) // stride
    head = values[:, :1]
    if saved == 0:
        return head
    body = values[:, 1:1 + saved * stride].reshape(values.shape[0], saved, stride, values.shape[2])
    with np.errstate(all="ignore"):
        return np.concatenate([head, np.nanmean(body, axis=2) if stride > 1 else body[:, :, 0]], axis=1)


def _period_means(values: np.ndarray, times: np.ndarray, periods: Sequence[Period]) -> np.ndarray:
    """(loops, steps, runs) to (loops, periods, runs): the mean over each period's steps (NaN steps skipped)."""
    out = np.full((values.shape[0], len(periods), values.shape[2]), np.nan)
    for k, period in enumerate(periods):
        mask = (times >= period.start - 1e-9) & (times < period.end - 1e-9)
        if mask.any():
            with np.errstate(all="ignore"), _quiet():
                out[:, k] = np.nanmean(values[:, mask], axis=1)
    return out


class _quiet:
    """Silence 'mean of empty slice' (a period of NaN steps stays NaN, as documented)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *args: object) -> None:
        self._ctx.__exit__(*args)


def dominance(period_scores: np.ndarray, partitions: Sequence[int], alone: Sequence[bool]) -> np.ndarray:
    """(loops, periods, runs) booleans: the loop has the largest |score| of its partition (never for a loop alone)."""
    result = np.zeros(period_scores.shape, dtype=bool)
    index = np.asarray(partitions)
    lonely = np.asarray(alone, dtype=bool)
    magnitude = np.where(np.isfinite(period_scores), np.abs(period_scores), -1.0)
    for part in np.unique(index):
        members = np.flatnonzero((index == part) & ~lonely)
        if members.size < 2:
            continue
        block = magnitude[members]
        best = block.argmax(axis=0)
        valid = block.max(axis=0) > 0
        for j, loop in enumerate(members):
            result[loop] = (best == j) & valid
    return result


def loop_scores_dataset(
    model,  # type: ignore[no-untyped-def]
    scenario: str | None = None,
    runs: int = 1,
    seed: int = 0,
    params: Mapping[str, object] | None = None,
    deterministic: bool = False,
    sample: bool | None = None,
    backend: str = "auto",
    mode: str = "auto",
    save_every: float | None = None,
    periods: Sequence[Period] | None = None,
    progress=None,  # type: ignore[no-untyped-def]
) -> xr.Dataset:
    """Relative loop scores (and loop scores) over (loop, time, run), per period when asked; see ``Model.loops``."""
    ir = model.ir
    spec = ir.time
    stride = 1 if save_every is None else max(int(round(save_every / spec.dt)), 1)
    if save_every is not None and abs(stride * spec.dt - save_every) > 1e-9 * max(save_every, 1.0):
        raise UsageError(f"save_every must be a positive multiple of {ir.name}'s time step dt = {spec.dt:g}")
    loops = loop_set(model, mode)
    system = SystemGraph(model)
    lookups = {n: v for n, v in ir.variables.items() if isinstance(v, Lookup)}
    steps = spec.n_steps + 1
    all_links = [link for link, routes in loops.routes.items() if routes]
    links = system_links(loops, all_links if loops.mode == "discovery" else None)
    names = sorted(needed_names(system, links))
    inputs = {n for n, v in ir.variables.items() if isinstance(v, (Lever, Event))}
    saveable = [n for n in names if n in system.graph and n not in system.pipelines or n in inputs]
    chunk = _chunk_runs(runs, steps, len(names) + len(links) + 3 * max(len(loops.loops), 50))
    if loops.mode == "discovery":
        _discover(model, loops, system, lookups, saveable, scenario, min(runs, DISCOVERY_RUNS), seed, params,
                  deterministic, sample, backend, runs)
    if not loops.loops:
        raise NoLoopsError(f"{ir.name} has no feedback loop to score" + (
            f" (loops without a dynamic path: {', '.join(loops.unscored)})" if loops.unscored else
            "; its stocks do not feed back on themselves"))
    _check_size(ir.name, len(loops.loops), spec.n_steps // stride + 1, runs, len(periods or ()))
    partitions = [loop.partition for loop in loops.loops]
    alone = loops.alone()
    saved_chunks: list[tuple[np.ndarray, np.ndarray]] = []
    period_chunks: list[np.ndarray] = []
    times = spec.start + np.arange(steps) * spec.dt
    coords: dict[str, list[np.ndarray]] = {}
    attrs: dict[str, object] = {}
    for start in range(0, runs, chunk):
        stop = min(start + chunk, runs)
        ds, trace = _trace(model, system, saveable, scenario, stop - start, seed, start, _slice_params(params, start, stop, runs),
                           deterministic, sample if sample is not None else runs > 1, backend)
        attrs = dict(ds.attrs)
        for name, coord in ds.coords.items():
            if coord.dims == ("run",):
                coords.setdefault(str(name), []).append(np.asarray(coord.values))
        scorer = LinkScorer(system, lookups, trace)
        raw = loop_scores(scorer, loops)
        relative = relative_scores(raw, partitions)
        saved_chunks.append((_reduce(relative, stride), _reduce(raw, stride)))
        if periods:
            period_chunks.append(_period_means(relative, times, periods))
        if progress is not None:
            progress(stop)
    relative = np.concatenate([c[0] for c in saved_chunks], axis=2)
    raw = np.concatenate([c[1] for c in saved_chunks], axis=2)
    saved_times = times[::stride][: relative.shape[1]]
    ids = [loop.id for loop in loops.loops]
    data = {
        "relative_score": (("loop", "time", "run"), relative),
        "score": (("loop", "time", "run"), raw),
    }
    if periods:
        per = np.concatenate(period_chunks, axis=2)
        data["period_score"] = (("loop", "period", "run"), per)
        data["dominant"] = (("loop", "period", "run"), dominance(per, partitions, [alone[i] for i in ids]))
    result = xr.Dataset(
        data,
        coords={
            "loop": ids,
            "time": saved_times,
            "run": np.concatenate(coords.pop("run")) if "run" in coords else np.arange(runs),
            "polarity": ("loop", [loop.polarity for loop in loops.loops]),
            "partition": ("loop", partitions),
            "alone": ("loop", [alone[i] for i in ids]),
            "members": ("loop", [" -> ".join((*loop.variables, loop.variables[0])) for loop in loops.loops]),
            "stocks": ("loop", [", ".join(loop.stocks) for loop in loops.loops]),
            **{name: ("run", np.concatenate(parts)) for name, parts in coords.items()},
        },
    )
    if periods:
        result = result.assign_coords(period=[p.label for p in periods], period_start=("period", [p.start for p in periods]),
                                      period_end=("period", [p.end for p in periods]))
    dates = dates_of(ir, saved_times)
    if dates is not None:
        result = result.assign_coords(date=("time", dates))
    result.attrs.update({k: v for k, v in attrs.items() if k not in ("runs", "save_every")})
    result.attrs.update({
        "runs": int(runs),
        "save_every": stride * spec.dt,
        "loop_mode": loops.mode,
        "loop_budget": ", ".join(f"{k}={v}" for k, v in loops.budget.items()),
        "loops_truncated": int(loops.truncated),
        "loops_unscored": ", ".join(loops.unscored),
        "loop_schema": SCHEMA,
        "first_step": "NaN: a score needs the previous step",
    })
    return result


def _by_time(variable: xr.Variable) -> np.ndarray:
    """A saved variable as (steps, runs)."""
    return np.asarray(variable.transpose("time", "run").values, dtype=float)


def _check_size(model: str, loops: int, times: int, runs: int, periods: int) -> None:
    """Refuse up front a result that would not fit in half the memory available now."""
    needed = (2 * loops * times * runs + 2 * loops * periods * runs) * 8
    try:
        budget = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE")) // 2
    except (ValueError, OSError, AttributeError):
        budget = 8 * 2**30
    if needed > budget:
        raise UsageError(f"{model}: loop scores of {loops} loops x {times} saved times x {runs:,} runs need "
                         f"{needed / 2**30:.1f} GiB, more than half of the memory available now; save less often "
                         f"(save_every=...; `policylab loops` keeps one value per period) or use fewer runs")


def _trace(model, system: SystemGraph, names: list[str], scenario, runs, seed, first_run, params,  # type: ignore[no-untyped-def]
           deterministic, sample, backend) -> tuple[xr.Dataset, Trace]:
    """Run a chunk saving ``names`` at every step; the trace the scores read."""
    spec = model.ir.time
    ds = model.run(scenario=scenario, params=params or None, runs=runs, seed=seed, variables=names,
                   deterministic=deterministic, first_run=first_run, sample=sample, backend=backend,
                   save_every=spec.dt)
    values = {n: _by_time(ds.variables[n]) for n in names}  # Variables, not DataArrays: no coordinate copies
    streams = Streams(int(seed), np.asarray(ds["run"].values, dtype=np.int64))
    trace = Trace(values, _constants(model, ds), np.asarray(ds["time"].values, dtype=float), spec.dt,
                  None if deterministic else streams.draw)
    fill_pipelines(system, trace, spec.n_steps)
    return ds, trace


def _discover(model, loops: LoopSet, system, lookups, names, scenario, runs, seed, params, deterministic,  # type: ignore[no-untyped-def]
              sample, backend, total_runs) -> None:
    """Find the loops that are ever strong on the first runs (strongest-path search) and add them to ``loops``."""
    ds, trace = _trace(model, system, names, scenario, runs, seed, 0, _slice_params(params, 0, runs, total_runs),
                       deterministic, sample if sample is not None else total_runs > 1, backend)
    discover(LinkScorer(system, lookups, trace), loops, model)
    loops.budget.update({"discovery_time_points": DISCOVERY_POINTS, "discovery_runs": runs})
