"""Resuming a prepared ensemble from the step where its lever levels start to matter (compiled backend).

A :class:`policylab.api.Simulator` runs one model, scenario, ensemble, seed and set of
saved variables many times with other values of the same parameters: the dashboard's
slider moves a lever, and a lever's level holds only from the scenario's policy date on
(``compile.opcodes._lever_table``: its ``lever_flag`` is zero before). Until then every
call computes the same numbers, so the state of the first call at that step (registers,
delay buffers, the outputs saved so far) is kept, and later calls start from it with
their levels written into the levers' registers. For the flagship's ``historical``
scenario that is half of the 1,825 steps of a slider move.

This is exact, not an approximation: a lever's per-run register is read by its ``LEVER``
instructions only, and they read it only where ``lever_flag`` is set; anything else that
reads or writes it (a constant set by the call is read by the prelude at the start) makes
the call run from the start as before. Blocks of runs, kernels and draws (keyed by run,
call site and step) are those of a whole run, so the numbers are the same bit for bit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from policylab.compile import Program
from policylab.compile.opcodes import Op, Tape, operand_ranges, output_range
from policylab.compile.parametric import ParametricTape
from policylab.model.ir import TimeSpec
from policylab.simulate.engine import Trajectory, check_saved
from policylab.simulate.streams import Streams

if TYPE_CHECKING:  # numba is imported where a compiled run needs it: a checkpoint is made without it
    from policylab.simulate import numba_backend

# a checkpoint larger than this (registers, buffers, outputs so far) is not kept: the server keeps 16 prepared
# simulators (512 MiB at most); a flagship slider move's is 21 MB (200 runs, 14 variables to the policy date)
KEEP_BYTES = 32 * 2**20


def lever_rows(tape: Tape) -> list[int]:
    """The rows of ``tape.run_values`` that hold lever levels: registers a ``LEVER`` instruction reads."""
    levels = {int(r) for r in tape.code[tape.code[:, 0] == int(Op.LEVER), 3] if r >= 0}
    return [row for row, register in enumerate(tape.run_registers.tolist()) if register in levels]


def first_read(tape: Tape, rows: list[int]) -> int:
    """The first step whose values can depend on the per-run values in ``rows`` of ``tape.run_values``: where a
    lever's level first holds, if only its ``LEVER`` instructions read them (0: the start values may depend on
    them; ``n_steps + 1``: nothing reads them)."""
    registers = {int(tape.run_registers[row]) for row in rows}
    never = tape.lever_flag.shape[0]
    fixed = {int(r) for part in (tape.stock_registers, tape.deriv_registers, tape.rate_registers) for r in part}
    fixed |= {int(r) for r in tape.pipelines.reshape(-1) if r >= 0}
    if registers & fixed:
        return 0
    levers: set[int] = set()
    for code_row in tape.code.tolist():
        first, count = output_range(code_row)
        if any(first <= r < first + count for r in registers):
            return 0
        if code_row[0] == int(Op.LEVER) and code_row[3] in registers:
            levers.add(code_row[2])
            continue
        if any(first <= r < first + count for first, count in operand_ranges(code_row) for r in registers):
            return 0
    if not levers:
        return never
    holds = np.nonzero(tape.lever_flag[:, :, sorted(levers)].any(axis=(1, 2)))[0]
    return int(holds[0]) if holds.size else never


@dataclass(frozen=True)
class _State:
    """A run's state at the start of step ``step``, and what it was computed from."""

    plan: ParametricTape
    step: int
    fixed_values: np.ndarray  # run_values with the rows that may differ zeroed
    keys: np.ndarray
    save: tuple[str, ...]
    spec: TimeSpec
    registers: np.ndarray
    pipe_steps: np.ndarray
    pipe_start: np.ndarray
    pipe_length: np.ndarray
    pipe_offset: np.ndarray
    buffers: np.ndarray
    out: np.ndarray  # the saved rows before ``step``


class Checkpoint:
    """What one prepared simulation keeps between calls: the state at the step where its levers start to matter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._first: dict[int, tuple[ParametricTape, list[int], int]] = {}  # id(plan) -> (plan, rows, first step)

    def simulate(self, plan: ParametricTape, run_values: np.ndarray, spec: TimeSpec, streams: Streams,
                 save: list[str], shape: numba_backend.Layout) -> Trajectory:
        """``numba_backend.simulate`` of ``plan``'s tape with these per-run values, resumed from the kept state
        where it applies (``shape``: the call's array layout)."""
        from policylab.simulate import numba_backend

        program, tape = plan.program, plan.tape
        rows, step = self._resumable(plan)
        if not rows or step == 0:
            return numba_backend.simulate(program, tape, spec, streams, save, None, shape, run_values)
        fixed = run_values.copy()
        fixed[rows] = 0.0
        state = self._state
        if state is not None and _matches(state, plan, fixed, streams, save, spec):
            run = _resumed(program, tape, spec, streams, save, shape, run_values, state, rows)
            done = _advance(run, state.step, run.n_steps + 1)
        else:
            run = numba_backend._Run(program, tape, spec, streams, save, shape, run_values)
            run.start()
            done = run.failed_step() is None and _advance(run, 0, min(step, run.n_steps + 1))
            if done:
                kept = _keep(run, plan, step, fixed, streams, save, spec)
                if kept is not None:
                    with self._lock:
                        self._state = kept
                done = _advance(run, min(step, run.n_steps + 1), run.n_steps + 1)
        if not done:  # a non-finite value: the whole run again, to name it as a run from the start does
            return numba_backend.simulate(program, tape, spec, streams, save, None, shape, run_values)
        data = {name: run.out[k] for k, name in enumerate(save)}
        check_saved(data, run.times, streams.run_indices)
        return Trajectory(run.times, data)

    def _resumable(self, plan: ParametricTape) -> tuple[list[int], int]:
        """The rows of ``plan``'s parameters that are lever levels read only from a later step, and that step."""
        found = self._first.get(id(plan))
        if found is None or found[0] is not plan:
            levels = set(lever_rows(plan.tape))
            rows = [row for row in plan.rows.values() if row in levels and first_read(plan.tape, [row]) > 0]
            found = (plan, rows, first_read(plan.tape, rows) if rows else 0)
            with self._lock:
                self._first = {id(plan): found}
        return found[1], found[2]


def _matches(state: _State, plan: ParametricTape, fixed: np.ndarray, streams: Streams, save: list[str],
             spec: TimeSpec) -> bool:
    """Whether ``state`` was computed for this call up to its step."""
    return (state.plan is plan and state.save == tuple(save) and state.spec == spec
            and np.array_equal(state.fixed_values, fixed) and np.array_equal(state.keys, streams.keys))


def _keep(run: numba_backend._Run, plan: ParametricTape, step: int, fixed: np.ndarray, streams: Streams,
          save: list[str], spec: TimeSpec) -> _State | None:
    """A copy of ``run``'s state at the start of ``step`` (None when it would take more than ``KEEP_BYTES``)."""
    saved = -(-step // run.stride)
    size = run.registers.nbytes + run.buffers.nbytes + run.out[:, :saved].nbytes
    if size > KEEP_BYTES:
        return None
    return _State(plan, step, fixed, streams.keys.copy(), tuple(save), spec, run.registers.copy(), run.pipe_steps,
                  run.pipe_start, run.pipe_length, run.pipe_offset, run.buffers.copy(), run.out[:, :saved].copy())


def _resumed(program: Program, tape: Tape, spec: TimeSpec, streams: Streams, save: list[str],
             shape: numba_backend.Layout, run_values: np.ndarray, state: _State,
             rows: list[int]) -> numba_backend._Run:
    """A run set to ``state``, with this call's values (``run_values``) in the registers of ``rows``."""
    from policylab.simulate import numba_backend

    run = numba_backend._Run(program, tape, spec, streams, save, shape, run_values)
    run.registers = state.registers.copy()
    width = run.width
    for row in rows:
        register = int(tape.run_registers[row])
        for block in range(run.n_blocks):
            start = block * width
            end = min(start + width, run.runs)
            run.registers[block, register, :end - start] = run_values[row, start:end]
    run.pipe_steps, run.pipe_start = state.pipe_steps, state.pipe_start
    run.pipe_length, run.pipe_offset = state.pipe_length, state.pipe_offset
    run.buffers = state.buffers.copy()
    run.fail = np.full(run.n_blocks, run.n_steps + 1, dtype=np.int64)
    run.diag = np.full((run.n_blocks, numba_backend.D_SIZE), -1, dtype=np.int64)
    run.out[:, :state.out.shape[1]] = state.out
    return run


def _advance(run: numba_backend._Run, first: int, end: int) -> bool:
    """Step ``first`` to ``end - 1`` as ``numba_backend`` does (a busy pool: a share of the steps at a time);
    False at a non-finite state."""
    from policylab.simulate import numba_backend

    retry = -(-(run.n_steps + 1) // numba_backend.POOL_RETRIES) if run.n_blocks > 1 else None
    while first < end:
        first = run.steps(first, end, busy_last=None if retry is None else first + retry)
        if run.failed_step() is not None:
            return False
    return True


__all__ = ["Checkpoint", "first_read", "lever_rows"]
