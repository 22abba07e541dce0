"""Discovery mode: find the loops that are ever strong by a strongest-path search on link scores.

After Eberlein & Schoenberg (2020), "Finding the Loops that Matter", as Stella and Simlin do
when a model has too many loops to list: at each sampled step and run, starting from each
stock, a depth-first search follows links in decreasing order of |link score| and abandons a
path that reaches a variable more weakly than an earlier path did. Every cycle closed back
at the start is kept. It is a heuristic: it finds strong loops, not all loops.
"""

from __future__ import annotations

import numpy as np

from policylab.results.loops.scores import LinkScorer, link_score
from policylab.results.loops.structure import Link, LoopSet, add_loop

DISCOVERY_POINTS = 120  # sampled steps per run searched
DISCOVERY_RUNS = 4  # runs searched (the first ones of the ensemble)
MAX_DEPTH = 40


def strongest_loops(weights: dict[Link, float], starts: list[str]) -> set[tuple[str, ...]]:
    """Cycles found by the strongest-path search on one step's |link scores|."""
    out: dict[str, list[tuple[float, str]]] = {}
    for (a, b), w in weights.items():
        if w > 0 and np.isfinite(w):
            out.setdefault(a, []).append((w, b))
    for edges in out.values():
        edges.sort(key=lambda e: (-e[0], e[1]))
    found: set[tuple[str, ...]] = set()
    for start in starts:
        best: dict[str, float] = {}

        def walk(node: str, path: list[str], score: float) -> None:
            for w, nxt in out.get(node, []):
                value = score * w
                if nxt == start:
                    found.add(tuple(path))
                    continue
                if nxt in path or len(path) >= MAX_DEPTH or value <= best.get(nxt, 0.0):
                    continue
                best[nxt] = value
                walk(nxt, [*path, nxt], value)

        walk(start, [start], 1.0)
    return found


def discover(scorer: LinkScorer, loops: LoopSet, model) -> None:  # type: ignore[no-untyped-def]
    """Add to ``loops`` every loop the search finds at up to DISCOVERY_POINTS steps of each traced run."""
    scores = {link: link_score(scorer, loops, link) for link, routes in loops.routes.items() if routes}
    stocks = sorted({b for (_a, b) in scores if b in scorer.system.stocks})
    steps = np.unique(np.linspace(1, scorer.steps - 1, min(scorer.steps - 1, DISCOVERY_POINTS)).astype(int))
    cycles: set[tuple[str, ...]] = set()
    for run in range(scorer.runs):
        for step in steps:
            weights = {link: float(abs(s[step, run])) for link, s in scores.items()}
            cycles |= strongest_loops(weights, stocks)
    for cycle in sorted(cycles, key=lambda c: (len(c), c)):
        add_loop(loops, cycle, model)
