"""Side-by-side benchmark: PolicyLab (NumPy and numba backends) against PySD and pysimlin.

The same models in one invocation, each engine in fresh processes on one core (BLAS,
OpenMP and numba threads set to 1 unless ``--threads``):

* ``teacup`` and ``rivals`` from ``../shared/benchmarks`` — the ``.xmile`` files for
  PolicyLab and pysimlin, the ``.mdl`` twins for PySD (its XMILE translator rejects those
  files; ``.mdl`` is how its users run it) — with the shared Latin-hypercube designs;
* the flagship (``models/iraq_dialogue``) exported to XMILE in deterministic mode —
  random calls replaced by their means, DELAYN of high order written out as nested
  DELAY1 (pysimlin 0.8.5 does not compile DELAYN of order 9 or more), PolicyLab's
  extension elements dropped (pysimlin's reader rejects them) — run by PolicyLab and
  pysimlin from that one file, with a Latin-hypercube design (seed 42) over the
  flagship's judgement parameters;
* ``regions``: the SIR-over-regions model of ``benchmarks/arrays.py`` with ``--regions`` regions
  (1,000 by default) written as a Vensim ``.mdl`` here (subscript range, constant lists,
  ``SUM(infected[region!])``), run by all four engines from that one file, with a
  Latin-hypercube design (seed 42) over its three scalar judgement parameters; PolicyLab's
  results from the ``.mdl`` are also checked against the YAML model it is the twin of.

Before timing anything it checks that every engine's outputs agree with PolicyLab's
NumPy backend to 1e-6 relative (relative to each series' largest magnitude).

For each model and engine it reports: one run (wall and CPU time, median of at least
``--repeats`` calls after a warm-up, and more until ``--single-seconds`` of calls, at most
``MAX_SINGLE_CALLS``; each one-run cell's quartiles and call count in square brackets; PolicyLab's numba backend excludes its one-off
compilation, which is cached on disk between processes), throughput in run-steps per
second (runs × steps ÷ wall seconds) at ``--sizes`` runs, peak RSS, and PolicyLab's
speed-up over each peer measured in this invocation. PolicyLab runs an ensemble as one
vectorised call (``Model.run(runs=N, params=…)``, saving the three compared
variables at every step); the peers run their own loop over runs as their users do
(PySD: ``model.run(params=…, return_columns=…)``; pysimlin: its fastest public path,
``Model.simulate(overrides=…)``, ``run_to_end()``, ``get_series()`` per saved variable).
PolicyLab's one run is timed twice: ``Model.run`` (a labelled Dataset) and "prepared", a
``Model.simulator(parameters=…)`` made once and then ``run(**row)`` (plain arrays).
A peer's loop stops after ``--cap`` seconds; larger ensembles are extrapolated from its
measured rate, and the table says so. ``--flagship-scenarios N`` also times the
flagship itself (YAML, random draws on) at N runs × every scenario on the numba backend.

Results print as a Markdown table and are written to ``benchmarks/results/peers.json``
and ``benchmarks/results/peers.md``, with the load average before and after.

Usage::

    .venv/bin/python benchmarks/peers.py                          # everything (about 12 minutes)
    .venv/bin/python benchmarks/peers.py --models rivals --sizes 1000 10000 --cap 20
    .venv/bin/python benchmarks/peers.py --models regions --sizes 1000 --flagship-scenarios 0 --merge
    pip install -e '.[bench]'                                      # PySD and pysimlin
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
FLAGSHIP = ROOT / "models" / "iraq_dialogue" / "model.yaml"
RESULTS = ROOT / "benchmarks" / "results"
ENGINES = ("policylab-numpy", "policylab-numba", "pysd", "pysimlin")
MODELS = ("teacup", "rivals", "flagship", "regions")
OUTPUTS = {
    "teacup": ["teacup_temperature"],
    "rivals": ["population_a", "military_a", "tension"],
    "flagship": ["us_iran_tension", "militia_capability", "us_bases"],
    "regions": ["total_infected", "national_prevalence"],
    "regions_yaml": ["total_infected", "national_prevalence"],
}
FILES = {"regions": "regions.mdl", "regions_yaml": "regions.yaml"}  # the file PolicyLab and pysimlin read (else .xmile)
MAX_SINGLE_CALLS = 1001  # timed single calls at most (a fast engine's --single-seconds would make thousands)
STEPS = {"teacup": 1000, "rivals": 1000, "flagship": 1825, "regions": 200}
REGION_PARAMETERS = {"infectivity": (0.03, 0.08), "recovery time": (5.0, 10.0), "travel share": (0.02, 0.3)}
AGREEMENT = 1e-6
XMILE_NS = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"
POLICYLAB_NS = "https://policylab.dev/xmile/1"


# --- the models -------------------------------------------------------------------------


def prepare(workdir: Path, models: list[str], regions: int) -> None:
    """Copy the shared models, write the regions model, translate the .mdl files for PySD once, export the flagship."""
    for name in ("teacup", "rivals"):
        if name in models:
            for suffix in (".xmile", ".mdl"):
                (workdir / f"{name}{suffix}").write_bytes((SHARED / f"{name}{suffix}").read_bytes())
            (workdir / f"{name}.csv").write_bytes((SHARED / f"{name}_lhs1000.csv").read_bytes())
            _translate_for_pysd(workdir / f"{name}.mdl")
    if "regions" in models:
        export_regions(workdir, regions)
        _translate_for_pysd(workdir / "regions.mdl")
    if "flagship" in models:
        export_flagship(workdir)


def _translate_for_pysd(mdl: Path) -> None:
    """PySD's translation of ``mdl`` (``name.py`` beside it), once, outside the timed processes."""
    try:
        import pysd
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pysd.read_vensim(str(mdl))


def export_regions(workdir: Path, regions: int) -> None:
    """The SIR-over-regions model as Vensim ``.mdl`` and as the YAML it twins, and its design."""
    import pandas as pd
    from scipy.stats import qmc

    from arrays import arrayed, region_population  # this folder is on the path when the script runs

    (workdir / "regions.yaml").write_text(arrayed(regions), encoding="utf-8")
    (workdir / "regions.mdl").write_text(regions_mdl(regions, region_population), encoding="utf-8")
    unit = qmc.LatinHypercube(d=len(REGION_PARAMETERS), seed=42).random(1000)
    low = np.array([r[0] for r in REGION_PARAMETERS.values()])
    high = np.array([r[1] for r in REGION_PARAMETERS.values()])
    pd.DataFrame(low + unit * (high - low), columns=list(REGION_PARAMETERS)).to_csv(workdir / "regions.csv", index=False)


def regions_mdl(n: int, population) -> str:  # type: ignore[no-untyped-def]
    """``benchmarks/arrays.py``'s arrayed model (``population(i)`` people in region i) as Vensim text."""
    def record(lhs: str, equation: str, units: str = "") -> str:
        return f"{lhs}=\n\t{equation}\n\t~\t{units}\n\t~\t\t|"

    def listed(values: list[str]) -> str:  # 20 to a line, continued with a backslash as Vensim writes long lists
        return ",\\\n\t\t".join(", ".join(values[i:i + 20]) for i in range(0, len(values), 20))

    records = [
        f"region:\n\t{listed([f'r{i}' for i in range(n)])}\n\t~\t\n\t~\t\t|",
        record("population[region]", listed([str(population(i)) for i in range(n)]), "person"),
        record("seed cases[region]", listed(["5" if i == 0 else "0" for i in range(n)]), "person"),
        record("contact rate[region]", "6", "1/day"),
        record("infectivity", "0.05", "dmnl"),
        record("recovery time", "7", "day"),
        record("travel share", "0.1", "dmnl"),
        record("distancing", "0", "dmnl"),
        record("susceptible[region]", "INTEG(-infection[region], population[region] - seed cases[region])", "person"),
        record("infected[region]", "INTEG(infection[region] - recovery[region], seed cases[region])", "person"),
        record("recovered[region]", "INTEG(recovery[region], 0)", "person"),
        record("infection[region]", "contact rate[region] * (1 - distancing) * infectivity * susceptible[region] "
                                    "* mixed prevalence[region]", "person/day"),
        record("recovery[region]", "infected[region] / recovery time", "person/day"),
        record("prevalence[region]", "infected[region] / population[region]", "dmnl"),
        record("national prevalence", "SUM(infected[region!]) / SUM(population[region!])", "dmnl"),
        record("mixed prevalence[region]", "(1 - travel share) * prevalence[region] + travel share * "
                                           "national prevalence", "dmnl"),
        record("total infected", "SUM(infected[region!])", "person"),
        record("FINAL TIME", "100", "day"),
        record("INITIAL TIME", "0", "day"),
        record("SAVEPER", "TIME STEP", "day"),
        record("TIME STEP", "0.5", "day"),
    ]
    return "{UTF-8}\n" + "\n\n".join(records) + "\n\n"


def export_flagship(workdir: Path) -> None:
    """The flagship as a deterministic XMILE any engine can read, and its design."""
    import pandas as pd
    from scipy.stats import qmc

    import policylab
    from policylab.model.ir import Constant
    from policylab.simulate import judgement_parameters

    ir = policylab.load(FLAGSHIP).ir
    constants = {n: v.value for n, v in ir.variables.items() if isinstance(v, Constant)}
    variables = {}
    for name, var in ir.variables.items():
        changes = {f: _deterministic(getattr(var, f), constants) for f in ("equation", "initial", "input")
                   if getattr(var, f, None) is not None}
        variables[name] = dataclasses.replace(var, **changes) if changes else var
    write_for_peers(dataclasses.replace(ir, variables=variables), workdir / "flagship.xmile")
    ranges = {n: c.range for n, c in judgement_parameters(ir).items()}
    unit = qmc.LatinHypercube(d=len(ranges), seed=42).random(1000)
    low, high = np.array([r[0] for r in ranges.values()]), np.array([r[1] for r in ranges.values()])
    pd.DataFrame(low + unit * (high - low), columns=list(ranges)).to_csv(workdir / "flagship.csv", index=False)


def _deterministic(expr, constants: dict[str, float]):  # type: ignore[no-untyped-def]
    """Random calls by their means; DELAYN/SMOOTHN orders as numbers; high-order DELAYN as nested DELAY1."""
    from policylab.compile.desugar import _rebuild
    from policylab.expr.ast import BinOp, Call, Name, Num, children
    from policylab.expr.builtins import find_builtin

    if not isinstance(expr, Call):
        kids = children(expr)
        return _rebuild(expr, tuple(_deterministic(k, constants) for k in kids)) if kids else expr
    args = tuple(_deterministic(a, constants) for a in expr.args)
    spec = find_builtin(expr.func)
    if spec is not None and spec.kind == "random":
        return BinOp("/", BinOp("+", args[0], args[1]), Num(2.0)) if spec.name == "uniform" else args[0]
    if spec is not None and spec.name in ("delayn", "smoothn") and isinstance(args[2], Name):
        args = (*args[:2], Num(float(constants[args[2].name])), *args[3:])
    if spec is not None and spec.name == "delayn" and len(args) == 3 and isinstance(args[2], Num) and args[2].value >= 9:
        order = int(args[2].value)
        nested = args[0]
        for _ in range(order):
            nested = Call("delay1", (nested, BinOp("/", args[1], Num(float(order)))))
        return nested
    return Call(expr.func, args)


def write_for_peers(ir, path: Path) -> None:  # type: ignore[no-untyped-def]
    """``ir`` as XMILE without PolicyLab's extension elements (pysimlin's reader rejects them)."""
    from policylab.formats.xmile import write_xmile

    root = ET.fromstring(write_xmile(ir).encode("utf-8"))
    _drop_extension(root)
    ET.register_namespace("", XMILE_NS)
    ET.register_namespace("isee", "http://iseesystems.com/XMILE")
    ET.ElementTree(root).write(path, xml_declaration=True, encoding="utf-8")


def _drop_extension(element: ET.Element) -> None:
    for child in list(element):
        if child.tag.startswith(f"{{{POLICYLAB_NS}}}"):
            element.remove(child)
        else:
            _drop_extension(child)


def design(workdir: Path, model: str, runs: int) -> dict[str, np.ndarray]:
    """The model's design rows, tiled to ``runs``, keyed by the file's column names."""
    import pandas as pd

    frame = pd.read_csv(workdir / f"{model.removesuffix('_yaml')}.csv")  # regions_yaml: the design of regions
    rows = np.arange(runs) % len(frame)
    return {column: frame[column].to_numpy(dtype=float)[rows] for column in frame.columns}


# --- the engines (inside a measuring process) ---------------------------------------------


class Engine:
    """One engine on one model: ``run(row)`` returns the compared outputs of one run."""

    def __init__(self, engine: str, model: str, workdir: Path) -> None:
        self.engine, self.model, self.outputs = engine, model, OUTPUTS[model]
        self.canonical = _canonical  # not PolicyLab's own: a peer's process should not import PolicyLab
        if engine.startswith("policylab"):
            import policylab

            self.handle = policylab.load(workdir / FILES.get(model, f"{model}.xmile"))
            _ = self.handle.compiled
            self.backend = engine.split("-")[1]
            self.steps = self.handle.ir.time.n_steps
        elif engine == "pysd":
            import pysd

            self.handle = pysd.load(str(workdir / f"{model}.py"))
            names = {_canonical(k): k for k in self.handle.namespace}
            self.columns = [names[o] for o in self.outputs]
        else:
            import simlin

            self.handle = simlin.load(workdir / FILES.get(model, f"{model}.xmile"))

    def run(self, row: dict[str, float]) -> dict[str, np.ndarray]:
        if self.engine.startswith("policylab"):
            params = {self.canonical(k): v for k, v in row.items()}
            ds = self.handle.run(params=params, variables=self.outputs, backend=self.backend, sample=False)
            return {o: ds[o].values[0] for o in self.outputs}
        if self.engine == "pysd":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = self.handle.run(params=row, return_columns=self.columns)
            return {o: frame[c].to_numpy(dtype=float) for o, c in zip(self.outputs, self.columns, strict=True)}
        overrides = {self.canonical(k): float(v) for k, v in row.items()}
        with self.handle.simulate(overrides=overrides, enable_ltm=False) as sim:
            sim.run_to_end()
            return {o: sim.get_series(o) for o in self.outputs}

    def prepared(self, row: dict[str, float]) -> dict[str, np.ndarray]:
        """PolicyLab only: one run through a ``Model.simulator`` made once (arrays, no Dataset)."""
        params = {self.canonical(k): v for k, v in row.items()}
        if not hasattr(self, "simulator"):
            self.simulator = self.handle.simulator(parameters=list(params), variables=self.outputs, backend=self.backend)
        got = self.simulator.run(**params)
        return {o: got[o][0] for o in self.outputs}

    def ensemble(self, params: dict[str, np.ndarray], runs: int) -> None:
        """PolicyLab only: one vectorised call."""
        converted = {self.canonical(k): v for k, v in params.items()}
        self.handle.run(runs=runs, params=converted, variables=self.outputs, backend=self.backend, sample=False)


def _canonical(name: str) -> str:
    """PolicyLab's and pysimlin's spelling of a model name (``policylab.expr.names.canonical``)."""
    return re.sub(r"(?:\\n|[\s_])+", "_", name.strip().strip('"').strip().lower()).strip("_")


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _rss_mib() -> float:
    """Peak resident memory of this process image. ``ru_maxrss`` would be wrong here: Linux carries
    it across ``exec`` from the forked parent, so every measuring process would report at least the
    driver's size; ``VmHWM`` belongs to the current address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process."""
    workdir = Path(args.workdir)
    wall, cpu = _clock()
    engine = Engine(args.engine, args.model, workdir)
    load_s = time.perf_counter() - wall
    rows = design(workdir, args.model, max(args.runs, 1))
    first = {k: float(v[0]) for k, v in rows.items()}
    if args.measure == "check":
        return {"outputs": {k: v.tolist() for k, v in engine.run(first).items()}, "load_s": load_s}
    engine.run(first)  # warm-up: imports, caches, the numba backend's cached machine code
    if args.measure in ("single", "prepared"):
        call = engine.run if args.measure == "single" else engine.prepared
        call(first)
        walls, cpus = [], []
        started = time.perf_counter()  # at least --repeats calls, and more up to --single-seconds of them
        while len(walls) < args.repeats or (time.perf_counter() - started < args.single_seconds
                                            and len(walls) < MAX_SINGLE_CALLS):
            wall, cpu = _clock()
            call(first)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return {"wall_s": walls, "cpu_s": cpus, "load_s": load_s, "peak_rss_mib": _rss_mib()}
    if args.measure == "ensemble":
        engine.ensemble({k: v[:100] for k, v in rows.items()}, min(args.runs, 100))
        walls, cpus = [], []
        for _ in range(args.repeats):
            wall, cpu = _clock()
            engine.ensemble(rows, args.runs)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return {"runs": args.runs, "wall_s": walls, "cpu_s": cpus, "peak_rss_mib": _rss_mib()}
    # loop: the peer's own loop over runs, until args.runs runs or args.cap seconds
    wall, cpu = _clock()
    done = 0
    for done in range(1, args.runs + 1):
        engine.run({k: float(v[(done - 1) % len(v)]) for k, v in rows.items()})
        if time.perf_counter() - wall > args.cap:
            break
    return {"runs": done, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "peak_rss_mib": _rss_mib()}


def flagship_scenarios(args: argparse.Namespace) -> dict:
    """The flagship (YAML, random draws on) at ``args.runs`` runs × every scenario, numba backend."""
    import policylab
    from policylab.results.outcomes import needed_variables

    model = policylab.load(FLAGSHIP)
    save = needed_variables(model.ir)
    model.run(runs=10, backend="numba", variables=save)  # warm-up
    wall, cpu = _clock()
    per = {}
    for scenario in model.scenarios:
        started = time.perf_counter()
        model.run(scenario, runs=args.runs, seed=1, variables=save, backend="numba")
        per[scenario] = time.perf_counter() - started
    return {"runs": args.runs, "scenarios": per, "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu, "steps": model.ir.time.n_steps, "saved_variables": len(save),
            "peak_rss_mib": _rss_mib()}


# --- the driver ------------------------------------------------------------------------------


def _fresh(args: argparse.Namespace, **options: object) -> dict:
    command = [sys.executable, __file__, "--workdir", str(args.workdir)]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": threads}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {options} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _available(engine: str, model: str) -> str | None:
    """Why ``engine`` does not run ``model`` here (None: it does)."""
    if engine == "pysd" and model == "flagship":
        return "PySD cannot read XMILE files like these; the flagship has no .mdl twin"
    module = {"pysd": "pysd", "pysimlin": "simlin", "policylab-numba": "numba"}.get(engine)
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[bench]')"
    return None


def check_agreement(args: argparse.Namespace, model: str, engines: list[str]) -> tuple[dict[str, float], dict]:
    """The largest relative difference of each engine's outputs from PolicyLab's NumPy backend, and its outputs."""
    reference = _fresh(args, measure="check", engine="policylab-numpy", model=model, runs=1)["outputs"]
    worst = {}
    for engine in engines:
        got = _fresh(args, measure="check", engine=engine, model=model, runs=1)["outputs"]
        diffs = []
        for name, expected in reference.items():
            a, b = np.asarray(expected), np.asarray(got[name])
            if a.shape != b.shape:
                raise SystemExit(f"{model}: {engine} saved {b.shape} values of {name}, PolicyLab {a.shape}")
            scale = max(float(np.max(np.abs(a))), 1e-300)
            diffs.append(float(np.max(np.abs(a - b)) / scale))
        worst[engine] = max(diffs)
        if worst[engine] > AGREEMENT:
            raise SystemExit(f"{model}: {engine} differs from PolicyLab by {worst[engine]:.3g} (relative) > "
                             f"{AGREEMENT:g}; not timing engines that disagree")
    return worst, reference


def twin_agreement(args: argparse.Namespace, mdl: dict) -> float:
    """How far PolicyLab's results from ``regions.mdl`` (``mdl``) are from those of the YAML model it twins."""
    yaml = _fresh(args, measure="check", engine="policylab-numpy", model="regions_yaml", runs=1)["outputs"]
    worst = max(float(np.max(np.abs(np.asarray(mdl[k]) - np.asarray(yaml[k]))) / max(float(np.max(np.abs(yaml[k]))),
                                                                                           1e-300)) for k in mdl)
    if worst > AGREEMENT:
        raise SystemExit(f"regions.mdl differs from the YAML model it twins by {worst:.3g} (relative)")
    return worst


def run_model(args: argparse.Namespace, model: str) -> dict:
    engines = [e for e in args.engines if _available(e, model) is None]
    skipped = {e: _available(e, model) for e in args.engines if _available(e, model) is not None}
    print(f"{model}: checking that {', '.join(engines)} agree ...", file=sys.stderr, flush=True)
    agreement, reference = check_agreement(args, model, engines)
    steps = STEPS[model]
    result = {"agreement_max_relative": agreement, "skipped": skipped, "steps": steps, "engines": {}}
    if model == "regions":
        result["regions"] = args.regions
        result["twin_max_relative"] = twin_agreement(args, reference)
    largest = {"flagship": args.flagship_max_runs, "regions": args.regions_max_runs}.get(model)
    sizes = [n for n in args.sizes if largest is None or n <= largest]
    result["sizes"] = sizes
    for engine in engines:
        print(f"{model}: {engine} ...", file=sys.stderr, flush=True)
        single = _fresh(args, measure="single", engine=engine, model=model, runs=1, repeats=args.repeats,
                        single_seconds=args.single_seconds)
        row = {"single": _summary(single), "ensembles": {}}
        if engine.startswith("policylab"):
            prepared = _fresh(args, measure="prepared", engine=engine, model=model, runs=1, repeats=args.repeats,
                              single_seconds=args.single_seconds)
            row["prepared"] = _summary(prepared)
            for n in sizes:
                got = _fresh(args, measure="ensemble", engine=engine, model=model, runs=n,
                             repeats=args.ensemble_repeats if n <= 10_000 else 1)
                wall, cpu = statistics.median(got["wall_s"]), statistics.median(got["cpu_s"])
                row["ensembles"][n] = {"wall_s": wall, "cpu_s": cpu, "run_steps_per_s": n * steps / wall,
                                       "run_steps_per_cpu_s": n * steps / cpu, "measured_runs": n,
                                       "extrapolated": False, "peak_rss_mib": got["peak_rss_mib"]}
        else:
            loop = _fresh(args, measure="loop", engine=engine, model=model, runs=max(sizes), cap=args.cap)
            per_run_wall, per_run_cpu = loop["wall_s"] / loop["runs"], loop["cpu_s"] / loop["runs"]
            for n in sizes:
                row["ensembles"][n] = {"wall_s": per_run_wall * n, "cpu_s": per_run_cpu * n,
                                       "run_steps_per_s": steps / per_run_wall, "run_steps_per_cpu_s": steps / per_run_cpu,
                                       "measured_runs": loop["runs"], "extrapolated": loop["runs"] < n,
                                       "peak_rss_mib": loop["peak_rss_mib"]}
        result["engines"][engine] = row
    return result


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:,.0f}×" if numerator / denominator >= 10 else f"{numerator / denominator:.1f}×"


def table(report: dict) -> str:
    sizes = report["sizes"]
    head = ["model", "engine", "one run: wall (CPU)", "one run, prepared"] + [
        f"{n:,} runs: run-steps/s" for n in sizes] + ["peak RSS", "numba backend's speed-up (one run; an ensemble)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for model, result in report["models"].items():
        engines = result["engines"]
        best = engines.get("policylab-numba")
        for engine, row in engines.items():
            single = row["single"]
            prepared = row.get("prepared")
            cells = [model, engine, f"{_ms(single['median_wall_s'])} ({_ms(single['median_cpu_s'])}){_quartiles(single)}",
                     _ms(prepared["median_wall_s"]) + _quartiles(prepared) if prepared else "—"]
            for n in sizes:
                e = row["ensembles"].get(n) or row["ensembles"].get(str(n))
                cells.append("—" if e is None else _rate(e["run_steps_per_s"]) + (
                    f" (extrap. from {e['measured_runs']:,})" if e["extrapolated"] else ""))
            rss = max([single["peak_rss_mib"]] + [e["peak_rss_mib"] for e in row["ensembles"].values()])
            cells.append(f"{rss:,.0f} MiB")
            if best is not None and engine != "policylab-numba":
                measured = result.get("sizes", sizes)
                size = 10_000 if 10_000 in measured else max(measured)  # 10,000 runs, else the largest ensemble
                ten = row["ensembles"].get(size) or row["ensembles"].get(str(size))
                best_ten = best["ensembles"].get(size) or best["ensembles"].get(str(size))
                fastest = best.get("prepared", best["single"])["median_wall_s"]
                speed = _ratio(single["median_wall_s"], fastest)
                if ten and best_ten:
                    speed += f"; {_ratio(best_ten['run_steps_per_s'], ten['run_steps_per_s'])} ({size:,} runs)"
                cells.append(speed)
            else:
                cells.append("—")
            lines.append("| " + " | ".join(cells) + " |")
        for engine, why in result["skipped"].items():
            lines.append(f"| {model} | {engine} | not run: {why} |" + " |" * (len(head) - 3))
    return "\n".join(lines)


KEPT_CALLS = 25  # a one-run measurement keeps every call's times up to this many calls, else their summary


def _summary(measured: dict) -> dict:
    """A one-run measurement's medians, quartiles (8 calls or more) and call count; every call's times only when
    there are few (the JSON of record stays small)."""
    walls, cpus = measured["wall_s"], measured["cpu_s"]
    summary = {**measured, "median_wall_s": statistics.median(walls), "median_cpu_s": statistics.median(cpus),
               "calls": len(walls)}
    if len(walls) >= 8:
        q1, _, q3 = statistics.quantiles(walls, n=4)
        summary["quartiles_wall_s"] = [q1, q3]
    if len(walls) > KEPT_CALLS:
        del summary["wall_s"], summary["cpu_s"]
    return summary


def _quartiles(row: dict) -> str:
    """`` [q1–q3, n calls]``: how far a one-run median can be trusted (empty without quartiles)."""
    if "quartiles_wall_s" not in row:
        return ""
    q1, q3 = row["quartiles_wall_s"]
    return f" [{q1 * 1e3:.2f}–{q3 * 1e3:.2f}, {row['calls']:,} calls]"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _rate(per_s: float) -> str:
    return f"{per_s / 1e6:.2f} M" if per_s >= 1e6 else f"{per_s:,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--flagship-max-runs", type=int, default=10_000,
                        help="largest flagship ensemble (100,000 runs × 1,826 saved points × 3 variables is 4.4 GB)")
    parser.add_argument("--regions", type=int, default=1000, help="regions of the `regions` model")
    parser.add_argument("--regions-max-runs", type=int, default=1_000, help="largest ensemble of the `regions` model")
    parser.add_argument("--repeats", type=int, default=5, help="timed single runs (median), at least")
    parser.add_argument("--single-seconds", type=float, default=1.0,
                        help="keep timing single runs until this many seconds of them (at most "
                             f"{MAX_SINGLE_CALLS:,} calls): a median of five fast calls swings by a third")
    parser.add_argument("--ensemble-repeats", type=int, default=3, help="timed PolicyLab ensembles up to 10,000 runs")
    parser.add_argument("--cap", type=float, default=30.0, help="seconds a peer's loop over runs may take")
    parser.add_argument("--threads", type=int, default=1, help="numba threads (1: the one-core figures)")
    parser.add_argument("--flagship-scenarios", type=int, default=10_000, metavar="RUNS",
                        help="also time the flagship at RUNS runs × every scenario (0: skip)")
    parser.add_argument("--output", type=Path, default=RESULTS / "peers.json")
    parser.add_argument("--merge", action="store_true",
                        help="add these models to the report in --output (replacing them), keeping the others")
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["check", "single", "prepared", "ensemble", "loop", "scenarios"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure is not None:
        outcome = flagship_scenarios(args) if args.measure == "scenarios" else measure(args)
        print(json.dumps(outcome))
        return
    started = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="policylab-peers-") as folder:
        args.workdir = Path(folder)
        prepare(args.workdir, args.models, args.regions)
        report = {"sizes": args.sizes, "models": {m: run_model(args, m) for m in args.models}}
        if args.flagship_scenarios:
            print("flagship: every scenario on the numba backend ...", file=sys.stderr, flush=True)
            saved_threads, args.threads = args.threads, os.cpu_count() or 1
            report["flagship_scenarios"] = {**_fresh(args, measure="scenarios", runs=args.flagship_scenarios),
                                            "threads": args.threads}
            args.threads = saved_threads
    report.update(_environment(args, started))
    if args.merge and args.output.exists():  # these models into the report there, each with its own measuring
        kept = json.loads(args.output.read_text(encoding="utf-8"))
        for result in report["models"].values():
            result["measured"] = {k: report[k] for k in ("commit", "load_average_at_start", "load_average_at_end")}
        kept["models"].update(report["models"])
        report = kept
    text = _markdown(report)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    args.output.with_suffix(".md").write_text(text + "\n", encoding="utf-8")


def _environment(args: argparse.Namespace, started: tuple[float, float, float]) -> dict:
    versions = {}
    for module, dist in (("numpy", "numpy"), ("numba", "numba"), ("pysd", "pysd"), ("simlin", "pysimlin")):
        try:
            from importlib.metadata import version

            __import__(module)
            versions[dist] = version(dist)
        except ImportError:
            versions[dist] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                            check=False).stdout.strip()
    return {"commit": commit, "python": platform.python_version(), "versions": versions,
            "cpu_count": os.cpu_count(), "numba_threads": args.threads, "cap_s": args.cap,
            "load_average_at_start": started, "load_average_at_end": os.getloadavg()}


def _markdown(report: dict) -> str:
    start, end = report["load_average_at_start"], report["load_average_at_end"]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    lines = [f"PolicyLab vs peers, commit {report['commit']}, {versions}; {report['cpu_count']} cores, "
             f"{report['numba_threads']} numba thread(s); load average {start[0]:.1f} at start, {end[0]:.1f} at end.",
             "", table(report), ""]
    for model, result in report["models"].items():
        agreement = ", ".join(f"{e} {d:.1e}" for e, d in result["agreement_max_relative"].items())
        lines.append(f"- {model}: outputs agree with PolicyLab's NumPy backend to (max relative) {agreement}.")
        if "measured" in result:
            measured = result["measured"]
            lines.append(f"- {model}: measured separately, commit {measured['commit']}, load average "
                         f"{measured['load_average_at_start'][0]:.1f} at start, "
                         f"{measured['load_average_at_end'][0]:.1f} at end.")
        if "twin_max_relative" in result:
            lines.append(f"- regions: {result['regions']:,} regions, {result['steps']} Euler steps, one `.mdl` file read "
                         "by every engine (written by `peers.regions_mdl`); PolicyLab's results from it agree with "
                         f"the YAML model it twins (`arrays.arrayed`) to {result['twin_max_relative']:.1e}.")
    lines.append("- One run, prepared: PolicyLab's `Model.simulator(parameters=...)` made once, then `run(**row)` "
                 "(the parameters in registers of a tape lowered once; arrays out, no Dataset) — the counterpart of "
                 "pysimlin's `Model.simulate(overrides=...)`; the speed-up column compares the peers' one run with it.")
    lines.append("- One-run cells: the median wall time of at least `--repeats` calls, and more until "
                 "`--single-seconds` of calls (at most 1,001); in square brackets the first and third quartiles "
                 "(ms) and the number of calls, where there were at least 8.")
    lines.append(f"- Peers' loops stop after {report['cap_s']:g} s; larger ensembles are extrapolated from the "
                 "measured rate (marked).")
    scenarios = report.get("flagship_scenarios")
    if scenarios:
        lines.append(f"- Flagship (YAML, random draws on), {scenarios['runs']:,} runs × {len(scenarios['scenarios'])} "
                     f"scenarios on the numba backend ({scenarios['threads']} threads): {scenarios['wall_s']:.1f} s wall, "
                     f"{scenarios['cpu_s']:.1f} s CPU, peak RSS {scenarios['peak_rss_mib']:,.0f} MiB.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
