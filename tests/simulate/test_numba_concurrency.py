"""The numba backend runs simulations from several threads at once, and keeps its compiled code in the user's cache.

No process-wide lock serialises simulations: a thread that finds numba's thread pool busy
waits for it briefly, then runs its blocks itself and tries for the pool again every few steps, so results must be the
same whichever way each part of a run was scheduled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from policylab.api import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "models" / "iraq_dialogue" / "model.yaml"
SRC = str(ROOT / "src")


def test_simulations_from_several_threads_give_the_results_they_give_one_at_a_time() -> None:
    model = load(FLAGSHIP)
    calls = [dict(runs=runs, seed=seed, variables=["us_iran_tension", "militia_capability"])
             for runs in (1, 300) for seed in (1, 2, 3)]
    alone = [model.run(backend="numba", **call) for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        together = list(pool.map(lambda call: model.run(backend="numba", **call), calls * 2))
    for k, result in enumerate(together):
        expected = alone[k % len(calls)]
        for name in expected.data_vars:
            np.testing.assert_array_equal(result[name].values, expected[name].values)


class _Pool:
    """Stands in for numba_backend._POOL: busy for the kernel calls in ``busy`` (counted from 0), free otherwise."""

    def __init__(self, busy: set[int]) -> None:
        self.busy, self.calls, self.held = busy, 0, False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        from policylab.simulate.numba_backend import POOL_WAIT

        assert blocking and 0 < timeout <= POOL_WAIT, "a simulation waits for the pool, but not for long"
        free = self.calls not in self.busy
        self.calls += 1
        self.held = free
        return free

    def release(self) -> None:
        assert self.held
        self.held = False


def _kernels_used(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stepping kernels each call of the run used, in order (wrapping the module's names, which ``_Run`` reads)."""
    from policylab.simulate import numba_backend

    used: list[str] = []
    for name in ("_steps_serial", "_steps_parallel", "_simulate_parallel"):
        kernel = getattr(numba_backend, name)
        monkeypatch.setattr(numba_backend, name,
                            lambda *args, _kernel=kernel, _name=name: used.append(_name) or _kernel(*args))
    return used


def test_a_run_that_found_the_pool_busy_takes_it_when_it_is_free_and_gives_the_same_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from policylab.simulate import numba_backend

    model = load(FLAGSHIP)
    call = dict(runs=600, seed=5, variables=["us_iran_tension", "militia_capability"])  # several blocks on any machine
    used = _kernels_used(monkeypatch)
    alone = model.run(backend="numba", **call)
    assert used == ["_simulate_parallel"]  # a run that finds the pool free runs every block in one call
    used.clear()
    monkeypatch.setattr(numba_backend, "_POOL", _Pool(busy={0, 1, 2, 3}))  # that call, the start and two tries
    switched = model.run(backend="numba", **call)
    assert used == ["_steps_serial"] * 2 + ["_steps_parallel"]  # 1/POOL_RETRIES of the steps each, then the rest
    for name in alone.data_vars:
        np.testing.assert_array_equal(switched[name].values, alone[name].values)
    used.clear()
    stepped = model.run(backend="numba", progress=lambda _done: None, **call)  # progress: step by step
    assert used and set(used) == {"_steps_parallel"}
    for name in alone.data_vars:
        np.testing.assert_array_equal(stepped[name].values, alone[name].values)


def _cache_path(env: dict[str, str]) -> str:
    code = textwrap.dedent("""
        import numba
        from policylab.simulate import numba_kernels
        print(numba_kernels._exec_call._cache._cache_path)
        print(repr(numba.config.CACHE_DIR))
    """)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    return done.stdout


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


def test_the_compiled_interpreter_is_cached_in_the_users_cache_folder(tmp_path: Path) -> None:
    out = _cache_path(_environment(XDG_CACHE_HOME=str(tmp_path)))
    path, config = out.splitlines()
    assert path.startswith(str(tmp_path / "policylab" / "numba"))
    assert config == "''"  # other libraries' numba functions still cache where numba puts them by default


def test_numba_cache_dir_wins_over_the_users_cache_folder(tmp_path: Path) -> None:
    out = _cache_path(_environment(XDG_CACHE_HOME=str(tmp_path / "xdg"), NUMBA_CACHE_DIR=str(tmp_path / "numba")))
    assert out.splitlines()[0].startswith(str(tmp_path / "numba"))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_processes_that_start_together_compile_the_interpreter_once(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import logging
        logging.basicConfig(level=logging.WARNING)
        from policylab.api import load
        load({str(FLAGSHIP)!r}).run(backend="numba")
    """)
    env = _environment(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    workers = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=3000)[1] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert sum("compiling the numba backend" in out for out in outputs) == 1, outputs


def test_one_prepared_simulator_called_from_several_threads_gives_each_call_its_own_results() -> None:
    model = load(FLAGSHIP)
    simulator = model.simulator(parameters=["attack_provocation", "base_pressure_rate"],
                                variables=["us_iran_tension", "militia_capability"], backend="numba")
    values = [{"attack_provocation": 0.05 + 0.02 * k, "base_pressure_rate": 0.0018 - 0.0002 * k} for k in range(6)]
    alone = [simulator.run(**v) for v in values]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda v: simulator.run(**v), values * 4))
    assert not np.array_equal(alone[0]["us_iran_tension"], alone[5]["us_iran_tension"])  # the values matter
    for k, result in enumerate(together):
        for name, expected in alone[k % len(values)].items():
            np.testing.assert_array_equal(result[name], expected)
