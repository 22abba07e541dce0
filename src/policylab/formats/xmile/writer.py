"""Write a model IR as XMILE, so PolicyLab models open in tools that read XMILE.

Stocks, flows, auxiliaries, graphical functions, units and documentation are standard
XMILE. Constants are auxiliaries with a number as equation; levers and events are
auxiliaries whose equation approximates them for other tools (a sum of STEPs, a sum
of PULSEs) while the exact definition travels in the PolicyLab extension namespace,
with scenarios, sources, outcomes, evidence and parameter ranges (``extension``).
Arrays read from XMILE are written back as arrays; module variables keep their
dotted names (``hares.births``) in one flat model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from policylab.errors import ExpressionError
from policylab.expr.ast import Call, Expr
from policylab.expr.parser import writable
from policylab.formats.xmile._xml import ISEE_NS, POLICYLAB_NS
from policylab.formats.xmile.codec import encode
from policylab.formats.xmile.extension import GENERATED_SKIP, KIND_TAGS, MODEL_SKIP, STANDARD_FIELDS, TIME_SKIP
from policylab.formats.xmile.render import number, quote_name, render
from policylab.formats.xmile.xmlwrite import Element, serialize
from policylab.model.arrays import StockFlows, apply_to_all, model_expander, stock_flows, written_form
from policylab.model.ir import (
    AnyVariable,
    Array,
    Auxiliary,
    Constant,
    Event,
    GeneratedEvent,
    Flow,
    Lever,
    Lookup,
    Method,
    Model,
    Stock,
    TimeSpec,
    element_keys,
    element_name,
)
from policylab.version import __version__

XMILE_NS = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"
GF_TYPES = {"clamp": "continuous", "linear": "extrapolate", "discrete": "discrete"}


def write_xmile(model: Model) -> str:
    """The XMILE text of ``model``."""
    return _Writer(model).document()


def save_xmile(model: Model, path: str | Path) -> None:
    """Write ``model`` as XMILE to ``path`` (written to a temporary file, then renamed)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(write_xmile(model), encoding="utf-8")
    temporary.replace(target)


class _Writer:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.dimensions = model.dimensions
        self.arrays = self._usable_arrays()
        self.element_of: dict[str, tuple[str, tuple[str, ...]]] = {
            element_name(base, key): (base, key) for base, array in self.arrays.items() for key in self._keys(array.dims)
        }
        self.expander = model_expander(model, self.arrays)  # checks a scalar's written form (only arrays written as such)

    # -- arrays ------------------------------------------------------------------------------
    def _keys(self, dims: tuple[str, ...]) -> list[tuple[str, ...]]:
        return element_keys(dims, self.dimensions)

    def _usable_arrays(self) -> dict[str, Array]:
        """Arrays whose every element is present with one XMILE kind (else written element by element)."""
        usable = {}
        for base, array in self.model.arrays.items():
            if not all(d in self.dimensions for d in array.dims):
                continue
            members = [self.model.variables.get(element_name(base, k)) for k in self._keys(array.dims)]
            if any(m is None for m in members) or len({_tag(m) for m in members}) != 1:  # type: ignore[arg-type]
                continue
            if any(isinstance(m, (Lever, Event)) for m in members):
                continue
            usable[base] = array
        expander = model_expander(self.model)
        self.flows: dict[tuple[str, str], StockFlows] = {}
        self.given: dict[str, frozenset[tuple[str, ...]]] = {}
        for base in usable:
            self.given[base] = apply_to_all(self.model, expander, base)
            if isinstance(self.model.variables[self.model.elements_of(base)[0]], Stock):
                for side in ("inflows", "outflows"):
                    self.flows[(base, side)] = stock_flows(self.model, expander, base, side)
        changed = True
        while changed:  # an arrayed stock is written as an array when its flows are arrays written as such, or scalars
            changed = False
            for base in list(usable):
                flows = [f.partition("[")[0] for side in ("inflows", "outflows") for e in self.model.elements_of(base)
                         for f in getattr(self.model.variables[e], side, ())]
                if any(flow in self.model.arrays and flow not in usable for flow in flows):
                    del usable[base]
                    changed = True
        return usable

    def name_of(self, name: str) -> str:
        if name in self.element_of:
            base, key = self.element_of[name]
            return f"{quote_name(base)}[{', '.join(quote_name(e) for e in key)}]"
        return quote_name(name)

    def eqn(self, expr: Expr, written: Expr | None = None) -> str:
        """``expr`` as XMILE, or the form it was written in (``written``) when that still holds."""
        return writable(render(written_form(written, expr, self.expander), self.name_of), "an equation")

    # -- document ----------------------------------------------------------------------------
    def document(self) -> str:
        model = self.model
        root = Element("xmile", {"version": "1.0", "xmlns": XMILE_NS, "xmlns:isee": ISEE_NS,
                                 "xmlns:policylab": POLICYLAB_NS})
        header = root.add("header")
        header.add("vendor", "PolicyLab")
        header.add("product", "PolicyLab", version=__version__, lang="en")
        header.add("name", model.name)
        root.children.append(self._sim_specs(model.time))
        extension_time = encode(model.time, "time", TIME_SKIP)
        if extension_time.attrs or extension_time.children:
            root.children.append(extension_time)
        root.children.append(encode(model, "model", MODEL_SKIP))
        if self.arrays:
            dims = root.add("dimensions")
            for name, spec in self.dimensions.items():
                dim = dims.add("dim", name=spec.display or name)
                if spec.parent:  # XMILE 1.0 has no subranges or mappings: PolicyLab's attributes carry them
                    dim.attrs["policylab:subrange_of"] = self.dimensions[spec.parent].display or spec.parent
                if spec.mapping:
                    dim.attrs["policylab:maps_to"] = "; ".join(
                        f"{self.dimensions[target].display or target}: "
                        + ", ".join(self.dimensions[target].shown(e) for e in elements)
                        for target, elements in spec.mapping.items())
                for element in spec.elements:
                    dim.add("elem", name=spec.shown(element))
        variables = root.add("model").add("variables")
        written: set[str] = set()
        for name, var in model.variables.items():
            if name in self.element_of:
                base = self.element_of[name][0]
                if base not in written:
                    written.add(base)
                    variables.children.append(_naming(base, self._array, base))
            elif not self._folded(name, var):
                variables.children.append(_naming(name, self._variable, var))
        return serialize(root)

    def _sim_specs(self, time: TimeSpec) -> Element:
        method = "RK4" if time.method == Method.RK4 else "Euler"
        specs = Element("sim_specs", {"method": method, "time_units": time.units})
        if time.save_every != time.dt:
            specs.attrs["isee:save_interval"] = repr(float(time.save_every))
        for tag, value in (("start", time.start), ("stop", time.stop), ("dt", time.dt)):
            specs.add(tag, repr(float(value)))
        return specs

    # -- variables ---------------------------------------------------------------------------
    def _flow_table(self, flow: Flow) -> tuple[Lookup, Expr] | None:
        """The lookup and argument of a flow read from XMILE with its own <gf> (``flow_gf(x)``)."""
        equation = flow.equation
        if isinstance(equation, Call) and len(equation.args) == 1 and equation.func.startswith(f"{flow.name}_gf"):
            table = self.model.variables.get(equation.func)
            if isinstance(table, Lookup) and table.input is None and not table.evidence and not table.source:
                return table, equation.args[0]
        return None

    def _folded(self, name: str, var: AnyVariable) -> bool:
        """True for a lookup written inside the flow that uses it (see ``_flow_table``)."""
        if not (isinstance(var, Lookup) and "_gf" in name):
            return False
        owner = self.model.variables.get(name[: name.rindex("_gf")])
        if not isinstance(owner, Flow):
            return False
        folded = self._flow_table(owner)
        return folded is not None and folded[0].name == name

    def _label(self, var: AnyVariable) -> str:
        from policylab.expr.names import canonical

        return var.display if var.display and canonical(var.display) == var.name else var.name

    def _variable(self, var: AnyVariable) -> Element:
        element = Element(_tag(var), {"name": self._label(var)})
        self._body(element, var)
        for field_element in self._common_tail(var):
            element.children.append(field_element)
        return element

    def _body(self, element: Element, var: AnyVariable) -> None:
        """Equation, flows, table and flags of ``var`` into ``element`` (or an array's ``<element>``)."""
        if isinstance(var, Stock):
            element.add("eqn", self.eqn(var.initial, var.written) if var.initial is not None else "0")
        elif isinstance(var, Flow):
            folded = self._flow_table(var)
            equation = folded[1] if folded is not None else var.equation
            element.add("eqn", self.eqn(equation, var.written) if equation is not None else "0")
            if folded is not None:
                element.children.append(_gf(folded[0]))
        elif isinstance(var, Auxiliary):
            element.add("eqn", self.eqn(var.equation, var.written) if var.equation is not None else "0")
        elif isinstance(var, Constant):
            element.add("eqn", number(var.value))
        elif isinstance(var, Lookup):
            table = _gf(var)
            if element.tag == "gf" or (element.tag == "element" and var.input is None):
                # a named table: the points sit in <gf name=...> itself, or in each <element> of a <gf> array
                element.attrs.update(table.attrs)
                element.children.extend(table.children)
                return
            if var.input is not None:
                element.add("eqn", self.eqn(var.input, var.written))
            element.children.append(table)
        elif isinstance(var, Lever):
            element.add("eqn", _lever_equation(var))
        elif isinstance(var, Event):
            element.add("eqn", _event_equation(var))

    def _common_tail(self, var: AnyVariable) -> list[Element]:
        tail: list[Element] = []
        if isinstance(var, Stock):
            tail += [Element("inflow", text=f) for f in var.inflows]
            tail += [Element("outflow", text=f) for f in var.outflows]
        if isinstance(var, (Stock, Flow)) and var.non_negative:
            tail.append(Element("non_negative"))
        if var.units:
            tail.append(Element("units", text=var.units))
        if var.doc:
            tail.append(Element("doc", text=var.doc))
        extension = encode(var, KIND_TAGS.get(type(var), "variable"),
                           GENERATED_SKIP if isinstance(var, GeneratedEvent) else STANDARD_FIELDS)
        if extension.attrs or extension.children or isinstance(var, (Lever, Event)):
            tail.append(extension)
        return tail

    def _array(self, base: str) -> Element:
        array = self.arrays[base]
        dims = array.dims
        keys = self._keys(dims)
        members = [self.model.variables[element_name(base, k)] for k in keys]
        first = members[0]
        element = Element(_tag(first), {"name": array.display or base})
        dim_block = element.add("dimensions")
        for dim in dims:
            dim_block.add("dim", name=self.dimensions[dim].display or dim)
        sides = [(tag, self.flows[(base, tag + "s")]) for tag in ("inflow", "outflow") if (base, tag + "s") in self.flows]
        own_flows = {key for key in keys for _, found in sides if key not in found.gives}
        given = self.given[base]
        if given:  # apply-to-all: one equation, and an <element> for each element it does not give
            element.add("eqn", writable(render(array.equation, quote_name), base))  # type: ignore[arg-type]
        tables = isinstance(first, Lookup)  # each element's own points: every <element> is written
        if len(given) < len(keys) or own_flows or tables:
            for key, member in zip(keys, members, strict=True):
                if key in given and key not in own_flows and not tables:
                    continue
                shown = [self.dimensions[d].shown(e) for d, e in zip(dims, key, strict=True)]
                item = element.add("element", subscript=", ".join(shown))
                self._body(item, member)
                if key in own_flows:  # PolicyLab reads an element's own flows (docs/xmile.md)
                    for tag in ("inflow", "outflow"):
                        for flow in getattr(member, tag + "s"):
                            item.add(tag, self.name_of(flow))
        for tag, found in sides:
            for flow, indices in found.flows:
                shown = [self.dimensions[i].display or i if i in self.dimensions else i for i in indices]
                element.add(tag, quote_name(flow) + (f"[{', '.join(quote_name(i) for i in shown)}]" if shown else ""))
        if isinstance(first, (Stock, Flow)) and first.non_negative:
            element.add("non_negative")
        if first.units:
            element.add("units", first.units)
        if first.doc:
            element.add("doc", first.doc)
        extension = encode(replace(first, evidence=array.evidence), KIND_TAGS.get(type(first), "variable"),
                           STANDARD_FIELDS)
        if extension.attrs or extension.children:
            element.children.append(extension)
        return element


def _naming(name: str, write: Callable[[Any], Element], item: Any) -> Element:
    """``write(item)``, an equation too long to read back named by its variable ``name``."""
    try:
        return write(item)
    except ExpressionError as err:
        raise ExpressionError(str(err).replace("an equation:", f"{name}:", 1)) from None


def _tag(var: AnyVariable) -> str:
    if isinstance(var, Stock):
        return "stock"
    if isinstance(var, Flow):
        return "flow"
    if isinstance(var, Lookup) and var.input is None:
        return "gf"
    return "aux"


def _gf(table: Lookup) -> Element:
    gf = Element("gf", {"type": GF_TYPES[table.extrapolation]})
    gf.add("xpts", ",".join(repr(float(x)) for x in table.xs))
    gf.add("ypts", ",".join(repr(float(y)) for y in table.ys))
    return gf


def _lever_equation(lever: Lever) -> str:
    """The lever's path as XMILE: baseline plus one STEP per change (linear paths as steps)."""
    terms = [number(lever.baseline)]
    previous = lever.baseline
    if lever.schedule is not None:
        for time, value in zip(lever.schedule.times, lever.schedule.values, strict=True):
            if value != previous:
                change = float(f"{value - previous:.15g}")  # 0.1, not 0.09999999999999998
                terms.append(f"STEP({number(change)}, {number(time)})")
            previous = value
    return " + ".join(terms)


def _event_equation(event: Event) -> str:
    """The event as XMILE: one PULSE of ``magnitude`` at each time."""
    if not event.times:
        return "0"
    return " + ".join(f"PULSE({number(event.magnitude)}, {number(t)})" for t in event.times)


__all__ = ["save_xmile", "write_xmile"]
