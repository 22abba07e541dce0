"""Time `policylab validate` on a model: every kind but holdout by default, per check and in total.

A script, not a test: it prints figures and writes benchmarks/results/validate.json; nothing
asserts a time. The issue's target (14): the flagship's checks at 1,000 runs each, holdout
excluded, within 2 minutes on the numba backend.

    .venv/bin/python benchmarks/validate.py [MODEL] [--runs 1000] [--backend numba] [--kind K ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

import policylab
from policylab.validation import KINDS, validate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(ROOT / "models" / "iraq_dialogue" / "model.yaml"))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--kind", action="append", default=None)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "validate.json"))
    args = parser.parse_args()
    kinds = args.kind or [k for k in KINDS if k != "holdout"]
    model = policylab.load(args.model)
    model.run(runs=2, backend=args.backend)  # warm-up: load the compiled backend once, outside the timing
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    cpu = time.process_time()
    report = validate(model, kinds=kinds, runs=args.runs, backend=args.backend,
                      progress=lambda name: marks.append((name, time.perf_counter())))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    steps = [(name, (marks[i + 1][1] if i + 1 < len(marks) else start + wall) - t) for i, (name, t) in enumerate(marks)]
    print(f"{model.name}: {len(report.results)} checks, {args.runs} runs each, backend {args.backend}")
    print("| step | seconds |\n|---|---:|")
    for name, seconds in steps:
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **total** (wall) | **{wall:.1f}** |\n| total (CPU) | {cpu:.1f} |")
    print(f"{len(report.results) - len(report.failed)} passed, {len(report.failed)} failed")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({
        "model": model.name, "runs": args.runs, "backend": args.backend, "kinds": kinds, "wall_seconds": wall,
        "cpu_seconds": cpu, "steps": dict(steps), "passed": len(report.results) - len(report.failed),
        "failed": [r.name for r in report.failed], "commit": commit, "load_average": os.getloadavg()[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
