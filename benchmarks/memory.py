"""Memory benchmark: a very large exploration runs in bounded memory.

Runs ``--runs`` samples (default 1,000,000) of a model through ``policylab explore``'s
pipeline — design, chunked vectorised simulation, declared scalar outcomes plus periodic
series of three variables, streamed to a results store — and reports wall time,
throughput and peak resident memory:

* ``driver``: this process's peak RSS (``getrusage``), which holds the design and writes
  the store; with ``--workers 1`` it also simulates, so it is the whole figure;
* ``largest worker``: the peak RSS of the largest child process (``RUSAGE_CHILDREN``);
* ``sampled total``: the largest sum of RSS over this process and its children, sampled
  every 0.2 s (``psutil``).

Usage::

    .venv/bin/python benchmarks/memory.py                       # SIR (or --model the flagship)
    .venv/bin/python benchmarks/memory.py --model models/iraq_dialogue/model.yaml --runs 1000000 --workers 2
    .venv/bin/python benchmarks/memory.py --backend numpy      # the reference engine (default auto: numba if installed)

Acceptance: peak RSS under 2 GiB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import policylab
from policylab.explore import ExploreRequest, start
from policylab.explore.progress import RunProgress
from policylab.model.ir import Stock
from policylab.scale import open_executor
from policylab.store import Store

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 2 * 2**30


class PeakSampler(threading.Thread):
    """Largest total RSS of this process and its children, sampled in the background."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self.halt.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.halt.wait(self.interval)


def default_model() -> Path:
    flagship = ROOT / "models" / "iraq_dialogue" / "model.yaml"
    try:
        if flagship.exists() and policylab.load(flagship).ir.outcomes:
            return flagship
    except policylab.PolicyLabError:
        pass
    return ROOT / "models" / "sir" / "model.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the flagship if it declares outcomes, else SIR)")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--sampler", default="mc", choices=["mc", "lhs", "sobol"])
    parser.add_argument("--series", default=None, help="three variables for the series (default: the first three stocks)")
    parser.add_argument("--every", default="month")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", default="auto", choices=["numpy", "numba", "auto"],
                        help="simulation engine (auto: numba when installed)")
    parser.add_argument("--store", type=Path, default=None, help="store folder (default: a temporary one, deleted after)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    path = args.model or default_model()
    model = policylab.load(path)
    series = tuple(args.series.split(",")) if args.series else tuple(list(model.ir.of_kind(Stock))[:3])
    request = ExploreRequest(samples=args.runs, sampler=args.sampler, seed=0, series=series, every=args.every,
                             backend=args.backend)
    folder = args.store or Path(tempfile.mkdtemp(prefix="policylab-memory-"))
    sampler = PeakSampler()
    sampler.start()
    began = time.perf_counter()
    try:
        with open_executor("local", workers=args.workers) as executor, RunProgress(quiet=args.quiet) as progress:
            run_id = start(model, request, Store(folder), executor, args.chunk_size, progress)
        elapsed = time.perf_counter() - began
        info = Store(folder).info(run_id)
        stored = sum(f.stat().st_size for f in (folder / "runs" / run_id).rglob("*.parquet"))
    finally:
        sampler.halt.set()
        sampler.join()
        if args.store is None:
            shutil.rmtree(folder, ignore_errors=True)
    driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    peak = max(driver, sampler.peak)
    mib = 2**20
    print(f"model           {model.name} ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
    print(f"runs            {info.runs_done:,} ({info.manifest['n_chunks']} chunks of {info.manifest['chunk_size']:,}, "
          f"{args.workers} worker{'s' if args.workers > 1 else ''}, sampler {args.sampler}, "
          f"backend {info.manifest['request']['backend']})")
    print(f"recorded        {len(info.manifest['outcomes'])} scalar outcomes + {args.every} series of {', '.join(series)}")
    print(f"wall time       {elapsed:,.1f} s ({info.runs_done / elapsed:,.0f} runs/s)")
    print(f"stored          {stored / mib:,.1f} MiB of Parquet")
    print(f"peak RSS        driver {driver / mib:,.0f} MiB; largest worker {worker / mib:,.0f} MiB; "
          f"sampled total {sampler.peak / mib:,.0f} MiB")
    verdict = "PASS" if peak < LIMIT else "FAIL"
    print(f"{verdict}: peak RSS {peak / mib:,.0f} MiB {'<' if peak < LIMIT else '>='} 2048 MiB")
    return 0 if peak < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
