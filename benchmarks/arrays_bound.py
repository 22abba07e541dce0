"""What compiled code written for this one model would gain: the ceiling of ``arrays.py``'s numba figure.

``arrays.py`` times the SIR-over-regions model arrayed against the same model flattened. PolicyLab runs
both on one interpreter of a tape (numba), an instruction at a time over elements x runs. Code written for
the model itself (what a per-model code generator would emit, and what the project's safety rule forbids:
no generated source) would instead fuse each step into one loop, with no intermediate written to memory.
This script measures that ceiling by hand: the model's step written out as one numba loop over elements and
runs (``fused_steps``), fed PolicyLab's own sampled parameters, checked to end at the same totals, and timed
against ``Model.run`` on the numba engine.

Usage::

    .venv/bin/python benchmarks/arrays_bound.py                  # 1,000 regions, 1,000 runs
    .venv/bin/python benchmarks/arrays_bound.py --regions 200 --runs 200
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit, prange

from arrays import arrayed, region_population  # this folder is on the path when the script runs

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


@njit(inline="always", error_model="numpy")
def _element_step(s, i, r, contact, population, national, infectivity, recovery_time, keep, dt, width):  # type: ignore[no-untyped-def]
    """One region's Euler step over a block's runs, in the tape's order of operations."""
    for k in range(width):
        mixed = keep[k] * (i[k] / population) + national[k]
        infection = contact[k] * infectivity[k] * s[k] * mixed
        recovery = i[k] / recovery_time[k]
        s[k] = s[k] + dt * (0.0 - infection)
        i[k] = i[k] + dt * (infection - recovery)
        r[k] = r[k] + dt * recovery


@njit(parallel=True, error_model="numpy")
def fused_steps(S, I, R, contact, population, infectivity, recovery_time, travel, distancing, dt, n_steps):  # type: ignore[no-untyped-def]
    """Every step of every block (``S[element, block, run]``); the total infected at each step, per run."""
    n_elements, n_blocks, width = S.shape
    total_population = 0.0
    for e in range(n_elements):
        total_population += population[e]
    totals = np.zeros((n_blocks, n_steps + 1, width))
    for b in prange(n_blocks):
        national = np.empty(width)
        scaled = np.empty(width)
        keep = np.empty(width)
        for k in range(width):
            scaled[k] = (1.0 - distancing) * infectivity[b, k]
            keep[k] = 1.0 - travel[b, k]
        for step in range(n_steps + 1):
            total = totals[b, step]
            for e in range(n_elements):
                row = I[e, b]
                for k in range(width):
                    total[k] += row[k]
            if step == n_steps:
                break
            for k in range(width):
                national[k] = travel[b, k] * (total[k] / total_population)
            for e in range(n_elements):
                _element_step(S[e, b], I[e, b], R[e, b], contact[e, b], population[e], national, scaled,
                              recovery_time[b], keep, dt, width)
    return totals


def _fused(n: int, runs: int, width: int, parameters: dict[str, np.ndarray], steps: int, dt: float
           ) -> tuple[float, np.ndarray]:
    """Best of three timings of ``fused_steps`` in blocks of ``width`` runs, and the final totals."""
    blocks = runs // width
    population = np.array([region_population(k) for k in range(n)], dtype=float)

    def shaped(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values.reshape(*values.shape[:-1], blocks, width))

    contact = shaped(parameters["contact_rate"])
    per_run = {name: shaped(parameters[name]) for name in ("infectivity", "recovery_time", "travel_share")}
    best, finals = float("inf"), np.empty(0)
    for _ in range(4):  # the first compiles
        infected = np.zeros((n, runs))
        infected[0] = 5.0
        susceptible = population[:, None] - infected
        state = [shaped(susceptible), shaped(infected), shaped(np.zeros((n, runs)))]
        started = time.perf_counter()
        totals = fused_steps(*state, contact, population, per_run["infectivity"], per_run["recovery_time"],
                             per_run["travel_share"], 0.0, dt, steps)
        best = min(best, time.perf_counter() - started)
        finals = totals[:, -1, :].reshape(-1)
    return best, finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--widths", type=int, nargs="+", default=[20, 50, 100, 250])
    args = parser.parse_args()
    import policylab

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "arrayed.yaml"
        path.write_text(arrayed(args.regions))
        model = policylab.load(path)
        model.run(runs=64, seed=1, variables=["total_infected"], backend="numba")
        first = time.perf_counter()
        ds = model.run(runs=args.runs, seed=0, variables=["total_infected"], backend="numba")
        first = time.perf_counter() - first
        again = []
        for _ in range(3):
            started = time.perf_counter()
            model.run(runs=args.runs, seed=0, variables=["total_infected"], backend="numba")
            again.append(time.perf_counter() - started)
    spec = model.ir.time
    steps = round((spec.stop - spec.start) / spec.dt)
    contact = np.stack([ds.coords[f"contact_rate[r{k}]"].values for k in range(args.regions)])
    parameters = {"contact_rate": contact, **{name: ds.coords[name].values
                                              for name in ("infectivity", "recovery_time", "travel_share")}}
    expected = ds["total_infected"].values[:, -1]
    rows = []
    for width in args.widths:
        if args.runs % width:
            continue
        took, finals = _fused(args.regions, args.runs, width, parameters, steps, spec.dt)
        worst = float(np.max(np.abs(finals - expected) / np.maximum(np.abs(expected), 1.0)))
        if worst > 1e-9:
            raise SystemExit(f"the fused loop and PolicyLab disagree by {worst:.2e} (relative) at width {width}")
        rows.append({"width": width, "fused_s": took, "largest_relative_difference": worst})
    best = min(rows, key=lambda row: row["fused_s"])
    report = {"regions": args.regions, "runs": args.runs, "steps": steps,
              "policylab_numba_first_run_s": first, "policylab_numba_again_s": min(again),
              "fused": rows, "load_average": os.getloadavg()[0]}
    print(f"SIR over {args.regions} regions, {args.runs} runs, {steps} steps (load average {os.getloadavg()[0]:.1f})")
    print(f"PolicyLab numba, Model.run: {first:.3f} s the first call at this size, {min(again):.3f} s again")
    for row in rows:
        print(f"hand-fused loop, blocks of {row['width']} runs: {row['fused_s']:.3f} s "
              f"(agrees to {row['largest_relative_difference']:.1e})")
    print(f"the interpreter's run is {min(again) / best['fused_s']:.1f}x the best fused loop's")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "arrays_bound.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
