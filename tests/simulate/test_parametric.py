"""Parameter registers: a tape lowered once runs again with other values, and gives what a fresh one gives.

``Model.run`` on the compiled backend keeps one tape per scenario, ensemble size, mode and set
of parameter names; the values go into registers. A stale value anywhere (a folded constant,
a lever level baked into a path, a hoisted expression) would show as a difference from a
freshly loaded model, which lowers from scratch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from policylab.api import Model, load  # noqa: E402
from policylab.compile.opcodes import Op  # noqa: E402
from policylab.errors import SimulationError, UsageError  # noqa: E402
from policylab.formats.yaml_reader import read_yaml_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RIVALS = ROOT.parent / "shared" / "benchmarks" / "rivals.xmile"
DESIGN = ROOT.parent / "shared" / "benchmarks" / "rivals_lhs1000.csv"

SMALL = """
model: small
time: {start: 0, stop: 10, dt: 0.5}
constants:
  k: 2
  rate: {value: 0.1, range: [0.05, 0.2], judgement: true}
levers:
  push: {baseline: 1, range: [0, 3]}
stocks:
  s: {initial: k, in: [inflow]}
flows:
  inflow: {equation: 'half * s * rate * push + exp(k) / 100'}
auxiliaries:
  half: {equation: 'k / 2'}
"""


def small() -> Model:
    return Model(read_yaml_text(SMALL, "small.yaml"))


def design_rows(count: int) -> list[dict[str, float]]:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not here")
    design = np.genfromtxt(DESIGN, delimiter=",", names=True, max_rows=count)
    return [{name: float(design[name][i]) for name in design.dtype.names} for i in range(count)]


def same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert list(a.data_vars) == list(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_one_model_run_with_other_values_gives_what_a_freshly_loaded_model_gives() -> None:
    if not RIVALS.exists():
        pytest.skip(f"{RIVALS} is not here")
    reused = load(RIVALS)
    for row in design_rows(4):
        same(reused.run(params=row, backend="numba"), load(RIVALS).run(params=row, backend="numba"))
    assert len(reused._runners) == 1  # one prepared tape served every call


@pytest.mark.parametrize("runs", [1, 3])
def test_constants_and_levers_set_again_and_again_are_never_stale(runs: int) -> None:
    reused = small()
    for k, push in [(2.0, 1.0), (3.0, 0.5), (0.5, 2.5), (3.0, 0.5)]:
        params = {"k": k, "push": np.full(runs, push) if runs > 1 else push}
        expected = small().run(params=params, runs=runs, backend="numba")
        same(reused.run(params=params, runs=runs, backend="numba"), expected)
        numpy = small().run(params=params, runs=runs)
        for name in numpy.data_vars:
            np.testing.assert_allclose(expected[name].values, numpy[name].values, rtol=1e-12, err_msg=name)


def test_what_depends_only_on_parameters_is_computed_once_not_every_step() -> None:
    model = small()
    tape = model.runner("numba", model.prepare_call(params={"k": 3.0}), False).plan.tape
    stage = tape.code[tape.stage[0]:tape.deriv[1], 0]
    assert Op.EXP not in stage and Op.DIV not in stage  # k / 2 and exp(k) / 100 moved to the prelude
    assert Op.EXP in tape.code[:tape.init[1], 0]
    assert model.run(params={"k": 3.0}, backend="numba")["half"].values[0, -1] == 1.5


def test_the_simulator_gives_what_model_run_gives_as_arrays() -> None:
    model = small()
    sim = model.simulator(parameters=["k", "push"], runs=2, variables=["s", "half"], seed=5, backend="numba")
    for k in (1.0, 4.0):
        got = sim.run(k=k, push=np.array([0.5, 2.0]))
        ds = small().run(params={"k": k, "push": np.array([0.5, 2.0])}, runs=2, seed=5, variables=["s", "half"],
                         backend="numba", sample=False)
        for name in ("s", "half"):
            np.testing.assert_array_equal(got[name], ds[name].values)
        np.testing.assert_array_equal(sim.times, ds["time"].values)
    np.testing.assert_array_equal(sim.run(push=1.0)["s"], small().run(  # k left out: the scenario's value
        params={"push": 1.0}, runs=2, seed=5, variables=["s"], backend="numba", sample=False)["s"].values)


def test_the_simulator_on_numpy_gives_the_same_numbers() -> None:
    numba = small().simulator(parameters=["k"], variables=["s"], backend="numba").run(k=1.5)["s"]
    numpy = small().simulator(parameters=["k"], variables=["s"], backend="numpy").run(k=1.5)["s"]
    np.testing.assert_allclose(numba, numpy, rtol=1e-12)


def test_the_simulator_refuses_unknown_and_missing_parameters_by_name() -> None:
    with pytest.raises(UsageError, match="'kk' is not a constant or lever"):
        small().simulator(parameters=["kk"])
    sim = small().simulator(parameters=["k", "push"])
    with pytest.raises(UsageError, match="'rate' is not one of this simulator's parameters"):
        sim.run(rate=0.1, push=1.0)
    with pytest.raises(UsageError, match="lever 'push' needs a value"):
        sim.run(k=1.0)
    with pytest.raises(UsageError, match="has 3 values"):
        sim.run(k=[1.0, 2.0, 3.0], push=1.0)


def test_a_rate_of_parameters_alone_that_is_nan_is_reported_as_the_numpy_backend_reports_it() -> None:
    text = SMALL.replace("'k / 2'", "'ln(k - 2)'")
    params = {"k": np.array([3.0, 1.0, 4.0])}
    messages = []
    for backend in ("numpy", "numba"):
        with pytest.raises(SimulationError) as caught:
            Model(read_yaml_text(text, "small.yaml")).run(params=params, runs=3, backend=backend)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "in run 1" in messages[1]
