"""Values the same for every run are computed once over the clock; IFs of such a condition run one branch.

The reference is the tape run instruction by instruction over every run (``Machine.decode``
of each section, what the NumPy engine did before): the engine with lanes must give the
same numbers, in Euler and RK4, with levers, events, lookups of TIME, per-run parameters,
one run or many, and with the lane's table computed a chunk at a time. The numba engine is
compared with the NumPy engine by the property tests in ``tests/simulate/test_backends.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from policylab.api import Model
from policylab.compile import uniform
from policylab.compile.interpret import Machine
from policylab.compile.opcodes import Op, Tape, lower
from policylab.compile.plan import bind
from policylab.formats.yaml_reader import read_yaml_text


def text(method: str = "euler") -> str:
    """A model whose rates mix values of the clock (TIME, a lever path, an event, a lookup of TIME, IFs of
    TIME) with values of each run (stocks, a sampled constant, draws)."""
    return f"""model: clocked
time: {{start: 0, stop: 12, dt: 0.25, method: {method}}}
constants:
  rate: {{value: 0.2, range: [0.1, 0.3], judgement: true}}
  base: 3
lookups:
  season: {{points: [[0, 1], [3, 1.5], [6, 0.5], [12, 1]], extrapolation: linear}}
levers:
  effort: {{baseline: 1, range: [0, 3], path: {{4: 2, 8: 0.5}}}}
events:
  shock: {{dates: [5], magnitude: 4}}
stocks:
  stock: {{initial: base * 2, in: [growth], out: [loss]}}
  other: {{initial: 1, in: [loss]}}
flows:
  growth: {{equation: 'rate * stock * seasonal + shock'}}
  loss: {{equation: 'if time < 6 then effort * 0.1 * stock else ln(1 + stock) * uniform(0, 0.2) + later'}}
auxiliaries:
  seasonal: {{equation: 'season(time) * (1 + 0.1 * sin(time))'}}
  later: {{equation: 'if time > 3 and effort > 1 then step(base, 7) + ramp(0.5, 2, 9) else -0'}}
  mixed: {{equation: 'if stock > base then seasonal else if_then_else(time < 2, other, -0 * stock)'}}
"""


def tape_of(model: Model, runs: int) -> Tape:
    call = model.prepare_call(runs=runs)
    return lower(model.compiled, bind(model.compiled, call.inputs, runs, False), call.inputs)


def plain(m: Machine) -> tuple[list, list, list]:
    """Every instruction over every run: the interpreter without lanes."""
    return m.decode(m.tape.init), m.decode(m.tape.stage), m.decode(m.tape.deriv)


def test_values_of_the_clock_are_uniform_and_values_of_stocks_and_draws_are_per_run() -> None:
    tape = tape_of(Model(read_yaml_text(text(), "clocked.yaml")), 4)
    p = uniform.plan(tape)
    register = {name: r for r, name in tape.names.items()}
    kinds = {e.pc: e for e in p.stage}
    written = {int(tape.code[pc, 1]): kinds[pc] for pc in range(*tape.stage)}
    for name in ("seasonal", "later", "effort", "shock"):
        assert isinstance(written[register[name]], uniform.Uniform), name
        assert written[register[name]].fill, name  # a variable: its row holds it too
    for name in ("growth", "loss", "mixed"):
        assert isinstance(written[register[name]], uniform.PerRun), name
    draws = [e for e in p.stage if tape.code[e.pc, 0] == Op.UNIFORM]
    assert draws and all(isinstance(e, uniform.PerRun) for e in draws)


def test_an_if_of_a_uniform_condition_runs_only_the_branch_taken() -> None:
    tape = tape_of(Model(read_yaml_text(text(), "clocked.yaml")), 4)
    draws = lambda _site, _step: np.full(4, 0.5)  # noqa: E731
    _init, stage, _deriv = uniform.decode(Machine(tape, 4, 0.25, draws))
    branches = [args for kernel, args in stage if kernel is uniform._branch]
    assert branches, "loss's IF of TIME is a branch"
    assert any(otherwise and len(otherwise) > len(then) for _c, then, otherwise, *_ in branches)  # ln, the draw: else
    assert len(stage) < len(plain(Machine(tape, 4, 0.25, draws))[1])


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("runs", [1, 7])
@pytest.mark.parametrize("budget", [uniform.BUDGET, 5])  # 5: the lane's table a few points at a time
def test_the_engine_gives_the_numbers_of_the_plain_interpreter(monkeypatch, method: str, runs: int,
                                                                budget: int) -> None:  # type: ignore[no-untyped-def]
    model = Model(read_yaml_text(text(method), "clocked.yaml"))
    params = {"base": np.linspace(2, 4, runs)} if runs > 1 else {}
    with monkeypatch.context() as patch:
        patch.setattr(uniform, "decode", plain)
        expected = model.run(runs=runs, seed=3, params=params)
    monkeypatch.setattr(uniform, "BUDGET", budget)
    actual = Model(read_yaml_text(text(method), "clocked.yaml")).run(runs=runs, seed=3, params=params)
    for name in expected.data_vars:
        np.testing.assert_allclose(actual[name].values, expected[name].values, rtol=1e-12, atol=0, err_msg=name)


def test_a_scenario_that_sets_a_lever_per_run_makes_it_per_run() -> None:
    model = Model(read_yaml_text(text(), "clocked.yaml"))
    call = model.prepare_call(runs=3, params={"effort": np.array([0.5, 1.0, 2.0])})
    tape = lower(model.compiled, bind(model.compiled, call.inputs, 3, False), call.inputs)
    register = {name: r for r, name in tape.names.items()}
    levers = [e for e in uniform.plan(tape).stage if tape.code[e.pc, 0] == Op.LEVER
              and tape.code[e.pc, 1] == register["effort"]]
    assert levers and all(isinstance(e, uniform.PerRun) for e in levers)


ARRAYED = """model: clocked_arrays
time: {start: 0, stop: 3, dt: 0.25}
dimensions:
  region: [a, b, c]
lookups:
  f: {dims: [region], points: [[0, 0], [2, 1], [5, 3]], elements: {a: [[0, 1], [3, -1]]}}
stocks:
  s: {dims: [region], initial: 1, in: [inflow]}
flows:
  inflow: {dims: [region], equation: 'exponential(1 + clock) + f(0.5 + clock) + s * 0.01'}
auxiliaries:
  clock: {dims: [region], equation: 'time / 2'}
"""


@pytest.mark.parametrize("runs", [1, 5])
def test_a_block_run_element_by_element_reads_a_uniform_operand_from_its_cells(monkeypatch, runs: int) -> None:  # type: ignore[no-untyped-def]
    """Draws and per-element lookups run a block one element at a time; an operand block of clock values must
    reach each element from the lane's cells, not from a row another instruction reuses (found by the
    property test of arrayed models: EXPONENTIAL read a stale 0.01 as its mean)."""
    with monkeypatch.context() as patch:
        patch.setattr(uniform, "decode", plain)
        expected = Model(read_yaml_text(ARRAYED, "arrays.yaml")).run(runs=runs, seed=5)
    actual = Model(read_yaml_text(ARRAYED, "arrays.yaml")).run(runs=runs, seed=5)
    for name in expected.data_vars:
        np.testing.assert_allclose(actual[name].values, expected[name].values, rtol=1e-12, atol=0, err_msg=name)
