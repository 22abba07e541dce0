"""A prepared NumPy runner keeps its decoded machines between calls, and they give a fresh machine's numbers.

Building a machine (register file, uniform values' plan, decoded sections) costs a single run of a
1,000-region model three times its steps, so ``NumpyRunner`` keeps its tape's machines
(``engine.Machines``) and restarts one for each call. Anything a restart failed to reset (a register,
a delay buffer, a draw, a block of copies of a per-run constant, a uniform value) would show against
the same call on a freshly loaded model, whose machine is new.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import policylab
from policylab.api import Model
from policylab.formats.yaml_reader import read_yaml_text
from policylab.simulate import engine

ROOT = Path(__file__).resolve().parents[2]

TEXT = Path(__file__).with_name("stateful_model.yaml").read_text()


def _load(name: str) -> Model:
    if name in ("euler", "rk4"):
        return Model(read_yaml_text(TEXT.replace("METHOD", name), "kept.yaml"))
    return policylab.load(ROOT / "models" / name)


def _values(ds: object) -> dict[str, np.ndarray]:
    return {name: ds[name].values for name in ds.data_vars}  # type: ignore[attr-defined]


def _built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the machines built from now on."""
    built: list[int] = []
    original = engine._Run.__init__

    def counting(self: engine._Run, *args: object, **kwargs: object) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(engine._Run, "__init__", counting)
    return built


@pytest.mark.parametrize(("name", "runs"), [("euler", 1), ("euler", 5), ("rk4", 5), ("sir", 1), ("sir_regions", 1),
                                            ("sir_regions", 40)])  # 40: blocks of runs
def test_later_calls_reuse_the_machine_and_give_the_numbers_of_a_fresh_model(
        monkeypatch: pytest.MonkeyPatch, name: str, runs: int) -> None:
    kept = _load(name)  # parameters at their values (sampled ones are folded per call, a tape each): draws differ
    first = _values(kept.run(runs=runs, seed=1, sample=False, backend="numpy"))
    built = _built(monkeypatch)
    again = [_values(kept.run(runs=runs, seed=seed, sample=False, backend="numpy")) for seed in (2, 1)]
    assert not built  # the machines of the first call were restarted, none built
    monkeypatch.undo()
    for seed, got in zip((2, 1), again, strict=True):
        expected = _values(_load(name).run(runs=runs, seed=seed, sample=False, backend="numpy"))
        assert got.keys() == expected.keys()
        for variable, values in expected.items():
            np.testing.assert_array_equal(got[variable], values, err_msg=f"{name}, seed {seed}: {variable}")
    for variable, values in first.items():
        np.testing.assert_array_equal(again[1][variable], values)  # seed 1 again, after seed 2


def test_a_prepared_simulator_keeps_its_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _load("sir_regions")
    sim = model.simulator(parameters=[], backend="numpy")
    expected = sim.run()
    built = _built(monkeypatch)
    for _ in range(3):
        got = sim.run()
        for variable, values in expected.items():
            np.testing.assert_array_equal(got[variable], values)
    assert not built


def test_threads_sharing_a_runner_each_take_their_own_machine() -> None:
    model = _load("euler")
    expected = {seed: _values(_load("euler").run(runs=3, seed=seed, sample=False, backend="numpy")) for seed in range(6)}
    model.run(runs=3, seed=0, sample=False, backend="numpy")  # the runner and its first machine
    results: dict[int, dict[str, np.ndarray]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def call(seed: int) -> None:
        try:
            start.wait()
            for _ in range(4):
                results[seed] = _values(model.run(runs=3, seed=seed, sample=False, backend="numpy"))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=call, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for seed, values in expected.items():
        for variable, array in values.items():
            np.testing.assert_array_equal(results[seed][variable], array, err_msg=f"seed {seed}: {variable}")


def test_a_machine_with_a_large_register_file_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "HELD_BYTES", 1024)
    model = _load("euler")
    model.run(runs=200, seed=0, sample=False, backend="numpy")  # 200 runs x its registers: more than 1 KiB
    built = _built(monkeypatch)
    model.run(runs=200, seed=1, sample=False, backend="numpy")
    assert built


def test_what_a_kept_machine_holds_counts_its_uniform_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _load("euler")  # a lever step and dated events: values the same in every run, on a lane
    model.run(runs=3, seed=0, sample=False, backend="numpy")
    runner = next(iter(model._runners.values()))
    (kept,) = [r for idle in runner._unparametrised[2]._idle.values() for r in idle]
    assert kept.nbytes() > kept.registers.nbytes
    monkeypatch.setattr(engine, "HELD_BYTES", kept.registers.nbytes)  # the registers fit, with the lanes not
    fresh = _load("euler")
    fresh.run(runs=3, seed=0, sample=False, backend="numpy")
    assert not [r for idle in next(iter(fresh._runners.values()))._unparametrised[2]._idle.values() for r in idle]
