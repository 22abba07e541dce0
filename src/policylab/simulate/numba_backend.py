"""The compiled backend: runs an opcode tape on the numba kernels of ``numba_kernels``.

This module is the Python side: it allocates a simulation's arrays, splits the runs into blocks
(:func:`block_width`), chooses the serial or parallel kernels, compiles them once per installation
under a file lock, reports progress, and names a failed run's error as the NumPy engine names it.
The kernels themselves live in ``policylab.simulate.numba_kernels`` so that editing this file does
not invalidate numba's on-disk cache (a recompile costs minutes).

Concurrency
-----------
The kernels release the GIL (``nogil``), so simulations run in parallel from several
Python threads. numba's thread pool (the ``prange`` kernels) may be entered by one thread
at a time; a simulation that finds it busy waits for it up to ``POOL_WAIT`` seconds (a
slider move's kernel takes less), and only then runs ``1/POOL_RETRIES`` of its steps on its
own thread with the serial kernels, then tries again, so that it takes the pool once the
other simulation is done with it rather than finishing on one core while the others idle.
Not waiting at all cost more than it saved: the serial thread beside the pool's two on a
two-core machine slowed the pool's statically split kernel by up to its block (two 200-run
flagship ensembles at once from two threads: 123 ms against 89 ms one after the other;
waiting, 96 ms). A run that holds the pool steps to the end in one call (eight
calls each time cost a single slider move 10–15 % on a quiet machine). Blocks are independent, so the results are the same either way.
The pool's idle threads sleep (``OMP_WAIT_POLICY=passive`` unless set): by default
OpenMP's spin for milliseconds after each kernel, taking a core from the Python that
follows it and from a simulation running beside it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from policylab.compile import Program
from policylab.compile.desugar import HIDDEN
from policylab.compile.opcodes import COUNT, STRIDE_BITS, STRIDES, Op, Tape
from policylab.model.ir import Method, TimeSpec
from policylab.simulate.engine import (CACHE_BYTES, Trajectory, block_runs, check_saved, delay_error, nonfinite_error,
                                       saved_times)
from policylab.simulate.numba_kernels import (D_DELAY, D_LAST, D_SIZE, D_START, D_STOCK, DISPATCHED, _init_parallel,
                                              _init_serial, _simulate_parallel, _simulate_serial, _steps_parallel,
                                              _steps_serial, cache_folder)
from policylab.simulate.streams import Streams

BLOCK = 512  # most runs per register file: long enough to amortise dispatch, small enough to stay in L2
ONE_BY_ONE = 8  # ensembles of at most this many runs run as blocks of one run (``block_width``)

_POOL = threading.Lock()  # numba's thread pool (the prange kernels) may be entered by one Python thread at a time
POOL_WAIT = 0.1  # seconds a run of several blocks waits for a busy pool before stepping a share of its steps itself
POOL_RETRIES = 8  # ... that share: 1/8 of its steps serially, then it tries (and waits) again
_KERNELS = {False: (_init_serial, _steps_serial, _simulate_serial),
            True: (_init_parallel, _steps_parallel, _simulate_parallel)}
_loaded: set[bool] = set()  # kernels (serial, parallel) this process has compiled or loaded
_loading = threading.Lock()
_NO_PIPES = np.zeros(0, dtype=np.int64)
_SERIAL = nullcontext(False)  # the serial kernels, already loaded
log = logging.getLogger("policylab")


def supports(tape: Tape) -> str | None:
    """None if this interpreter runs every instruction of ``tape``, else what it lacks (the caller falls back)."""
    unknown = sorted(set(np.unique(tape.code[:, 0]).tolist()) - {int(op) for op in DISPATCHED})
    if unknown:
        return f"the numba interpreter has no opcode {unknown}"
    counts, strides = tape.code[:, COUNT], tape.code[:, STRIDES]
    if (counts < 1).any() or (strides & ~STRIDE_BITS).any() or (
            (tape.code[:, 0] == Op.SUM) & (strides & 1 == 0)).any():
        return "the tape has an element count or stride mask this interpreter does not know"
    for offset, n, _kind, _search in tape.table_index.tolist():
        xs = tape.table_data[offset:offset + n]
        if n == 0 or np.isnan(xs).any() or (np.diff(xs) < 0).any():  # its searches assume ascending x values
            return "a lookup table has x values that are not sorted ascending"
    return None


def needs_compiling(parallel: bool) -> bool:
    """Whether numba's on-disk cache lacks the (serial or parallel) interpreter: first use after installing."""
    try:
        return any(not kernel._cache._cache_file._load_index() for kernel in _KERNELS[parallel])
    except Exception:  # noqa: BLE001 - numba's cache internals: if they change, just say nothing
        return False


def _kernels(blocks: int) -> AbstractContextManager[bool]:
    """Whether one kernel call over ``blocks`` blocks runs the parallel kernel: numba's pool is free (held till the
    call ends); else this thread runs the blocks itself with the serial one, without waiting."""
    if blocks == 1 and False in _loaded:  # a single run's common case, without a generator's set-up
        return _SERIAL
    return _pool_or_serial(blocks)


@contextmanager
def _pool_or_serial(blocks: int) -> Iterator[bool]:
    """:func:`_kernels`: takes numba's pool if it is free, and sees to the kernels' first use."""
    parallel = blocks > 1 and _POOL.acquire(timeout=POOL_WAIT)
    try:
        with _first_use(parallel):
            yield parallel
    finally:
        if parallel:
            _POOL.release()


@contextmanager
def _first_use(parallel: bool) -> Iterator[None]:
    """Around this process's first run of the (serial or parallel) kernels: one process at a time compiles.

    The first process to get the cache folder's lock compiles and writes the cache; a process
    that waited finds the cache filled and loads it. Says once why the first run takes a minute.
    """
    if parallel in _loaded:
        yield
        return
    with _loading:
        if parallel in _loaded:
            yield
            return
        with _cache_lock(parallel):
            if needs_compiling(parallel):
                log.warning("policylab: compiling the numba backend's interpreter for this installation "
                            "(once, 3-4 minutes of CPU; later runs load it from disk)")
            yield
        _loaded.add(parallel)


@contextmanager
def _cache_lock(parallel: bool) -> Iterator[None]:
    """An exclusive lock on compiling this installation's serial (or parallel) kernels across processes (none if the
    folder cannot be written). One lock per variant: two processes compile the two variants at once, on two cores."""
    try:
        folder = cache_folder()
        folder.mkdir(parents=True, exist_ok=True)
        # one lock per installation (numba keeps one cache per source path): others compile meanwhile
        installation = hashlib.sha1(str(Path(__file__).resolve()).encode()).hexdigest()[:16]
        variant = "parallel" if parallel else "serial"
        handle = open(folder / f"policylab-compile-{installation}-{variant}.lock", "a+")  # noqa: SIM115 - held for the with block
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Layout:
    """How one (tape, time spec, saved variables, thread count)'s arrays are laid out: the same for every call,
    so a prepared runner computes it once (sizing the blocks alone cost a single teacup run's time again)."""

    width: int  # runs per block
    n_blocks: int
    stride: int  # steps between saved times
    times: np.ndarray  # the saved times
    sections: np.ndarray  # the tape's init, stage and deriv bounds, flat
    save_regs: np.ndarray  # the register of each saved variable
    fail: np.ndarray  # per block, the step it failed at: none yet (copied for each simulation)
    diag: np.ndarray  # per block, what a failed step found: nothing yet (copied)
    pipe_steps: np.ndarray  # per pipeline and run, its delay in steps: one until the start values set it (copied)


def layout(program: Program, tape: Tape, spec: TimeSpec, save: list[str]) -> Layout:
    """The :class:`Layout` of ``program``'s runs of ``tape`` saving ``save`` at ``spec``'s interval."""
    stride, times = saved_times(spec)
    runs = program.runs
    width = block_width(runs, threads(), block_runs(tape, CACHE_BYTES, BLOCK) if runs > 1 else 1)
    n_blocks = -(-runs // width)
    return Layout(width, n_blocks, stride, times,
                  np.array([*tape.init, *tape.stage, *tape.deriv], dtype=np.int64),
                  np.array([program.slots[name] + 1 for name in save], dtype=np.int64),
                  np.full(n_blocks, spec.n_steps + 1, dtype=np.int64), np.full((n_blocks, D_SIZE), -1, dtype=np.int64),
                  np.ones((tape.pipelines.shape[0], runs), dtype=np.int64))


class _Run:
    """The arrays of one simulation: the tape's, plus the state that persists between calls."""

    def __init__(self, program: Program, tape: Tape, spec: TimeSpec, streams: Streams, save: list[str],
                 shape: Layout | None = None, run_values: np.ndarray | None = None) -> None:
        shape = layout(program, tape, spec, save) if shape is None else shape
        self.program, self.tape, self.spec, self.streams = program, tape, spec, streams
        self.run_values = tape.run_values if run_values is None else run_values
        self.runs = program.runs
        self.n_steps = spec.n_steps
        self.stride, self.times = shape.stride, shape.times.copy()
        self.n_saves = len(self.times)
        self.width, self.n_blocks = shape.width, shape.n_blocks
        self.sections, self.save_regs = shape.sections, shape.save_regs
        self.shape = shape
        self.out = np.empty((len(save), self.n_saves, self.runs))
        self.keys = np.ascontiguousarray(streams.keys, dtype=np.uint64)

    def start(self) -> None:
        """Registers and pipelines at the start time (raises on a NaN delay or non-finite start)."""
        tape, runs = self.tape, self.runs
        self.registers = np.zeros((self.n_blocks, tape.n_registers, self.width))
        n_pipes = tape.pipelines.shape[0]
        self.pipe_steps = self.shape.pipe_steps.copy()
        self.pipe_start = np.zeros((n_pipes, runs))
        self.fail = self.shape.fail.copy()
        self.diag = self.shape.diag.copy()
        with _kernels(self.n_blocks) as parallel:
            (_init_parallel if parallel else _init_serial)(
                tape.code, self.sections, self.registers, runs, self.spec.dt, self.n_steps, self.keys,
                tape.scalar_registers, tape.scalar_values, tape.run_registers, self.run_values, tape.lever_path,
                tape.lever_flag, tape.events, tape.times, tape.table_index, tape.table_data, tape.table_params,
                tape.pipelines, self.pipe_steps, self.pipe_start, tape.stock_registers, tape.rate_registers,
                self.fail, self.diag)
        if _largest(self.diag[:, D_DELAY]) >= 0:
            self._raise_delay()
        if n_pipes:
            self.pipe_length = np.maximum(self.pipe_steps.max(axis=1), 1) if runs else np.ones(n_pipes, np.int64)
            self.pipe_offset = np.concatenate([[0], np.cumsum(self.pipe_length)[:-1]]).astype(np.int64)
            self.buffers = np.repeat(self.pipe_start, self.pipe_length, axis=0)
        else:
            self.pipe_length = self.pipe_offset = _NO_PIPES
            self.buffers = np.zeros((0, runs))
        if _least(self.fail) < 0:
            self._raise_nonfinite(None)

    def steps(self, first: int, last: int, diag_step: int = -2, busy_last: int | None = None) -> int:
        """Steps ``first`` to ``last - 1`` (to ``busy_last - 1`` when numba's pool is busy); the step reached."""
        tape = self.tape
        with _kernels(self.n_blocks) as parallel:
            if not parallel and busy_last is not None:
                last = min(last, busy_last)
            (_steps_parallel if parallel else _steps_serial)(
                tape.code, self.sections, self.registers, self.runs, self.spec.dt, self.n_steps, self.stride,
                tape.method == Method.RK4, first, last, diag_step, self.keys, tape.lever_path, tape.lever_flag,
                tape.events, tape.times, tape.table_index, tape.table_data, tape.table_params, tape.pipelines,
                self.pipe_steps, self.pipe_start, self.buffers, self.pipe_offset, self.pipe_length,
                tape.stock_registers, tape.deriv_registers, tape.non_negative, tape.rate_registers, self.save_regs,
                self.out, self.fail, self.diag)
        return last

    def failed_step(self) -> int | None:
        worst = _least(self.fail)
        return worst if worst <= self.n_steps else None

    # errors named exactly as the NumPy engine names them ---------------------------------
    def _raise_delay(self) -> None:
        found = _combine(self.diag, D_DELAY, self.width, with_kind=False)
        if found is not None:
            pipe, position, _ = found
            out_slot = int(self.tape.pipelines[pipe, 0])
            owner = self.tape.names[out_slot].partition(HIDDEN)[0]
            raise delay_error(owner, int(self.streams.run_indices[position]))

    def _raise_nonfinite(self, step: int | None) -> None:
        spec, tape = self.spec, self.tape
        last_time = spec.start if step is None else float(tape.times[step, -1 if tape.method == Method.RK4 else 0])
        checks = [] if step is None else [(D_START, tape.rate_registers, float(tape.times[step, 0]))]
        stock_time = spec.start if step is None else spec.start + (step + 1) * spec.dt
        checks += [(D_LAST, tape.rate_registers, last_time), (D_STOCK, tape.stock_registers, stock_time)]
        for at, registers, time in checks:
            found = _combine(self.diag, at, self.width, with_kind=True)
            if found is not None:
                index, position, is_nan = found
                name = self.tape.names[int(registers[index])]
                raise nonfinite_error(name, "NaN" if is_nan else "infinite", time,
                                      int(self.streams.run_indices[position]))
        raise AssertionError("the compiled backend lost track of a non-finite value")  # pragma: no cover


def _least(values: np.ndarray) -> int:
    """The smallest of a few blocks' integers (a NumPy reduction costs microseconds more than a list's ``min``)."""
    return min(values.tolist()) if values.size <= 64 else int(values.min())


def _largest(values: np.ndarray) -> int:
    """The largest of a few blocks' integers, as :func:`_least`."""
    return max(values.tolist()) if values.size <= 64 else int(values.max())


def threads() -> int:
    """numba's thread count for this thread's parallel kernels (a layout's block width depends on it)."""
    return int(numba.get_num_threads())


def block_width(runs: int, threads: int, most: int = BLOCK) -> int:
    """Runs per block: at most BLOCK (and ``most``, what the tape's registers allow in cache), and small
    enough that every thread gets a block. An ensemble of at most ONE_BY_ONE runs gets blocks of one run: the
    single run's path, without loops over runs, beats a narrow block's (best of 20, 2 threads: flagship 4
    runs 25 -> 9.6 ms, 8 runs 26 -> 15 ms; rivals 4 runs 3.1 -> 1.4 ms; at 16 runs the block wins). Small
    ensembles are split between the threads too (flagship 16 runs: one block 29 ms, two 15 ms; 24 runs 34
    against 23 ms)."""
    if runs <= ONE_BY_ONE:
        return 1
    per_thread = -(-runs // max(threads, 1))
    return max(min(most, BLOCK, per_thread), 1)


def _combine(diag: np.ndarray, at: int, width: int, with_kind: bool) -> tuple[int, int, int] | None:
    """Across blocks: the smallest index found, at its first run (as NumPy scans the whole ensemble)."""
    hits = np.nonzero(diag[:, at] >= 0)[0]
    if not hits.size:
        return None
    index = int(diag[hits, at].min())
    block = int(hits[diag[hits, at] == index][0])
    kind = int(diag[block, at + 2]) if with_kind else 0
    return index, block * width + int(diag[block, at + 1]), kind


def simulate(
    program: Program,
    tape: Tape,
    spec: TimeSpec,
    streams: Streams,
    save: list[str],
    progress: Callable[[int], None] | None = None,
    shape: Layout | None = None,
    run_values: np.ndarray | None = None,
) -> Trajectory:
    """Integrate ``tape`` (lowered from ``program``) like :func:`policylab.simulate.engine.simulate`.

    ``shape``: the :func:`layout` of these arguments, if the caller keeps it; ``run_values``: the per-run
    registers' values, if not the tape's (a prepared tape's parameters, without copying the tape).
    """
    shape = layout(program, tape, spec, save) if shape is None else shape
    run_values = tape.run_values if run_values is None else run_values
    if progress is None and shape.n_blocks == 1:
        done = _in_one_call(program, tape, spec, streams, save, shape, run_values)
        if done is not None:
            return done
    elif progress is None and not tape.pipelines.shape[0]:
        done = _in_parallel_call(program, tape, spec, streams, save, shape, run_values)
        if done is not None:
            return done
    run = _Run(program, tape, spec, streams, save, shape, run_values)
    _integrate(run, progress)
    return _trajectory(run.out, run.times, save, streams)


def _trajectory(out: np.ndarray, times: np.ndarray, save: list[str], streams: Streams) -> Trajectory:
    """The saved values ``out`` as a Trajectory, each finite or named by ``check_saved``."""
    data = {name: out[k] for k, name in enumerate(save)}
    with np.errstate(all="ignore"):
        finite = math.isfinite(out.sum())  # one pass proves every saved value finite (NaN and inf propagate)
    if not finite:
        check_saved(data, times, streams.run_indices)
    return Trajectory(times, data)


def _in_one_call(program: Program, tape: Tape, spec: TimeSpec, streams: Streams, save: list[str], shape: Layout,
                 run_values: np.ndarray) -> Trajectory | None:
    """One block's simulation in one kernel call (``_simulate_serial``); None if something went wrong (a
    non-finite value, a NaN delay), which the caller's step-by-step simulation then names."""
    out = np.empty((len(save), len(shape.times), program.runs))
    keys = np.ascontiguousarray(streams.keys, dtype=np.uint64)
    with _kernels(1):
        done = _simulate_serial(
            tape.code, shape.sections, tape.n_registers, program.runs, spec.dt, spec.n_steps, shape.stride,
            tape.method == Method.RK4, keys, tape.scalar_registers, tape.scalar_values, tape.run_registers, run_values,
            tape.lever_path, tape.lever_flag, tape.events, tape.times, tape.table_index, tape.table_data,
            tape.table_params, tape.pipelines, tape.stock_registers, tape.deriv_registers, tape.non_negative,
            tape.rate_registers, shape.save_regs, out)
    return Trajectory(shape.times.copy(), {name: out[k] for k, name in enumerate(save)}) if done else None


def _in_parallel_call(program: Program, tape: Tape, spec: TimeSpec, streams: Streams, save: list[str], shape: Layout,
                      run_values: np.ndarray) -> Trajectory | None:
    """Several blocks in one parallel kernel call, a register file per thread (``_simulate_parallel``); None if
    numba's pool is busy or something went wrong, which the caller's call-by-call simulation then shares or names."""
    runs = program.runs
    with _kernels(shape.n_blocks) as parallel:
        if not parallel:
            return None
        out = np.empty((len(save), len(shape.times), runs))
        fail = shape.fail.copy()
        _simulate_parallel(
            tape.code, shape.sections, tape.n_registers, shape.width, min(threads(), shape.n_blocks), runs, spec.dt,
            spec.n_steps, shape.stride, tape.method == Method.RK4, np.ascontiguousarray(streams.keys, dtype=np.uint64),
            tape.scalar_registers, tape.scalar_values, tape.run_registers, run_values, tape.lever_path, tape.lever_flag,
            tape.events, tape.times, tape.table_index, tape.table_data, tape.table_params, tape.pipelines,
            tape.stock_registers, tape.deriv_registers, tape.non_negative, tape.rate_registers, shape.save_regs, out,
            fail)
    if _least(fail) <= spec.n_steps:
        return None
    return _trajectory(out, shape.times.copy(), save, streams)


def _integrate(run: _Run, progress: Callable[[int], None] | None) -> None:
    """Start, step to the end (reporting progress), and on a non-finite state name what went wrong."""
    run.start()
    n = run.n_steps
    chunk = n + 1 if progress is None else max(run.stride, (n + 1) // 20)
    retry = -(-(n + 1) // POOL_RETRIES) if run.n_blocks > 1 else None  # one block never uses the pool
    first = 0
    bad = None
    while first <= n:
        end = min(first + chunk, n + 1)
        last = run.steps(first, end, busy_last=None if retry is None else first + retry)
        bad = run.failed_step()
        if bad is not None:
            break
        if progress is not None:
            for i in range(first, last):
                if i % run.stride == 0:
                    progress(i)
        first = last
    if bad is not None:  # run again to that step, and look at every block there, as NumPy does
        run.start()
        run.diag[:] = -1
        run.steps(0, bad + 1, diag_step=bad)
        run._raise_nonfinite(bad)


__all__ = ["BLOCK", "DISPATCHED", "Layout", "block_width", "cache_folder", "layout", "simulate", "supports", "threads"]

