"""The causal-loop structure derived from the equations: signed links and feedback loops.

A link ``x -> y`` exists when y's equation reads x (or x is a flow of stock y). Its sign
is the declared evidence sign where there is one, else the sign of the partial
derivative estimated over sampled operating points (see ``polarity``). A feedback loop
is an elementary cycle; it is reinforcing (R) when the product of its signs is positive,
balancing (B) when negative, and undetermined when a link's sign is mixed or unknown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import networkx as nx

from policylab.compile.graph import references
from policylab.compile.polarity import link_derivatives, sign_of
from policylab.model.ir import Constant, Event, Evidence, Lever, Lookup, Stock

MAX_LOOP_LENGTH = 12
MAX_LOOPS = 500


@dataclass(frozen=True)
class Link:
    """One signed causal link, with the evidence behind it (if any)."""

    source: str
    target: str
    sign: str
    declared: bool
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Loop:
    """A feedback loop: its variables in order, its polarity and its identifier (see ``loop_id``)."""

    label: str
    variables: tuple[str, ...]
    polarity: str  # "R", "B" or "?"


@dataclass
class CausalGraph:
    """Signed links between a model's variables and the feedback loops they form."""

    nodes: dict[str, str] = field(default_factory=dict)  # name -> kind
    links: list[Link] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    truncated: bool = False


def _kind(var: object) -> str:
    return type(var).__name__.lower()


def _raw_links(ir, include_constants: bool) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    pairs: list[tuple[str, str]] = []
    for name, var in ir.variables.items():
        if isinstance(var, Stock):
            pairs += [(f, name) for f in var.inflows + var.outflows]
            continue
        expr = getattr(var, "equation", None) or getattr(var, "input", None)
        if expr is None:
            continue
        for ref in sorted(references(expr)):
            source = ir.variables.get(ref)
            if source is None or isinstance(source, Lookup) and source.input is None:
                continue
            if isinstance(source, Constant) and not include_constants:
                continue
            pairs.append((ref, name))
    return pairs


def causal_graph(model, include_constants: bool = False) -> CausalGraph:  # type: ignore[no-untyped-def]
    """Derive the signed causal graph and its loops from ``model`` (a ``policylab.Model``)."""
    ir = model.ir
    pairs = _raw_links(ir, include_constants)
    estimated = link_derivatives(model, [p for p in pairs if not isinstance(ir.variables[p[1]], Stock)])
    graph = CausalGraph()
    for source, target in pairs:
        for name in (source, target):
            graph.nodes.setdefault(name, _kind(ir.variables[name]))
        target_var = ir.variables[target]
        evidence = tuple(ev for ev in target_var.evidence if ev.from_ == source)
        if evidence:
            sign, declared = evidence[0].sign, True
        elif isinstance(target_var, Stock):
            sign, declared = ("+" if source in target_var.inflows else "-"), False
        else:
            d = estimated.get((source, target))
            sign, declared = (sign_of(d) if d is not None else "?"), False
        graph.links.append(Link(source, target, sign, declared, evidence))
    graph.loops, graph.truncated = _loops(graph, ir)
    return graph


def by_array(graph: CausalGraph, ir) -> CausalGraph:  # type: ignore[no-untyped-def]
    """The graph with one node per arrayed variable (``infected[region]``) instead of one per element.

    Links between elements merge into one link between their arrays (its sign the elements' common sign,
    ``±`` when they differ); loops through the same arrays in the same order merge into one.
    """
    if not ir.arrays:
        return graph
    owner = {element: f"{name}[{','.join(ir.dimensions[d].display or d for d in array.dims)}]"
             for name, array in ir.arrays.items() for element in ir.elements_of(name)}

    def node(name: str) -> str:
        return owner.get(name, name)

    out = CausalGraph(truncated=graph.truncated)
    for name, kind in graph.nodes.items():
        out.nodes.setdefault(node(name), kind)
    merged: dict[tuple[str, str], list[Link]] = {}
    for link in graph.links:
        key = (node(link.source), node(link.target))
        if key[0] != key[1] or link.source == link.target:
            merged.setdefault(key, []).append(link)
    for (source, target), links in merged.items():
        signs = {link.sign for link in links}
        sign = signs.pop() if len(signs) == 1 else "±"
        evidence = tuple(dict.fromkeys(ev for link in links for ev in link.evidence))
        out.links.append(Link(source, target, sign, all(link.declared for link in links), evidence))
    stocks = {n for n, kind in out.nodes.items() if kind == "stock"}
    seen: set[tuple[str, ...]] = set()
    for loop in graph.loops:
        members = list(dict.fromkeys(node(n) for n in loop.variables))
        start = members.index(min(members))
        cycle = tuple(members[start:] + members[:start])
        if cycle not in seen:
            seen.add(cycle)
            out.loops.append(Loop(loop_id(cycle, loop.polarity, stocks), cycle, loop.polarity))
    return out


LOOP_ID_STOCKS = 2  # stocks named in an identifier before "+N more"


def loop_id(cycle: tuple[str, ...] | list[str], polarity: str, stocks: set[str]) -> str:
    """A loop's identifier from its members, not its rank: adding a loop elsewhere renames nothing.

    Polarity (R, B, or U when undetermined), the loop's stocks in canonical (sorted) order —
    the first two, then "+N" — and a 4-hex hash of the cycle in canonical rotation (starting
    at its smallest name), which tells apart loops through the same stocks:
    ``R[us_iran_tension+anti_us_outrage]#3fa2``.
    """
    members = list(cycle)
    start = members.index(min(members))
    rotation = members[start:] + members[:start]
    digest = hashlib.sha1("\x1f".join(rotation).encode("utf-8")).hexdigest()[:4]
    named = sorted(n for n in members if n in stocks) or sorted(members)
    head = "+".join(named[:LOOP_ID_STOCKS]) + (f"+{len(named) - LOOP_ID_STOCKS}" if len(named) > LOOP_ID_STOCKS else "")
    return f"{'U' if polarity == '?' else polarity}[{head}]#{digest}"


def _loops(graph: CausalGraph, ir) -> tuple[list[Loop], bool]:  # type: ignore[no-untyped-def]
    exogenous = (Constant, Lever, Event)
    digraph = nx.DiGraph()
    signs: dict[tuple[str, str], str] = {}
    for link in graph.links:
        if isinstance(ir.variables[link.source], exogenous):
            continue
        digraph.add_edge(link.source, link.target)
        signs[(link.source, link.target)] = link.sign
    cycles: list[list[str]] = []
    truncated = False
    for cycle in nx.simple_cycles(digraph, length_bound=MAX_LOOP_LENGTH):
        cycles.append(cycle)
        if len(cycles) >= MAX_LOOPS:
            truncated = True
            break
    cycles.sort(key=lambda c: (len(c), c))
    loops: list[Loop] = []
    stocks = {n for n, v in ir.variables.items() if isinstance(v, Stock)}
    for cycle in cycles:
        edges = list(zip(cycle, cycle[1:] + cycle[:1]))
        link_signs = [signs[e] for e in edges]
        if any(s not in "+-" for s in link_signs):
            polarity = "?"
        else:
            polarity = "R" if sum(s == "-" for s in link_signs) % 2 == 0 else "B"
        loops.append(Loop(loop_id(cycle, polarity, stocks), tuple(cycle), polarity))
    return loops, truncated
