"""Arrays against scalar copies: the SIR-over-regions model with N regions, arrayed and flattened.

The arrayed model is ``models/sir_regions`` generalised to N regions (populations and seed
generated, no file shipped); the flattened one is the same model written as N scalar copies
of every variable (``infected_17``…), the way a model is written without arrays, its national
sums split into blocks of 50 terms as a modeller would. Both are checked to give the same
numbers first, then timed, each in a fresh process:

* ``load``: read and compile the model (``policylab.load`` + the compiled plan);
* ``run``: ``Model.run(runs=R, variables=[total infected])`` on each engine, after a
  deterministic run that checks both forms agree and a 64-run ensemble, which warm up (numba's
  one-off compilation is cached on disk, but each process loads the single-run and the
  ensemble kernels from it once, about 0.15 s); the runs sample every judgement parameter (one
  per region for the contact rate);
* ``end to end``: load + run.

``--pysimlin`` also times pysimlin's one run of the arrayed model's XMILE export (the
``bench`` extra), against PolicyLab's prepared one run (``Model.simulator``) of the same file,
after checking that they end at the same total; ``--one-run-only`` times only that.

Usage::

    .venv/bin/python benchmarks/arrays.py                     # 1,000 regions, 1,000 runs
    .venv/bin/python benchmarks/arrays.py --regions 100 --runs 200 --engines numpy
    .venv/bin/python benchmarks/arrays.py --one-run-only          # one run against pysimlin, 1,000 regions
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

HEADER = """model: sir-over-{n}-regions
time: {{start: 0, stop: 100, dt: 0.5, units: day, method: euler}}
levers:
  distancing: {{baseline: 0, range: [0, 0.8], units: "1"}}
"""


def region_population(i: int) -> int:
    """People in region ``i`` (2,000 to 20,000, spread; peers.py writes the same numbers into its .mdl)."""
    return 2000 + (i * 7919) % 18000


def arrayed(n: int) -> str:
    """The arrayed model's YAML text."""
    regions = ", ".join(f"r{i}" for i in range(n))
    populations = ", ".join(str(region_population(i)) for i in range(n))
    seeds = ", ".join("5" if i == 0 else "0" for i in range(n))
    return HEADER.format(n=n) + f"""dimensions:
  region: [{regions}]
constants:
  population: {{dims: [region], values: [{populations}], units: person}}
  seed_cases: {{dims: [region], values: [{seeds}], units: person}}
  contact_rate: {{dims: [region], value: 6, range: [4, 8], judgement: true, units: 1/day}}
  infectivity: {{value: 0.05, range: [0.03, 0.08], judgement: true, units: "1"}}
  recovery_time: {{value: 7, range: [5, 10], judgement: true, units: day}}
  travel_share: {{value: 0.1, range: [0.02, 0.3], judgement: true, units: "1"}}
stocks:
  susceptible: {{dims: [region], initial: population - seed_cases, out: [infection], units: person}}
  infected: {{dims: [region], initial: seed_cases, in: [infection], out: [recovery], units: person}}
  recovered: {{dims: [region], initial: 0, in: [recovery], units: person}}
flows:
  infection: {{dims: [region], equation: contact_rate * (1 - distancing) * infectivity * susceptible * mixed_prevalence,
              units: person/day}}
  recovery: {{dims: [region], equation: infected / recovery_time, units: person/day}}
auxiliaries:
  prevalence: {{dims: [region], equation: infected / population, units: "1"}}
  national_prevalence: {{equation: "SUM(infected[*]) / SUM(population[*])", units: "1"}}
  mixed_prevalence: {{dims: [region], equation: (1 - travel_share) * prevalence + travel_share * national_prevalence,
                     units: "1"}}
  total_infected: {{equation: "SUM(infected[*])", units: person}}
"""


def _sum(names: list[str], prefix: str, lines: list[str], units: str) -> str:
    """An expression for the sum of ``names``, with partial sums of 50 terms as auxiliaries."""
    blocks = [names[i:i + 50] for i in range(0, len(names), 50)]
    parts = []
    for k, block in enumerate(blocks):
        lines.append(f"  {prefix}_{k}: {{equation: \"{' + '.join(block)}\", units: {units}}}")
        parts.append(f"{prefix}_{k}")
    return " + ".join(parts)


def flattened(n: int) -> str:
    """The same model as N scalar copies of every variable."""
    constants, stocks, flows, auxes = [], [], [], []
    for i in range(n):
        constants.append(f"  population_{i}: {{value: {region_population(i)}, units: person}}")
        constants.append(f"  seed_cases_{i}: {{value: {5 if i == 0 else 0}, units: person}}")
        constants.append(f"  contact_rate_{i}: {{value: 6, range: [4, 8], judgement: true, units: 1/day}}")
        stocks.append(f"  susceptible_{i}: {{initial: population_{i} - seed_cases_{i}, out: [infection_{i}], units: person}}")
        stocks.append(f"  infected_{i}: {{initial: seed_cases_{i}, in: [infection_{i}], out: [recovery_{i}], units: person}}")
        stocks.append(f"  recovered_{i}: {{initial: 0, in: [recovery_{i}], units: person}}")
        flows.append(f"  infection_{i}: {{equation: contact_rate_{i} * (1 - distancing) * infectivity * susceptible_{i} * "
                     f"mixed_prevalence_{i}, units: person/day}}")
        flows.append(f"  recovery_{i}: {{equation: infected_{i} / recovery_time, units: person/day}}")
        auxes.append(f"  prevalence_{i}: {{equation: infected_{i} / population_{i}, units: \"1\"}}")
        auxes.append(f"  mixed_prevalence_{i}: {{equation: (1 - travel_share) * prevalence_{i} + travel_share * "
                     "national_prevalence, units: \"1\"}")
    infected = _sum([f"infected_{i}" for i in range(n)], "infected_block", auxes, "person")
    population = _sum([f"population_{i}" for i in range(n)], "population_block", auxes, "person")
    auxes.append(f"  total_infected: {{equation: \"{infected}\", units: person}}")
    auxes.append(f"  total_population: {{equation: \"{population}\", units: person}}")
    auxes.append("  national_prevalence: {equation: total_infected / total_population, units: \"1\"}")
    return (HEADER.format(n=n) + "constants:\n" + "\n".join(constants) + """
  infectivity: {value: 0.05, range: [0.03, 0.08], judgement: true, units: "1"}
  recovery_time: {value: 7, range: [5, 10], judgement: true, units: day}
  travel_share: {value: 0.1, range: [0.02, 0.3], judgement: true, units: "1"}
stocks:
""" + "\n".join(stocks) + "\nflows:\n" + "\n".join(flows) + "\nauxiliaries:\n" + "\n".join(auxes) + "\n")


_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import policylab as pl
path, engine, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = pl.load(path)
model.compiled
loaded = time.perf_counter() - t0
nominal = model.run(deterministic=True, variables=["total_infected"], backend=engine)  # also a warm-up
model.run(runs=64, seed=1, variables=["total_infected"], backend=engine)  # warms the ensemble kernels too
t1 = time.perf_counter()
ds = model.run(runs=runs, seed=0, variables=["total_infected"], backend=engine)
ran = time.perf_counter() - t1
print(json.dumps({"load": loaded, "run": ran, "final": nominal["total_infected"].values[:, -1].tolist()}))
"""


_ONE_RUN = r"""
import json, statistics, sys, time, xml.etree.ElementTree as ET
path, engine = sys.argv[1], sys.argv[2]
times = []
if engine == "pysimlin":
    import simlin
    model = simlin.load(path)
    for _ in range(6):
        t = time.perf_counter()
        with model.simulate(enable_ltm=False) as sim:
            sim.run_to_end()
            final = float(sim.get_series("total_infected")[-1])
        times.append(time.perf_counter() - t)
else:
    import policylab as pl
    model = pl.load(path)
    simulator = model.simulator(parameters=[], variables=["total_infected"], backend=engine)
    for _ in range(6):
        t = time.perf_counter()
        final = float(simulator.run()["total_infected"][0][-1])
        times.append(time.perf_counter() - t)
print(json.dumps({"one_run": statistics.median(times[1:]), "final": final}))
"""


def _xmile_for_peers(yaml_path: Path, out: Path) -> None:
    """The arrayed model as XMILE without PolicyLab's extension elements (pysimlin rejects them)."""
    import policylab
    from peers import write_for_peers  # this folder is on the path when the script runs

    write_for_peers(policylab.load(yaml_path).ir, out)


def _one_run(path: Path, engine: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _ONE_RUN, str(path), engine], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise SystemExit(f"one run of {path.name} on {engine} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time(path: Path, engine: str, runs: int) -> dict[str, object]:
    env = {**os.environ, "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), engine, str(runs)], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{path.name} on {engine} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--engines", nargs="+", default=["numba", "numpy"])
    parser.add_argument("--pysimlin", action="store_true", help="also time one run against pysimlin's")
    parser.add_argument("--one-run-only", action="store_true",
                        help="only the one-run comparison with pysimlin (arrays.json keeps the ensemble rows it has)")
    args = parser.parse_args()
    args.pysimlin = args.pysimlin or args.one_run_only
    started = os.getloadavg()[0]
    single: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = {"arrayed": Path(folder) / "arrayed.yaml", "flattened": Path(folder) / "flattened.yaml"}
        paths["arrayed"].write_text(arrayed(args.regions))
        paths["flattened"].write_text(flattened(args.regions))
        rows = []
        for engine in [] if args.one_run_only else args.engines:
            timed = {form: _time(path, engine, args.runs) for form, path in paths.items()}
            a, f = timed["arrayed"]["final"], timed["flattened"]["final"]
            if any(abs(x - y) > 1e-9 * max(1.0, abs(y)) for x, y in zip(a, f, strict=True)):  # type: ignore[arg-type]
                raise SystemExit(f"the arrayed and flattened models disagree on {engine}: {a} vs {f}")
            for form, t in timed.items():
                rows.append({"engine": engine, "form": form, "load_s": t["load"], "run_s": t["run"],
                             "total_s": t["load"] + t["run"]})  # type: ignore[operator]
        if args.pysimlin:
            xmile = Path(folder) / "arrayed.xmile"
            _xmile_for_peers(paths["arrayed"], xmile)
            for engine in ("pysimlin", *args.engines):
                single[engine] = _one_run(xmile, engine)
            finals = [figures["final"] for figures in single.values()]
            if max(finals) - min(finals) > 1e-9 * max(abs(f) for f in finals):
                raise SystemExit(f"the engines disagree on the final total infected: {single}")
    print(f"SIR over {args.regions} regions, {args.runs} runs (load average {started:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end)")
    print("| engine | form | load + compile (s) | run (s) | end to end (s) |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['engine']} | {row['form']} | {row['load_s']:.2f} | {row['run_s']:.2f} | {row['total_s']:.2f} |")
    for engine in sorted({r["engine"] for r in rows}):
        by = {r["form"]: r for r in rows if r["engine"] == engine}
        print(f"{engine}: arrayed is {by['flattened']['run_s'] / by['arrayed']['run_s']:.1f}x faster to run, "
              f"{by['flattened']['total_s'] / by['arrayed']['total_s']:.1f}x end to end")
    for engine, figures in single.items():
        print(f"one run of the arrayed model's XMILE export, {engine}: {figures['one_run'] * 1000:.1f} ms "
              f"(final total infected {figures['final']:.6g})")
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / "arrays.json"
    report = json.loads(target.read_text()) if args.one_run_only and target.exists() else {}
    if report.get("regions") != args.regions:
        report = {"regions": args.regions, "runs": args.runs, "rows": rows}
    if rows:
        report.update(runs=args.runs, rows=rows, load_average=os.getloadavg()[0])
    if single:
        report.update(one_run=single, one_run_load_average=[started, os.getloadavg()[0]])
    target.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
