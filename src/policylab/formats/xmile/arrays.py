"""XMILE arrays: each arrayed variable's elements become variables ``name[elem]`` of the IR.

The element equations (the apply-to-all one, or the element's own) are rewritten by the
format-independent rules of :mod:`policylab.model.arrays`; what is XMILE's here is the
working record (definitions, flows, conveyors). The IR keeps each array as an
:class:`~policylab.model.ir.Array` (dimensions, apply-to-all equation) beside its elements.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

from policylab.errors import Location, ModelFileError
from policylab.expr.ast import Expr
from policylab.formats.xmile._raw import Definition, RawVar
from policylab.model.arrays import Context, Expander, split_reference
from policylab.model.ir import Array, Dimension, element_name


class ArrayFlattener:
    """Expands every arrayed variable (and every array reference) into scalars."""

    def __init__(self, file: str, variables: dict[str, RawVar], dimensions: dict[str, Dimension]) -> None:
        self.file = file
        self.variables = variables
        self.dimensions = dimensions
        self.arrays = {name: var.dims for name, var in variables.items() if var.dims}
        self.expander = Expander(dimensions, self.arrays, frozenset(n for n, v in variables.items() if not v.dims))

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
        inflows, outflows = var.element_flows.get(key, (var.inflows, var.outflows))
        definition = var.elements.get(key, var.definition)
        if definition is None:
            shown = ", ".join(self._display(var.dims, key))
            raise ModelFileError(f"{self._where(var, None)}: has no equation for element [{shown}]; add an "
                                 f'<element subscript="{shown}"> or an equation for all elements')
        displays = self._display(var.dims, key)
        return replace(
            var, name=element_name(var.name, key), display=f"{var.display}[{','.join(displays)}]", dims=(),
            definition=self._expand_definition(var, definition, context), elements={},
            conveyor=self._expand_definition(var, var.conveyor, context),
            inflows=self._flows(var, inflows, context), outflows=self._flows(var, outflows, context),
        )

    def _display(self, dims: tuple[str, ...], key: tuple[str, ...]) -> list[str]:
        return [self.dimensions[d].shown(e) for d, e in zip(dims, key, strict=True)]

    def _flows(self, var: RawVar, flows: list[str], context: Context) -> list[str]:
        out = []
        for written in flows:
            flow, indices = split_reference(written)
            dims = self.arrays.get(flow)
            if not dims:
                if indices is not None:
                    raise ModelFileError(f"{self._where(var, None)}: flow {written!r} subscripts {flow!r}, which is "
                                         "not an array")
                out.append(flow)
                continue
            element = self.expander.flow_element(flow, indices, context, self._where(var, None))
            if element is None:
                raise ModelFileError(f"{self._where(var, None)}: flow {written!r} is arrayed over "
                                     f"{', '.join(self.dimensions[d].display for d in dims)}, which the stock is "
                                     "not; give the stock the same dimensions, or subscript the flow with the "
                                     "stock's (<inflow>flow[Dim]</inflow>)")
            out.append(element)
        return out

    def _expand_definition(self, var: RawVar, definition: Definition | None, context: Context) -> Definition | None:
        if definition is None or definition.expr is None:
            return definition
        return replace(definition, expr=self.expander.equation(definition.expr, context, self._where(var, definition)),
                       written=definition.expr if self.arrays and not context else None)

    def expand(self, expr: Expr, context: Context, where: str) -> Expr:
        """Rewrite ``expr`` for one element (``context``) into scalar references only."""
        return self.expander.expand(expr, context, where)

    def arrays_ir(self) -> dict[str, Array]:
        """The IR's record of each arrayed variable (its elements are the flattened variables)."""
        out = {}
        for var in self.variables.values():
            if var.dims:
                definition = var.definition  # the apply-to-all equation, which <element>s may override
                out[var.name] = Array(
                    var.name, var.dims, var.display, "auxiliary",  # the kind: from the elements, once built
                    equation=definition.expr if definition is not None and definition.table is None else None,
                    equation_text=definition.text.strip() if definition is not None else "",
                    where=Location(self.file, var.line))
        return out
