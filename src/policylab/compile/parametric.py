"""A tape lowered once and run many times with other parameter values (parameter registers).

Lowering a model to the compiled backend's tape costs milliseconds of Python, more than a
whole single run of a medium model. Runs that differ only in the values of some constants
and lever levels share one tape: the constants are bound as slots instead of being folded
(``bind(opaque=...)``) and the lever levels as per-run registers, so each call only writes
its values into those registers. Everything that depends on them alone is computed once per
run, in the tape's prelude (see :mod:`policylab.compile.opcodes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from policylab.compile.inputs import Inputs, LeverInput
from policylab.compile.opcodes import Op, Tape, Unsupported, lower
from policylab.compile.plan import CompiledModel, Program, bind
from policylab.model.ir import Lever


@dataclass(frozen=True)
class ParametricTape:
    """A program and its tape, with the rows of ``tape.run_values`` that hold each parameter."""

    program: Program
    tape: Tape
    rows: dict[str, int]  # parameter name -> row of run_values

    def run_values(self, values: Mapping[str, float | np.ndarray]) -> np.ndarray:
        """The tape's per-run register values with ``values`` (scalars or one per run) in the parameters' rows."""
        run_values = self.tape.run_values.copy()
        given = [values[name] for name in self.rows]
        if all(type(v) is float for v in given):  # the common case: one assignment, not one per parameter
            run_values[self._row_index] = np.array(given)[:, None]
            return run_values
        for value, row in zip(given, self.rows.values(), strict=True):
            run_values[row] = value
        return run_values

    @cached_property
    def _row_index(self) -> np.ndarray:
        """``rows``' values, in its order, for one NumPy assignment."""
        return np.array(list(self.rows.values()), dtype=np.intp)


def parametric(
    compiled: CompiledModel, inputs: Inputs, runs: int, deterministic: bool, names: tuple[str, ...]
) -> ParametricTape:
    """Lower ``compiled`` for ``inputs`` with the constants and levers ``names`` left as registers.

    ``inputs`` is copied, not changed. Raises :class:`~policylab.compile.opcodes.Unsupported`
    as ``lower`` does.
    """
    levers = [n for n in names if n in inputs.levers]
    constants = frozenset(n for n in names if n not in inputs.levers)
    inputs = dataclasses.replace(inputs, levers=dict(inputs.levers))
    lever_order = list(compiled.model.of_kind(Lever))
    for name in levers:  # a per-run level reads a register; a scalar one would be baked into the lever's path
        current = inputs.levers[name]
        level = np.broadcast_to(np.asarray(current.level, dtype=float), (runs,)).copy()
        inputs.levers[name] = LeverInput(current.baseline, current.schedule, level, current.from_time)
    program = bind(compiled, inputs, runs, deterministic, opaque=constants)
    tape = lower(compiled, program, inputs)
    where = {int(r): k for k, r in enumerate(tape.run_registers)}
    rows = {name: where[program.slots[name] + 1] for name in constants}
    for name in levers:
        index = lever_order.index(name)
        reads = tape.code[(tape.code[:, 0] == Op.LEVER) & (tape.code[:, 2] == index), 3]
        if not reads.size or int(reads[0]) not in where:  # pragma: no cover - lowering always gives it a register
            raise Unsupported(f"lever {name!r} has no per-run register")
        rows[name] = where[int(reads[0])]
    return ParametricTape(program, tape, rows)


__all__ = ["ParametricTape", "parametric"]
