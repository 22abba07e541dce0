"""Readable views of a causal graph: a part a person can read instead of the whole tangle.

* ``core``: the stock-and-flow core — stocks and levers, with a link ``a -> b`` wherever a
  path runs from ``a`` to ``b`` through flows and auxiliaries only (its sign the product along
  the path when every path agrees, else ``±``);
* ``sector:NAME``: one sector (actor) — its variables, or, when they are more than a person
  can read, its stocks, levers and events linked through the rest — with the stocks and levers
  of other sectors it is linked to, drawn faded;
* ``loop:ID``: one loop and its neighbours (the variables one link away from it);
* ``loops:ID,ID``: a set of loops (e.g. the dominant loops of a period), nothing else;
* ``all``: the whole graph.

A variable's sector is its ``sector:`` when it declares one, else the tag opening its ``doc`` in
square brackets (``[militias] Capability of …``); a flow with neither belongs to the sector of
its stock, and any other variable to the sector most of its neighbours share. A model without
sectors has no sector views.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx

from policylab.compile.causal import CausalGraph, Link, Loop, loop_id
from policylab.errors import UsageError
from policylab.model.ir import Model as IR
from policylab.model.ir import Stock

READABLE_NODES = 20  # the most nodes a view keeps for a person to read it
KEPT_KINDS = ("stock", "lever", "generatedevent", "event", "auxiliary", "lookup", "flow")
"""Which variables a crowded sector keeps first (the rest are drawn as links through them)."""
SECTOR_TAG = re.compile(r"^\s*\[([^\[\]\n]{1,60})\]")
VIEW_KINDS = ("all", "core", "sector", "loop", "loops")


@dataclass(frozen=True)
class View:
    """One drawable part of the causal graph: what it shows, its title and how to lay it out."""

    key: str  # as `policylab diagram --view` takes it: all, core, sector:NAME, loop:ID, loops:ID,ID
    name: str  # a short label for a button
    graph: CausalGraph
    title: str
    layout: str = "dot"
    outside: Mapping[str, str] = field(default_factory=dict)  # node -> its sector, drawn faded
    loops: tuple[Loop, ...] = ()  # the loops the view is about (drawn, not listed in a legend)


def _product(signs: Iterable[str]) -> str:
    result = "+"
    for sign in signs:
        if sign not in "+-":
            return "?"
        result = "+" if (result == "-") == (sign == "-") else "-"
    return result


def contract(graph: CausalGraph, keep: set[str]) -> CausalGraph:
    """Only the ``keep`` nodes: a direct link stays as it is; a path through dropped nodes becomes one link."""
    out: dict[str, list[Link]] = {}
    for link in graph.links:
        out.setdefault(link.source, []).append(link)
    direct = {(link.source, link.target): link for link in graph.links if link.source in keep and link.target in keep}
    found: dict[tuple[str, str], set[str]] = {}
    for start in sorted(keep):
        stack: list[tuple[str, tuple[str, ...], frozenset[str]]] = [(start, (), frozenset({start}))]
        while stack:
            node, signs, seen = stack.pop()
            for link in out.get(node, []):
                target, path = link.target, (*signs, link.sign)
                if target in keep:
                    if len(path) > 1 and target != start:  # a stock's own flows are not a link to itself
                        found.setdefault((start, target), set()).add(_product(path))
                elif target not in seen and graph.nodes.get(target) not in ("constant",) and len(path) < 8:
                    stack.append((target, path, seen | {target}))
    view = CausalGraph(nodes={n: k for n, k in graph.nodes.items() if n in keep}, truncated=graph.truncated)
    for pair in sorted(set(direct) | set(found)):
        if pair in direct:
            view.links.append(direct[pair])
        else:
            signs = found[pair]
            view.links.append(Link(pair[0], pair[1], signs.pop() if len(signs) == 1 else "±", False))
    view.loops = [loop for loop in graph.loops if set(loop.variables) <= keep]
    return view


def core_view(graph: CausalGraph) -> CausalGraph:
    """Stocks and levers, linked where a path through flows and auxiliaries joins them."""
    return contract(graph, {n for n, kind in graph.nodes.items() if kind in ("stock", "lever")})


def sectors(ir: IR, graph: CausalGraph) -> dict[str, str]:
    """Each node's sector: its ``sector:``, else its doc's ``[tag]``, a flow's stock's, else its neighbours' ({} if none)."""
    found: dict[str, str] = {}
    for name in graph.nodes:
        var = ir.variables.get(name)
        tag = SECTOR_TAG.match(getattr(var, "doc", "") or "")
        declared = (getattr(var, "sector", "") or "").strip()
        if declared or tag:
            found[name] = declared or tag.group(1).strip()  # type: ignore[union-attr]
    if not found:
        return {}
    for stock_name, var in ir.variables.items():
        if isinstance(var, Stock) and stock_name in found:
            for flow in (*var.inflows, *var.outflows):
                if flow in graph.nodes:
                    found.setdefault(flow, found[stock_name])
    for _ in range(3):  # untagged variables take their neighbours' sector, nearest first
        votes: dict[str, Counter[str]] = {}
        for link in graph.links:
            for me, other in ((link.source, link.target), (link.target, link.source)):
                if me not in found and other in found:
                    votes.setdefault(me, Counter())[found[other]] += 1
        if not votes:
            break
        for name, count in votes.items():
            found[name] = min(count, key=lambda s: (-count[s], s))
    return {name: found.get(name, "other") for name in graph.nodes}


def sector_view(graph: CausalGraph, sector_of: Mapping[str, str], sector: str) -> View:
    """One sector's variables (its stocks, levers and events first when crowded) and the faded stocks it touches."""
    own = [n for n in graph.nodes if sector_of.get(n) == sector]
    if not own:
        known = sorted(set(sector_of.values()))
        raise UsageError(f"no sector {sector!r} in this model; its sectors: {', '.join(known) or 'none (no [tag] docs)'}")
    rank = {kind: k for k, kind in enumerate(KEPT_KINDS)}
    own.sort(key=lambda n: (rank.get(graph.nodes[n], len(rank)), n))
    room = READABLE_NODES - min(6, max(READABLE_NODES - len(own), 0))  # keep a few places for other sectors
    keep = set(own[:room]) if len(own) > READABLE_NODES else set(own)
    others = {n for n, kind in graph.nodes.items() if sector_of.get(n) != sector and kind in ("stock", "lever")}
    joined = contract(graph, keep | others)
    touching = Counter(x for link in joined.links for x in (link.source, link.target)
                       if (link.source in keep) != (link.target in keep))
    near = sorted((n for n in touching if n not in keep), key=lambda n: (-touching[n], n))
    near = near[: max(READABLE_NODES - len(keep), 0)]
    shown = keep | set(near)
    drawn = contract(graph, shown)
    drawn.links = [link for link in drawn.links if link.source in keep or link.target in keep]
    drawn.loops = [loop for loop in drawn.loops if set(loop.variables) <= keep]
    hidden = len(own) - len(keep)
    title = f"sector {sector}: " + (f"{len(keep)} of its {len(own)} variables (the others as links through them)"
                                    if hidden else f"its {len(own)} variables") + (
        f"; faded: {len(near)} linked stocks and levers of other sectors" if near else "")
    return View(f"sector:{sector}", sector, drawn, title, outside={n: sector_of[n] for n in near},
                loops=tuple(drawn.loops))


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


def find_loop(graph: CausalGraph, wanted: str) -> Loop:
    """The loop with identifier ``wanted`` (also beyond the diagram's length bound), or a UsageError naming near ones."""
    for loop in graph.loops:
        if loop.label == wanted:
            return loop
    longer = _longer(graph, wanted)
    if longer is not None:
        return longer
    close = [loop.label for loop in graph.loops if wanted.split("#")[0] in loop.label][:3]
    raise UsageError(f"no loop {wanted!r} in this model" + (f"; loops like it: {', '.join(close)}" if close else
                                                            "; `policylab diagram --format dot` lists the loops"))


def loops_view(graph: CausalGraph, loop_ids: Iterable[str], neighbours: bool = False,
               known: Iterable[Loop] = ()) -> CausalGraph:
    """The given loops (and, with ``neighbours``, the variables one link away), with the links among them.

    ``known`` are loops already found (e.g. by loop analysis), looked up before the graph's.
    """
    given = {loop.label: loop for loop in known}
    chosen = [given[i] if i in given else find_loop(graph, i) for i in loop_ids]
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


def view_of(graph: CausalGraph, ir: IR, key: str, known: Iterable[Loop] = ()) -> View:
    """The view ``key`` names (``all``, ``core``, ``sector:NAME``, ``loop:ID``, ``loops:ID,ID``)."""
    kind, _, rest = key.partition(":")
    rest = rest.strip()
    if kind == "all" and not rest:
        return View("all", f"whole graph ({len(graph.nodes)} variables)", graph, "causal-loop diagram",
                    loops=tuple(graph.loops))
    if kind == "core" and not rest:
        core = core_view(graph)
        return View("core", "stock-and-flow core", core,
                    f"stock-and-flow core: {len(core.nodes)} stocks and levers, linked through flows and auxiliaries",
                    loops=tuple(core.loops))
    if kind == "sector" and rest:
        return sector_view(graph, sectors(ir, graph), rest)
    if kind in ("loop", "loops") and rest:
        ids = [i.strip() for i in rest.split(",") if i.strip()]
        drawn = loops_view(graph, ids, neighbours=kind == "loop", known=known)
        labels = ", ".join(loop.label for loop in drawn.loops)
        name = labels if kind == "loop" else f"{len(drawn.loops)} loops"
        # loops read as circles (circo; a loop of two or three variables reads better left to right);
        # their members are the title, not a legend row
        layout = "circo" if len(drawn.nodes) > 3 else "dot"
        return View(f"{kind}:{','.join(ids)}", name, drawn, labels, layout=layout, loops=tuple(drawn.loops))
    raise UsageError(f"--view must be all, core, sector:NAME, loop:ID or loops:ID,ID, not {key!r}")


def readable_views(graph: CausalGraph, ir: IR) -> list[View]:
    """The views a report or dashboard offers: each sector (largest first), the core, then the whole graph."""
    of = sectors(ir, graph)
    size = Counter(of.values())
    views = [sector_view(graph, of, s) for s in sorted(size, key=lambda s: (s == "other", -size[s], s))]
    return [*views, view_of(graph, ir, "core"), view_of(graph, ir, "all")]
