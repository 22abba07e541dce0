"""Euler and RK4 over an ensemble axis: every equation is evaluated once per stage for all runs.

Stocks live in one contiguous ``(n_stocks, runs)`` float64 array; the program's slots
for stocks are views of its rows. Rates are recomputed at every stage; stateful
builtins are hidden stocks (integrated here like any other) or pipelines (updated once
per step, after integration, from the values at the start of the step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policylab.compile import Program
from policylab.compile.desugar import HIDDEN, describe, is_hidden
from policylab.errors import SimulationError
from policylab.model.ir import Method, TimeSpec
from policylab.simulate.streams import Streams

Progress = Callable[[int], None]


class _Env:
    """The run-time environment closures read."""

    __slots__ = ("v", "time", "dt", "step", "streams")

    def __init__(self, values: list, dt: float, streams: Streams) -> None:
        self.v = values
        self.time = 0.0
        self.dt = dt
        self.step = 0
        self.streams = streams

    def uniform(self, site: int) -> np.ndarray:
        return self.streams.draw(site, self.step)


@dataclass
class Trajectory:
    """Saved values: ``data[name]`` has shape ``(n_saved_times, runs)``."""

    times: np.ndarray
    data: dict[str, np.ndarray]


def _stage(program: Program, env: _Env) -> None:
    v = env.v
    for slot, fn in program.input_steps:
        v[slot] = fn(env)
    for slot, fn in program.rate_steps:
        v[slot] = fn(env)


def _load_state(program: Program, env: _Env, state: np.ndarray) -> None:
    for row, slot in enumerate(program.stock_slots):
        env.v[slot] = state[row]


def _net_flows(program: Program, env: _Env, out: np.ndarray) -> np.ndarray:
    for row, fn in enumerate(program.derivatives):
        out[row] = fn(env) if callable(fn) else fn.value  # type: ignore[union-attr]
    return out


class _Pipelines:
    """Ring buffers of DELAY_FIXED / PREVIOUS states."""

    def __init__(self, program: Program, env: _Env, runs: int, n_steps: int) -> None:
        self.items = []
        for out, src, delay, init in program.pipelines:
            start = np.broadcast_to(np.asarray(env.v[init], dtype=float), (runs,)).copy()
            steps = np.ones(runs, dtype=np.int64) if delay is None else _delay_steps(program, env, out, delay, n_steps)
            length = int(steps.max())
            buffer = np.broadcast_to(start, (length, runs)).copy()
            self.items.append((out, src, steps, buffer, start))
            env.v[out] = start.copy()
        self.pending: list[np.ndarray] = []
        self.columns = np.arange(runs)

    def read(self, env: _Env, step: int) -> None:
        for out, _src, steps, buffer, start in self.items:
            back = step - steps
            idx = np.mod(back, buffer.shape[0])
            env.v[out] = np.where(back >= 0, buffer[idx, self.columns], start)

    def remember(self, env: _Env) -> None:
        self.pending = [np.array(env.v[src], dtype=float) for _out, src, _s, _b, _st in self.items]

    def commit(self, step: int) -> None:
        for (_out, _src, _steps, buffer, _start), value in zip(self.items, self.pending, strict=True):
            buffer[step % buffer.shape[0]] = value


def _delay_steps(program: Program, env: _Env, out: int, delay: int, n_steps: int) -> np.ndarray:
    """A pipeline's delay in whole steps per run: at least 1, and at most the run's length
    (a longer delay never delivers within the run, so its buffer need not be longer)."""
    steps = np.broadcast_to(np.asarray(env.v[delay], dtype=float), (program.runs,)) / env.dt
    bad = np.isnan(steps)
    if bad.any():
        owner = next(n for n, s in program.slots.items() if s == out).partition(HIDDEN)[0]
        raise delay_error(owner, int(env.streams.run_indices[int(np.argmax(bad))]))
    return np.clip(np.rint(steps), 1, n_steps + 1).astype(np.int64)


def _check_finite(
    program: Program, env: _Env, state: np.ndarray, time: float, start: tuple[np.ndarray, float] | None = None
) -> None:
    """Raise if ``state`` (the stocks at ``time``) is not finite, naming the first rate that was not.

    ``start`` is the state and time at the beginning of the step that produced ``state``: the
    rates are re-evaluated there first, so the error names the time a rate first went bad
    (for RK4 the rates left in ``env`` are those of its last stage, at ``env.time``).
    """
    if np.isfinite(state).all():
        return
    if start is not None:
        last_stage, last_time = list(env.v), env.time
        _load_state(program, env, start[0])
        env.time = start[1]
        _stage(program, env)
        _raise_nonfinite_rate(program, env)
        env.v[:], env.time = last_stage, last_time
    _raise_nonfinite_rate(program, env)
    bad_row = int(np.argwhere(~np.isfinite(state))[0][0])
    _raise_nonfinite(program, env, program.stock_slots[bad_row], state[bad_row], time)


def _raise_nonfinite_rate(program: Program, env: _Env) -> None:
    for slot, _fn in program.rate_steps:
        value = np.asarray(env.v[slot])
        if not np.isfinite(value).all():
            _raise_nonfinite(program, env, slot, value, env.time)


def _raise_nonfinite(program: Program, env: _Env, slot: int, value: np.ndarray, time: float) -> None:
    name = next(n for n, s in program.slots.items() if s == slot)
    flat = np.broadcast_to(value, (program.runs,))
    position = int(np.argwhere(~np.isfinite(flat))[0][0])
    kind = "NaN" if np.isnan(flat[position]) else "infinite"
    raise nonfinite_error(name, kind, time, int(env.streams.run_indices[position]))


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


def simulate(
    program: Program,
    spec: TimeSpec,
    streams: Streams,
    save: list[str],
    progress: Progress | None = None,
) -> Trajectory:
    """Integrate ``program`` from ``spec.start`` to ``spec.stop``, saving ``save`` every ``save_every``."""
    runs, dt = program.runs, spec.dt
    env = _Env(list(program.values), dt, streams)
    env.time = spec.start
    stride, times = saved_times(spec)
    n_steps = spec.n_steps
    n_saves = len(times)
    out = {name: np.empty((n_saves, runs)) for name in save}
    save_slots = [(program.slots[name], out[name]) for name in save]
    with np.errstate(all="ignore"):
        for slot, fn in program.input_steps:
            env.v[slot] = fn(env)
        for slot, fn in program.init_steps:
            env.v[slot] = fn(env)
        pipelines = _Pipelines(program, env, runs, n_steps)  # after init: their start values and delays are computed there
        n = len(program.stock_slots)
        state = np.empty((n, runs))
        for row, slot in enumerate(program.stock_slots):
            state[row] = env.v[slot]
        _load_state(program, env, state)
        _check_finite(program, env, state, spec.start)
        flows = np.empty((n, runs))
        stepper = _rk4 if spec.method == Method.RK4 else _euler
        for i in range(n_steps + 1):
            env.step = i
            env.time = spec.start + i * dt
            pipelines.read(env, i)
            _stage(program, env)
            if i % stride == 0:
                row = i // stride
                for slot, array in save_slots:
                    array[row] = env.v[slot]
                if progress is not None:
                    progress(i)
            if i == n_steps:
                break
            pipelines.remember(env)
            step_start = (state, env.time)
            state = stepper(program, env, state, flows, dt)
            if program.non_negative:
                state[program.non_negative] = np.maximum(state[program.non_negative], 0.0)
            _load_state(program, env, state)
            pipelines.commit(i)
            _check_finite(program, env, state, spec.start + (i + 1) * dt, step_start)
    check_saved(out, times, streams.run_indices)
    return Trajectory(times, out)


def _euler(program: Program, env: _Env, state: np.ndarray, flows: np.ndarray, dt: float) -> np.ndarray:
    _net_flows(program, env, flows)
    return state + dt * flows


def _rk4(program: Program, env: _Env, state: np.ndarray, flows: np.ndarray, dt: float) -> np.ndarray:
    t0 = env.time
    k1 = _net_flows(program, env, np.empty_like(flows))
    ks = [k1]
    for fraction, weight in ((0.5, 0.5), (0.5, 0.5), (1.0, 1.0)):
        trial = state + (weight * dt) * ks[-1]
        _load_state(program, env, trial)
        env.time = t0 + fraction * dt
        _stage(program, env)
        ks.append(_net_flows(program, env, np.empty_like(flows)))
    k1, k2, k3, k4 = ks
    return state + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def check_saved(out: dict[str, np.ndarray], times: np.ndarray, run_indices: np.ndarray) -> None:
    """Raise for the first saved user variable that is NaN or infinite somewhere."""
    for name, array in out.items():
        if not np.isfinite(array).all():
            row, run = (int(x) for x in np.argwhere(~np.isfinite(array))[0])
            if is_hidden(name):
                continue
            kind = "NaN" if np.isnan(array[row, run]) else "infinite"
            raise nonfinite_error(name, kind, float(times[row]), int(run_indices[run]))
