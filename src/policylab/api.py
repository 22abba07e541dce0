"""The Python API: ``load`` a model file and ``run`` it. Outer layers (CLI, server) call only this.

A facade: :class:`Model` checks a call's arguments once, at this edge, and delegates the
simulation to an engine (``policylab.simulate.engines``: ``Engine.prepare(...) -> Runner``),
keeping the prepared runners of recent calls.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import xarray as xr

from policylab.choices import Backend  # its home: a leaf module the CLI reads before the engine loads
from policylab.compile import CompiledModel, apply_params, compile_model, resolve_inputs
from policylab.compile.inputs import Inputs
from policylab.compile.opcodes import Unsupported
from policylab.errors import UsageError
from policylab.expr.names import canonical
from policylab.formats import read_model
from policylab.model.guards import check_settings
from policylab.model.ir import Model as ModelIR
from policylab.model.ir import TimeSpec
from policylab.simulate import Streams, sample_judgements, to_dataset
from policylab.simulate.engine import saved_times
from policylab.simulate.engines import ENGINES, Runner
from policylab.simulate.resume import Checkpoint
from policylab.version import __version__

ParamValue = float | Sequence[float] | np.ndarray
MAX_RUNS = 10_000_000
BACKENDS: tuple[str, ...] = get_args(Backend)
log = logging.getLogger("policylab")


@dataclasses.dataclass(frozen=True)
class Call:
    """One checked call of ``Model.run``: its scenario, run indices and streams, inputs and parameter values."""

    scenario: str | None
    run_indices: np.ndarray
    streams: Streams
    inputs: Inputs  # the scenario's, with ``parameters`` applied
    parameters: dict[str, float | np.ndarray]  # sampled judgement parameters and the values set

    @property
    def runs(self) -> int:
        return len(self.run_indices)


class BackendFallbackWarning(UserWarning):
    """The numba backend could not express a model feature; the run used the NumPy backend."""


def check_backend(backend: object, option: str = "backend") -> str:
    """``backend`` if it names a backend (numpy, numba, auto), else a UsageError naming ``option``."""
    if backend not in BACKENDS:
        raise UsageError(f"{option} must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return str(backend)


@cache
def numba_available() -> bool:
    """Whether the compiled backend can be used here (numba installed and importable); checked once."""
    try:
        from policylab.simulate import numba_backend  # noqa: F401
    except ImportError as error:
        log.debug("backend 'auto' runs NumPy: the compiled backend cannot be imported (%s)", error)
        return False
    return True


def resolve_backend(backend: str) -> str:
    """The engine ``backend`` asks for here: ``"auto"`` is numba where it is installed, else numpy.

    ``"numba"`` stays ``"numba"`` even without numba (running it then says how to install it).
    """
    check_backend(backend)
    if backend == "auto":
        return "numba" if numba_available() else "numpy"
    return backend


class Model:
    """A loaded model, ready to run: wraps the IR and caches its compiled plan."""

    def __init__(self, ir: ModelIR) -> None:
        self.ir = ir
        # (backend, scenario, runs, mode, parameter names) -> its prepared runner, or why numba cannot run it
        self._runners: dict[tuple, Runner | Unsupported] = {}
        self._runners_lock = threading.Lock()  # the server runs one model from several threads; guards the caches
        self._inputs: dict[str | None, Inputs] = {}  # scenario -> its resolved inputs (copied for each call)
        self._streams_kept: dict[tuple[int, int, int], Streams] = {}  # (seed, first run, runs) -> their streams

    def __repr__(self) -> str:
        return f"<policylab.Model {self.ir.name!r}: {len(self.ir.variables)} variables, {len(self.ir.scenarios)} scenarios>"

    @property
    def name(self) -> str:
        return self.ir.name

    @property
    def scenarios(self) -> list[str]:
        return list(self.ir.scenarios)

    @cached_property
    def compiled(self) -> CompiledModel:
        """The scenario-independent compiled form (built once)."""
        return compile_model(self.ir)

    @property
    def variables(self) -> list[str]:
        """Names of the stocks, flows and auxiliaries an unrestricted run saves."""
        return self.compiled.output_names

    def run(
        self,
        scenario: str | None = None,
        params: Mapping[str, ParamValue] | None = None,
        runs: int = 1,
        seed: int = 0,
        variables: Sequence[str] | None = None,
        deterministic: bool = False,
        first_run: int = 0,
        sample: bool | None = None,
        progress: Callable[[int], None] | None = None,
        backend: Backend = "numpy",
        save_every: float | None = None,
    ) -> xr.Dataset:
        """Simulate ``runs`` members at once and return a Dataset over (run, time).

        Parameters
        ----------
        scenario : name of a scenario; default the model's ``default_scenario`` (or as written).
        params : constants or lever levels to set, each a scalar or one value per run.
        runs : ensemble size. With ``runs > 1`` every judgement parameter is sampled over
            its range (unless ``sample=False``), run ``k`` from random stream ``k``.
        seed : root seed; ``seed=0`` is a seed like any other.
        variables : names to save (default: all stocks, flows and auxiliaries).
        deterministic : random functions return their mean instead of a draw.
        first_run : index of the first run (run ``k`` gives the same numbers alone or in any ensemble).
        backend : ``"numpy"`` (the model's tape interpreted with one NumPy call per instruction over all
            runs, the reference engine), ``"numba"`` (the same tape on the compiled interpreter,
            ``pip install 'policylab[fast]'``; the same results to 1e-12 relative, much faster for single
            runs and large ensembles) or ``"auto"`` (numba when it is installed, else NumPy without a
            word). A tape the compiled interpreter cannot run (an unsorted lookup table) runs with
            NumPy, with a :class:`BackendFallbackWarning`; ``attrs["backend"]`` says which ran.
        save_every : interval between saved times in model time units, a multiple of ``dt``
            (default: the model's). Only ``variables`` are kept, only at these times; a request
            that would need more than half the machine's available memory is refused up front.
        """
        engine = resolve_backend(backend)
        spec = self.time_spec(save_every)
        save = self.save_list(variables)
        check_output_size(self.ir.name, len(save), len(saved_times(spec)[1]), runs, model_size=self.model_size)
        call = self.prepare_call(scenario, params, runs, seed, first_run, sample)
        runner = self.runner(engine, call, bool(deterministic))
        trajectory = runner.run(call.inputs, call.parameters, call.streams, spec, save, progress)
        attrs = {
            "model": self.ir.name,
            "model_hash": str(self.ir.extras.get("sha256", "")),
            "scenario": call.scenario or "",
            "seed": int(seed),
            "runs": int(runs),
            "method": self.ir.time.method.value,
            "dt": self.ir.time.dt,
            "save_every": spec.save_every,
            "deterministic": int(deterministic),
            "policylab_version": __version__,
            "backend": runner.backend,
        }
        return to_dataset(self.ir, trajectory, call.run_indices, call.parameters, attrs)

    @property
    def model_size(self) -> int:
        """Variables the engine holds per run while integrating (stocks and rates, hidden ones included)."""
        system = self.compiled.system
        return len(system.stocks) + len(system.rates)

    def check_memory(self, runs: int, variables: Sequence[str] | None = None, save_every: float | None = None,
                     scenarios: int = 1) -> None:
        """Refuse up front ``scenarios`` results of ``run(runs=..., variables=...)`` held at once that would not fit."""
        spec = self.time_spec(save_every)
        check_output_size(self.ir.name, len(self.save_list(variables)), len(saved_times(spec)[1]), runs,
                          model_size=self.model_size, scenarios=scenarios)

    def simulator(
        self,
        parameters: Sequence[str] = (),
        scenario: str | None = None,
        runs: int = 1,
        variables: Sequence[str] | None = None,
        seed: int = 0,
        deterministic: bool = False,
        backend: Backend = "auto",
        save_every: float | None = None,
        sample: bool | None = False,
    ) -> Simulator:
        """A :class:`Simulator`: this model prepared for many runs that differ only in ``parameters``.

        For loops over single runs (calibration, optimisation, sliders): each ``Simulator.run``
        gives what ``Model.run(scenario, params, runs, seed, variables, deterministic, sample=sample)``
        gives, as plain arrays, without re-checking the call or re-lowering the model. With
        ``sample`` (``None``: when ``runs > 1``, as ``run`` does) the judgement parameters are
        drawn once, here, and every call runs with those draws (the dashboard's ensembles).
        """
        return Simulator(self, parameters, scenario, runs, variables, seed, deterministic, backend, save_every, sample)

    def backend_for(
        self,
        backend: Backend = "auto",
        scenario: str | None = None,
        params: Mapping[str, ParamValue] | None = None,
        runs: int = 1,
        deterministic: bool = False,
        sample: bool | None = None,
    ) -> str:
        """The backend (``"numpy"`` or ``"numba"``) that ``run`` with these arguments would use, without running.

        ``"auto"`` is numba where it is installed; numba becomes numpy when the compiled backend
        cannot express this model, scenario and mode (which parameters are set matters, not their
        values). Costs a bind and a lowering, a few milliseconds, the first time (``run`` reuses them).
        """
        engine = resolve_backend(backend)
        if engine != "numba" or not numba_available():
            return engine
        call = self.prepare_call(scenario, params, runs, 0, 0, sample)
        return self.runner(engine, call, bool(deterministic), warn=False).backend

    def prepare_call(self, scenario: str | None = None, params: Mapping[str, ParamValue] | None = None, runs: int = 1,
                     seed: int = 0, first_run: int = 0, sample: bool | None = None) -> Call:
        """Check the arguments of ``run``; the scenario, run indices, streams, inputs and parameters."""
        if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1 or runs > MAX_RUNS:
            raise UsageError(f"runs must be a whole number from 1 to {MAX_RUNS}, got {runs!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"seed must be a non-negative whole number, got {seed!r}")
        if isinstance(first_run, bool) or not isinstance(first_run, (int, np.integer)) or not (
            0 <= first_run <= 2**32 - runs
        ):
            raise UsageError(f"first_run must be a whole number from 0 to 2**32 - runs, got {first_run!r}")
        chosen = self.ir.default_scenario if scenario is None else scenario
        streams = self._streams(int(seed), int(first_run), int(runs))
        run_indices = streams.run_indices.copy()  # the call's own (the Dataset's run coordinate): the streams are kept
        inputs = self._scenario_inputs(chosen)
        do_sample = runs > 1 if sample is None else sample
        parameters: dict[str, float | np.ndarray] = sample_judgements(self.ir, streams) if do_sample else {}
        given = {canonical(k): _as_param(k, v, runs) for k, v in (params or {}).items()}
        check_settings(self.ir, given)  # bounds refuse, sampling ranges warn
        parameters.update({k: v for k, v in given.items()})
        apply_params(self.ir, inputs, parameters)
        return Call(chosen, run_indices, streams, inputs, parameters)

    def _scenario_inputs(self, scenario: str | None) -> Inputs:
        """``resolve_inputs(self.ir, scenario)``, resolved once per scenario: a copy whose constants and levers
        (the dicts ``apply_params`` changes) are the caller's own."""
        with self._runners_lock:
            resolved = self._inputs.get(scenario)
        if resolved is None:
            resolved = resolve_inputs(self.ir, scenario)
            with self._runners_lock:
                _remember(self._inputs, scenario, resolved)
        return dataclasses.replace(resolved, constants=dict(resolved.constants), levers=dict(resolved.levers))

    def _streams(self, seed: int, first_run: int, runs: int) -> Streams:
        """The streams of runs ``first_run`` to ``first_run + runs - 1`` of ``seed`` (recent ones kept: read only)."""
        key = (seed, first_run, runs)
        with self._runners_lock:
            streams = self._streams_kept.get(key)
        if streams is None:
            streams = Streams(seed, np.arange(first_run, first_run + runs, dtype=np.int64))
            with self._runners_lock:
                _remember(self._streams_kept, key, streams)
        return streams

    def time_spec(self, save_every: float | None = None) -> TimeSpec:
        """The model's time spec, saving every ``save_every`` if given (a positive multiple of dt)."""
        spec = self.ir.time
        if save_every is None:
            return spec
        ratio = float(save_every) / spec.dt if isinstance(save_every, (int, float, np.number)) else float("nan")
        if isinstance(save_every, bool) or not np.isfinite(ratio) or round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-9 * ratio:
            raise UsageError(f"save_every must be a positive multiple of {self.ir.name}'s time step dt = {spec.dt:g} "
                             f"{spec.units}, got {save_every!r}")
        return dataclasses.replace(spec, save_every=round(ratio) * spec.dt)

    def runner(self, backend: str, call: Call, deterministic: bool, warn: bool = True) -> Runner:
        """The engine ``backend`` (numpy or numba) prepared for ``call``'s scenario, size and parameter names
        (kept for the next call alike). A model the numba engine cannot run gets NumPy's, with a
        :class:`BackendFallbackWarning` unless ``warn`` is false."""
        key = (backend, call.scenario, call.runs, deterministic, tuple(sorted(call.parameters)))
        with self._runners_lock:
            runner = self._runners.get(key)
            if runner is None:
                try:
                    runner = ENGINES[backend].prepare(self.compiled, call.inputs, call.runs, deterministic, key[4])
                except Unsupported as why:
                    runner = why
                _remember(self._runners, key, runner)
        if isinstance(runner, Unsupported):
            if warn:
                warnings.warn(f"{self.ir.name}: the numba backend cannot run this model ({runner}); "
                              f"it ran with the NumPy backend instead", BackendFallbackWarning, stacklevel=3)
            return self.runner("numpy", call, deterministic)
        return runner

    def loops(
        self,
        scenario: str | None = None,
        runs: int = 1,
        seed: int = 0,
        params: Mapping[str, ParamValue] | None = None,
        deterministic: bool = False,
        sample: bool | None = None,
        backend: Backend = "auto",
        mode: Literal["auto", "exhaustive", "discovery"] = "auto",
        save_every: float | None = None,
        periods: Sequence[tuple[str, float, float]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> xr.Dataset:
        """Which feedback loops drive the behaviour (Loops That Matter), per step, over ``runs`` runs.

        Returns a Dataset with ``relative_score`` and ``score`` over (loop, time, run): each loop's
        share of the change of its cycle partition (signed: + reinforcing, - balancing) and its
        raw loop score. Loops are named by ``policylab.compile.causal.loop_id`` (coords give
        polarity, partition, members (the loop as "a -> b -> a"), stocks, and ``alone`` for a loop alone in its partition).
        Saved times are every ``save_every`` (default: every step ``dt``; a saved value is the mean
        over the steps since the previous one); step 0 is NaN (a score needs the previous step).
        ``periods`` — ``(label, start, end)`` in model time — adds ``period_score`` (loop, period,
        run), the mean relative score over ``[start, end)``, and ``dominant``, whether the loop has
        the largest ``|period_score|`` of its partition in that run. ``mode``: ``exhaustive`` scores
        every loop of the causal graph (up to its budget), ``discovery`` the loops a strongest-path
        search finds, ``auto`` the first unless the budget was hit; ``attrs`` say which and the budget.
        ``progress`` is called with the number of runs scored so far. The other arguments are those of
        :meth:`run`. See docs/loops.md.
        """
        from policylab.results.loops import Period, loop_scores_dataset

        check_backend(backend)
        chosen = self.ir.default_scenario if scenario is None else scenario
        spans = [Period(str(label), float(start), float(end)) for label, start, end in periods] if periods else None
        return loop_scores_dataset(self, chosen, runs, seed, params, deterministic, sample, backend, mode,
                                   save_every, spans, progress)

    def check(self, sources: Sequence[str] = (), strict: bool = False):  # type: ignore[no-untyped-def]
        """Run every static check (names, loops, units, evidence quotes, link polarity); return the report.

        ``report.ok`` is the verdict and ``report.lines`` the findings, one per line.
        ``sources`` adds folders to search for the documents evidence quotes come from; a
        source document not found there is a warning, or an error when ``strict``.
        """
        from policylab.compile.checks import run_checks

        return run_checks(self, list(sources), strict=strict)

    def save_list(self, variables: Sequence[str] | None = None) -> list[str]:
        """The canonical names ``run`` saves for ``variables`` (default: every stock, flow and auxiliary)."""
        if variables is None:
            return self.compiled.output_names
        if isinstance(variables, str):
            raise UsageError(f"variables must be a list of names, e.g. [{variables!r}], not a string")
        chosen = []
        available = self._savable
        for raw in variables:
            name = canonical(raw)
            if name not in available:
                from policylab.compile.graph import suggest

                raise UsageError(f"variable {raw!r} is not in {self.ir.name}.{suggest(name, list(available))}")
            chosen.append(name)
        return chosen

    @cached_property
    def _savable(self) -> dict[str, None]:
        """Names ``variables=`` may list (in order: outputs, stocks, rates, then levers and events)."""
        from policylab.model.ir import Event, Lever

        system = self.compiled.system
        names = [*self.compiled.output_names, *system.stocks, *system.rates]
        names += [n for n, v in self.ir.variables.items() if isinstance(v, (Lever, Event))]
        return dict.fromkeys(names)


class Simulator:
    """A model, scenario, ensemble size, seed and saved variables, fixed once for many runs.

    ``run(**values)`` sets the named constants and lever levels (a scalar, or one value per
    run) and returns ``{variable: array (runs, saved times)}``; ``times`` holds the saved
    times. A constant left out keeps its scenario value; a lever must always be given. On the
    compiled backend the parameters live in registers of a tape lowered once (and shared with
    ``Model.run`` calls that set the same names), so a call costs little more than the run.
    ``sampled`` holds the judgement parameters drawn once when sampling (else nothing);
    ``engine`` is the engine that runs the calls (numpy where numba cannot express the model; the first
    call warns with a :class:`BackendFallbackWarning`, then the simulator keeps its engine's runner).
    """

    def __init__(self, model: Model, parameters: Sequence[str], scenario: str | None, runs: int,  # noqa: PLR0913
                 variables: Sequence[str] | None, seed: int, deterministic: bool, backend: Backend,
                 save_every: float | None, sample: bool | None = False) -> None:
        if isinstance(parameters, str):
            raise UsageError(f"parameters must be a list of names, e.g. [{parameters!r}], not a string")
        self.model = model
        self.backend = resolve_backend(backend)
        self.spec = model.time_spec(save_every)
        self.save = model.save_list(variables)
        call = model.prepare_call(scenario, None, runs, seed, 0, sample)
        inputs, self.streams = call.inputs, call.streams
        self.scenario, self.runs, self.deterministic = call.scenario, int(runs), bool(deterministic)
        self.sampled: dict[str, float | np.ndarray] = dict(call.parameters)  # the draws of the judgement parameters
        self.names = [canonical(p) for p in parameters]
        self._named = frozenset(self.names)
        self.defaults = {n: inputs.constants[n] for n in self.names if n in inputs.constants}
        self.inputs = dataclasses.replace(inputs, constants=dict(inputs.constants), levers=dict(inputs.levers))
        apply_params(model.ir, inputs, dict.fromkeys(self.names, 0.0))  # refuses what is not a constant or lever
        self.spelling = {p: canonical(p) for p in parameters}  # names as given -> canonical, for run's keywords
        self.times = saved_times(self.spec)[1]
        check_output_size(model.ir.name, len(self.save), len(self.times), self.runs, model_size=model.model_size)
        self._runner: Runner | None = None  # the engine's runner, from the first call on
        self.checkpoint = Checkpoint()  # the compiled engine resumes later calls where lever levels start to matter

    def run(self, **values: ParamValue) -> dict[str, np.ndarray]:
        """One simulation with these parameter values: ``{variable: array (runs, saved times)}``."""
        parameters = self.parameters(**values)
        runner = self._runner
        if runner is None:  # the first call prepares it (or finds it prepared); every call sets the same names
            call = Call(self.scenario, self.streams.run_indices, self.streams, self._inputs(parameters), parameters)
            runner = self._runner = self.model.runner(self.backend, call, self.deterministic)
        inputs = self._inputs(parameters) if runner.reads_inputs else self.inputs
        trajectory = runner.run(inputs, parameters, self.streams, self.spec, self.save, checkpoint=self.checkpoint)
        return {name: trajectory.data[name].T for name in self.save}

    def _inputs(self, parameters: dict[str, float | np.ndarray]) -> Inputs:
        """The scenario's inputs (resolved once) with ``parameters`` applied, in copies of the two dicts they change."""
        base = self.inputs
        return apply_params(self.model.ir, dataclasses.replace(base, constants=dict(base.constants),
                                                               levers=dict(base.levers)), parameters)

    def parameters(self, **values: ParamValue) -> dict[str, float | np.ndarray]:
        """What ``run(**values)`` runs with: the draws, then each of this simulator's names, given or its default."""
        chosen: dict[str, float | np.ndarray] = {}
        for raw, value in values.items():
            name = self.spelling.get(raw) or canonical(raw)
            if name not in self._named:
                raise UsageError(f"{raw!r} is not one of this simulator's parameters {self.names}; "
                                 "make a simulator with it: model.simulator(parameters=[...])")
            chosen[name] = _as_param(raw, value, self.runs)
        for name in self.names:
            if name not in chosen:
                if name not in self.defaults:
                    raise UsageError(f"lever {name!r} needs a value in every Simulator.run call: "
                                     f"run({name}=...), a level or one per run")
                chosen[name] = self.defaults[name]
        return {**self.sampled, **chosen}  # as Model.run: the draws, updated with what is set

    @property
    def engine(self) -> str:
        """The engine that runs this simulator's calls: its backend, or numpy where numba cannot express the model."""
        names = {**self.sampled, **dict.fromkeys(self.names, 0.0)}
        call = Call(self.scenario, self.streams.run_indices, self.streams, self.inputs, names)
        return self.model.runner(self.backend, call, self.deterministic, warn=False).backend


_CACHED = 16  # plans kept per model (the oldest goes first)


def _remember(cache: dict, key: tuple, value: object) -> None:
    """Keep ``value`` under ``key``, dropping the oldest entries beyond ``_CACHED``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > _CACHED:
        cache.pop(next(iter(cache)))


WORKING_VALUES = 8
"""float64 values the engine holds per model variable and run besides the saved output (slot
arrays, integration stages, temporaries); measured by benchmarks/memory_estimate.py."""


def memory_needed(variables: int, times: int, runs: int, model_size: int = 0, scenarios: int = 1) -> int:
    """Bytes of ``scenarios`` results held at once: saved output plus the engine's working arrays."""
    return 8 * runs * scenarios * (variables * times + WORKING_VALUES * model_size)


def check_output_size(model: str, variables: int, times: int, runs: int, budget: int | None = None,
                      model_size: int = 0, scenarios: int = 1) -> None:
    """Refuse, before simulating, a result that would not fit in memory (rather than dying mid-run)."""
    needed = memory_needed(variables, times, runs, model_size, scenarios)
    if budget is None:
        budget = available_memory() // 2
    if needed > budget:
        each = f" for each of {scenarios} scenarios" if scenarios > 1 else ""
        raise UsageError(
            f"{model}: saving {variables} variables x {times} times x {runs:,} runs{each} needs {needed / 2**30:.1f} GiB "
            f"with the engine's working memory, more than half of this machine's available memory "
            f"({2 * budget / 2**30:.1f} GiB). Save fewer variables (variables=[...], --vars), save less often "
            "(save_every=...), run fewer runs or scenarios, or use `policylab explore`, which streams chunks of runs "
            "to disk")


def available_memory() -> int:
    """Bytes of physical memory available now (Linux/macOS sysconf; 16 GiB where it cannot be read)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _as_param(name: str, value: ParamValue, runs: int) -> float | np.ndarray:
    if type(value) is float:  # the common case, without NumPy's conversions
        if not math.isfinite(value):
            raise UsageError(f"params[{name!r}] is NaN or infinite")
        return value
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise UsageError(f"params[{name!r}] must be a number or one number per run, got {value!r:.60}") from err
    if array.ndim == 0:
        if not np.isfinite(array):
            raise UsageError(f"params[{name!r}] is NaN or infinite")
        return float(array)
    if array.shape != (runs,):
        raise UsageError(f"params[{name!r}] has {array.size} values; give a scalar or exactly {runs} (one per run)")
    if not np.isfinite(array).all():
        raise UsageError(f"params[{name!r}] contains NaN or infinity")
    return array


def load(path: str | Path) -> Model:
    """Read a model file (.yaml, .xmile, .stmx, .itmx, .mdl) and return a runnable Model."""
    return Model(read_model(path))
