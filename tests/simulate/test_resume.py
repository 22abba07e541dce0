"""A prepared simulator resumes later calls from the step where its lever levels start to hold.

``Simulator.run`` on the compiled backend keeps the state of its first call at the first step
that reads a lever's per-run level (the scenario's policy date) and starts later calls there.
Any difference from a run from the start (a draw, a delay buffer, a saved row, a block's
registers) would show against ``Model.run`` of a freshly loaded model, which runs from the start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from policylab.api import Model  # noqa: E402
from policylab.errors import SimulationError  # noqa: E402
from policylab.formats.yaml_reader import read_yaml_text  # noqa: E402
from policylab.simulate.resume import first_read  # noqa: E402

TEXT = Path(__file__).with_name("stateful_model.yaml").read_text()
SAVE = ["stock", "gain", "loss", "noisy"]


def model(method: str = "euler") -> Model:
    return Model(read_yaml_text(TEXT.replace("METHOD", method), "resumed.yaml"))


def fresh(method: str, scenario: str, runs: int, **params: object) -> dict[str, np.ndarray]:
    ds = model(method).run(scenario, params=params, runs=runs, seed=3, variables=SAVE, backend="numba")
    return {name: ds[name].values for name in SAVE}


@pytest.mark.parametrize("method", ["euler", "rk4"])
@pytest.mark.parametrize("runs", [1, 3, 70])  # 70: blocks of runs on both threads
def test_later_calls_start_at_the_policy_date_and_give_the_numbers_of_a_run_from_the_start(method: str, runs: int) -> None:
    sim = model(method).simulator(parameters=["pressure"], scenario="later", runs=runs, seed=3, variables=SAVE,
                                  backend="numba", sample=None)
    levels = [0.25, 2.0, np.linspace(0.0, 3.0, runs), 0.25]
    for level in levels:
        got = sim.run(pressure=level)
        want = fresh(method, "later", runs, pressure=level)
        for name in SAVE:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name} at {level}")
    kept = sim.checkpoint._state
    # t = 12 at dt 0.5: the first step that reads the level (RK4: the last stage of the step before)
    assert kept is not None and kept.step == (24 if method == "euler" else 23)


def test_a_lever_set_from_the_start_or_a_constant_set_by_the_call_leaves_nothing_to_resume() -> None:
    for scenario, names in (("throughout", ["pressure"]), ("later", ["k"])):
        sim = model().simulator(parameters=names, scenario=scenario, runs=3, seed=3, variables=SAVE, backend="numba",
                                sample=None)
        for value in (0.5, 1.5):
            got = sim.run(**dict.fromkeys(names, value))
            want = fresh("euler", scenario, 3, **dict.fromkeys(names, value))
            for name in SAVE:
                np.testing.assert_array_equal(got[name], want[name], err_msg=f"{scenario} {name}")
        assert sim.checkpoint._state is None
    runner = model().runner("numba", model().prepare_call("later", None, 3, 3, 0, None), False)
    plan = runner.plan  # type: ignore[attr-defined]
    assert first_read(plan.tape, list(plan.rows.values())) == 0  # the judgement constant `rate`: read at the start


def test_a_constant_moved_with_the_lever_resumes_only_when_it_keeps_its_value() -> None:
    sim = model().simulator(parameters=["k", "pressure"], scenario="later", runs=3, seed=3, variables=SAVE,
                            backend="numba", sample=None)
    for k, pressure in ((2.0, 0.5), (2.0, 1.5), (3.0, 1.5), (3.0, 0.1)):
        got = sim.run(k=k, pressure=pressure)
        want = fresh("euler", "later", 3, k=k, pressure=pressure)
        for name in SAVE:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"k={k} pressure={pressure} {name}")
    assert sim.checkpoint._state is not None and sim.checkpoint._state.step == 24


def test_a_level_that_makes_a_value_nan_after_the_policy_date_is_named_as_a_run_from_the_start_names_it() -> None:
    sim = model().simulator(parameters=["pressure"], scenario="later", runs=3, seed=3, variables=SAVE, backend="numba",
                            sample=None)
    sim.run(pressure=0.5)
    levels = np.array([0.5, 20.0, 0.5])  # LN(1.5 - 2) in a flow: the stock is NaN in run 1 from t = 12
    with pytest.raises(SimulationError) as resumed:
        sim.run(pressure=levels)
    with pytest.raises(SimulationError) as whole:
        fresh("euler", "later", 3, pressure=levels)
    assert str(resumed.value) == str(whole.value)
    assert "run 1" in str(resumed.value)


def test_a_state_larger_than_the_budget_is_not_kept_and_every_call_runs_from_the_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from policylab.simulate import resume

    monkeypatch.setattr(resume, "KEEP_BYTES", 1024)
    sim = model().simulator(parameters=["pressure"], scenario="later", runs=3, seed=3, variables=SAVE, backend="numba",
                            sample=None)
    for level in (0.5, 1.5):
        got = sim.run(pressure=level)
        want = fresh("euler", "later", 3, pressure=level)
        for name in SAVE:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert sim.checkpoint._state is None
