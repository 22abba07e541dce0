"""How well PolicyLab's memory estimates match measured peaks, for ``run`` and ``explore`` at three sizes.

Each measurement runs in a fresh child process. The child first does the same work at
size 1 (so imports, compilation and caches are in memory), reads its resident set size,
then does the measured work and reads its peak (``ru_maxrss``). The estimate is compared
with that difference:

* ``run``: ``policylab run``'s table path on the SIR example (every scenario's result is
  held until the table is built); estimate ``Model.check_memory``'s ``memory_needed``.
* ``explore``: ``explore.start`` in this process (one worker, Latin hypercube, as
  ``policylab explore --workers 1``); estimate ``explore.runner.explore_memory``.

Usage::

    .venv/bin/python benchmarks/memory_estimate.py            # default sizes
    .venv/bin/python benchmarks/memory_estimate.py --backend numba

Acceptance (issue 16): every estimate within 25 % of the measured growth.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIR = ROOT / "models" / "sir" / "model.yaml"

RUN_CHILD = """
import json, resource, sys, psutil
import policylab
from policylab.api import memory_needed
from policylab.simulate.engine import saved_times
from policylab.results.outcomes import needed_variables
from policylab.results.tables import default_rows
runs, backend = int(sys.argv[1]), sys.argv[2]
model = policylab.load({path!r})
ir = model.ir
rows = default_rows(ir, None)
save = list(dict.fromkeys([oc.variable for oc in rows] + needed_variables(ir)))
scenarios = list(ir.scenarios) or [None]
def work(n):
    return {{s: model.run(s, runs=n, variables=save, backend=backend) for s in scenarios}}
work(2)
before = psutil.Process().memory_info().rss
results = work(runs)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
times = len(saved_times(ir.time)[1])
estimate = memory_needed(len(save), times, runs, model.model_size, len(scenarios))
print(json.dumps({{"runs": runs, "measured": peak - before, "estimate": estimate}}))
"""

EXPLORE_CHILD = """
import json, resource, sys, tempfile, psutil
import policylab
from policylab.explore import ExploreRequest, start
from policylab.explore.runner import auto_chunk_size, explore_memory
from policylab.scale import InProcess
from policylab.store import Store
samples, backend = int(sys.argv[1]), sys.argv[2]
model = policylab.load({path!r})
folder = tempfile.mkdtemp()
def work(n):
    request = ExploreRequest(samples=n, sampler="lhs", scenarios=("all",), backend=backend)
    store = Store(folder + f"/store-{{n}}")
    start(model, request, store, InProcess())
    return request
work(20)
before = psutil.Process().memory_info().rss
request = work(samples)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
plan = request.plan(model)
estimate = explore_memory(model, request.source(model), plan, auto_chunk_size(model, plan), 1)
print(json.dumps({{"runs": samples, "measured": peak - before, "estimate": estimate}}))
"""


def measure(child: str, size: int, backend: str) -> dict[str, float]:
    env_path = str(ROOT / "src")
    done = subprocess.run([sys.executable, "-c", child.format(path=str(SIR)), str(size), backend],
                          capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-sizes", type=int, nargs=3, default=[50_000, 100_000, 200_000])
    parser.add_argument("--explore-sizes", type=int, nargs=3, default=[200_000, 400_000, 800_000])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--verbs", nargs="+", default=["run", "explore"], choices=["run", "explore"])
    args = parser.parse_args()
    worst = 0.0
    print(f"{'verb':8} {'size':>9} {'estimate MiB':>13} {'measured MiB':>13} {'error':>7}")
    for verb, child, sizes in (("run", RUN_CHILD, args.run_sizes), ("explore", EXPLORE_CHILD, args.explore_sizes)):
        if verb not in args.verbs:
            continue
        for size in sizes:
            row = measure(child, size, args.backend)
            error = row["estimate"] / row["measured"] - 1
            worst = max(worst, abs(error))
            print(f"{verb:8} {size:>9,} {row['estimate'] / 2**20:>13,.0f} {row['measured'] / 2**20:>13,.0f} "
                  f"{error:>+7.0%}", flush=True)
    print(f"largest error {worst:.0%} (acceptance: 25 %)")


if __name__ == "__main__":
    main()
