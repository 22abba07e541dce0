"""The NumPy engine: Euler and RK4 over the tape, every instruction once per stage for all runs.

The tape (:mod:`policylab.compile.opcodes`) runs on the NumPy interpreter
(:mod:`policylab.compile.interpret`): one register file ``(n_registers, runs)``, one NumPy
call per instruction. The stocks' registers are consecutive rows, so integration updates
them in place as one ``(n_stocks, runs)`` block. Rates are recomputed at every stage;
stateful builtins are hidden stocks (integrated here like any other) or pipelines (updated
once per step, after integration, from the values at the start of the step). The numba
engine runs the same tape with the same steps, checks and messages.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policylab.compile import Program
from policylab.compile.desugar import HIDDEN, describe, is_hidden
from policylab.compile import uniform
from policylab.compile.interpret import Machine, run
from policylab.compile.opcodes import Tape, step_footprint
from policylab.errors import SimulationError
from policylab.model.ir import Method, TimeSpec
from policylab.simulate.streams import Streams

Progress = Callable[[int], None]

CACHE_BYTES = 2 << 20  # a block of runs' step registers should fit in this (about one core's share of L2 + L3)
CHECK_EVERY = 16  # steps between the finiteness checks of a block of an ensemble (a block that fails runs again)
MAX_SEGMENTS = 4  # net flows in more runs of consecutive registers than this are gathered in one copy instead
HELD_BYTES = 32 << 20  # a prepared runner keeps machines holding at most this (registers and uniform lanes)
HELD_PER_SHAPE = 2  # and at most this many per time spec and block width (threads sharing a runner)
PER_CALL = 16384  # element-runs a NumPy call should cover on average: below that, its dispatch dominates


@dataclass
class Trajectory:
    """Saved values: ``data[name]`` has shape ``(n_saved_times, runs)``."""

    times: np.ndarray
    data: dict[str, np.ndarray]


class _Run:
    """One simulation on the NumPy interpreter: the register file, the decoded sections, the stocks' rows."""

    def __init__(self, program: Program, tape: Tape, spec: TimeSpec, streams: Streams,
                 columns: slice = slice(None)) -> None:
        self.program, self.tape, self.spec, self.streams = program, tape, spec, streams
        self.runs = streams.run_indices.shape[0]
        self.machine = Machine(tape, self.runs, spec.dt, self.draw, columns)
        self.registers = self.machine.registers
        self.clock = self.machine.clock
        self.init, self.stage_code, self.deriv_code = uniform.decode(self.machine)
        regs = tape.stock_registers
        first = int(regs[0]) if regs.size else 1
        if not np.array_equal(regs, np.arange(first, first + regs.size)):  # pragma: no cover - bind numbers them so
            raise SimulationError("the tape's stock registers are not consecutive")
        self.stocks = self.registers[first:first + regs.size]  # a view: integration writes the registers directly

    def nbytes(self) -> int:
        """What keeping this machine holds: its register file and the lanes of its uniform values."""
        return self.registers.nbytes + uniform.held_bytes(self.stage_code)

    def draw(self, site: int, counter: int) -> np.ndarray:
        """The uniform draws of the runs held (the decoded sections call this, whichever block is held)."""
        return self.streams.draw(site, counter)

    def restart(self, streams: Streams, columns: slice) -> None:
        """Hold another block of as many runs, from the start (the decoded sections are kept)."""
        self.streams = streams
        self.machine.restart(columns)

    def at(self, step: int, stage: int) -> None:
        """Set the clock (and the TIME register) to ``step`` and RK4 ``stage``."""
        self.clock.step, self.clock.stage = step, stage
        self.registers[0].fill(self.tape.times[step, stage])

    @property
    def time(self) -> float:
        """The clock's time (that of its step and stage)."""
        return float(self.tape.times[self.clock.step, self.clock.stage])

    def stage(self) -> None:
        """Inputs and rates at the clock's time, from the stocks' registers."""
        run(self.stage_code)

    def net_flows(self) -> np.ndarray:
        """The stocks' net flows ``(n_stocks, runs)`` at the current stage."""
        run(self.deriv_code)
        return self.registers[self.tape.deriv_registers]  # a copy (numpy.take with out= is three times slower)

    def load(self, state: np.ndarray) -> None:
        """Make ``state`` the stocks' values."""
        np.copyto(self.stocks, state)


class _Pipelines:
    """Ring buffers of DELAY_FIXED / PREVIOUS states."""

    def __init__(self, r: _Run, n_steps: int) -> None:
        registers, runs = r.registers, r.runs
        self.items = []
        for out, src, delay, init in r.tape.pipelines:
            start = registers[init].copy()
            steps = np.ones(runs, dtype=np.int64) if delay < 0 else _delay_steps(r, out, delay, n_steps)
            length = int(steps.max()) if runs else 1
            buffer = np.broadcast_to(start, (length, runs)).copy()
            self.items.append((registers[out], registers[src], steps, buffer, start))
            registers[out] = start
        self.pending = [np.empty(runs) for _ in self.items]
        self.columns = np.arange(runs)

    def read(self, step: int) -> None:
        for out, _src, steps, buffer, start in self.items:
            back = step - steps
            idx = np.mod(back, buffer.shape[0])
            out[...] = np.where(back >= 0, buffer[idx, self.columns], start)

    def remember(self) -> None:
        for (_out, src, _steps, _buffer, _start), pending in zip(self.items, self.pending, strict=True):
            np.copyto(pending, src)

    def commit(self, step: int) -> None:
        for (_out, _src, _steps, buffer, _start), value in zip(self.items, self.pending, strict=True):
            buffer[step % buffer.shape[0]] = value


def _delay_steps(r: _Run, out: int, delay: int, n_steps: int) -> np.ndarray:
    """A pipeline's delay in whole steps per run: at least 1, and at most the run's length
    (a longer delay never delivers within the run, so its buffer need not be longer)."""
    steps = r.registers[delay] / r.spec.dt
    bad = np.isnan(steps)
    if bad.any():
        owner = r.tape.names[int(out)].partition(HIDDEN)[0]
        raise delay_error(owner, int(r.streams.run_indices[int(np.argmax(bad))]))
    return np.clip(np.rint(steps), 1, n_steps + 1).astype(np.int64)


def _check_finite(r: _Run, time: float, start: tuple[np.ndarray, int] | None = None) -> None:
    """Raise if the stocks (at ``time``) are not finite, naming the first rate that was not.

    ``start`` is the state and step at the beginning of the step that produced the stocks: the
    rates are re-evaluated there first, so the error names the time a rate first went bad
    (for RK4 the rates left in the registers are those of its last stage).
    """
    state = r.stocks
    if np.isfinite(state).all():
        return
    if start is not None:
        last_stage, last_clock = r.registers.copy(), (r.clock.step, r.clock.stage)
        r.load(start[0])
        r.at(start[1], 0)
        r.stage()
        _raise_nonfinite_rate(r)
        r.registers[...] = last_stage
        r.clock.step, r.clock.stage = last_clock
    _raise_nonfinite_rate(r)
    bad_row = int(np.argwhere(~np.isfinite(state))[0][0])
    _raise_nonfinite(r, int(r.tape.stock_registers[bad_row]), state[bad_row], time)


def _raise_nonfinite_rate(r: _Run) -> None:
    for register in r.tape.rate_registers:
        value = r.registers[register]
        if not np.isfinite(value).all():
            _raise_nonfinite(r, int(register), value, r.time)


def _raise_nonfinite(r: _Run, register: int, value: np.ndarray, time: float) -> None:
    flat = np.broadcast_to(value, (r.runs,))
    position = int(np.argwhere(~np.isfinite(flat))[0][0])
    kind = "NaN" if np.isnan(flat[position]) else "infinite"
    raise nonfinite_error(r.tape.names[register], kind, time, int(r.streams.run_indices[position]))


def nonfinite_error(name: str, kind: str, time: float, run: int) -> SimulationError:
    """The error for a variable that became NaN or infinite (one wording for every backend)."""
    return SimulationError(
        f"{describe(name)} became {kind} at time {time:g} in run {run}; check its equation and the values it "
        f"reads (a division by zero, LN of a non-positive number, or an overflow)."
    )


def delay_error(owner: str, run: int) -> SimulationError:
    """The error for a DELAY_FIXED whose delay time is NaN at the start."""
    return SimulationError(f"the delay time of DELAY_FIXED inside {owner} is NaN in run {run}; check its equation")


def saved_times(spec: TimeSpec) -> tuple[int, np.ndarray]:
    """Steps between saved points (``save_every`` over ``dt``, at least 1) and the saved times."""
    stride = max(int(round(spec.save_every / spec.dt)), 1)
    return stride, spec.start + np.arange(spec.n_steps // stride + 1) * stride * spec.dt


def block_runs(tape: Tape, cache_bytes: int, per_call: int) -> int:
    """Runs per block for ``tape``: the most whose step registers fit in ``cache_bytes``, but no fewer than
    make an instruction cover ``per_call`` element-runs on average.

    One definition for both engines (each with its own cache budget and dispatch cost). An
    arrayed model's instructions each cover many elements, so its blocks can be narrow and its
    values stay in cache from one instruction to the next and one step to the next (a register
    file of 1,000 regions x 512 runs was 50 MB, and every instruction went to memory); a
    scalar model's cannot, and keeps wide blocks.
    """
    registers, count = step_footprint(tape)
    return max(cache_bytes // (8 * max(registers, 1)), math.ceil(per_call / max(count, 1.0)), 1)


class Machines:
    """Decoded machines of one lowered tape, kept between the simulations of a prepared runner.

    Building a machine (its register file, the uniform values' plan, the decoded sections) is per
    tape, not per call: one run of a 1,000-region model spent three times its steps' time on it
    (25 of 33 ms). A runner that simulates the same tape again takes a kept machine and restarts
    it on the call's runs, as the blocks of one ensemble do. Machines holding more than ``HELD_BYTES``
    (registers and uniform lanes) are not kept (their steps outweigh their set-up); threads that share a runner
    each take their own machine.
    """

    def __init__(self, program: Program, tape: Tape) -> None:
        self.program, self.tape = program, tape
        self._idle: dict[tuple[TimeSpec, int], list[_Run]] = {}
        self._lock = threading.Lock()

    def take(self, spec: TimeSpec, streams: Streams, columns: slice) -> _Run:
        """A machine holding the runs ``columns`` (``streams``' runs), at the start."""
        with self._lock:
            idle = self._idle.get((spec, columns.stop - columns.start))
            r = idle.pop() if idle else None
        if r is None:
            return _Run(self.program, self.tape, spec, streams, columns)
        r.restart(streams, columns)
        return r

    def give(self, r: _Run) -> None:
        """Keep ``r`` for a later simulation (at most ``HELD_PER_SHAPE`` per time spec and width)."""
        if r.nbytes() > HELD_BYTES:
            return
        with self._lock:
            idle = self._idle.setdefault((r.spec, r.runs), [])
            if len(idle) < HELD_PER_SHAPE:
                idle.append(r)


def simulate(
    program: Program,
    tape: Tape,
    spec: TimeSpec,
    streams: Streams,
    save: list[str],
    progress: Progress | None = None,
    machines: Machines | None = None,
) -> Trajectory:
    """Integrate ``tape`` (lowered from ``program``) from ``spec.start`` to ``spec.stop``, saving ``save`` every
    ``save_every``.

    The runs go in blocks (``block_runs``), each simulated from start to end on its own register
    file; runs are independent, so the numbers are those of one block. When a block meets a
    non-finite value, the whole ensemble runs again as one block, so the error names the step
    and run that one block names. Progress is reported after each block, in steps scaled by the
    runs done. ``machines``: the tape's kept machines, if the caller keeps them (a prepared runner).
    """
    if machines is None or machines.tape is not tape or machines.program is not program:
        machines = Machines(program, tape)
    runs = program.runs
    stride, times = saved_times(spec)
    out = {name: np.empty((len(times), runs)) for name in save}
    n_blocks = runs // max(block_runs(tape, CACHE_BYTES, PER_CALL), 2)  # never blocks of one run: a call per run
    if n_blocks <= 1:
        r = machines.take(spec, streams, slice(0, runs))
        _simulate_block(r, out, slice(0, runs), progress)
        machines.give(r)
    else:
        held: dict[int, _Run] = {}  # a machine per block width (they differ by one at most)
        try:
            for k in range(n_blocks):
                columns = slice(k * runs // n_blocks, (k + 1) * runs // n_blocks)
                part = streams.columns(columns)
                r = held.get(columns.stop - columns.start)
                if r is None:
                    r = held[columns.stop - columns.start] = machines.take(spec, part, columns)
                else:
                    r.restart(part, columns)
                _simulate_block(r, out, columns, None, CHECK_EVERY)
                if progress is not None:
                    progress(spec.n_steps * columns.stop // runs)
        except SimulationError:
            _simulate_block(_Run(program, tape, spec, streams), out, slice(0, runs), None)
            raise
        for r in held.values():
            machines.give(r)
    check_saved(out, times, streams.run_indices)
    return Trajectory(times, out)


def _simulate_block(r: _Run, out: dict[str, np.ndarray], columns: slice, progress: Progress | None,
                    check_every: int = 1) -> None:
    """Simulate the runs ``r`` holds into their ``columns`` of ``out``, checking the stocks are finite every
    ``check_every`` steps (and after the last)."""
    spec = r.spec
    stride, _times = saved_times(spec)
    save_rows = [(r.registers[r.program.slots[name] + 1], array[:, columns]) for name, array in out.items()]
    with np.errstate(all="ignore"):
        r.at(0, 0)
        run(r.init)
        pipelines = _Pipelines(r, spec.n_steps)  # after init: their start values and delays are computed there
        _check_finite(r, spec.start)
        _steps(r, pipelines, save_rows, stride, progress, check_every)


def _steps(r: _Run, pipelines: _Pipelines, save_rows: list[tuple[np.ndarray, np.ndarray]], stride: int,
           progress: Progress | None, check_every: int = 1) -> None:
    """Step from the start to the end: the per-step loop, kept free of attribute look-ups and calls it can avoid
    (a small model's single run spends most of its time here, not in the instructions).

    A stock that is not finite after its step's clipping stays so (adding to NaN or an infinity, or clipping
    NaN or +inf at zero, keeps it), so a check every ``check_every`` steps finds every failure a check per step
    finds, at most that many steps late: a block of an ensemble then runs again as one block that checks every
    step and names the first."""
    spec, tape, registers, clock = r.spec, r.tape, r.registers, r.clock
    dt, n_steps, stocks = spec.dt, spec.n_steps, r.stocks
    stage_code, deriv_code, deriv_registers = r.stage_code, r.deriv_code, tape.deriv_registers
    clock_row, times = registers[0], tape.times[:, 0]
    non_negative = tape.non_negative if tape.non_negative.size else None
    piped = bool(pipelines.items)
    rk4 = spec.method == Method.RK4
    start = np.empty_like(stocks)  # RK4's state at the start of a step (Euler's rates still hold it: see below)
    delta = np.empty_like(stocks)
    segments = _segments(deriv_registers)
    sliced = len(segments) <= MAX_SEGMENTS
    for i in range(n_steps + 1):
        clock.step = i
        clock.stage = 0
        clock_row.fill(times[i])
        if piped:
            pipelines.read(i)
        run(stage_code)
        if i % stride == 0:
            row = i // stride
            for register, array in save_rows:
                array[row] = register
            if progress is not None:
                progress(i)
        if i == n_steps:
            break
        if piped:
            pipelines.remember()
        if rk4:
            np.copyto(start, stocks)
            _rk4(r, start, dt)
        else:  # as state + dt * flows, reading the net flows' registers in place where they run consecutively
            run(deriv_code)
            if sliced:
                for row, register, n in segments:
                    np.multiply(registers[register:register + n], dt, out=delta[row:row + n])
            else:
                np.multiply(registers[deriv_registers], dt, out=delta)
            np.add(stocks, delta, out=stocks)
        if non_negative is not None:
            stocks[non_negative] = np.maximum(stocks[non_negative], 0.0)
        if piped:
            pipelines.commit(i)
        if (i + 1) % check_every and i + 1 < n_steps:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.add.reduce(stocks, axis=None))  # one pass: finite proves every stock finite
        if not math.isfinite(total) and not np.isfinite(stocks).all():
            # Euler's registers still hold the rates of the step's start, so they are checked as they are
            _check_finite(r, spec.start + (i + 1) * dt, (start, i) if rk4 else None)


def _segments(deriv_registers: np.ndarray) -> list[tuple[int, int, int]]:
    """The net flows' registers as runs of consecutive registers: (first stock row, first register, length). An
    arrayed model's net flows lie in a few such runs; reading them as slices spares a gathered copy per step."""
    out: list[tuple[int, int, int]] = []
    for row, register in enumerate(deriv_registers.tolist()):
        if out and out[-1][1] + out[-1][2] == register:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + 1)
        else:
            out.append((row, register, 1))
    return out


_RK4_STAGES = ((1, 0.5), (2, 0.5), (3, 1.0))  # (stage, weight of the previous slope)


def _rk4(r: _Run, start: np.ndarray, dt: float) -> None:
    """One classical Runge-Kutta step from ``start`` into the stocks' registers (stage 0 has been evaluated)."""
    step = r.clock.step
    k1 = r.net_flows()
    ks = [k1]
    for stage, weight in _RK4_STAGES:
        r.load(start + (weight * dt) * ks[-1])
        r.at(step, stage)
        r.stage()
        ks.append(r.net_flows())
    k1, k2, k3, k4 = ks
    np.copyto(r.stocks, start + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4))


def check_saved(out: dict[str, np.ndarray], times: np.ndarray, run_indices: np.ndarray) -> None:
    """Raise for the first saved user variable that is NaN or infinite somewhere.

    A finite sum proves a variable finite in one pass without a temporary (any NaN or infinity
    makes the sum NaN or infinite); only a sum that is not finite (or overflows) looks closer.
    """
    for name, array in out.items():
        with np.errstate(all="ignore"):
            if math.isfinite(array.sum()):
                continue
        if not np.isfinite(array).all():
            row, run = (int(x) for x in np.argwhere(~np.isfinite(array))[0])
            if is_hidden(name):
                continue
            kind = "NaN" if np.isnan(array[row, run]) else "infinite"
            raise nonfinite_error(name, kind, float(times[row]), int(run_indices[run]))
