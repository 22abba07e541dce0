"""Dependency analysis of the flat system: who reads whom, in what order, and loops."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Iterator, Mapping
from graphlib import CycleError, TopologicalSorter

from policylab.compile.desugar import Draw, LookupCall, System, describe, is_hidden
from policylab.errors import AlgebraicLoopError, Location, UnknownNameError
from policylab.expr.ast import Expr, Name, Subscript, children

RESERVED = frozenset({"time", "dt", "starttime", "stoptime", "initial_time", "final_time", "time_step"})


def sub_nodes(expr: Expr) -> tuple[Expr, ...]:
    """Children of a node, including the compile-stage Draw and LookupCall nodes."""
    if isinstance(expr, Draw):
        return expr.args
    if isinstance(expr, LookupCall):
        return (expr.arg,)
    return children(expr)


def iter_nodes(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression tree."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(sub_nodes(node))


def references(expr: Expr) -> set[str]:
    """Variable names an expression reads (lookup tables excluded, reserved names excluded)."""
    found: set[str] = set()
    for node in iter_nodes(expr):
        if isinstance(node, (Name, Subscript)) and node.name not in RESERVED:
            found.add(node.name)
    return found


def suggest(name: str, known: Iterable[str]) -> str:
    """' Did you mean x?' for the closest known name, or ''."""
    visible = [k for k in known if not is_hidden(k)]
    close = difflib.get_close_matches(name, visible, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


Reads = Mapping[str, frozenset[str]]
"""A stock's or rate's name -> the names its equation reads (a stock's: its start value's)."""


def equation_reads(system: System) -> dict[str, frozenset[str]]:
    """What every stock's start value and every rate reads, walked once: ordering, lowering and checks share it
    (an arrayed model has an equation per element, and each walk of them all cost a tenth of a second)."""
    reads = {stock.name: frozenset(references(stock.initial)) for stock in system.stocks.values()}
    reads.update((rate.name, frozenset(references(rate.expr))) for rate in system.rates.values())
    return reads


def check_names(system: System, known: set[str], reads: Reads | None = None) -> None:
    """Raise UnknownNameError for the first equation naming an undefined variable."""
    everything = known | set(system.stocks) | set(system.rates) | {p.out for p in system.pipelines}
    for name, expr, where in _equations(system):
        for ref in sorted(reads[name] if reads is not None else references(expr)):
            if ref not in everything and ref not in RESERVED:
                raise UnknownNameError(
                    f"{where}: {describe(name)} refers to {ref!r}, which the model does not define."
                    f"{suggest(ref, everything)}"
                )


def _equations(system: System) -> Iterator[tuple[str, Expr, Location]]:
    for stock in system.stocks.values():
        yield stock.name, stock.initial, stock.where
    for rate in system.rates.values():
        yield rate.name, rate.expr, rate.where


def _loop_error(kind: str, cycle: list[str], where: dict[str, Location]) -> AlgebraicLoopError:
    path = " -> ".join(describe(n) for n in cycle)
    places = ", ".join(dict.fromkeys(str(where[n]) for n in cycle if n in where))
    hint = "break it with a stock, or a SMOOTH/DELAY on one of the links" if kind == "Algebraic loop" else (
        "give one of these stocks an initial value that does not depend on the others"
    )
    return AlgebraicLoopError(f"{kind}: {path} ({places}); {hint}.")


Elements = Mapping[str, tuple[str, int]]
"""An array element's name -> (its array, its position in row-major order)."""


def rate_order(system: System, elements: Elements | None = None, reads: Reads | None = None) -> list[str]:
    """Rates in an order where each is computed after everything it reads within the step; the
    elements of an array together, in element order, where that order allows it (``elements``)."""
    rates = set(system.rates)  # once: building it per rate made ordering quadratic in the model's size
    reads = reads if reads is not None else equation_reads(system)
    graph = {name: set(reads[name] & rates) for name in system.rates}
    where = {name: rate.where for name, rate in system.rates.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise _loop_error("Algebraic loop", list(reversed(err.args[1])), where) from err
    return grouped_order(graph, elements) if elements else order


def grouped_order(graph: Mapping[str, set[str]], elements: Elements) -> list[str]:
    """A topological order of the acyclic ``graph`` that keeps each array's elements consecutive and in
    element order, so the lowering can compute them as one block. An array whose elements read one
    another, or that sits on a cycle of arrays, is ordered element by element."""
    members: dict[str, list[str]] = {}
    for name in graph:
        if name in elements:
            members.setdefault(elements[name][0], []).append(name)
    together = {array for array, names in members.items() if len(names) > 1 and _independent(graph, names)}
    while True:
        def node(name: str) -> Hashable:
            array = elements[name][0] if name in elements else None
            return ("array", array) if array in together else name

        contracted: dict[Hashable, set[Hashable]] = {}
        for name, deps in graph.items():
            here = node(name)
            contracted.setdefault(here, set()).update(node(d) for d in deps)
            contracted[here].discard(here)
        try:
            order = list(TopologicalSorter(contracted).static_order())
        except CycleError as err:
            arrays = {n[1] for n in err.args[1] if isinstance(n, tuple)}
            if not arrays:
                raise
            together -= arrays  # a cycle through arrays: order their elements one by one
            continue
        out: list[str] = []
        for item in order:
            if isinstance(item, tuple):
                out += sorted(members[item[1]], key=lambda n: elements[n][1])
            else:
                out.append(item)
        return out


def _independent(graph: Mapping[str, set[str]], names: list[str]) -> bool:
    """Whether no element of an array reads another (the set is built once: an array has thousands)."""
    own = set(names)
    return not any(not graph[n].isdisjoint(own) for n in names)


def init_order(system: System, elements: Elements | None = None, reads: Reads | None = None) -> list[str]:
    """Stocks, rates and pipelines in the order their start values must be computed (an array's elements
    together where that order allows it, as in :func:`rate_order`)."""
    nodes = set(system.stocks) | set(system.rates) | {p.out for p in system.pipelines}
    reads = reads if reads is not None else equation_reads(system)
    graph: dict[str, set[str]] = {}
    where: dict[str, Location] = {}
    for stock in system.stocks.values():
        graph[stock.name] = set(reads[stock.name] & nodes)
        where[stock.name] = stock.where
    for rate in system.rates.values():
        graph[rate.name] = set(reads[rate.name] & nodes)
        where[rate.name] = rate.where
    for pipe in system.pipelines:
        graph[pipe.out] = {pipe.init} | ({pipe.delay} if pipe.delay else set())
        where[pipe.out] = pipe.where
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise _loop_error("Initialisation loop", list(reversed(err.args[1])), where) from err
    return grouped_order(graph, elements) if elements else order
