"""Link, loop and relative loop scores per step (Loops That Matter), vectorised over runs.

Conventions (docs/loops.md):

* The score of a link at step ``t`` describes the interval ``[t - dt, t]``. Into an auxiliary
  or flow ``z = f(x, y, ...)``: ``|Δx(z) / Δz| * sign(Δx(z) / Δx)``, where ``Δx(z)`` is ``f``
  re-evaluated exactly with ``x`` at ``t`` and every other input (the clock and random draws
  included) at ``t - dt``, minus ``z`` at ``t - dt``; 0 when ``Δz`` or ``Δx`` is 0.
* Flow to stock, the corrected form of Schoenberg, Hayward & Eberlein (2023): ``±|Δflow / Δnet|``
  with ``net`` the stock's inflows minus its outflows (the stock's rate of change), ``+`` for
  an inflow, ``-`` for an outflow; 0 when ``Δnet`` is 0. Splitting or merging flows changes
  nothing.
* A generated event is scored through its hazard (the expected count of the step); while it
  follows its record (before ``conditioned_until``) its inputs do not move it: score 0.
* A discrete delay (DELAY_FIXED, PREVIOUS) passes on the sign of the change: ``sign(Δout) * sign(Δin)``.
* Step 0 has no previous step: every score there is NaN.
* A link through a builtin's hidden structure scores the product along its route; with several
  routes, the one of largest magnitude at that step (the composite link score).
* Loop score: the product of its link scores. Relative loop score: loop score over the sum of
  the absolute loop scores of its cycle partition, 0 where that sum is 0 (0/0 -> 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policylab.compile.desugar import Draw
from policylab.compile.graph import iter_nodes
from policylab.model.ir import CONDITIONED_UNTIL, Lookup
from policylab.results.loops.links import evaluate, partial_change
from policylab.results.loops.structure import Link, LoopSet, SystemGraph

Array = np.ndarray


@dataclass
class Trace:
    """One chunk of runs at every step: ``values[name]`` has shape (steps, runs)."""

    values: dict[str, Array]
    constants: dict[str, float | Array]  # scalars, or one value per run
    times: Array
    dt: float
    uniforms: Callable[[int, int], Array] | None = None  # (site, step) -> the runs' draws; None: deterministic

    @property
    def shape(self) -> tuple[int, int]:
        return next(iter(self.values.values())).shape


def needed_names(system: SystemGraph, links: set[Link]) -> set[str]:
    """Every compiled variable whose path the scores of ``links`` read."""
    names: set[str] = set()
    for source, target in links:
        names |= {source, target} | system.inputs(target)
        if target in system.stocks:
            stock = system.stocks[target]
            names |= set(stock.inflows) | set(stock.outflows)
    for out in list(names):
        if out in system.pipelines:
            pipe = system.pipelines[out]
            names |= {pipe.source, pipe.init} | ({pipe.delay} if pipe.delay else set())
    return names


def fill_pipelines(system: SystemGraph, trace: Trace, n_steps: int) -> None:
    """The discrete delays' outputs, rebuilt from their inputs as the engines compute them."""
    for out, pipe in system.pipelines.items():
        if pipe.source not in trace.values or out in trace.values:
            continue
        source = trace.values[pipe.source]
        steps_count, runs = source.shape
        start = np.broadcast_to(trace.values[pipe.init][0], (runs,))
        if pipe.delay is None:
            lag = np.ones(runs, dtype=np.int64)
        else:
            lag = np.clip(np.rint(trace.values[pipe.delay][0] / trace.dt), 1, n_steps + 1).astype(np.int64)
        rows = np.arange(steps_count)[:, None] - lag[None, :]
        cols = np.broadcast_to(np.arange(runs), rows.shape)
        trace.values[out] = np.where(rows >= 0, source[np.maximum(rows, 0), cols], start[None, :])


def _flat(value: float | Array, steps: int) -> float | Array:
    """A constant as the evaluator takes it: a scalar, or per-run values repeated for each step."""
    array = np.asarray(value, dtype=float)
    return float(array) if array.ndim == 0 else np.tile(array, steps)


def _ratio_score(partial: Array, delta_z: Array, delta_x: Array) -> Array:
    """|Δx(z) / Δz| * sign(Δx(z) / Δx), and 0 where Δz or Δx is 0."""
    with np.errstate(all="ignore"):
        score = np.abs(partial / delta_z) * np.sign(partial / delta_x)
    return np.where((delta_z == 0) | (delta_x == 0), 0.0, score)


class LinkScorer:
    """Scores of compiled-equation links over one trace (each computed once)."""

    def __init__(self, system: SystemGraph, lookups: dict[str, Lookup], trace: Trace) -> None:
        self.system, self.lookups, self.trace = system, lookups, trace
        steps, runs = trace.shape
        self.steps, self.runs = steps, runs
        self.cache: dict[Link, Array] = {}
        self._now: dict[str, float | Array] | None = None
        self._hazards: dict[str, tuple[Array, Array]] = {}

    def _views(self) -> tuple[dict, dict]:
        if self._now is None:
            t = self.trace
            self._now = {n: v[1:].reshape(-1) for n, v in t.values.items()}
            self._before = {n: v[:-1].reshape(-1) for n, v in t.values.items()}
            for name, value in t.constants.items():
                flat = _flat(value, self.steps - 1)
                self._now.setdefault(name, flat)
                self._before.setdefault(name, flat)
            self._time_before = np.repeat(t.times[:-1], self.runs)
            self._time_now = np.repeat(t.times[1:], self.runs)
        return self._now, self._before

    def _uniforms(self, target: str) -> dict[int, Array] | None:
        """The draws each random call of ``target`` made at the previous step, or None (means)."""
        if self.trace.uniforms is None:
            return None
        sites = {node.site for node in iter_nodes(self.system.targets[target]) if isinstance(node, Draw)}
        return {s: np.concatenate([self.trace.uniforms(s, k) for k in range(self.steps - 1)]) for s in sites} or None

    def _hazard(self, target: str) -> tuple[Array, Array]:
        """A generated event's expected count per step, at the previous and the current step."""
        if target not in self._hazards:
            now, before = self._views()
            expr = self.system.targets[target]
            self._hazards[target] = (
                evaluate(expr, before, self.lookups, self._time_before, self.trace.dt),
                evaluate(expr, now, self.lookups, self._time_now, self.trace.dt),
            )
        return self._hazards[target]

    def score(self, link: Link) -> Array:
        """The link's score, shape (steps, runs); row 0 is NaN."""
        if link in self.cache:
            return self.cache[link]
        source, target = link
        if target in self.system.stocks:
            flat = self._flow_to_stock(source, target)
        elif target in self.system.pipelines:
            flat = self._unit_transfer(source, target)
        else:
            flat = self._auxiliary(source, target)
        result = np.full((self.steps, self.runs), np.nan)
        result[1:] = flat.reshape(self.steps - 1, self.runs)
        self.cache[link] = result
        return result

    def _delta(self, name: str) -> Array:
        values = self.trace.values[name]
        return (values[1:] - values[:-1]).reshape(-1)

    def _flow_to_stock(self, flow: str, stock: str) -> Array:
        spec = self.system.stocks[stock]
        delta_net = sum((self._delta(f) for f in spec.inflows), np.zeros((self.steps - 1) * self.runs))
        delta_net = delta_net - sum((self._delta(f) for f in spec.outflows), np.zeros_like(delta_net))
        sign = 1.0 if flow in spec.inflows else -1.0
        delta_flow = self._delta(flow)
        with np.errstate(all="ignore"):
            score = sign * np.abs(delta_flow / delta_net)
        return np.where(delta_net == 0, 0.0, score)

    def _unit_transfer(self, source: str, out: str) -> Array:
        return np.sign(self._delta(out)) * np.sign(self._delta(source))

    def _auxiliary(self, source: str, target: str) -> Array:
        now, before = self._views()
        expr = self.system.targets[target]
        partial = partial_change(expr, source, now, before, self.lookups, self._time_before, self.trace.dt,
                                 self._uniforms(target))
        if target in self.system.non_negative:
            partial = np.maximum(partial, 0.0)
        if target in self.system.generated:
            previous, current = self._hazard(target)
            score = _ratio_score(partial - previous, current - previous, self._delta(source))
            until = now.get(CONDITIONED_UNTIL)
            if until is not None:
                score = np.where(self._time_now < until, 0.0, score)
            return score
        previous = before[target]
        return _ratio_score(partial - previous, now[target] - previous, self._delta(source))  # type: ignore[operator]


def link_score(scorer: LinkScorer, loops: LoopSet, link: Link) -> Array:
    """A user-level link's score: the product along its route; with several, the largest in magnitude."""
    best: Array | None = None
    for route in loops.routes[link]:
        product = np.ones((scorer.steps, scorer.runs))
        for step in zip(route, route[1:]):
            product = product * scorer.score(step)
        if best is None:
            best = product
        else:
            best = np.where(np.abs(product) > np.abs(best), product, best)
    assert best is not None  # loop_set keeps only loops whose every link has a route
    return best


def loop_scores(scorer: LinkScorer, loops: LoopSet) -> Array:
    """Loop scores, shape (loops, steps, runs)."""
    cache: dict[Link, Array] = {}
    out = np.empty((len(loops.loops), scorer.steps, scorer.runs))
    for k, loop in enumerate(loops.loops):
        product = np.ones((scorer.steps, scorer.runs))
        for link in loop.links:
            if link not in cache:
                cache[link] = link_score(scorer, loops, link)
            product = product * cache[link]
        out[k] = product
    return out



def relative_scores(scores: Array, partitions: list[int]) -> Array:
    """Each loop score over the sum of absolute loop scores of its partition; 0 where that sum is 0."""
    out = np.empty_like(scores)
    index = np.asarray(partitions)
    for part in np.unique(index):
        members = index == part
        total = np.abs(scores[members]).sum(axis=0)
        with np.errstate(all="ignore"):
            out[members] = np.where(total == 0, 0.0, scores[members] / total)
    return out
