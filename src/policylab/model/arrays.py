"""Arrays: rewrite an arrayed equation for one element into scalar references.

Every reader (YAML, XMILE, Vensim) declares arrays the same way — :class:`Dimension`s and
variables over them — and each arrayed variable's elements become the variables
``name[elem]`` (:func:`~policylab.model.ir.element_name`) by the rules here, one set of
rules for every format:

- ``x`` (arrayed over dimensions the equation also ranges over) is the current element;
- ``x[Dim]`` takes the current element of ``Dim``; a subrange of ``Dim``, a dimension that
  maps onto it (``Dimension.mapping``) or one of the same size (by position) translates it;
- ``x[Other]``, where ``Other`` maps onto a dimension of the equation (or one maps onto it), takes
  the element the mapping pairs with the current one;
- ``x[elem]`` and ``x[2]`` (1-based) name an element; ``x[*]``, ``x[Dim!]`` (Vensim's marker:
  ``Dim`` may be a subrange of the array's dimension), or ``x[Dim]`` outside an equation over
  ``Dim``, ranges over the dimension and is only allowed inside an array function;
- ``SUM``, ``MEAN``, ``MIN``/``MAX`` (one argument), ``PROD``, ``SIZE`` and ``STDDEV``
  (population standard deviation, as Stella computes it) over such a range reduce it;
- a dimension's name used as a value is the current element's 1-based position (in the order
  ``Expander.numbering`` gives for it, else its own).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field, replace
from itertools import product

from policylab.errors import ModelFileError
from policylab.expr.ast import BinOp, Call, Expr, Name, Num, Subscript, children, map_children, walk
from policylab.expr.names import canonical
from policylab.model.ir import (Constant, Dimension, Evidence, Lookup, Model, Stock, Variable, element_keys,
                                element_name)

ARRAY_FUNCTIONS = frozenset({"sum", "mean", "min", "max", "prod", "size", "stddev"})
Context = dict[str, str]  # dimension -> current element; "*dim" -> element a reduction is at


class _Free(Exception):
    """Raised while expanding when a range appears outside an array function."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Expander:
    """Rewrites arrayed equations element by element, given the model's dimensions and arrays."""

    dimensions: dict[str, Dimension]
    arrays: dict[str, tuple[str, ...]]
    """Each arrayed variable's dimensions."""
    scalars: frozenset[str] = frozenset()
    """Names of scalar variables (a dimension name that is also a variable means the variable)."""
    numbering: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Dimension -> the element order its name counts positions in when used as a value (Vensim numbers an
    element by its place in the first range of its family, so ``sub = dim`` compares the same element)."""

    def equation(self, expr: Expr, context: Context, where: str) -> Expr:
        """``expr`` for the element ``context`` of its variable, with scalar references only."""
        try:
            return self.expand(expr, context, where)
        except _Free as free:
            raise ModelFileError(f"{where}: {free.name} ranges over a whole dimension here; use it inside SUM, "
                                 "MEAN, MIN, MAX, PROD, SIZE or STDDEV, or pick one element") from None

    def expand(self, expr: Expr, context: Context, where: str) -> Expr:
        """Rewrite ``expr`` for one element (``context``); raises ``_Free`` for an unreduced range."""
        match expr:
            case Name(name=n):
                return self._name(n, context, where)
            case Subscript(name=n, indices=idx):
                return Name(self._subscript(n, idx, context, where))
            case Call(func=f, args=args) if f in ARRAY_FUNCTIONS and len(args) == 1 and self._free_dims(args[0], context):
                return self._reduce(f, args[0], context, where)
            case Call(func=f, args=args) if f in ("size", "sum", "mean", "prod", "stddev") and len(args) != 1:
                raise ModelFileError(f"{where}: {f.upper()}() needs one array argument, such as {f.upper()}(x[*])")
            case Call(func=f, args=args) if f.endswith("]") and f.partition("[")[0] in self.arrays:  # t[a, Dim](x)
                base, _, inside = f[:-1].partition("[")  # one element's lookup: the subscripts resolve as x[a, Dim]
                element = self._subscript(base, tuple(inside.split(",")), context, where)
                return Call(element, tuple(self.expand(a, context, where) for a in args))
            case Call(func=f, args=args) if f in self.arrays:  # an arrayed lookup: the element's own table
                key = [self._current(dim, context, where, f) for dim in self.arrays[f]]
                if any(element is None for element in key):
                    raise ModelFileError(f"{where}: {f}() is an arrayed lookup over "
                                         f"{', '.join(self._shown(d) for d in self.arrays[f])}; call it in an equation "
                                         "over the same dimensions")
                return Call(element_name(f, tuple(key)), tuple(self.expand(a, context, where) for a in args))  # type: ignore[arg-type]
        return map_children(expr, lambda child: self.expand(child, context, where))

    def flow_element(self, flow: str, indices: tuple[str, ...] | None, context: Context, where: str) -> str | None:
        """The element of arrayed flow ``flow`` that a stock's element (``context``) integrates: the same element
        (``indices`` None), or the one ``flow[indices]`` picks as in an equation (``flow[Cats]`` for a flow over a
        copy of, or a range mapped onto, the stock's ``Cats``); None when the reference ranges over a dimension."""
        try:
            if indices is None:
                found = self._name(flow, context, where)
                return found.name if isinstance(found, Name) else None
            return self._subscript(flow, indices, context, where)
        except _Free:
            return None

    # -- references --------------------------------------------------------------------------
    def _name(self, name: str, context: Context, where: str) -> Expr:
        dims = self.arrays.get(name)
        if dims is None:
            if name in self.dimensions and name not in self.scalars:
                if name not in context:
                    raise ModelFileError(f"{where}: the dimension {self._shown(name)} is used as a value outside an "
                                         "equation over it")
                order = self.numbering.get(name, self.dimensions[name].elements)
                return Num(float(order.index(context[name]) + 1))
            return Name(name)
        key = [self._current(dim, context, where, name) for dim in dims]
        if any(element is None for element in key):
            raise _Free(name)
        return Name(element_name(name, tuple(key)))  # type: ignore[arg-type]

    def _current(self, dim: str, context: Context, where: str, name: str) -> str | None:
        """The element of ``dim`` the equation's own element stands for (None: not fixed)."""
        if dim in context:
            return context[dim]
        spec = self.dimensions[dim]
        for outer, element in self._fixed_elements(context):
            if spec.parent == outer or self.dimensions[outer].parent == dim:
                if element not in spec.elements:
                    raise ModelFileError(f"{where}: {name} is arrayed over {self._shown(dim)}, which has no element "
                                         f"{self.dimensions[outer].shown(element)}; define this element's equation "
                                         "separately or narrow the equation to the subrange")
                return element
        return None

    def _subscript(self, name: str, indices: tuple[str, ...], context: Context, where: str) -> str:
        dims = self.arrays.get(name)
        if dims is None:
            raise ModelFileError(f"{where}: {name}[{', '.join(indices)}] subscripts {name!r}, which is not an array")
        if len(indices) != len(dims):
            raise ModelFileError(f"{where}: {name}[{', '.join(indices)}] gives {len(indices)} subscript(s); {name!r} "
                                 f"has {len(dims)} dimension(s)")
        key = []
        for index, dim in zip(indices, dims, strict=True):
            element = self.element_of(index, dim, context, where, name)
            if element is None:
                raise _Free(f"{name}[{', '.join(indices)}]")
            key.append(element)
        return element_name(name, tuple(key))

    def element_of(self, index: str, dim: str, context: Context, where: str, name: str) -> str | None:
        """The element of ``dim`` that subscript ``index`` picks (None: it ranges over a dimension)."""
        spec = self.dimensions[dim]
        if index == "*":
            return context.get(f"*{dim}")
        if index.endswith("!"):
            over = self._ranged(index, where, name)
            element = context.get(f"*{over}")
            return None if element is None else self._translate(over, element, dim, where, name)
        if index in self.dimensions and index not in spec.elements:
            element = self.bound(index, context)
            return None if element is None else self._translate(index, element, dim, where, name)
        element = index.rpartition(".")[2] if index.rpartition(".")[0] == dim else index
        if element in spec.elements:
            return element
        try:
            position = float(element)
        except ValueError:
            position = 0.0
        if position.is_integer() and 1 <= position <= len(spec.elements):
            return spec.elements[int(position) - 1]
        raise ModelFileError(f"{where}: {name}[...] uses {index!r}, which is not an element of {self._shown(dim)} "
                             f"({', '.join(spec.displays or spec.elements)}) nor a position from 1 to "
                             f"{len(spec.elements)}")

    def bound(self, dim: str, context: Context) -> str | None:
        """The element of ``dim`` the context fixes: its own, or through a mapping between ``dim`` and a dimension
        of the context (None: it ranges)."""
        if dim in context:
            return context[dim]
        spec = self.dimensions[dim]
        for outer, element in self._fixed_elements(context):
            if outer in spec.mapping and element in spec.mapping[outer]:
                return spec.elements[spec.mapping[outer].index(element)]
            other = self.dimensions[outer]
            if dim in other.mapping:
                return other.mapping[dim][other.elements.index(element)]
        return None

    def _ranged(self, index: str, where: str, name: str) -> str:
        over = index[:-1]
        if over not in self.dimensions:
            raise ModelFileError(f"{where}: {name}[{index}]: {over!r} is not a dimension; '!' marks a dimension "
                                 "to range over")
        return over

    def _translate(self, source: str, element: str, target: str, where: str, name: str) -> str:
        """The element of ``target`` that ``element`` of dimension ``source`` stands for."""
        if source == target or element in self.dimensions[target].elements:
            if element not in self.dimensions[target].elements:
                raise self._mismatch(source, target, where, name)
            return element
        origin, goal = self.dimensions[source], self.dimensions[target]
        position = origin.elements.index(element)
        if target in origin.mapping:
            return origin.mapping[target][position]
        if source in goal.mapping:
            for index, mapped in enumerate(goal.mapping[source]):
                if mapped == element:
                    return goal.elements[index]
            raise ModelFileError(f"{where}: {name}[{origin.shown(element)}]: the mapping of {self._shown(target)} "
                                 f"onto {self._shown(source)} does not cover {origin.shown(element)}")
        if len(origin.elements) == len(goal.elements) and not origin.parent and not goal.parent:
            return goal.elements[position]
        raise self._mismatch(source, target, where, name)

    def _mismatch(self, source: str, target: str, where: str, name: str) -> ModelFileError:
        return ModelFileError(f"{where}: {name}[{self._shown(source)}]: dimension {self._shown(source)} does not "
                              f"match {self._shown(target)}, the dimension of {name!r} there; use an element, a "
                              "subrange of it or a dimension mapped onto it")

    def _shown(self, dim: str) -> str:
        spec = self.dimensions.get(dim)
        return (spec.display or spec.name) if spec is not None else dim

    # -- array functions ---------------------------------------------------------------------
    def _free_dims(self, expr: Expr, context: Context) -> list[str]:
        """The dimensions ``expr`` ranges over (not fixed by ``context``), in order of appearance."""
        found: list[str] = []

        def add(dim: str) -> None:
            if dim not in found:
                found.append(dim)

        def visit(node: Expr) -> None:
            match node:
                case Name(name=n) if n in self.arrays:
                    for dim in self.arrays[n]:
                        if dim not in context and f"*{dim}" not in context and not self._fixed(dim, context):
                            add(dim)
                case Subscript(name=n, indices=idx) if n in self.arrays and len(idx) == len(self.arrays[n]):
                    for index, dim in zip(idx, self.arrays[n], strict=True):
                        if index == "*" and f"*{dim}" not in context:
                            add(f"*{dim}")
                        elif index.endswith("!") and index[:-1] in self.dimensions:
                            if f"*{index[:-1]}" not in context:
                                add(f"*{index[:-1]}")
                        elif (index in self.dimensions and index not in self.dimensions[dim].elements
                              and self.bound(index, context) is None):
                            add(index)
                case Call(func=f, args=args) if f in ARRAY_FUNCTIONS and len(args) == 1:
                    return  # a nested reduction ranges on its own
                case _:
                    for child in children(node):
                        visit(child)

        visit(expr)
        return found

    def _fixed(self, dim: str, context: Context) -> bool:
        spec = self.dimensions[dim]
        return any(spec.parent == outer or self.dimensions[outer].parent == dim
                   for outer, _ in self._fixed_elements(context))

    def _fixed_elements(self, context: Context) -> list[tuple[str, str]]:
        """The (dimension, element) pairs the equation's own element fixes (not a reduction's position)."""
        return [(outer, element) for outer, element in context.items()
                if not outer.startswith("*") and outer in self.dimensions]

    def _reduce(self, func: str, arg: Expr, context: Context, where: str) -> Expr:
        return combine(func, self.items(arg, context, where))

    def items(self, arg: Expr, context: Context, where: str) -> list[Expr]:
        """``arg`` rewritten once for each combination of the elements it ranges over (an array function's
        operands, in row-major order of the ranges as they first appear)."""
        free = self._free_dims(arg, context)
        ranges = [self.dimensions[d.lstrip("*")].elements for d in free]
        items: list[Expr] = []
        for combo in product(*ranges):
            inner = dict(context)
            for dim, element in zip(free, combo, strict=True):
                inner[dim] = element
                inner.setdefault(dim.lstrip("*"), element)  # bare names of arrays over ``dim`` range too
            try:
                items.append(self.expand(arg, inner, where))
            except _Free as free_error:
                raise ModelFileError(f"{where}: cannot range over {free_error.name} here") from None
        return items


def model_expander(model: Model, arrays: Container[str] | None = None) -> Expander:
    """The Expander a reader used for ``model`` (its dimensions and arrays; only ``arrays`` when given)."""
    dims = {name: array.dims for name, array in model.arrays.items() if arrays is None or name in arrays}
    elements = {element for name in model.arrays for element in model.elements_of(name)}
    return Expander(model.dimensions, dims, frozenset(name for name in model.variables if name not in elements))


def written_form(written: Expr | None, expanded: Expr, expander: Expander) -> Expr:
    """What a writer writes for a scalar definition: the form as written (``SUM(x[*])``, one term however many
    elements) when it still expands to ``expanded``, else ``expanded`` (the IR was changed after reading, or it
    reads an array the writer cannot declare as one)."""
    if written is None or written == expanded:
        return expanded
    try:
        same = expander.equation(written, {}, "") == expanded
    except ModelFileError:
        return expanded
    return written if same else expanded


def flow_reference(expander: Expander, stock_dims: tuple[str, ...], flow: str, chosen: dict[tuple[str, ...], str]
                   ) -> tuple[str, ...] | None:
    """The subscripts a writer gives arrayed ``flow`` in the flows of a stock arrayed over ``stock_dims`` so that
    each stock element ``key`` reads back the flow element ``chosen[key]``: () for the bare name (the same element),
    else the first of the stock's dimensions, the flow's own, or a fixed element, per dimension of the flow, that
    :meth:`Expander.flow_element` resolves to ``chosen`` (None: no reference does)."""
    flow_dims = expander.arrays[flow]
    keys = element_keys(flow_dims, expander.dimensions)
    key_of = {element_name(flow, key): key for key in keys}
    picked = {stock_key: key_of.get(element) for stock_key, element in chosen.items()}
    if any(key is None for key in picked.values()):
        return None
    candidates: list[list[str]] = []
    for position, dim in enumerate(flow_dims):
        options = list(dict.fromkeys((*stock_dims, dim)))
        fixed = {key[position] for key in picked.values()}  # type: ignore[index]
        if len(fixed) == 1:
            options.append(fixed.pop())
        candidates.append(options)
    for indices in (None, *product(*candidates)):
        if _reads_back(expander, stock_dims, flow, None if indices is None else tuple(indices), chosen):
            return () if indices is None else tuple(indices)
    return None


@dataclass(frozen=True)
class StockFlows:
    """An arrayed stock's inflows or outflows as a writer names them once for the whole array: each flow with the
    subscripts :func:`flow_reference` found (() for the bare name), and the elements this list gives; the others
    take flows of their own."""

    flows: tuple[tuple[str, tuple[str, ...]], ...]
    gives: frozenset[tuple[str, ...]]


def stock_flows(model: Model, expander: Expander, stock: str, side: str) -> StockFlows:
    """The inflows or outflows (``side``) of arrayed ``stock`` for the whole array: the flows most of its elements
    take, named so that they read back as each of those elements' own (:class:`StockFlows`)."""
    dims = model.arrays[stock].dims
    keys = element_keys(dims, model.dimensions)
    lists = {key: getattr(model.variables[element_name(stock, key)], side) for key in keys}
    owner = {element: name for name in model.arrays for element in model.elements_of(name)}
    patterns = {key: tuple(owner.get(f, f) for f in flows) for key, flows in lists.items()}
    ordered = list(patterns.values())
    common = max(ordered, key=ordered.count)
    subset = [key for key in keys if patterns[key] == common]
    out: list[tuple[str, tuple[str, ...]]] = []
    for position, base in enumerate(common):
        chosen = {key: lists[key][position] for key in subset}
        if base not in expander.arrays:
            indices: tuple[str, ...] | None = () if all(f == base for f in chosen.values()) else None
        else:
            indices = flow_reference(expander, dims, base, chosen)
        if indices is None:
            return StockFlows((), frozenset(key for key in keys if not lists[key]))
        out.append((base, indices))
    gives = frozenset(key for key in keys if _resolved(expander, dims, out, key) == lists[key])
    return StockFlows(tuple(out), gives)


def apply_to_all(model: Model, expander: Expander, name: str) -> frozenset[tuple[str, ...]]:
    """The elements of array ``name`` its apply-to-all equation (``Array.equation``) still gives: those whose own
    equation (initial value, for a stock; input, for a lookup; value, for a constant) is that equation rewritten
    for them (none when there is no such equation; an equation an element defines otherwise, as Vensim's
    ``:EXCEPT:`` or a later IR change, is its own)."""
    array = model.arrays[name]
    if array.equation is None or len(set(array.dims)) != len(array.dims):  # x[Dim, Dim]: see the YAML reader
        return frozenset()
    given = set()
    for key in element_keys(array.dims, model.dimensions):
        var = model.variables[element_name(name, key)]
        own = _defining(var)
        if own is None:
            continue
        try:
            expanded = expander.equation(array.equation, dict(zip(array.dims, key, strict=True)), "")
        except ModelFileError:
            continue
        if own == expanded:
            given.add(key)
    return frozenset(given)


def _defining(var: Variable) -> Expr | None:
    """What an apply-to-all equation gives an element: its equation, a stock's initial value, a lookup's input or a
    constant's value."""
    if isinstance(var, Constant):
        return Num(var.value)
    if isinstance(var, Stock):
        return var.initial
    if isinstance(var, Lookup):
        return var.input
    return getattr(var, "equation", None)


def _resolved(expander: Expander, dims: tuple[str, ...], flows: list[tuple[str, tuple[str, ...]]],
              key: tuple[str, ...]) -> tuple[str | None, ...] | None:
    """The flow elements ``flows`` give the stock element ``key`` as a reader resolves them (None: one fails)."""
    context = element_context(dims, key)
    try:
        return tuple(base if base not in expander.arrays else
                     expander.flow_element(base, indices or None, context, "") for base, indices in flows)
    except ModelFileError:
        return None


def _reads_back(expander: Expander, stock_dims: tuple[str, ...], flow: str, indices: tuple[str, ...] | None,
                chosen: dict[tuple[str, ...], str]) -> bool:
    """True when ``flow[indices]`` gives each stock element its ``chosen`` flow element."""
    try:
        return all(expander.flow_element(flow, indices, element_context(stock_dims, key), "") == element
                   for key, element in chosen.items())
    except ModelFileError:
        return False


def element_context(dims: tuple[str, ...], key: tuple[str, ...]) -> Context:
    """The context an element's equation is rewritten in: each dimension's element, or none when a dimension is
    listed twice (pairs of its elements, Vensim's ``x[Dim, Dim]``), where a reference cannot say which of the two
    it means, so such equations name elements (``x[a, b]``) and bare references are refused as ranges."""
    return dict(zip(dims, key, strict=True)) if len(set(dims)) == len(dims) else {}


def split_reference(text: str) -> tuple[str, tuple[str, ...] | None]:
    """A reference as written, ``Flow`` or ``Flow[Dim, e2]``, as its canonical name and subscripts (None: none)."""
    name, bracket, rest = text.strip().partition("[")
    if not bracket:
        return canonical(name), None
    return canonical(name), tuple(canonical(part) for part in rest.rstrip().removesuffix("]").split(","))


def reference(text: str) -> str:
    """The canonical name of a variable or element as an author writes it: ``Infected`` or ``infected[North, 2]``."""
    name, bracket, rest = text.strip().partition("[")
    if not bracket:
        return canonical(text)
    return element_name(canonical(name), tuple(canonical(part) for part in rest.rstrip().removesuffix("]").split(",")))


def aggregate_name(func: str, array: str) -> str:
    """The variable holding an aggregate of an array's elements, e.g. ``sum(infected)`` (no author's name has
    parentheses, so it cannot clash)."""
    return f"{func}({array})"


def element_evidence(evidence: tuple[Evidence, ...], reads: Expr | None, arrays: Container[str]
                     ) -> tuple[Evidence, ...]:
    """An element's evidence: a link ``from`` an array becomes one link from each of its elements ``reads`` reads."""
    if not any(ev.from_ in arrays for ev in evidence):
        return evidence
    read = {node.name for node in walk(reads) if isinstance(node, Name)} if reads is not None else set()
    out: list[Evidence] = []
    for ev in evidence:
        elements = sorted(r for r in read if r.startswith(ev.from_ + "[")) if ev.from_ in arrays else []
        out.extend([replace(ev, from_=e) for e in elements] or [ev])
    return tuple(out)


def combine(func: str, items: list[Expr]) -> Expr:
    """The scalar expression of array function ``func`` over ``items``."""
    n = len(items)
    if func == "size":
        return Num(float(n))
    if func in ("min", "max"):
        return Call(func, tuple(items))
    if func == "prod":
        return _fold("*", items)
    total = _fold("+", items)
    if func == "sum":
        return total
    mean = BinOp("/", total, Num(float(n)))
    if func == "mean":
        return mean
    squares = _fold("+", [BinOp("^", BinOp("-", item, mean), Num(2.0)) for item in items])
    return Call("sqrt", (BinOp("/", squares, Num(float(n))),))


def _fold(op: str, items: list[Expr]) -> Expr:
    """A balanced tree of ``op`` over ``items`` (depth log2(n), so long sums stay shallow)."""
    if len(items) == 1:
        return items[0]
    middle = len(items) // 2
    return BinOp(op, _fold(op, items[:middle]), _fold(op, items[middle:]))  # type: ignore[arg-type]
