"""Read the XML elements of an XMILE file into the reader's working form (``_raw``).

Nothing here parses equations; that happens once modules are laid out (``modules``),
because a module input's placeholder equation is replaced by its connection.
"""

from __future__ import annotations

from dataclasses import replace

from policylab.errors import Location, ModelFileError
from policylab.expr.names import canonical
from policylab.formats.xmile._raw import Connection, Definition, RawModel, RawModule, RawVar, Table
from policylab.formats.xmile._xml import POLICYLAB_NS, Node
from policylab.formats.xmile.equations import split_top_level
from policylab.model.arrays import split_reference
from policylab.model.ir import Dimension, element_name

#: Children of a variable that only concern presentation.
_PRESENTATION = {"display", "format", "scale", "range", "event_poster", "summing", "documentation"}
#: Constructs we do not simulate yet: fail clearly rather than drop them.
_UNSUPPORTED = {
    "queue": "queues", "oven": "ovens", "leak": "conveyor leakage",
    "overflow": "queue overflows", "multiplier": "flow multipliers", "array": "nested array definitions",
}
_VARIABLE_TAGS = ("stock", "flow", "aux", "gf")
MAX_ARRAY_SIZE = 100_000


class Reader:
    """Turns the element tree of one file into ``RawModel``s, collecting repair notes."""

    def __init__(self, file: str, xmile_ns: str) -> None:
        self.file = file
        self.xmile_ns = xmile_ns
        self.notes: list[str] = []
        self.dimensions: dict[str, Dimension] = {}

    # -- helpers ---------------------------------------------------------------------------
    def fail(self, node: Node | None, message: str) -> ModelFileError:
        line = f":{node.line}" if node is not None and node.line else ""
        return ModelFileError(f"{self.file}{line}: {message}")

    def is_vendor(self, node: Node) -> bool:
        """True for elements in another vendor's namespace (isee:..., Vensim's ...): ignored."""
        return node.ns not in (self.xmile_ns, "", POLICYLAB_NS)

    def numbers(self, node: Node, what: str) -> tuple[float, ...]:
        sep = node.attrs.get("sep", ",") or ","
        parts = [p.strip() for p in node.text.replace("\n", " ").split(sep)]
        parts = [p for p in parts if p]
        try:
            return tuple(float(p) for p in parts)
        except ValueError:
            raise self.fail(node, f"<{node.tag}> of {what} holds {node.text.strip()[:60]!r}, which is not a "
                                  f"list of numbers separated by {sep!r}") from None

    def number(self, node: Node, what: str) -> float:
        text = node.text.strip()
        try:
            return float(text)
        except ValueError:
            raise self.fail(node, f"{what} is {text[:40]!r}; write a number") from None

    # -- dimensions ------------------------------------------------------------------------
    def read_dimensions(self, root: Node) -> None:
        for block in root.findall("dimensions"):
            for dim in block.findall("dim"):
                display = dim.attrs.get("name", "").strip()
                if not display:
                    raise self.fail(dim, "<dim> has no name attribute; give every dimension a name")
                elems = dim.findall("elem")
                if elems:
                    displays = tuple(e.attrs.get("name", "").strip() for e in elems)
                elif "size" in dim.attrs:
                    size = self._size(dim)
                    displays = tuple(str(i) for i in range(1, size + 1))
                else:
                    raise self.fail(dim, f'<dim name="{display}"> lists no <elem> and has no size; list its elements')
                if any(not d for d in displays):
                    raise self.fail(dim, f'<dim name="{display}"> has an <elem> without a name')
                names = tuple(canonical(d) for d in displays)
                if len(set(names)) != len(names):
                    raise self.fail(dim, f'<dim name="{display}"> lists an element twice')
                dimension = Dimension(canonical(display), names, display, displays, self._parent(dim, names),
                                      where=Location(self.file, dim.line))
                first = self.dimensions.get(dimension.name)
                if first is not None and (first.elements, first.parent) != (dimension.elements, dimension.parent):
                    raise self.fail(dim, f'<dim name="{display}"> is defined twice, with other elements (first at '
                                         f"line {first.where.line if first.where else '?'}); keep one definition")
                if first is None:  # a repeated identical definition changes nothing: the first is kept
                    self.dimensions[dimension.name] = dimension
        for block in root.findall("dimensions"):  # mappings once all are known: two may map onto each other
            for dim in block.findall("dim"):
                name = canonical(dim.attrs.get("name", ""))
                self.dimensions[name] = replace(self.dimensions[name],
                                                mapping=self._mapping(dim, self.dimensions[name].elements))

    def _parent(self, dim: Node, names: tuple[str, ...]) -> str:
        """PolicyLab's ``subrange_of`` attribute: the dimension a subrange takes its elements from."""
        raw = dim.prefixed_attrs.get("policylab:subrange_of")
        if raw is None:
            return ""
        parent = self.dimensions.get(canonical(raw))
        if parent is None or not set(names) <= set(parent.elements):
            raise self.fail(dim, f'policylab:subrange_of="{raw}": name a dimension listed before this one whose '
                                 "elements include all of this one's")
        return parent.name

    def _mapping(self, dim: Node, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """PolicyLab's ``maps_to`` attribute: ``Target: e1, e2; Other: …``, one target element per element here."""
        raw = dim.prefixed_attrs.get("policylab:maps_to")
        mapping: dict[str, tuple[str, ...]] = {}
        for part in (raw or "").split(";"):
            if not part.strip():
                continue
            target_raw, _, listed = part.partition(":")
            target = self.dimensions.get(canonical(target_raw))
            elements = tuple(canonical(e) for e in listed.split(","))
            if target is None or len(elements) != len(names) or not set(elements) <= set(target.elements):
                raise self.fail(dim, f'policylab:maps_to="{raw}": give, for another dimension, one '
                                     f"of its elements for each of the {len(names)} element(s) here")
            mapping[target.name] = elements
        return mapping

    def _size(self, dim: Node) -> int:
        try:
            size = int(dim.attrs["size"])
        except ValueError:
            size = 0
        if not 1 <= size <= 100_000:
            raise self.fail(dim, f'<dim size="{dim.attrs["size"]}"> must be a whole number from 1 to 100000')
        return size

    # -- models ----------------------------------------------------------------------------
    def read_model(self, node: Node) -> RawModel:
        model = RawModel(canonical(node.attrs.get("name", "")), node.line)
        variables = node.findall("variables")
        if not variables:
            if any(child.tag in _VARIABLE_TAGS + ("module",) for child in node.children):
                raise self.fail(node, "unsupported: legacy Stella format (variables written directly inside "
                                      "<model>, without <variables>, as STELLA 10 and earlier saved them). Open the "
                                      "file in a current Stella and save it again, or export it as XMILE")
            return model
        for block in variables:
            for child in block.children:
                self._read_entry(child, model)
        return model

    def _read_entry(self, child: Node, model: RawModel) -> None:
        if self.is_vendor(child) or child.tag == "group" or child.ns == POLICYLAB_NS:
            return
        if child.tag == "module":
            module = self.read_module(child)
            self._claim(model, module.name, child)
            model.modules[module.name] = module
        elif child.tag in _VARIABLE_TAGS:
            var = self.read_variable(child)
            self._claim(model, var.name, child)
            model.variables[var.name] = var
        else:
            raise self.fail(child, f"unsupported element <{child.tag}> in <variables>; PolicyLab reads <stock>, "
                                   f"<flow>, <aux>, <gf> and <module>")

    def _claim(self, model: RawModel, name: str, node: Node) -> None:
        if name in model.variables or name in model.modules:
            raise self.fail(node, f'<{node.tag} name="{node.attrs.get("name")}"> defines {name!r} a second time '
                                  "(names ignore case, spaces and underscores); rename one of them")

    def read_module(self, node: Node) -> RawModule:
        display = self._name(node)
        if "resource" in node.attrs:
            raise self.fail(node, f'unsupported: <module name="{display}"> loads its model from another file '
                                  f'({node.attrs["resource"]!r}); paste that model into this file')
        model_name = canonical(node.attrs.get("model_name", display))
        module = RawModule(canonical(display), display, model_name, node.line)
        for conn in node.findall("connect"):
            to, source = conn.attrs.get("to", "").strip(), conn.attrs.get("from", "").strip()
            if not to or not source:
                raise self.fail(conn, f'<connect> in <module name="{display}"> needs both "to" and "from"')
            prefix = module.name + "."
            if to.startswith(".") and canonical(source).startswith(prefix):  # 4.7: a module output into the parent
                module.outputs.append(Connection(canonical(to.lstrip(".")), canonical(source), conn.line))
                continue
            target = canonical(to)
            if target.startswith(prefix):
                target = target[len(prefix):]
            module.connections.append(Connection(target, canonical(source.lstrip(".")), conn.line))
        return module

    def _name(self, node: Node) -> str:
        name = node.attrs.get("name", "")
        if not name.strip():
            raise self.fail(node, f"<{node.tag}> has no name attribute; every variable needs a name")
        return name

    # -- variables -------------------------------------------------------------------------
    def read_variable(self, node: Node) -> RawVar:
        raw_name = self._name(node)
        joiner = "_" if "_" in raw_name and " " not in raw_name else " "
        display = raw_name.replace("\\n", joiner).replace("\n", joiner).strip()
        kind = node.tag
        var = RawVar(kind, canonical(raw_name), display, node.line, node.tag)  # type: ignore[arg-type]
        eqns: list[Node] = []
        for child in node.children:
            if child.ns == POLICYLAB_NS:
                var.extension.append(child)
            elif self.is_vendor(child) or child.tag in _PRESENTATION:
                continue
            elif child.tag in _UNSUPPORTED:
                raise self.fail(child, f"unsupported: {var.label()} uses <{child.tag}> ({_UNSUPPORTED[child.tag]}); "
                                       "PolicyLab simulates plain stocks; rewrite it with flows")
            elif child.tag == "eqn":
                eqns.append(child)
            elif child.tag == "conveyor" and kind == "stock":
                var.conveyor = self._conveyor(child, var)
            elif child.tag in ("inflow", "outflow") and kind == "stock":
                getattr(var, child.tag + "s").append(_flow(child))
            elif child.tag == "non_negative" and kind in ("stock", "flow"):
                var.non_negative = self._flag(child, var)
            elif child.tag == "units":
                var.units = child.text.strip()
            elif child.tag == "doc":
                var.doc = child.text.strip()
            elif child.tag == "dimensions":
                var.dims = self._var_dims(child, var)
            elif child.tag in ("element", "gf", "xpts", "ypts", "xscale", "yscale"):
                continue  # read below, once the dimensions are known
            else:
                self.notes.append(f"ignored <{child.tag}> in {var.label()} (line {child.line}): PolicyLab does not "
                                  "know this element")
        self._definitions(node, var, eqns)
        return var

    def _conveyor(self, node: Node, var: RawVar) -> Definition:
        """A conveyor's transit time; conveyors with capacity, leaks or other options are not supported."""
        length = None
        for child in node.children:
            if child.tag == "len":
                length = child
            elif not self.is_vendor(child):
                raise self.fail(child, f"unsupported: {var.label()} is a conveyor with <{child.tag}>; PolicyLab "
                                       "simulates conveyors with a transit time (<len>) only")
        if length is None:
            raise self.fail(node, f"the <conveyor> of {var.label()} has no <len> (transit time)")
        return Definition(length.text, length.line)

    def _flag(self, node: Node, var: RawVar) -> bool:
        text = node.text.strip().lower()
        if text in ("", "true"):
            return True
        if text == "false":
            return False
        raise self.fail(node, f"<non_negative> of {var.label()} is {node.text.strip()!r}; write true, false or "
                              "leave it empty")

    def _var_dims(self, node: Node, var: RawVar) -> tuple[str, ...]:
        dims = []
        for dim in node.findall("dim"):
            name = canonical(dim.attrs.get("name", ""))
            if name not in self.dimensions:
                known = ", ".join(d.display for d in self.dimensions.values()) or "none"
                raise self.fail(dim, f'{var.label()} uses dimension "{dim.attrs.get("name", "")}", which the file '
                                     f"does not define in <dimensions> (defined: {known})")
            dims.append(name)
        size = 1
        for dim in dims:
            size *= len(self.dimensions[dim].elements)
        if size > MAX_ARRAY_SIZE:
            raise self.fail(node, f"{var.label()} has {size} elements; PolicyLab flattens arrays into scalar "
                                  f"variables and accepts up to {MAX_ARRAY_SIZE} per variable")
        return tuple(dims)

    def _definitions(self, node: Node, var: RawVar, eqns: list[Node]) -> None:
        if var.kind == "gf" and var.dims and node.findall("element"):  # a <gf> array: each <element> its points
            for element in node.findall("element"):
                var.elements[self.subscript(element, var)] = Definition("", element.line, self.table(element, var))
            return
        if var.kind == "gf":
            var.definition = Definition("", node.line, self.table(node, var))
            return
        table = self.table(node.find("gf"), var) if node.find("gf") is not None else None
        elements = node.findall("element")
        if elements:
            if not var.dims:
                raise self.fail(elements[0], f"{var.label()} has <element> equations but no <dimensions>")
            shared = eqns[0] if len(eqns) == 1 else None  # 4.5: one equation, a graphical function per element
            if shared is not None:
                var.definition = Definition(shared.text, shared.line, table)  # the apply-to-all; <element>s override
            for element in elements:
                key = self.subscript(element, var)
                own = element.find("eqn")
                eqn = own if own is not None else shared
                gf = element.find("gf")
                var.elements[key] = Definition(
                    eqn.text if eqn is not None else "", eqn.line if eqn is not None else element.line,
                    self.table(gf, var) if gf is not None else table,
                )
                flows = [child for child in element.children if child.tag in ("inflow", "outflow")]
                if flows and var.kind != "stock":
                    raise self.fail(flows[0], f"{var.label()} is not a stock; only a stock's element has flows")
                if flows:  # the element's own flows, in place of the array's (PolicyLab's reading, docs/xmile.md)
                    var.element_flows[key] = ([_flow(c) for c in flows if c.tag == "inflow"],
                                              [_flow(c) for c in flows if c.tag == "outflow"])
            return
        if len(eqns) > 1:
            self._one_eqn_per_element(var, eqns, table)
            return
        eqn = eqns[0] if eqns else None
        text = eqn.text if eqn is not None else ""
        line = eqn.line if eqn is not None else node.line
        if var.dims and eqn is not None:
            parts = split_top_level(text)
            if len(parts) > 1:
                self._listed_constants(var, parts, line, table)
                return
        var.definition = Definition(text, line, table)

    def _combos(self, var: RawVar) -> list[tuple[str, ...]]:
        combos: list[tuple[str, ...]] = [()]
        for dim in var.dims:
            combos = [c + (e,) for c in combos for e in self.dimensions[dim].elements]
        return combos

    def _one_eqn_per_element(self, var: RawVar, eqns: list[Node], table: Table | None) -> None:
        combos = self._combos(var) if var.dims else []
        if len(combos) != len(eqns):
            raise self.fail(eqns[1], f"{var.label()} has {len(eqns)} <eqn> elements; a variable has one, or (when "
                                     f"arrayed) one per element ({len(combos)} here)")
        for key, eqn in zip(combos, eqns, strict=True):
            var.elements[key] = Definition(eqn.text, eqn.line, table)

    def _listed_constants(self, var: RawVar, parts: list[str], line: int, table: Table | None) -> None:
        combos = self._combos(var)
        if len(parts) != len(combos):
            raise ModelFileError(f"{self.file}:{line}: {var.label()} lists {len(parts)} values for an array of "
                                 f"{len(combos)} elements; give one value per element, in order")
        for key, part in zip(combos, parts, strict=True):
            var.elements[key] = Definition(part, line, table)

    def subscript(self, element: Node, var: RawVar) -> tuple[str, ...]:
        text = element.attrs.get("subscript", "")
        names = tuple(canonical(p) for p in text.split(","))
        if len(names) != len(var.dims):
            raise self.fail(element, f'<element subscript="{text}"> of {var.label()} names {len(names)} '
                                     f"element(s); the variable has {len(var.dims)} dimension(s)")
        for name, dim in zip(names, var.dims, strict=True):
            if name not in self.dimensions[dim].elements:
                raise self.fail(element, f'<element subscript="{text}"> of {var.label()}: {name!r} is not an '
                                         f"element of {self.dimensions[dim].display} "
                                         f"({', '.join(self.dimensions[dim].displays)})")
        return names

    # -- graphical functions ---------------------------------------------------------------
    def table(self, gf: Node | None, var: RawVar) -> Table | None:
        if gf is None:
            return None
        what = var.label()
        ypts = gf.find("ypts")
        if ypts is None:
            raise self.fail(gf, f"the graphical function of {what} has no <ypts>")
        ys = self.numbers(ypts, what)
        xpts = gf.find("xpts")
        if xpts is not None:
            xs = self.numbers(xpts, what)
        else:
            xs = self._scale(gf, what, len(ys))
        if len(xs) != len(ys) or not ys:
            raise self.fail(gf, f"the graphical function of {what} has {len(xs)} x values and {len(ys)} y values; "
                                "give the same number (at least one) of each")
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)):
            raise self.fail(gf, f"the x values of the graphical function of {what} decrease; list them in "
                                "increasing order")
        return Table(xs, ys, self._extrapolation(gf, what), gf.line)

    def _scale(self, gf: Node, what: str, n: int) -> tuple[float, ...]:
        xscale = gf.find("xscale")
        if xscale is None:
            raise self.fail(gf, f"the graphical function of {what} has neither <xpts> nor <xscale>; give one")
        try:
            lo, hi = float(xscale.attrs.get("min", "")), float(xscale.attrs.get("max", ""))
        except ValueError:
            raise self.fail(xscale, f"<xscale> of {what} needs numeric min and max attributes") from None
        if n == 1:
            return (lo,)
        if not hi > lo:
            raise self.fail(xscale, f"<xscale> of {what} has max {hi:g} not above min {lo:g}; fix the range or "
                                    "give <xpts>")
        return tuple(lo + (hi - lo) * i / (n - 1) for i in range(n))

    def _extrapolation(self, gf: Node, what: str) -> str:
        kind = gf.attrs.get("type", "").strip().lower()
        if gf.attrs.get("discrete", "").strip().lower() == "true":
            kind = kind or "discrete"
        mapping = {"": "clamp", "continuous": "clamp", "extrapolate": "linear", "discrete": "discrete"}
        if kind not in mapping:
            raise self.fail(gf, f'the graphical function of {what} has type="{kind}"; PolicyLab reads continuous, '
                                "extrapolate and discrete")
        return mapping[kind]


def _flow(node: Node) -> str:
    """A stock's ``<inflow>``/``<outflow>``: a flow's name, or ``flow[Dim]`` (PolicyLab's reading, docs/xmile.md)
    kept as its canonical name and subscripts for the arrays to resolve."""
    flow, indices = split_reference(node.text)
    return flow if indices is None else element_name(flow, indices)
