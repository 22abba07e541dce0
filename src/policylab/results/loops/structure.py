"""Which loops are scored, and how each user-level link runs through the compiled equations.

Loops are every elementary cycle of the causal graph's variable graph (Johnson's algorithm,
without the diagram's length bound) up to a budget, named and signed as ``compile.causal``
names and signs them (``loop_id``). Each link ``a -> b`` of a loop is traced through the
desugared system: directly, or through the hidden stocks and rates a builtin such as SMOOTH
or DELAY put inside ``b`` (a *route*). Loops entirely inside a builtin are not listed, as in
Stella and Simlin. The cycle partition of a loop is the strongly connected component of the
variable graph that holds it: loops are compared only with loops of their own partition.
"""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from dataclasses import dataclass, field

import networkx as nx

from policylab.compile.causal import CausalGraph, causal_graph, loop_id
from policylab.compile.desugar import HIDDEN, Draw, is_hidden
from policylab.compile.graph import iter_nodes, references
from policylab.expr.ast import Expr
from policylab.model.ir import Constant, Event, Evidence, GeneratedEvent, Lever, Stock

Link = tuple[str, str]
Route = tuple[str, ...]
EXOGENOUS = (Constant, Lever, Event)


@dataclass(frozen=True)
class ScoredLoop:
    """A loop as scored: its identifier, its variables in order, polarity, partition and stocks."""

    id: str
    variables: tuple[str, ...]
    polarity: str  # "R", "B" or "?"
    partition: int
    stocks: tuple[str, ...]

    @property
    def links(self) -> list[Link]:
        cycle = list(self.variables)
        return list(zip(cycle, cycle[1:] + cycle[:1]))


@dataclass
class LoopSet:
    """The loops scored for a model, the routes of their links and how they were found."""

    loops: list[ScoredLoop]
    routes: dict[Link, list[Route]]
    partitions: list[tuple[str, ...]]  # the variables of each cycle partition
    mode: str  # "exhaustive" or "discovery"
    budget: dict[str, int]
    truncated: bool  # the exhaustive enumeration stopped at its budget
    unscored: list[str] = field(default_factory=list)  # causal loops with no dynamic path (e.g. through INIT)
    evidence: dict[Link, tuple[Evidence, ...]] = field(default_factory=dict)
    signs: dict[Link, str] = field(default_factory=dict)

    def alone(self) -> dict[str, bool]:
        """Each loop: whether it is the only loop of its partition (its relative score is ±1 by construction)."""
        counts: dict[int, int] = {}
        for loop in self.loops:
            counts[loop.partition] = counts.get(loop.partition, 0) + 1
        return {loop.id: counts[loop.partition] == 1 for loop in self.loops}


class SystemGraph:
    """The desugared equations as a graph: which compiled variable reads which, and what each one computes."""

    def __init__(self, model) -> None:  # type: ignore[no-untyped-def]
        ir, system = model.ir, model.compiled.system
        self.stocks = {n: s for n, s in system.stocks.items()}
        self.pipelines = {p.out: p for p in system.pipelines}
        self.targets: dict[str, Expr] = {}
        self.generated: set[str] = set()
        self.non_negative = {n for n, r in system.rates.items() if r.non_negative}
        for name, rate in system.rates.items():
            var = ir.variables.get(name)
            expr = rate.expr
            if isinstance(var, GeneratedEvent):
                draws = [node for node in iter_nodes(expr) if isinstance(node, Draw)]
                if draws:  # scored through its hazard: the expected count of the step
                    expr = draws[0].args[0]
                    self.generated.add(name)
            self.targets[name] = expr
        nodes = set(self.stocks) | set(self.targets) | set(self.pipelines)
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(nodes)
        for name, expr in self.targets.items():
            self.graph.add_edges_from((ref, name) for ref in references(expr) if ref in nodes)
        for name, stock in self.stocks.items():
            self.graph.add_edges_from((flow, name) for flow in (*stock.inflows, *stock.outflows))
        for out, pipe in self.pipelines.items():
            self.graph.add_edge(pipe.source, out)

    def routes(self, source: str, target: str) -> list[Route]:
        """Paths ``source -> ... -> target`` whose inner nodes are the hidden variables of ``target``."""
        found: list[Route] = []
        owned = f"{target}{HIDDEN}"

        def walk(node: str, path: list[str]) -> None:
            for nxt in sorted(self.graph.successors(node)) if node in self.graph else ():
                if nxt == target:
                    found.append((*path, nxt))
                elif nxt.startswith(owned) and nxt not in path:
                    walk(nxt, [*path, nxt])

        walk(source, [source])
        return found

    def inputs(self, name: str) -> set[str]:
        """Every name the equation of ``name`` reads (the stocks read their flows)."""
        if name in self.targets:
            return references(self.targets[name])
        if name in self.stocks:
            stock = self.stocks[name]
            return set(stock.inflows) | set(stock.outflows)
        return {self.pipelines[name].source}


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def causal(model) -> CausalGraph:  # type: ignore[no-untyped-def]
    """The model's causal graph, computed once per loaded model (its link signs cost a small ensemble)."""
    cached = _CACHE.get(model)
    if cached is None:
        cached = causal_graph(model)
        _CACHE[model] = cached
    return cached


def user_graph(model, graph: CausalGraph) -> nx.DiGraph:  # type: ignore[no-untyped-def]
    """The variable graph loops live in: causal links whose source is not exogenous."""
    ir = model.ir
    digraph = nx.DiGraph()
    digraph.add_edges_from((link.source, link.target) for link in graph.links
                           if not isinstance(ir.variables[link.source], EXOGENOUS))
    return digraph


def partitions_of(digraph: nx.DiGraph) -> list[tuple[str, ...]]:
    """Strongly connected components with a cycle, in a stable order (by their smallest name)."""
    found = [tuple(sorted(c)) for c in nx.strongly_connected_components(digraph)
             if len(c) > 1 or any(digraph.has_edge(n, n) for n in c)]
    return sorted(found)


MAX_SCORED_LOOPS = 1000  # the exhaustive set's budget; above it, discovery


def loop_set(model, mode: str = "auto", budget: int = MAX_SCORED_LOOPS) -> LoopSet:  # type: ignore[no-untyped-def]
    """The loops to score: every elementary cycle (Johnson's algorithm, no length bound) up to
    ``budget`` loops; with ``mode="discovery"``, or ``"auto"`` when the budget is hit, an empty
    set the caller fills by discovery."""
    if mode not in ("auto", "exhaustive", "discovery"):
        from policylab.errors import UsageError

        raise UsageError(f"loop mode must be auto, exhaustive or discovery, got {mode!r}")
    graph = causal(model)
    system = SystemGraph(model)
    digraph = user_graph(model, graph)
    parts = partitions_of(digraph)
    routes = {(a, b): system.routes(a, b) for a, b in digraph.edges}
    result = LoopSet([], routes, parts, "exhaustive", {"max_loops": budget}, False,
                     evidence={(link.source, link.target): link.evidence for link in graph.links},
                     signs={(link.source, link.target): link.sign for link in graph.links})
    cycles: list[tuple[str, ...]] = []
    if mode != "discovery":
        for cycle in nx.simple_cycles(digraph):
            if len(cycles) >= budget:
                result.truncated = True
                break
            cycles.append(tuple(cycle))
    if mode == "discovery" or result.truncated and mode == "auto":
        result.mode = "discovery"
        return result
    for cycle in sorted(cycles, key=lambda c: (len(c), sorted(c))):
        links = list(zip(cycle, cycle[1:] + cycle[:1]))
        if not all(routes.get(link) for link in links):
            result.unscored.append(" -> ".join(cycle))
            continue
        add_loop(result, cycle, model)
    return result


def add_loop(loops: LoopSet, cycle: tuple[str, ...], model) -> ScoredLoop:  # type: ignore[no-untyped-def]
    """A discovered cycle as a scored loop, named and signed as the causal graph would."""
    start = cycle.index(min(cycle))
    cycle = cycle[start:] + cycle[:start]
    links = list(zip(cycle, cycle[1:] + cycle[:1]))
    signs = [loops.signs.get(link, "?") for link in links]
    polarity = "?" if any(s not in "+-" for s in signs) else ("R" if sum(s == "-" for s in signs) % 2 == 0 else "B")
    stocks = {n for n, v in model.ir.variables.items() if isinstance(v, Stock)}
    where = {n: k for k, part in enumerate(loops.partitions) for n in part}
    loop = ScoredLoop(loop_id(cycle, polarity, stocks), cycle, polarity, where[cycle[0]],
                      tuple(sorted(n for n in cycle if n in stocks)))
    for existing in loops.loops:
        if existing.id == loop.id:
            if existing.variables == loop.variables:
                return existing
            digest = hashlib.sha1("\x1f".join(cycle).encode("utf-8")).hexdigest()[:8]
            loop = ScoredLoop(f"{loop.id}:{digest}", *dataclasses.astuple(loop)[1:])  # a 4-hex collision
    loops.loops.append(loop)
    return loop


def system_links(loops: LoopSet, links: list[Link] | None = None) -> set[Link]:
    """The compiled-equation links the routes of ``links`` (default: every loop's links) pass through."""
    wanted = links if links is not None else [link for loop in loops.loops for link in loop.links]
    found: set[Link] = set()
    for link in wanted:
        for route in loops.routes.get(link, []):
            found |= set(zip(route, route[1:]))
    return found


def visible(name: str) -> bool:
    """A user's variable (not one the compiler made)."""
    return not is_hidden(name)
