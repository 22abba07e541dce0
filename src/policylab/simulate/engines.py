"""The engines behind ``Model.run``: each prepares a compiled model once and returns a runner for many calls.

``api.Model`` checks a call's arguments and delegates here through one protocol:
``engine.prepare(compiled, inputs, runs, deterministic, parameters) -> Runner``, then
``runner.run(inputs, values, streams, spec, save, progress) -> Trajectory`` for each call
that sets those parameters (constants and lever levels) to other values. Both engines lower the
model once to the same tape, with the parameters in registers (``compile.parametric``); the
NumPy engine interprets it with one NumPy call per instruction over all runs, the numba
engine with its compiled interpreter. Results agree to 1e-12.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from policylab.compile import CompiledModel
from policylab.compile.inputs import Inputs
from policylab.compile.opcodes import Unsupported
from policylab.compile.parametric import ParametricTape, parametric
from policylab.errors import UsageError
from policylab.model.ir import TimeSpec
from policylab.simulate.engine import Trajectory, simulate
from policylab.simulate.streams import Streams

Values = Mapping[str, float | np.ndarray]
Progress = Callable[[int], None]


class Runner(Protocol):
    """One prepared (model, scenario, ensemble size, mode, set of parameter names)."""

    backend: str  # the engine that runs: "numpy" or "numba"

    def run(self, inputs: Inputs, values: Values, streams: Streams, spec: TimeSpec, save: list[str],
            progress: Progress | None = None) -> Trajectory:
        """Simulate with ``values`` for the parameters (``inputs``: the scenario's, with those values applied),
        saving ``save`` at ``spec``'s save interval."""
        ...


class Engine(Protocol):
    """Makes runners; raises :class:`~policylab.compile.opcodes.Unsupported` for a model it cannot run."""

    def prepare(self, compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool,
                parameters: tuple[str, ...]) -> Runner: ...


@dataclass(frozen=True)
class NumpyRunner:
    """The reference engine: the NumPy interpreter over a tape lowered once, its parameter registers rewritten per call."""

    plan: ParametricTape
    backend: str = "numpy"

    def run(self, inputs: Inputs, values: Values, streams: Streams, spec: TimeSpec, save: list[str],
            progress: Progress | None = None) -> Trajectory:
        tape = self.plan.with_values(dict(values))
        return simulate(self.plan.program, tape, spec, streams, save, progress)


class NumpyEngine:
    """Prepares :class:`NumpyRunner`\\ s: lowers the model once to the tape both engines run."""

    def prepare(self, compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool,
                parameters: tuple[str, ...]) -> NumpyRunner:
        return NumpyRunner(parametric(compiled, inputs, runs, deterministic, parameters))


@dataclass(frozen=True)
class NumbaRunner:
    """The compiled engine: a tape lowered once, its parameter registers rewritten per call."""

    plan: ParametricTape
    backend: str = "numba"

    def run(self, inputs: Inputs, values: Values, streams: Streams, spec: TimeSpec, save: list[str],
            progress: Progress | None = None) -> Trajectory:
        from policylab.simulate import numba_backend

        tape = self.plan.with_values(dict(values))
        return numba_backend.simulate(self.plan.program, tape, spec, streams, save, progress)


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
