"""Evaluate a design (one parameter set per run) as chunked vectorised ensembles.

A design of ``n`` parameter sets is simulated as ensembles of at most ``chunk_size`` runs;
run ``i`` of the design is ensemble run ``first_run + i`` whatever the chunking, so it
draws from its own random stream (common random numbers across scenarios and chunk
sizes). Each chunk is reduced at once (to scalar outcomes, or to one variable at chosen
times) so memory stays bounded by the chunk, not the design.

Outcomes are named as the model declares them (``outcomes:``) or ad hoc as
``VARIABLE:STAT`` (e.g. ``infected:max``), with ``STAT`` one of the declared stats that
need no extra argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import xarray as xr

from policylab.api import Backend, Model, check_backend
from policylab.compile.graph import suggest
from policylab.errors import UsageError
from policylab.expr.names import canonical
from policylab.model.ir import Constant, Outcome
from policylab.model.ir import Model as ModelIR
from policylab.results.outcomes import evaluate_outcome

AdHocStat = Literal["mean", "max", "min", "final", "sum", "change"]
Op = Literal[">=", "<=", ">", "<"]
Progress = Callable[[int, int], None]
"""Called with (runs done, runs in the design) after each chunk."""

MEMORY_BUDGET = 200_000_000  # bytes of saved trajectories per chunk
# Split at the first operator, then match each side on its own: one regex over the whole text, with spaces
# allowed both inside the name and around it, backtracked cubically (33 s for a few thousand spaces).
_OPERATOR = re.compile(r">=|<=|>|<")
_CONDITION_NAME = re.compile(r"[A-Za-z_][\w .:]*")
_CONDITION_VALUE = re.compile(r"[-+0-9.eE]+|[A-Za-z_]\w*")


def resolve_outcomes(model: ModelIR, specs: Sequence[str] | None = None) -> list[Outcome]:
    """Outcomes from declared names or ``VARIABLE:STAT`` specs (all declared ones when none given)."""
    if not specs:
        if not model.outcomes:
            raise UsageError(f"{model.name} declares no outcomes; name one as VARIABLE:STAT, e.g. "
                             f"--outcome {next(iter(model.variables), 'x')}:final (stats: {', '.join(get_args(AdHocStat))})")
        return list(model.outcomes.values())
    return [_outcome(model, spec) for spec in specs]


def _outcome(model: ModelIR, spec: str) -> Outcome:
    name = canonical(spec)
    if name in model.outcomes:
        return model.outcomes[name]
    if ":" not in spec:
        raise UsageError(f"{spec!r} is not an outcome of {model.name}.{suggest(name, list(model.outcomes))} "
                         f"Declared: {', '.join(model.outcomes) or 'none'}; or write VARIABLE:STAT, e.g. {spec}:final")
    variable, stat = (part.strip() for part in spec.rsplit(":", 1))
    if stat not in get_args(AdHocStat):
        raise UsageError(f"outcome {spec!r}: stat must be one of {', '.join(get_args(AdHocStat))}, not {stat!r}")
    return Outcome(name=f"{canonical(variable)}_{stat}", variable=canonical(variable), stat=stat, display=spec)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Condition:
    """``outcome op value``, e.g. ``dialogue_sustainability >= 0.5``: which runs satisfy a goal.

    ``outcome`` is as written: a declared outcome or ``VARIABLE:STAT`` (see ``resolve_outcomes``).
    ``value`` is a number, or (before ``resolve_condition``) a constant's name, or None for
    the outcome's declared ``threshold``.
    """

    outcome: str
    op: Op
    value: float | str | None

    def holds(self, values: np.ndarray) -> np.ndarray:
        """A boolean per run."""
        if not isinstance(self.value, float):
            raise UsageError(f"condition {self} is not resolved to a number; call resolve_condition first")
        v = np.asarray(values, dtype=float)
        return {">=": v >= self.value, "<=": v <= self.value, ">": v > self.value, "<": v < self.value}[self.op]

    @property
    def maximize(self) -> bool:
        """Whether larger values are better (the direction the goal points)."""
        return self.op in (">=", ">")

    def __str__(self) -> str:
        value = f"{self.value:g}" if isinstance(self.value, float) else (self.value or "threshold")
        return f"{self.outcome}{self.op}{value}"


def parse_condition(text: str) -> Condition:
    """Parse ``NAME>=VALUE`` (also ``<=``, ``>``, ``<``; VALUE a number or a constant's name).

    A bare ``NAME`` means ``NAME>=`` the outcome's declared ``threshold``.
    """
    found = _OPERATOR.search(text)
    name, op, raw = (text[:found.start()], found.group(), text[found.end():].strip()) if found else (text, None, "")
    name = name.strip()
    if not _CONDITION_NAME.fullmatch(name) or (op is not None and not _CONDITION_VALUE.fullmatch(raw)):
        raise UsageError(f"cannot read the condition {text[:80]!r}; write OUTCOME>=VALUE, e.g. peak_infected<=2000 "
                         "(operators: >=, <=, >, <; VALUE a number or a constant), or an outcome with a declared threshold")
    if op is None:
        return Condition(name.strip(), ">=", None)
    try:
        value: float | str = float(raw)
    except ValueError:
        if raw[0].isdigit() or raw[0] in "+-.":
            raise UsageError(f"condition {text!r}: {raw!r} is not a number") from None
        value = raw
    return Condition(name.strip(), op, value)  # type: ignore[arg-type]


def resolve_condition(model: ModelIR, condition: Condition) -> Condition:
    """The condition on the resolved outcome's name, with a numeric value.

    A constant's name becomes its value in the model file; a bare outcome takes its declared
    threshold. Judgement parameters are refused as thresholds: they vary by run.
    """
    outcome = _outcome(model, condition.outcome)
    value = condition.value
    if value is None:
        if outcome.threshold is None:
            raise UsageError(f"outcome {outcome.name!r} declares no threshold; write {outcome.name}>=VALUE")
        value = outcome.threshold
    if isinstance(value, str):
        constant = model.variables.get(canonical(value))
        if not isinstance(constant, Constant):
            raise UsageError(f"condition {condition}: {value!r} is neither a number nor a constant of {model.name}."
                             f"{suggest(canonical(value), list(model.of_kind(Constant)))}")
        if constant.judgement and constant.range is not None:
            raise UsageError(f"condition {condition}: {value!r} is a judgement parameter (it varies by run); give a number")
        value = float(constant.value)
    return Condition(outcome.name, condition.op, float(value))


def scenario_constants(model: ModelIR, scenario: str | None) -> set[str]:
    """Constants a scenario sets itself (its setting wins over a design's value)."""
    if not scenario or scenario not in model.scenarios:
        return set()
    return {o.target for o in model.scenarios[scenario].overrides if isinstance(model.variables.get(o.target), Constant)}


def design_size(params: Mapping[str, np.ndarray | float], runs: int | None = None) -> int:
    """The number of parameter sets: the common length of the per-run arrays (and ``runs`` if given)."""
    sizes = {np.asarray(v).size for v in params.values() if np.asarray(v).ndim > 0}
    if runs is not None:
        if sizes - {runs}:
            raise UsageError(f"a design of {runs} runs got per-run arrays of lengths {sorted(sizes)}")
        return runs
    if len(sizes) != 1:
        raise UsageError("a design needs per-run arrays of one common length; got lengths "
                         f"{sorted(sizes) or 'none (only scalars)'}")
    return sizes.pop()


def _chunks(model: Model, params: Mapping[str, np.ndarray | float], save: list[str], reduce: Callable[[xr.Dataset], xr.Dataset | xr.DataArray],
            scenario: str | None, seed: int, first_run: int, deterministic: bool, chunk_size: int | None,
            progress: Progress | None, runs: int | None = None, backend: Backend = "auto") -> list[xr.Dataset | xr.DataArray]:
    check_backend(backend)
    n = design_size(params, runs)
    overridden = scenario_constants(model.ir, scenario)
    given = {k: v for k, v in params.items() if canonical(k) not in overridden}
    time = model.ir.time
    saved_steps = len(saved_times(model))
    size = chunk_size or max(64, MEMORY_BUDGET // (8 * saved_steps * max(1, len(save))))
    parts = []
    for start in range(0, n, size):
        stop = min(n, start + size)
        chunk = {k: (np.asarray(v, dtype=float)[start:stop] if np.ndim(v) else float(v)) for k, v in given.items()}
        ds = model.run(scenario, params=chunk, runs=stop - start, seed=seed, variables=save,
                       deterministic=deterministic, first_run=first_run + start, sample=False, backend=backend)
        part = reduce(ds)
        part.attrs["backend"] = ds.attrs["backend"]
        parts.append(part)
        if progress is not None:
            progress(stop, n)
    return parts


def evaluate_design(
    model: Model,
    params: Mapping[str, np.ndarray | float],
    variables: Sequence[str],
    reduce: Callable[[xr.Dataset], xr.Dataset | xr.DataArray],
    *,
    scenario: str | None = None,
    seed: int = 0,
    first_run: int = 0,
    deterministic: bool = False,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    backend: Backend = "auto",
) -> xr.Dataset | xr.DataArray:
    """Simulate the design saving ``variables``, apply ``reduce`` to each chunk, join along ``run``.

    ``reduce`` gets each chunk's Dataset (run, time) and must return something over ``run``.
    ``backend`` is ``Model.run``'s (default ``auto``: numba when installed); ``attrs["backend"]``
    says which ran.
    """
    parts = _chunks(model, params, [canonical(v) for v in variables], reduce, scenario, seed, first_run,
                    deterministic, chunk_size, progress, backend=backend)
    return _joined(parts)


def _joined(parts: list) -> xr.Dataset | xr.DataArray:  # type: ignore[type-arg]
    """The chunks' results along ``run``, with the backend that computed them in ``attrs``."""
    joined = xr.concat(parts, dim="run") if len(parts) > 1 else parts[0]
    used = sorted({str(p.attrs.get("backend")) for p in parts})
    joined.attrs["backend"] = used[0] if len(used) == 1 else ",".join(used)
    return joined


def evaluate_outcomes(
    model: Model,
    params: Mapping[str, np.ndarray | float],
    outcomes: Sequence[Outcome],
    *,
    scenario: str | None = None,
    seed: int = 0,
    first_run: int = 0,
    deterministic: bool = False,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    runs: int | None = None,
    backend: Backend = "auto",
) -> xr.Dataset:
    """One value per run and outcome: a Dataset over ``run`` (parameters as coordinates).

    ``runs`` is needed only when ``params`` holds no per-run array (e.g. a model without
    judgement parameters, whose runs differ only by their random streams).
    """
    save = list(dict.fromkeys(o.variable for o in outcomes))

    def reduce(ds: xr.Dataset) -> xr.Dataset:
        return xr.Dataset({o.name: evaluate_outcome(ds, o) for o in outcomes})

    parts = _chunks(model, params, save, reduce, scenario, seed, first_run, deterministic, chunk_size, progress, runs,
                    backend)
    result = _joined(parts)
    result.attrs.update({"model": model.name, "scenario": scenario or model.ir.default_scenario or "", "seed": int(seed),
                         "deterministic": int(deterministic)})
    return result  # type: ignore[return-value]


def evaluate_series(
    model: Model,
    params: Mapping[str, np.ndarray | float],
    variable: str,
    *,
    times: np.ndarray | None = None,
    scenario: str | None = None,
    seed: int = 0,
    first_run: int = 0,
    deterministic: bool = False,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    backend: Backend = "auto",
) -> xr.DataArray:
    """``variable`` over (run, time), at the saved time steps with indices ``times`` (default all)."""
    name = canonical(variable)

    def reduce(ds: xr.Dataset) -> xr.DataArray:
        series = ds[name]
        return series if times is None else series.isel(time=np.asarray(times))

    parts = _chunks(model, params, [name], reduce, scenario, seed, first_run, deterministic, chunk_size, progress,
                    backend=backend)
    return _joined(parts)  # type: ignore[return-value]


def saved_times(model: Model) -> np.ndarray:
    """The model times a run saves (as the simulator steps them)."""
    time = model.ir.time
    stride = max(int(round(time.save_every / time.dt)), 1)
    return time.start + np.arange(time.n_steps // stride + 1) * stride * time.dt
