"""Readable views of a causal graph: a part a person can read instead of the whole tangle.

* ``core``: the stock-and-flow core — stocks and levers, with a link ``a -> b`` wherever a
  path runs from ``a`` to ``b`` through flows and auxiliaries only (its sign the product along
  the path when every path agrees, else ``±``);
* ``loop``: one loop and its neighbours (the variables one link away from it);
* ``loops``: a set of loops (e.g. the dominant loops of a period), nothing else.

Each view is a ``CausalGraph`` again, so ``report.diagram.to_dot`` draws it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from policylab.compile.causal import CausalGraph, Link, Loop, loop_id
from policylab.errors import UsageError

READABLE_NODES = 25  # the most nodes a view keeps for a person to read it


def _product(signs: Iterable[str]) -> str:
    result = "+"
    for sign in signs:
        if sign not in "+-":
            return "?"
        result = "+" if (result == "-") == (sign == "-") else "-"
    return result


def core_view(graph: CausalGraph) -> CausalGraph:
    """Stocks and levers, linked where a path through flows and auxiliaries joins them."""
    keep = {n for n, kind in graph.nodes.items() if kind in ("stock", "lever")}
    out: dict[str, list[Link]] = {}
    for link in graph.links:
        out.setdefault(link.source, []).append(link)
    found: dict[tuple[str, str], set[str]] = {}
    for start in sorted(keep):
        stack: list[tuple[str, tuple[str, ...], frozenset[str]]] = [(start, (), frozenset({start}))]
        while stack:
            node, signs, seen = stack.pop()
            for link in out.get(node, []):
                target, path = link.target, (*signs, link.sign)
                if target in keep:
                    found.setdefault((start, target), set()).add(_product(path))
                elif target not in seen and graph.nodes.get(target) not in ("constant",) and len(path) < 8:
                    stack.append((target, path, seen | {target}))
    view = CausalGraph(nodes={n: graph.nodes[n] for n in sorted(keep)}, truncated=graph.truncated)
    for (a, b), signs in sorted(found.items()):
        sign = signs.pop() if len(signs) == 1 else "±"
        view.links.append(Link(a, b, sign, False))
    view.loops = [loop for loop in graph.loops if set(loop.variables) <= keep]
    return view


SEARCHED_LOOPS = 20_000  # cycles searched for an identifier the diagram's length-bounded list lacks


def _longer(graph: CausalGraph, wanted: str) -> Loop | None:
    """A loop beyond the diagram's length bound (loop analysis scores those too), found by its identifier."""
    signs = {(link.source, link.target): link.sign for link in graph.links
             if graph.nodes.get(link.source) not in ("constant", "lever", "event")}
    digraph = nx.DiGraph(list(signs))
    stocks = {n for n, kind in graph.nodes.items() if kind == "stock"}
    for count, cycle in enumerate(nx.simple_cycles(digraph)):
        if count >= SEARCHED_LOOPS:
            return None
        links = list(zip(cycle, cycle[1:] + cycle[:1]))
        marks = [signs[link] for link in links]
        polarity = "?" if any(m not in "+-" for m in marks) else ("R" if marks.count("-") % 2 == 0 else "B")
        if loop_id(cycle, polarity, stocks) == wanted:
            start = cycle.index(min(cycle))
            return Loop(wanted, tuple(cycle[start:] + cycle[:start]), polarity)
    return None


def _find(graph: CausalGraph, wanted: str) -> Loop:
    for loop in graph.loops:
        if loop.label == wanted:
            return loop
    longer = _longer(graph, wanted)
    if longer is not None:
        return longer
    close = [loop.label for loop in graph.loops if wanted.split("#")[0] in loop.label][:3]
    raise UsageError(f"no loop {wanted!r} in this model" + (f"; loops like it: {', '.join(close)}" if close else
                                                            "; `policylab diagram --format dot` lists the loops"))


def loops_view(graph: CausalGraph, loop_ids: Iterable[str], neighbours: bool = False) -> CausalGraph:
    """The given loops (and, with ``neighbours``, the variables one link away), with the links among them."""
    chosen = [_find(graph, i) for i in loop_ids]
    keep = {n for loop in chosen for n in loop.variables}
    if neighbours:
        near = {link.target for link in graph.links if link.source in keep} | {
            link.source for link in graph.links if link.target in keep}
        near -= keep
        ranked = sorted(near, key=lambda n: (graph.nodes.get(n) != "stock", graph.nodes.get(n) != "lever", n))
        keep |= set(ranked[: max(READABLE_NODES - len(keep), 0)])
    view = CausalGraph(nodes={n: k for n, k in graph.nodes.items() if n in keep}, truncated=graph.truncated)
    view.links = [link for link in graph.links if link.source in keep and link.target in keep]
    view.loops = chosen
    return view
