"""Engine speed benchmark: one run and vectorised ensembles of the shared ``rivals`` model.

Measures, on one CPU core (each measurement runs single-threaded in a fresh process,
BLAS/OpenMP threads set to 1; ``--pin`` also pins it to one core):

* ``load``: reading and compiling the model (once per process);
* ``single``: wall time of one 1,000-step Euler run saving every variable (median of
  ``--repeats``, after a warm-up run);
* ``ensemble N``: run-steps per second (runs x steps / wall seconds) for ensembles of
  ``--sizes`` runs with per-run parameters (the shared Latin-hypercube design, tiled),
  saving ``--variables`` variables; median over repeats (one repeat at 100,000 runs);
* the peak resident memory of each measuring process (``getrusage`` ``ru_maxrss``).

Wall time is the figure of record; CPU time of the process is reported next to it so a
loaded machine can be told from a slow engine. Results print as a Markdown table and are
written as JSON to ``benchmarks/results/engine.json``.

Usage::

    .venv/bin/python benchmarks/engine.py                   # the full set (about a minute)
    .venv/bin/python benchmarks/engine.py --sizes 1000 10000 --repeats 3
    .venv/bin/python benchmarks/engine.py --profile 10000   # cProfile one ensemble instead

Target (issue 2): at least 3 million run-steps per second at 10,000 runs on one core.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
DEFAULT_MODEL = SHARED / "rivals.xmile"
DEFAULT_DESIGN = SHARED / "rivals_lhs1000.csv"
RESULTS = ROOT / "benchmarks" / "results" / "engine.json"
SAVED = ["population_a", "military_a", "tension"]
TARGET = 3e6
ONE_CORE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _design(path: Path, runs: int) -> dict[str, np.ndarray]:
    """Per-run parameters: the shared design's rows, tiled to ``runs``, keyed by canonical name."""
    import pandas as pd

    from policylab.expr.names import canonical

    if not path.exists():
        return {}
    frame = pd.read_csv(path)
    rows = np.arange(runs) % len(frame)
    return {canonical(column): frame[column].to_numpy(dtype=float)[rows] for column in frame.columns}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(model_path: Path, design: Path, runs: int, repeats: int, variables: list[str] | None) -> dict:
    """Time ``repeats`` runs of an ensemble of ``runs`` (runs == 0: one run saving everything)."""
    import policylab

    started = time.perf_counter()
    model = policylab.load(model_path)
    _ = model.compiled
    load_s = time.perf_counter() - started
    size = max(runs, 1)
    params = _design(design, size) if runs else {}
    model.run(runs=min(size, 100), params={k: v[: min(size, 100)] for k, v in params.items()} if runs else None,
              variables=variables)  # warm-up: first-call imports and caches
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        ds = model.run(runs=size, params=params or None, variables=variables, seed=0)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        del ds
    return {
        "runs": size,
        "steps": model.ir.time.n_steps,
        "saved_variables": len(variables) if variables is not None else len(model.variables),
        "load_s": load_s,
        "wall_s": walls,
        "cpu_s": cpus,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _in_fresh_process(args: argparse.Namespace, runs: int, repeats: int) -> dict:
    command = [sys.executable, __file__, "--measure", str(runs), "--repeats", str(repeats),
               "--model", str(args.model), "--design", str(args.design), "--variables", *args.variables]
    command += ["--pin"] if args.pin else []
    env = {**os.environ, **ONE_CORE_ENV}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {runs} runs failed:\n{done.stderr}")
    return json.loads(done.stdout)


def _summary(raw: dict) -> dict:
    wall = statistics.median(raw["wall_s"])
    cpu = statistics.median(raw["cpu_s"])
    run_steps = raw["runs"] * raw["steps"]
    return {**raw, "median_wall_s": wall, "median_cpu_s": cpu,
            "run_steps_per_s": run_steps / wall, "run_steps_per_cpu_s": run_steps / cpu}


def _table(single: dict, ensembles: list[dict]) -> str:
    lines = [
        "| measurement | runs | saved vars | median wall | median CPU | run-steps/s (wall) | run-steps/s (CPU) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| single run, {single['steps']:,} steps | 1 | {single['saved_variables']} | {single['median_wall_s'] * 1e3:.1f} ms "
        f"| {single['median_cpu_s'] * 1e3:.1f} ms | {single['run_steps_per_s']:,.0f} | {single['run_steps_per_cpu_s']:,.0f} "
        f"| {single['peak_rss_mib']:.0f} MiB |",
    ]
    for row in ensembles:
        lines.append(
            f"| ensemble | {row['runs']:,} | {row['saved_variables']} | {row['median_wall_s']:.2f} s | {row['median_cpu_s']:.2f} s "
            f"| {row['run_steps_per_s'] / 1e6:.2f} M | {row['run_steps_per_cpu_s'] / 1e6:.2f} M | {row['peak_rss_mib']:,.0f} MiB |"
        )
    return "\n".join(lines)


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False)
    return done.stdout.strip()


def _profile(args: argparse.Namespace, runs: int) -> None:
    import policylab

    model = policylab.load(args.model)
    params = _design(args.design, runs)
    model.run(runs=min(runs, 100), params={k: v[:100] for k, v in params.items()}, variables=args.variables)
    profiler = cProfile.Profile(time.process_time)  # CPU time: robust to a loaded machine
    profiler.enable()
    model.run(runs=runs, params=params or None, variables=args.variables)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model file (default: shared rivals.xmile)")
    parser.add_argument("--design", type=Path, default=DEFAULT_DESIGN, help="CSV of per-run parameters (tiled)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000], help="ensemble sizes")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (single run and ensembles up to 10,000)")
    parser.add_argument("--variables", nargs="+", default=SAVED, help="variables an ensemble saves")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--pin", action="store_true", help="pin each measuring process to one core (on a loaded "
                        "machine this can cost wall time: the scheduler cannot move it to a quieter core)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # internal: measure in this process
    parser.add_argument("--profile", type=int, metavar="RUNS", help="cProfile one ensemble of RUNS and exit")
    args = parser.parse_args(argv)

    if args.measure is not None:
        if args.pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
        variables = None if args.measure == 0 else args.variables
        print(json.dumps(measure(args.model, args.design, args.measure, args.repeats, variables)))
        return
    if args.profile is not None:
        _profile(args, args.profile)
        return

    single = _summary(_in_fresh_process(args, 0, max(args.repeats, 5)))
    ensembles = [_summary(_in_fresh_process(args, n, args.repeats if n <= 10_000 else 1)) for n in args.sizes]
    at_10k = next((row for row in ensembles if row["runs"] == 10_000), None)
    report = {
        "model": str(args.model),
        "design": str(args.design),
        "commit": _git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "pinned_to_one_core": args.pin,
        "single": single,
        "ensembles": ensembles,
        "target_run_steps_per_s_at_10000": TARGET,
        "meets_target": None if at_10k is None else at_10k["run_steps_per_s"] >= TARGET,
    }
    print(f"PolicyLab engine benchmark: {args.model.name}, {single['steps']:,} Euler steps, one core "
          f"(load average {os.getloadavg()[0]:.1f}; model load + compile {single['load_s'] * 1e3:.0f} ms)\n")
    print(_table(single, ensembles))
    if at_10k is not None:
        verdict = "meets" if report["meets_target"] else "is below"
        print(f"\nAt 10,000 runs: {at_10k['run_steps_per_s'] / 1e6:.2f} M run-steps/s (wall), which {verdict} the "
              f"target of {TARGET / 1e6:.0f} M.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nJSON: {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()
