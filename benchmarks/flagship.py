"""Flagship ensemble benchmark: every scenario x 10,000 runs on the compiled backend.

Measures the wall and CPU time of ``Model.run`` for each scenario of the flagship, sampling
every judgement parameter and saving what the outcome table needs (after one warm-up run that
compiles and caches the interpreter). Target (issue 13): every scenario x 10,000 runs in
under 30 s in all on the numba backend.

Usage::

    .venv/bin/python benchmarks/flagship.py                 # 10,000 runs per scenario
    .venv/bin/python benchmarks/flagship.py --runs 1000 --backend numpy
    .venv/bin/python benchmarks/flagship.py --backend numpy --scenarios historical --output /tmp/numpy.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import policylab
from policylab.results.outcomes import needed_variables

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "iraq_dialogue" / "model.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--backend", default="numba", choices=["numpy", "numba", "auto"])
    parser.add_argument("--scenarios", nargs="+", help="only these scenarios (default: all)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "flagship.json")
    args = parser.parse_args()
    model = policylab.load(MODEL)
    names = needed_variables(model.ir)
    model.run(scenario="historical", runs=2, seed=0, variables=names, backend=args.backend)  # compile, warm caches
    rows = []
    for scenario in args.scenarios or model.scenarios:
        wall, cpu = time.perf_counter(), time.process_time()
        model.run(scenario=scenario, runs=args.runs, seed=0, variables=names, backend=args.backend)
        rows.append({"scenario": scenario, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu})
    total = sum(r["wall_s"] for r in rows)
    print(f"| scenario | runs | wall s | CPU s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {args.runs:,} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} |")
    print(f"| all {len(rows)} | {args.runs * len(rows):,} | {total:.2f} | {sum(r['cpu_s'] for r in rows):.2f} |")
    args.output.write_text(json.dumps({"runs": args.runs, "backend": args.backend, "scenarios": rows,
                                       "total_wall_s": total, "load_average": os.getloadavg()}, indent=1) + "\n",
                           encoding="utf-8")


if __name__ == "__main__":
    main()
