"""Flatten XMILE arrays into scalar variables named ``name[elem]`` (``name[a,b]`` for two dimensions).

The engine stays scalar per run; arrays exist only in the file. For each element of an
arrayed variable its equation (the apply-to-all one, or the element's own) is rewritten:

- ``x`` (arrayed over dimensions the variable also has) becomes ``x[that element]``;
- ``x[Dim]`` takes the current element of ``Dim``; ``x[elem]`` and ``x[2]`` (1-based)
  name an element; ``x[*]`` (or ``x[Dim]`` outside an equation over ``Dim``) ranges over
  the dimension and is only allowed inside an array function;
- ``SUM``, ``MEAN``, ``MIN``/``MAX`` (one argument), ``PROD``, ``SIZE`` and ``STDDEV``
  (population standard deviation, as Stella computes it) over such a range expand into
  scalar arithmetic;
- a dimension's name used as a value is the current element's 1-based position.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

from policylab.errors import ModelFileError
from policylab.expr.ast import (
    BinOp,
    BoolOp,
    Call,
    Compare,
    Expr,
    IfThenElse,
    Name,
    Not,
    Num,
    Subscript,
    UnaryOp,
    children,
)
from policylab.formats.xmile._raw import Definition, RawVar
from policylab.formats.xmile.elements import Dimension

ARRAY_FUNCTIONS = frozenset({"sum", "mean", "min", "max", "prod", "size", "stddev"})
Context = dict[str, str]  # dimension -> current element


def flat_name(name: str, key: tuple[str, ...]) -> str:
    """The scalar variable holding element ``key`` of array ``name``."""
    return f"{name}[{','.join(key)}]"


class _Free(Exception):
    """Raised while expanding when a range (``*``) appears outside an array function."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class ArrayFlattener:
    """Expands every arrayed variable (and every array reference) into scalars."""

    def __init__(self, file: str, variables: dict[str, RawVar], dimensions: dict[str, Dimension]) -> None:
        self.file = file
        self.variables = variables
        self.dimensions = dimensions
        self.arrays = {name: var.dims for name, var in variables.items() if var.dims}

    def flatten(self) -> dict[str, RawVar]:
        out: dict[str, RawVar] = {}
        for var in self.variables.values():
            if not var.dims:
                out[var.name] = self._scalar(var)
                continue
            for key in self._keys(var.dims):
                scalar = self._element(var, key)
                out[scalar.name] = scalar
        return out

    # -- variables ---------------------------------------------------------------------------
    def _keys(self, dims: tuple[str, ...]) -> list[tuple[str, ...]]:
        return list(product(*(self.dimensions[d].elements for d in dims)))

    def _where(self, var: RawVar, definition: Definition | None) -> str:
        line = definition.line if definition is not None and definition.line else var.line
        return f"{self.file}:{line}: {var.label()}"

    def _scalar(self, var: RawVar) -> RawVar:
        definition = self._expand_definition(var, var.definition, {})
        conveyor = self._expand_definition(var, var.conveyor, {})
        return replace(var, definition=definition, conveyor=conveyor, inflows=self._flows(var, var.inflows, {}),
                       outflows=self._flows(var, var.outflows, {}))

    def _element(self, var: RawVar, key: tuple[str, ...]) -> RawVar:
        context = dict(zip(var.dims, key, strict=True))
        definition = var.elements.get(key, var.definition)
        if definition is None:
            shown = ", ".join(self._display(var.dims, key))
            raise ModelFileError(f"{self._where(var, None)}: has no equation for element [{shown}]; add an "
                                 f'<element subscript="{shown}"> or an equation for all elements')
        displays = self._display(var.dims, key)
        return replace(
            var, name=flat_name(var.name, key), display=f"{var.display}[{','.join(displays)}]", dims=(),
            definition=self._expand_definition(var, definition, context), elements={},
            conveyor=self._expand_definition(var, var.conveyor, context),
            inflows=self._flows(var, var.inflows, context), outflows=self._flows(var, var.outflows, context),
        )

    def _display(self, dims: tuple[str, ...], key: tuple[str, ...]) -> list[str]:
        return [self.dimensions[d].displays[self.dimensions[d].elements.index(e)] for d, e in zip(dims, key, strict=True)]

    def _flows(self, var: RawVar, flows: list[str], context: Context) -> list[str]:
        out = []
        for flow in flows:
            dims = self.arrays.get(flow)
            if not dims:
                out.append(flow)
                continue
            missing = [d for d in dims if d not in context]
            if missing:
                raise ModelFileError(f"{self._where(var, None)}: flow {flow!r} is arrayed over "
                                     f"{', '.join(self.dimensions[d].display for d in missing)}, which the stock is "
                                     "not; give the stock the same dimensions")
            out.append(flat_name(flow, tuple(context[d] for d in dims)))
        return out

    def _expand_definition(self, var: RawVar, definition: Definition | None, context: Context) -> Definition | None:
        if definition is None or definition.expr is None:
            return definition
        where = self._where(var, definition)
        try:
            return replace(definition, expr=self.expand(definition.expr, context, where))
        except _Free as free:
            raise ModelFileError(f"{where}: {free.name} ranges over a whole dimension here; use it inside SUM, MEAN, "
                                 "MIN, MAX, PROD, SIZE or STDDEV, or pick one element") from None

    # -- expressions -------------------------------------------------------------------------
    def expand(self, expr: Expr, context: Context, where: str) -> Expr:
        """Rewrite ``expr`` for one element (``context``) into scalar references only."""
        match expr:
            case Num():
                return expr
            case Name(name=n):
                return self._name(n, context, where)
            case Subscript(name=n, indices=idx):
                return Name(self._subscript(n, idx, context, where))
            case UnaryOp(op=op, operand=o):
                return UnaryOp(op, self.expand(o, context, where))
            case BinOp(op=op, left=a, right=b):
                return BinOp(op, self.expand(a, context, where), self.expand(b, context, where))
            case Compare(op=op, left=a, right=b):
                return Compare(op, self.expand(a, context, where), self.expand(b, context, where))
            case BoolOp(op=op, left=a, right=b):
                return BoolOp(op, self.expand(a, context, where), self.expand(b, context, where))
            case Not(operand=o):
                return Not(self.expand(o, context, where))
            case IfThenElse(condition=c, then=t, otherwise=o):
                return IfThenElse(*(self.expand(x, context, where) for x in (c, t, o)))
            case Call(func=f, args=args):
                if f in ARRAY_FUNCTIONS and len(args) == 1 and self._ranges(args[0], context):
                    return self._reduce(f, args[0], context, where)
                if f in ("size", "sum", "mean", "prod", "stddev"):
                    raise ModelFileError(f"{where}: {f.upper()}() needs one array argument, such as {f.upper()}(x[*])")
                return Call(f, tuple(self.expand(a, context, where) for a in args))
        raise ModelFileError(f"{where}: cannot expand {expr!r}")

    def _name(self, name: str, context: Context, where: str) -> Expr:
        dims = self.arrays.get(name)
        if dims is None:
            if name in self.dimensions and name not in self.variables:
                if name not in context:
                    raise ModelFileError(f"{where}: the dimension {self.dimensions[name].display} is used as a value "
                                         "outside an equation over it")
                return Num(float(self.dimensions[name].elements.index(context[name]) + 1))
            return Name(name)
        if all(d in context for d in dims):
            return Name(flat_name(name, tuple(context[d] for d in dims)))
        raise _Free(name)

    def _subscript(self, name: str, indices: tuple[str, ...], context: Context, where: str) -> str:
        dims = self.arrays.get(name)
        if dims is None:
            raise ModelFileError(f"{where}: {name}[{', '.join(indices)}] subscripts {name!r}, which is not an array")
        if len(indices) != len(dims):
            raise ModelFileError(f"{where}: {name}[{', '.join(indices)}] gives {len(indices)} subscript(s); {name!r} "
                                 f"has {len(dims)} dimension(s)")
        key = []
        for index, dim in zip(indices, dims, strict=True):
            element = self._element_of(index, dim, context, where, name)
            if element is None:
                raise _Free(f"{name}[{', '.join(indices)}]")
            key.append(element)
        return flat_name(name, tuple(key))

    def _element_of(self, index: str, dim: str, context: Context, where: str, name: str) -> str | None:
        """The element ``index`` picks in ``dim`` (None: the whole dimension)."""
        spec = self.dimensions[dim]
        if index == "*":
            return context.get(f"*{dim}")
        if index == dim or index in self.dimensions and index not in spec.elements:
            if index != dim and len(self.dimensions[index].elements) != len(spec.elements):
                raise ModelFileError(f"{where}: {name}[{index}]: dimension {self.dimensions[index].display} does not "
                                     f"match {spec.display}, the dimension of {name!r} there")
            if index in context:
                position = self.dimensions[index].elements.index(context[index])
                return spec.elements[position]
            return context.get(f"*{dim}")
        element = index.rpartition(".")[2] if "." in index and index.rpartition(".")[0] == dim else index
        if element in spec.elements:
            return element
        try:
            position = float(element)
        except ValueError:
            position = 0.0
        if position.is_integer() and 1 <= position <= len(spec.elements):
            return spec.elements[int(position) - 1]
        raise ModelFileError(f"{where}: {name}[...] uses {index!r}, which is not an element of {spec.display} "
                             f"({', '.join(spec.displays)}) nor a position from 1 to {len(spec.elements)}")

    # -- array functions ---------------------------------------------------------------------
    def _ranges(self, expr: Expr, context: Context) -> bool:
        """True when ``expr`` ranges over at least one dimension (so it is an array argument)."""
        return bool(self._free_dims(expr, context))

    def _free_dims(self, expr: Expr, context: Context) -> list[str]:
        found: list[str] = []

        def add(dim: str) -> None:
            if dim not in found:
                found.append(dim)

        def visit(node: Expr) -> None:
            match node:
                case Name(name=n) if n in self.arrays:
                    for d in self.arrays[n]:
                        if d not in context:
                            add(d)
                case Subscript(name=n, indices=idx) if n in self.arrays and len(idx) == len(self.arrays[n]):
                    for index, dim in zip(idx, self.arrays[n], strict=True):
                        if index == "*" or (index in self.dimensions and index not in context
                                            and index not in self.dimensions[dim].elements):
                            add(dim)
                case Call(func=f, args=args) if f in ARRAY_FUNCTIONS and len(args) == 1:
                    return  # a nested reduction ranges on its own
                case _:
                    for child in children(node):
                        visit(child)

        visit(expr)
        return found

    def _reduce(self, func: str, arg: Expr, context: Context, where: str) -> Expr:
        free = self._free_dims(arg, context)
        items: list[Expr] = []
        for combo in product(*(self.dimensions[d].elements for d in free)):
            inner = dict(context)
            for dim, element in zip(free, combo, strict=True):
                inner[f"*{dim}"] = element
                inner.setdefault(dim, element)  # bare names of arrays over ``dim`` range too
            try:
                items.append(self.expand(arg, inner, where))
            except _Free as free_error:
                raise ModelFileError(f"{where}: cannot range over {free_error.name} here") from None
        return _combine(func, items)


def _combine(func: str, items: list[Expr]) -> Expr:
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
    result = items[0]
    for item in items[1:]:
        result = BinOp(op, result, item)  # type: ignore[arg-type]
    return result
