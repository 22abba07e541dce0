"""Read an XMILE file (``.xmile``, ``.stmx``, ``.itmx``) into the model IR.

Steps: safe XML parsing with repair (``_xml``) -> elements to working records
(``elements``; macros: ``macros``) -> modules laid out, equations parsed and macro calls
expanded (``modules``) -> array elements (``arrays``) -> IR (here), with PolicyLab's extension elements
(levers, scenarios, evidence...) read back by ``extension``.

Integration method rule (documented in docs/xmile.md): the ``method`` attribute of
``<sim_specs>`` is honoured, except in files written by Vensim's own XMILE export
(``<product>`` exactly "Vensim"), which writes ``method="RK4"`` whatever the model
uses; those are read with Euler, Vensim's default, and the repair warning says so.
Files converted by xmutil ("Vensim, xmutil") carry the model's real method and are
honoured.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import replace
from pathlib import Path

from policylab.errors import Location, ModelFileError
from policylab.files import read_capped
from policylab.expr.ast import BinOp, Call, Expr, Name, Num
from policylab.expr.names import free_name
from policylab.formats.xmile._raw import RawModel, RawVar
from policylab.formats.xmile._xml import POLICYLAB_NS, Node, parse_document
from policylab.formats.xmile.arrays import ArrayFlattener
from policylab.formats.xmile.elements import Reader
from policylab.formats.xmile.extension import ExtensionReader
from policylab.formats.xmile.macros import read_macros
from policylab.formats.xmile.modules import Flattener
from policylab.limits import XMILE_BYTES
from policylab.model.arrays import element_evidence
from policylab.model.ir import (
    AnyVariable,
    Array,
    Auxiliary,
    Constant,
    Dimension,
    Flow,
    Lookup,
    Method,
    Model,
    Stock,
    TimeSpec,
    element_keys,
    element_name,
    kind_of,
)


class XmileRepairWarning(UserWarning):
    """An XMILE file was malformed or unusual in a way the reader repaired; the message says how."""


SUPPORTED_METHODS = {"euler": Method.EULER, "rk4": Method.RK4}


def read_xmile(path: str | Path) -> Model:
    """Read the XMILE file at ``path`` into a Model (one ``XmileRepairWarning`` if it needed repair)."""
    file = Path(path)
    return read_xmile_bytes(read_capped(file, XMILE_BYTES, "model file"), str(file))


def read_xmile_bytes(data: bytes, file: str = "<string>") -> Model:
    """Read XMILE from bytes; ``file`` is used in messages and as the model's path."""
    document = parse_document(data, file)
    root = document.root
    if root.tag != "xmile":
        raise ModelFileError(f"{file}:{root.line}: the root element is <{root.tag}>; an XMILE file starts with <xmile>")
    reader = Reader(file, root.ns)
    notes = list(document.repairs)
    model = _build(root, reader, file, notes, hashlib.sha256(data).hexdigest())
    notes.extend(reader.notes)
    if notes:
        warnings.warn(f"{file}: read with repairs: " + "; ".join(notes) + ".", XmileRepairWarning, stacklevel=2)
    return model


def _build(root: Node, reader: Reader, file: str, notes: list[str], digest: str) -> Model:
    _refuse_data_imports(root, reader, notes)
    header = root.find("header")
    nodes = root.findall("model")
    for node in nodes:
        if "encryption-scheme" in node.attrs:
            raise reader.fail(node, "unsupported: an encrypted <model> (encryption-scheme); open the file in the "
                                    "program that wrote it and save it without a password")
    main_node = next((n for n in nodes if not n.attrs.get("name", "").strip()), nodes[0] if nodes else None)
    specs = _specs(root, main_node)
    if specs is None:
        raise reader.fail(root, "the file has no <sim_specs>; add one with <start>, <stop> and <dt>")
    time = _time(specs, reader, header, notes)
    _check_submodel_specs(root, nodes, main_node, reader, header, time)
    reader.read_dimensions(root)
    macros = read_macros(root, reader.read_variable, reader.fail, reader.is_vendor, file, time.start, time.stop)
    models = [reader.read_model(node) for node in nodes]
    if not models:
        raise ModelFileError(f"{file}:{root.line}: the file has no <model>; an XMILE file holds at least one")
    main = next((m for m in models if not m.name), models[0])
    by_name: dict[str, RawModel] = {m.name: m for m in models if m is not main}
    sizes = {name: len(dim.elements) for name, dim in reader.dimensions.items()}
    positions = {f"{name}.{elem}": float(i) for name, dim in reader.dimensions.items()
                 for i, elem in enumerate(dim.elements, start=1)}
    flat = Flattener(file, by_name, time.start, time.stop, sizes, vensim=_by_vensim(header), macros=macros,
                     positions=positions).flatten(main)
    arrays = ArrayFlattener(file, flat, reader.dimensions)
    scalars = arrays.flatten()
    stock_default, flow_default = _behavior([root, main_node] if main_node is not None else [root], reader)
    extension = ExtensionReader(file)
    variables = _to_ir(scalars, file, stock_default, flow_default, extension)
    name = _text(header.find("name")) if header is not None and header.find("name") is not None else ""
    extras: dict[str, object] = {"sha256": digest, "format": "xmile"}
    records = _array_evidence(arrays.arrays_ir(), variables, reader.dimensions)
    model = Model(name=name or Path(file).stem, time=time, variables=variables, path=file, extras=extras,
                  dimensions=dict(reader.dimensions), arrays=records)
    return extension.apply(root, model)


def _array_evidence(records: dict[str, Array], variables: dict[str, AnyVariable],
                    dimensions: dict[str, Dimension]) -> dict[str, Array]:
    """Each array keeps its evidence as written; each element's evidence names the elements it reads."""
    out = {}
    for base, record in records.items():
        names = [element_name(base, key) for key in element_keys(record.dims, dimensions)]
        first = variables.get(names[0])
        out[base] = replace(record, evidence=first.evidence, kind=kind_of(first)) if first is not None else record
        for name in names:
            var = variables.get(name)
            if var is not None and var.evidence:
                reads = getattr(var, "equation", None) or getattr(var, "initial", None)
                variables[name] = replace(var, evidence=element_evidence(var.evidence, reads, records))
    return out


def _text(node: Node | None) -> str:
    return node.text.strip() if node is not None else ""


def _by_vensim(header: Node | None) -> bool:
    """True for files Vensim wrote (its own export, or xmutil's conversion): INT and MOD truncate there."""
    return _text(header.find("product") if header is not None else None).lower().startswith("vensim")


def _refuse_data_imports(root: Node, reader: Reader, notes: list[str]) -> None:
    """``<data>`` (2.8): imports would change values at run time, so they are refused; exports only write files."""
    for block in root.findall("data"):
        for child in block.children:
            if child.tag == "import" and not reader.is_vendor(child):
                raise reader.fail(child, "unsupported: <data> <import> (values read from another file while the "
                                         f"model runs, here {child.attrs.get('resource', '')!r}); put the data in the "
                                         "model as graphical functions or constants")
            if child.tag == "export":
                notes.append(f"ignored <data> <export> (line {child.line}): PolicyLab writes results with "
                             "`policylab run --out` instead")


# -- sim_specs -------------------------------------------------------------------------------
class _Specs:
    """The simulation specs in force: the root model's ``<sim_specs>`` children override the file's (4)."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes  # most specific first

    def find(self, tag: str) -> Node | None:
        return next((found for node in self.nodes if (found := node.find(tag)) is not None), None)

    def attr(self, name: str) -> str | None:
        return next((node.attrs[name] for node in self.nodes if name in node.attrs), None)

    @property
    def node(self) -> Node:
        return self.nodes[0]


def _specs(root: Node, model: Node | None) -> _Specs | None:
    nodes = [n for n in ((model.find("sim_specs") if model is not None else None), root.find("sim_specs"))
             if n is not None]
    return _Specs(nodes) if nodes else None


def _check_submodel_specs(root: Node, models: list[Node], main: Node | None, reader: Reader, header: Node | None,
                          time: TimeSpec) -> None:
    """Submodels run on the whole model's clock; one with other sim specs (3.7.4) is refused, not ignored."""
    for node in models:
        own = node.find("sim_specs")
        if node is main or own is None:
            continue
        specs = _Specs([own, *(_specs(root, main) or _Specs([])).nodes])
        sub = _time(specs, reader, header, [])
        vendor = {key.rpartition(":")[2] for key in own.prefixed_attrs}
        other = set(own.attrs) - {"method", "time_units"} - vendor  # a run mode ("independent") changes what DT means
        if (sub.start, sub.stop, sub.dt) != (time.start, time.stop, time.dt) or other:
            raise reader.fail(own, f'unsupported: <model name="{node.attrs.get("name", "")}"> has its own <sim_specs> '
                                   f"(start {sub.start:g}, stop {sub.stop:g}, dt {sub.dt:g}; the whole model: "
                                   f"{time.start:g}, {time.stop:g}, {time.dt:g}); PolicyLab runs every submodel on "
                                   "the whole model's clock: remove them or make them equal")


def _time(specs: _Specs, reader: Reader, header: Node | None, notes: list[str]) -> TimeSpec:
    values: dict[str, float] = {}
    for tag in ("start", "stop"):
        node = specs.find(tag)
        if node is None:
            raise reader.fail(specs.node, f"<sim_specs> has no <{tag}>; give the simulation's {tag} time")
        values[tag] = reader.number(node, f"<{tag}> of <sim_specs>")
    dt_node = specs.find("dt")
    dt = reader.number(dt_node, "<dt> of <sim_specs>") if dt_node is not None else 1.0
    if dt_node is not None and dt_node.attrs.get("reciprocal", "").strip().lower() == "true":
        if dt == 0:
            raise reader.fail(dt_node, '<dt reciprocal="true"> is 0; give the number of steps per time unit')
        dt = 1.0 / dt
    start, stop = values["start"], values["stop"]
    if not dt > 0 or not stop >= start:
        raise reader.fail(specs.node, "<sim_specs> needs dt > 0 and stop >= start (got start "
                                      f"{start:g}, stop {stop:g}, dt {dt:g})")
    if (stop - start) / dt > 50_000_000:
        raise reader.fail(specs.node, f"<sim_specs> asks for {(stop - start) / dt:.3g} steps; use a larger dt")
    save = _save_interval(specs, reader, dt, notes)
    return TimeSpec(start=start, stop=stop, dt=dt, save_every=save,
                    units=(specs.attr("time_units") or "").strip() or "time",
                    method=_method(specs, reader, header, notes))


def _save_interval(specs: _Specs, reader: Reader, dt: float, notes: list[str]) -> float:
    raw = specs.attr("save_interval")
    node = specs.find("save_interval")
    if node is not None:
        value = reader.number(node, "<save_interval> of <sim_specs>")
    elif raw is not None:
        try:
            value = float(raw)
        except ValueError:
            raise reader.fail(specs.node, f'save_interval="{raw}" of <sim_specs> is not a number') from None
    else:
        return dt
    if not value > 0:
        raise reader.fail(specs.node, f"the save interval {value:g} must be positive")
    steps = max(round(value / dt), 1)
    if abs(steps * dt - value) > 1e-9 * max(value, dt):
        notes.append(f"the save interval {value:g} is not a multiple of dt {dt:g}; saving every {steps * dt:g}")
    return steps * dt


def _method(specs: _Specs, reader: Reader, header: Node | None, notes: list[str]) -> Method:
    """The first method of the ``method`` list PolicyLab has (3.4.1: "gear, rk4"; rk2 falls back to rk4)."""
    written = specs.attr("method")
    choices = [m.strip().lower() for m in (written or "euler").split(",") if m.strip()] or ["euler"]
    declared = next((m for m in choices if m in SUPPORTED_METHODS or m == "rk2"), None)
    if declared is None:
        raise reader.fail(specs.node, f'<sim_specs method="{written}">: PolicyLab integrates with Euler or RK4 '
                                      "(and RK2 as RK4, as XMILE 3.4.1 says); change the method attribute to one of "
                                      'them, or list one as a fallback ("gear, rk4")')
    if declared == "rk2":
        notes.append('method="rk2" is integrated with RK4, its fallback in XMILE 3.4.1')
        declared = "rk4"
    method = SUPPORTED_METHODS[declared]
    product = _text(header.find("product")) if header is not None else ""
    if method != Method.EULER and product.lower() == "vensim":
        notes.append(f'the file is a Vensim XMILE export, whose method="{written}" does not record '
                     "the model's integration method; integrating with Euler, Vensim's default")
        return Method.EULER
    return method


def _behavior(scopes: list[Node], reader: Reader) -> tuple[bool, bool]:
    """Default non-negativity of stocks and flows from ``<behavior>`` (2.6): the file's, then the root model's."""
    stock = flow = False
    for block in (b for scope in scopes for b in scope.findall("behavior")):
        for child in block.children:
            if child.tag == "non_negative":
                stock = flow = _flag(child, reader)
            elif child.tag in ("stock", "flow"):
                for inner in child.findall("non_negative"):
                    if child.tag == "stock":
                        stock = _flag(inner, reader)
                    else:
                        flow = _flag(inner, reader)
    return stock, flow


def _flag(node: Node, reader: Reader) -> bool:
    text = node.text.strip().lower()
    if text in ("", "true"):
        return True
    if text == "false":
        return False
    raise reader.fail(node, f"<non_negative> in <behavior> is {node.text.strip()!r}; write true, false or leave it empty")


# -- IR --------------------------------------------------------------------------------------
def _to_ir(scalars: dict[str, RawVar], file: str, stock_default: bool, flow_default: bool,
           extension: ExtensionReader) -> dict[str, AnyVariable]:
    flow_names = {f for var in scalars.values() if var.kind == "stock" for f in (*var.inflows, *var.outflows)}
    exits = _conveyor_exits(scalars, file)
    out: dict[str, AnyVariable] = {}
    for name, var in scalars.items():
        where = Location(file, var.definition.line if var.definition and var.definition.line else var.line)
        common = {"name": name, "units": var.units, "doc": var.doc, "display": var.display, "where": where}
        definition = var.definition
        expr: Expr | None = definition.expr if definition is not None else None
        written = definition.written if definition is not None else None
        text = definition.text.strip() if definition is not None else ""
        table = definition.table if definition is not None else None
        if var.kind == "stock":
            out[name] = Stock(**common, initial=expr, inflows=tuple(var.inflows), outflows=tuple(var.outflows),
                              non_negative=stock_default if var.non_negative is None else var.non_negative,
                              initial_text=text, written=written)
        elif table is not None and (var.kind in ("gf", "aux") and name not in flow_names):
            out[name] = Lookup(**common, xs=table.xs, ys=table.ys, extrapolation=table.extrapolation,  # type: ignore[arg-type]
                               input=expr, written=written)
        elif var.kind == "flow" or name in flow_names:
            if name in exits:
                expr, table = exits[name], None
            if table is not None:  # the flow's graphical function becomes a lookup named <flow>_gf
                table_name = free_name(f"{name}_gf", scalars, out)
                out[table_name] = Lookup(name=table_name, display=table_name, xs=table.xs, ys=table.ys,
                                         extrapolation=table.extrapolation, where=where)  # type: ignore[arg-type]
                expr = Call(table_name, (expr if expr is not None else Name("time"),))
            non_negative = flow_default if var.non_negative is None else var.non_negative
            out[name] = Flow(**common, equation=expr, equation_text=text, non_negative=non_negative, written=written)
        elif isinstance(expr, Num) and var.alias_of is None:
            out[name] = Constant(**common, value=expr.value)
        else:
            out[name] = Auxiliary(**common, equation=expr, equation_text=text, written=written)
        if var.extension:
            out[name] = extension.variable(out[name], var.extension)
    return out


def _conveyor_exits(scalars: dict[str, RawVar], file: str) -> dict[str, Expr]:
    """Equations of conveyor outflows: what entered the conveyor one transit time ago.

    A conveyor with transit time T and initial content C releases C/T per time unit
    until the first inflow arrives (content spread evenly along the belt), then its inflow
    delayed by T: ``DELAY(inflows, T, C / T)``.
    """
    exits: dict[str, Expr] = {}
    for stock in scalars.values():
        if stock.conveyor is None or stock.conveyor.expr is None:
            continue
        if not stock.outflows:
            raise ModelFileError(f"{file}:{stock.line}: the conveyor {stock.label()} has no outflow; add the "
                                 "<outflow> that leaves the belt")
        transit = stock.conveyor.expr
        initial = stock.definition.expr if stock.definition is not None and stock.definition.expr else Num(0.0)
        entering: Expr = Num(0.0)
        for index, inflow in enumerate(stock.inflows):
            entering = Name(inflow) if index == 0 else BinOp("+", entering, Name(inflow))
        exits[stock.outflows[0]] = Call("delay_fixed", (entering, transit, BinOp("/", initial, transit)))
    return exits


__all__ = ["XmileRepairWarning", "read_xmile", "read_xmile_bytes", "POLICYLAB_NS"]
