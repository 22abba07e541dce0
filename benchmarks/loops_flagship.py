"""Loop analysis (Loops That Matter) of the flagship over an ensemble: wall and CPU time by phase.

    PYTHONPATH=src .venv/bin/python benchmarks/loops_flagship.py [--runs 1000] [--scenario generative]

Phases: loading the model; the loop structure (the causal graph with its link signs, shared
with `policylab diagram`, once per model); a one-run warm-up (the numba backend's first use in
this process, which may wait for another process compiling its cache); then `Model.loops` over
the ensemble (simulation on the chosen backend, discovery when the loop budget is hit, scoring).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PERIODS = [("2019", "2019-01-01", "2020-01-01"), ("around January 2020", "2019-12-15", "2020-02-15"),
           ("after June 2020", "2020-06-16", "2023-01-01")]


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> str:
    wall, cpu = _clock()
    return f"{wall - start[0]:7.1f} s wall, {cpu - start[1]:7.1f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--scenario", default="generative")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()

    import datetime as dt

    from policylab.api import load
    from policylab.results.loops.structure import causal

    t = _clock()
    model = load(ROOT / "models" / "iraq_dialogue" / "model.yaml")
    print(f"load                      {_since(t)}")
    t = _clock()
    causal(model)
    print(f"loop structure (causal)   {_since(t)}")
    t = _clock()
    model.run(scenario=args.scenario, runs=1, backend=args.backend)
    print(f"warm-up (1 run)           {_since(t)}")
    spans = [(label, model.ir.time.to_time(dt.date.fromisoformat(a)), model.ir.time.to_time(dt.date.fromisoformat(b)))
             for label, a, b in PERIODS]
    whole = model.ir.time.n_steps * model.ir.time.dt
    t = _clock()
    ds = model.loops(scenario=args.scenario, runs=args.runs, backend=args.backend, save_every=whole, periods=spans)
    print(f"Model.loops, {args.runs:,} runs    {_since(t)}  ({ds.attrs['backend']}; {ds.attrs['loop_mode']}, "
          f"{ds.attrs['loop_budget']}; {ds.sizes['loop']} loops)")
    print(f"peak RSS                  {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.0f} MB")


if __name__ == "__main__":
    main()
