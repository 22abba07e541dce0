"""The engines behind ``Model.run``: each prepares a compiled model once and returns a runner for many calls.

``api.Model`` checks a call's arguments and delegates here through one protocol:
``engine.prepare(compiled, inputs, runs, deterministic, parameters) -> Runner``, then
``runner.run(inputs, values, streams, spec, save, progress) -> Trajectory`` for each call
that sets those parameters (constants and lever levels) to other values. Both engines run the
same tape: the NumPy engine lowers it per call with the values folded and interprets it with
one NumPy call per instruction over all runs; the numba engine lowers it once with the
parameters in registers (``compile.parametric``) and runs its compiled interpreter. Results
agree to 1e-12.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from policylab.compile import CompiledModel, Program, bind
from policylab.compile.inputs import Inputs
from policylab.compile.opcodes import Tape, Unsupported, lower
from policylab.compile.parametric import ParametricTape, parametric
from policylab.errors import UsageError
from policylab.model.ir import TimeSpec
from policylab.simulate.engine import Machines, Trajectory, simulate
from policylab.simulate.streams import Streams

if TYPE_CHECKING:
    from policylab.simulate.resume import Checkpoint

Values = Mapping[str, float | np.ndarray]
Progress = Callable[[int], None]
_LAYOUTS = 8  # array layouts a numba runner keeps (one per time spec and saved variables)
_LAYOUTS_LOCK = threading.Lock()


class Runner(Protocol):
    """One prepared (model, scenario, ensemble size, mode, set of parameter names)."""

    backend: str  # the engine that runs: "numpy" or "numba"
    reads_inputs: bool  # whether ``run`` reads ``inputs`` (else the values alone: callers may pass the scenario's)

    def run(self, inputs: Inputs, values: Values, streams: Streams, spec: TimeSpec, save: list[str],
            progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> Trajectory:
        """Simulate with ``values`` for the parameters (``inputs``: the scenario's, with those values applied),
        saving ``save`` at ``spec``'s save interval. ``checkpoint``: a prepared simulation's state kept between
        its calls (``simulate.resume``; the compiled engine resumes from it, the NumPy engine runs from the start)."""
        ...


class Engine(Protocol):
    """Makes runners; raises :class:`~policylab.compile.opcodes.Unsupported` for a model it cannot run."""

    def prepare(self, compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool,
                parameters: tuple[str, ...]) -> Runner: ...


@dataclass
class NumpyRunner:
    """The reference engine: the NumPy interpreter over a tape lowered per call with the call's values folded
    (a call without parameters lowers once).

    Folding the values, rather than holding them in registers as the numba engine does, is what
    pays on NumPy: a lowering costs less than one run, and every operation on a folded value that
    is the same for all runs disappears from the step loop (teacup's prepared single run took
    twice as long with its parameters in registers).
    """

    compiled: CompiledModel
    runs: int
    deterministic: bool
    backend: str = "numpy"
    reads_inputs: bool = True
    _unparametrised: tuple[Program, Tape, Machines] | None = field(default=None, repr=False)

    def run(self, inputs: Inputs, values: Values, streams: Streams, spec: TimeSpec, save: list[str],
            progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> Trajectory:
        if values:
            program, tape = self._lower(inputs)
            return simulate(program, tape, spec, streams, save, progress)
        if self._unparametrised is None:  # depends only on the scenario, the ensemble size and the mode
            program, tape = self._lower(inputs)
            self._unparametrised = (program, tape, Machines(program, tape))
        program, tape, machines = self._unparametrised
        return simulate(program, tape, spec, streams, save, progress, machines)

    def _lower(self, inputs: Inputs) -> tuple[Program, Tape]:
        program = bind(self.compiled, inputs, self.runs, self.deterministic)
        return program, lower(self.compiled, program, inputs)


class NumpyEngine:
    """Prepares :class:`NumpyRunner`\\ s (nothing to do up front: lowering folds the call's values)."""

    def prepare(self, compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool,
                parameters: tuple[str, ...]) -> NumpyRunner:
        return NumpyRunner(compiled, runs, deterministic)


@dataclass(frozen=True)
class NumbaRunner:
    """The compiled engine: a tape lowered once, its parameter registers rewritten per call.

    ``inputs`` are not read: the values are in ``values``. The arrays' layout for each time spec and
    saved variables is kept (a few, the most recent), as sizing them cost as much as a small model's run.
    """

    plan: ParametricTape
    backend: str = "numba"
    reads_inputs: bool = False
    _layouts: dict[tuple, object] = field(default_factory=dict, repr=False, compare=False)  # -> its Layout

    def run(self, inputs: Inputs, values: Values, streams: Streams, spec: TimeSpec, save: list[str],
            progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> Trajectory:
        numba_backend = _numba_backend()
        program, tape = self.plan.program, self.plan.tape
        key = (spec, tuple(save), numba_backend.threads() if self.plan.program.runs > 1 else 1)  # 1: one block
        shape = self._layouts.get(key)
        if shape is None:
            shape = numba_backend.layout(program, tape, spec, save)
            with _LAYOUTS_LOCK:  # threads may share a runner
                if len(self._layouts) >= _LAYOUTS:
                    self._layouts.pop(next(iter(self._layouts)))
                self._layouts[key] = shape
        run_values = self.plan.run_values(values)
        if checkpoint is not None and progress is None:
            return checkpoint.simulate(self.plan, run_values, spec, streams, save, shape)
        return numba_backend.simulate(program, tape, spec, streams, save, progress, shape, run_values)


def _numba_backend() -> ModuleType:
    """The compiled backend's module (imported on first use: it needs numba)."""
    module = sys.modules.get("policylab.simulate.numba_backend")
    if module is None:
        from policylab.simulate import numba_backend as module
    return module


class NumbaEngine:
    """Prepares :class:`NumbaRunner`\\ s; a model or tape the interpreter cannot run raises ``Unsupported``."""

    def prepare(self, compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool,
                parameters: tuple[str, ...]) -> NumbaRunner:
        try:
            from policylab.simulate import numba_backend
        except ImportError as err:
            raise UsageError("backend 'numba' needs numba: pip install 'policylab[fast]'") from err
        plan = parametric(compiled, inputs, runs, deterministic, parameters)
        lacking = numba_backend.supports(plan.tape)
        if lacking is not None:
            raise Unsupported(lacking)
        return NumbaRunner(plan)


ENGINES: dict[str, Engine] = {"numpy": NumpyEngine(), "numba": NumbaEngine()}

__all__ = ["ENGINES", "Engine", "NumbaEngine", "NumbaRunner", "NumpyEngine", "NumpyRunner", "Runner"]
