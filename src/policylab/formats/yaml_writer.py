"""Write a model IR as the native YAML format (``policylab convert``), so any model read can be edited as YAML.

Everything the YAML reader reads is written back: the clock (dates for calendar models),
dimensions and arrays (as arrays: ``dims`` with the apply-to-all equation, else
``elements``), every kind of variable with its units, docs, evidence, bounds and sector,
scenarios, outcomes, checks and sources. Equations are written from their trees (never
copied from another format's text), in the expression language the reader parses; times
are model times (numbers), except the clock of a calendar model.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from policylab.errors import ExpressionError
from policylab.expr.ast import Expr, to_text
from policylab.expr.parser import writable
from policylab.expr.names import canonical
from policylab.formats.yaml_loader import dump_yaml
from policylab.model.arrays import (StockFlows, aggregate_name, apply_to_all, model_expander, stock_flows,
                                    written_form)
from policylab.model.ir import (
    CONDITIONED_UNTIL,
    RECORD_SUFFIX,
    Auxiliary,
    Check,
    Constant,
    Event,
    Evidence,
    Flow,
    GeneratedEvent,
    Lever,
    Lookup,
    Method,
    Model,
    Outcome,
    Scenario,
    Schedule,
    Stock,
    Variable,
    element_keys,
)

_IDENTIFIER = re.compile(r"^(?!\d)[\w$][\w.$]*$")
_KEYWORDS = frozenset({"if", "then", "else", "and", "or", "not", "mod"})
SECTIONS: dict[type, str] = {Constant: "constants", Lever: "levers", Event: "events", Lookup: "lookups",
                             Stock: "stocks", Flow: "flows", Auxiliary: "auxiliaries"}


def write_yaml(model: Model) -> str:
    """The YAML text of ``model``."""
    return dump_yaml(_Writer(model).document())


def save_yaml(model: Model, path: str | Path) -> None:
    """Write ``model`` as YAML to ``path`` (a temporary file, then renamed)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(write_yaml(model), encoding="utf-8")
    temporary.replace(target)


def text(expr: Expr) -> str:
    """``expr`` in the expression language, names quoted where they are not identifiers (``expr.ast.to_text``); an
    ExpressionError when it is longer than the reader accepts."""
    return writable(to_text(expr, quote), "an equation")


def quote(name: str) -> str:
    """A name as an equation token: bare when an identifier, an element ``x[a,b]`` as a subscript, else quoted."""
    base, bracket, rest = name.partition("[")
    if bracket and rest.endswith("]"):
        return f"{quote(base)}[{', '.join(quote(part) for part in rest[:-1].split(','))}]"
    if _IDENTIFIER.match(name) and name.lower() not in _KEYWORDS:
        return name
    return f'"{name}"'


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else float(value)


def _bounds(bounds: tuple[float, float]) -> list[float | int | None]:
    return [None if math.isinf(b) else _number(b) for b in bounds]


class _Writer:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.owner = {element: name for name in model.arrays for element in model.elements_of(name)}
        self.aggregates = {aggregate_name(func, name): (func, name) for name in model.arrays
                           for func in ("sum", "mean", "max", "min")}
        self.expander = model_expander(model)
        generated = [v for v in model.variables.values() if isinstance(v, GeneratedEvent)]
        self.skipped = {g.name + RECORD_SUFFIX for g in generated} | ({CONDITIONED_UNTIL} if generated else set())

    def label(self, name: str) -> str:
        """The name as the author wrote it, when it reads back as the same name."""
        var = self.model.variables.get(name)
        array = self.model.arrays.get(name)
        shown = (array.display if array is not None else var.display if var is not None else "") or name
        return shown if canonical(shown) == name else name

    def document(self) -> dict[str, Any]:
        model = self.model
        doc: dict[str, Any] = {"model": model.name}
        if model.doc:
            doc["doc"] = model.doc
        doc["time"] = self.time()
        if model.default_scenario is not None:
            doc["default_scenario"] = model.default_scenario
        if model.dimensions:
            doc["dimensions"] = self.dimensions()
        if model.sources:
            doc["sources"] = {k: {f: getattr(s, f) for f in ("title", "publisher", "date", "file", "url")
                                  if getattr(s, f)} for k, s in model.sources.items()}
        sections: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS.values()}
        for name, var in model.variables.items():
            if name in self.skipped or name in self.aggregates:  # the reader remakes these
                continue
            if name in self.owner:
                array = self.owner[name]
                if model.elements_of(array)[0] == name:
                    home = _home_kind(array, [model.variables[e] for e in model.elements_of(array)])
                    sections[SECTIONS[home]][self.label(array)] = _naming(array, self.array, array)
                continue
            sections[_section(var)][self.label(name)] = _naming(name, self.variable, var)
        doc.update({section: items for section, items in sections.items() if items})
        if model.scenarios:
            doc["scenarios"] = {name: self.scenario(sc) for name, sc in model.scenarios.items()}
        outcomes = {o.display or name: self.outcome(o) for name, o in model.outcomes.items() if not self._by_element(o)}
        if outcomes:
            doc["outcomes"] = outcomes
        if model.checks:
            doc["checks"] = {c.display or name: self.check(c) for name, c in model.checks.items()}
        return doc

    # -- clock and dimensions ------------------------------------------------------------------
    def time(self) -> dict[str, Any]:
        spec = self.model.time
        out: dict[str, Any] = {}
        if spec.calendar_start is not None and spec.days_per_unit is not None:
            out["start"] = spec.calendar_start
            out["stop"] = spec.calendar_start + dt.timedelta(days=round((spec.stop - spec.start) * spec.days_per_unit))
        else:
            out["start"], out["stop"] = _number(spec.start), _number(spec.stop)
        out["dt"] = _number(spec.dt)
        out["units"] = spec.units
        if spec.save_every != spec.dt:
            out["save_every"] = _number(spec.save_every)
        if spec.method != Method.EULER:
            out["method"] = spec.method.value
        return out

    def dimensions(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        dims = self.model.dimensions
        for name, dim in _declaration_order(dims).items():
            elements = [dim.shown(e) for e in dim.elements]
            if not dim.parent and not dim.mapping:
                out[dim.display or name] = elements
                continue
            entry: dict[str, Any] = {"elements": elements}
            if dim.parent:
                entry["subrange_of"] = dims[dim.parent].display or dim.parent
            if dim.mapping:
                entry["maps_to"] = {dims[t].display or t: [dims[t].shown(e) for e in es] for t, es in dim.mapping.items()}
            out[dim.display or name] = entry
        return out

    # -- variables -----------------------------------------------------------------------------
    def common(self, var: Variable, evidence: tuple[Evidence, ...] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("units", "doc", "source", "sector"):
            if getattr(var, key):
                out[key] = getattr(var, key)
        if var.bounds is not None:
            out["bounds"] = _bounds(var.bounds)
        items = var.evidence if evidence is None else evidence
        if items:
            out["evidence"] = [self.evidence(ev) for ev in items]
        return out

    def evidence(self, ev: Evidence) -> dict[str, Any]:
        if ev.kind == "assumption":
            return {"from": ev.from_, "sign": ev.sign, "assumption": ev.reason}
        out = {"from": ev.from_, "sign": ev.sign, "source": ev.source, "quote": ev.quote}
        if ev.supports:
            out["supports"] = ev.supports
        return out

    def variable(self, var: Variable) -> dict[str, Any]:
        return {**self.definition(var), **self.common(var)}

    def definition(self, var: Variable) -> dict[str, Any]:
        """What defines one variable (or one element): equation, value, points, flows…"""
        if isinstance(var, Constant):
            out: dict[str, Any] = {"value": _number(var.value)}
            if var.range is not None:
                out["range"] = [_number(v) for v in var.range]
            if var.judgement:
                out["judgement"] = True
            if var.distribution != "uniform":
                out["distribution"] = var.distribution
            if var.basis:
                out["basis"] = var.basis
            return out
        if isinstance(var, Lever):
            out = {"baseline": _number(var.baseline)}
            if var.range is not None:
                out["range"] = [_number(v) for v in var.range]
            if var.schedule is not None:
                out.update(self.schedule(var.schedule))
            return out
        if isinstance(var, GeneratedEvent):
            out = {"hazard": text(var.hazard) if var.hazard is not None else var.hazard_text,
                   "magnitude": _number(var.magnitude)}
            if var.record:
                out["record"] = [_number(t) for t in var.record]
            return out
        if isinstance(var, Event):
            out = {"dates": [_number(t) for t in var.times], "magnitude": _number(var.magnitude)}
            if var.why:
                out["exogenous"] = var.why
            return out
        if isinstance(var, Lookup):
            out = {"points": [[_number(x), _number(y)] for x, y in zip(var.xs, var.ys, strict=True)]}
            if var.extrapolation != "clamp":
                out["extrapolation"] = var.extrapolation
            if var.input is not None:
                out["input"] = self.text(var.input, var.written)
            return out
        if isinstance(var, Stock):
            out = {"initial": self.text(var.initial, var.written) if var.initial is not None else 0,
                   "in": [self.base(f) for f in var.inflows], "out": [self.base(f) for f in var.outflows]}
            if var.non_negative:
                out["non_negative"] = True
            return {k: v for k, v in out.items() if v != []}
        if isinstance(var, (Flow, Auxiliary)):
            out = {"equation": self.text(var.equation, var.written) if var.equation is not None else 0}
            if isinstance(var, Flow) and var.non_negative:
                out["non_negative"] = True
            return out
        raise NotWritable(f"{var.name}: a {type(var).__name__}, which the YAML format has no section for; convert to .xmile instead")

    def text(self, expr: Expr, written: Expr | None) -> str:
        """A scalar's equation in the form it was written (``SUM(x[*])``) when that still holds, else ``expr``."""
        return text(written_form(written, expr, self.expander))

    def base(self, flow: str) -> str:
        return self.label(self.owner.get(flow, flow))

    def flows(self, found: StockFlows) -> list[str]:
        """An arrayed stock's inflows or outflows for the whole array: each flow's name, subscripted where the
        elements take other elements of it than their own (a flow over a copy of the stock's dimension)."""
        dims = self.model.dimensions
        return [self.label(base) + (f"[{', '.join(quote(dims[i].display or i if i in dims else i) for i in indices)}]"
                                    if indices else "")
                for base, indices in found.flows]

    def schedule(self, schedule: Schedule) -> dict[str, Any]:
        out: dict[str, Any] = {"path": {_number(t): _number(v) for t, v in zip(schedule.times, schedule.values,
                                                                               strict=True)}}
        if schedule.interpolation != "hold":
            out["interpolation"] = schedule.interpolation
        return out

    def array(self, name: str) -> dict[str, Any]:
        """An arrayed variable: its dimensions, the definition its elements share (the apply-to-all equation when
        it still gives each element's), and under ``elements`` each element that differs: its own number,
        equation or points, or, for an element of another kind or with other flows, its own definition."""
        model, array = self.model, self.model.arrays[name]
        keys = element_keys(array.dims, model.dimensions)
        elements = [model.variables[e] for e in model.elements_of(name)]
        home = _home_kind(name, elements)
        first = next((e for e in elements if type(e) is home), None)
        out: dict[str, Any] = {"dims": [model.dimensions[d].display or d for d in array.dims]}
        field = _FIELD[home]
        whole = self.definition(first) if first is not None else {field: None}  # None: every element its own
        sides = {side: stock_flows(model, self.expander, name, side) for side in ("inflows", "outflows")
                 if home is Stock}
        if sides:
            whole["in"], whole["out"] = self.flows(sides["inflows"]), self.flows(sides["outflows"])
        shared = (apply_to_all(model, self.expander, name) if home in (Flow, Auxiliary, Stock) else None) or None
        if shared is not None:
            whole[field] = text(array.equation)  # type: ignore[arg-type]
        own: dict[tuple[str, ...], Any] = {}
        for key, var in zip(keys, elements, strict=True):
            if (first is None or type(var) is not home or not self.fits(var, whole, field)
                    or any(key not in found.gives for found in sides.values())):
                own[key] = self.own(var)
            elif key not in (shared or ()):
                own[key] = self.definition(var)[field]
        if shared is None and first is not None and all(value == whole[field] for value in own.values()):
            own = {}  # every element the same: the one definition says it
        if own:
            if len(own) == len(keys) or shared is None:
                whole.pop(field)
            if (home is Constant and len(array.dims) == 1 and len(own) == len(keys)
                    and not any(isinstance(v, dict) for v in own.values())):
                whole["values"] = list(own.values())
            else:
                whole["elements"] = {", ".join(model.dimensions[dim].shown(e) for dim, e in zip(array.dims, key,
                                                                                                 strict=True)): value
                                     for key, value in own.items()}
        if array.shared_draw:
            whole["sample"] = "shared"
        out.update({k: v for k, v in whole.items() if v != []})
        out.update(self.common(elements[0], array.evidence))
        return out

    def fits(self, var: Variable, whole: dict[str, Any], field: str) -> bool:
        """True when ``var`` reads back from the array's shared keys and its own ``field`` (flows aside)."""
        mine = self.definition(var)
        return all(mine.get(k) == whole.get(k) for k in set(mine) | set(whole)
                   if k not in (field, "values", "elements", "in", "out"))

    def own(self, var: Variable) -> dict[str, Any]:
        """An element's own definition (``elements: {a: {...}}``): another kind than its array's, or other flows."""
        if isinstance(var, Constant):
            return {"value": _number(var.value)}
        if isinstance(var, Lookup):
            out: dict[str, Any] = {"points": [[_number(x), _number(y)] for x, y in zip(var.xs, var.ys, strict=True)]}
            if var.input is not None:
                out["input"] = text(var.input)
            if var.extrapolation != "clamp":
                out["extrapolation"] = var.extrapolation
            return out
        if isinstance(var, Stock):
            return {"initial": text(var.initial) if var.initial is not None else 0,
                    "in": [quote(f) for f in var.inflows], "out": [quote(f) for f in var.outflows]}
        if isinstance(var, (Flow, Auxiliary)) and not isinstance(var, GeneratedEvent):
            return {"equation": text(var.equation) if var.equation is not None else 0}
        raise NotWritable(f"{var.name}: a {type(var).__name__.lower()} among elements of other kinds, which YAML "
                          "cannot say; convert to .xmile instead")

    # -- scenarios, outcomes, checks -------------------------------------------------------------
    def scenario(self, sc: Scenario) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if sc.doc:
            out["doc"] = sc.doc
        if sc.policy_from is not None:
            out["policy_from"] = _number(sc.policy_from)
        if sc.condition_until is not None and sc.condition_until != sc.policy_from:
            out["condition_until"] = _number(sc.condition_until)
        settings: dict[str, Any] = {}
        for o in sc.overrides:
            if o.target == CONDITIONED_UNTIL:
                continue
            key = self.label(o.target) if o.target not in self.owner else quote(o.target).replace(" ", "")
            if o.value is not None:
                settings[key] = _number(o.value)
            elif o.schedule is not None:
                settings[key] = self.schedule(o.schedule)
            elif o.times is not None:
                settings[key] = {"dates": [_number(t) for t in o.times]}
        if settings:
            out["set"] = settings
        return out

    def _by_element(self, outcome: Outcome) -> bool:
        """An outcome the reader makes for one element of an arrayed outcome (``by_element``)."""
        base = outcome.name.partition("[")[0]
        return "[" in outcome.name and base in self.model.outcomes and \
            self.model.outcomes[base].variable in self.aggregates

    def outcome(self, o: Outcome) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if o.variable in self.aggregates:
            func, array = self.aggregates[o.variable]
            out["variable"] = self.label(array)
            if func != "sum":
                out["aggregate"] = func
            if any(self._by_element(other) and other.name.startswith(o.name + "[")
                   for other in self.model.outcomes.values()):
                out["by_element"] = True
        else:
            out["variable"] = quote(o.variable) if o.variable in self.owner else self.label(o.variable)
        if o.stat != "final":
            out["stat"] = o.stat
        for key, value in (("at", o.at), ("from", o.start), ("to", o.end)):
            if value is not None:
                out[key] = _number(value)
        if o.threshold is not None:
            out["threshold"] = o.threshold if isinstance(o.threshold, str) else _number(o.threshold)
        for key in ("doc", "label"):
            if getattr(o, key):
                out[key] = getattr(o, key)
        if o.probability:
            out["probability"] = True
        return out

    def check(self, c: Check) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": c.kind}
        if c.doc:
            out["doc"] = c.doc
        simple = (("scenario", c.scenario), ("runs", c.runs), ("against", c.against), ("mapping", c.mapping or None),
                  ("series", c.series or None), ("reason", c.reason or None), ("when", c.when or None),
                  ("trigger_require", c.trigger_require))
        out.update({k: v for k, v in simple if v is not None})
        if c.require != 1.0:
            out["require"] = c.require
        if c.median:
            out["median"] = True
        if c.kind == "lever_response":
            out["lever"] = c.lever
            if c.lever_from:
                out["from"] = [_number(t) for t in c.lever_from]
            out["expect"] = {r.variable: r.direction for r in c.responses}
        elif c.expect:
            out["expect"] = c.expect
        if c.at is not None:
            out["at"] = _number(c.at)
        if c.given:
            out["given"] = {g.target: ({"value": _number(g.value), **({"from": _number(g.start)} if g.start is not None
                                                                       else {}),
                                        **({"at": _number(g.at)} if g.at is not None else {})})
                            for g in c.given}
        if c.tolerance is not None and c.tolerance_value is not None:
            out["tolerance"] = {c.tolerance: c.tolerance_value}
        for key, value in (("from", c.start), ("until", c.until), ("cutoff", c.cutoff)):
            if value is not None and key not in out:
                out[key] = _number(value)
        if c.fit:
            out["fit"] = list(c.fit)
        return out


class NotWritable(ValueError):
    """A construct the YAML format cannot hold (the message names it)."""


_FIELD: dict[type, str] = {Constant: "value", Lever: "baseline", Lookup: "points", Stock: "initial", Flow: "equation",
                           Auxiliary: "equation"}


def _naming(name: str, write: Callable[[Any], dict[str, Any]], item: Any) -> dict[str, Any]:
    """``write(item)``, an equation too long to read back named by its variable ``name``."""
    try:
        return write(item)
    except ExpressionError as err:
        raise ExpressionError(str(err).replace("an equation:", f"{name}:", 1)) from None


def _home_kind(array: str, elements: list[Variable]) -> type:
    """The kind whose section an array is written in: its elements', else (mixed) flows when some are flows, else
    auxiliaries; the other elements carry their own kind (``_Writer.own``)."""
    kinds = {type(e) for e in elements}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds - {Constant, Lookup, Auxiliary, Flow}:
        raise NotWritable(f"{array}: its elements are of kinds ({', '.join(sorted(k.__name__.lower() for k in kinds))})"
                          " that YAML cannot mix in one array (constants, lookups, auxiliaries and flows only); "
                          "convert to .xmile instead")
    return Flow if Flow in kinds else Auxiliary


def _declaration_order(dims: dict[str, Any]) -> dict[str, Any]:
    """Dimensions with each subrange's parent before it (the reader needs it first; a mapping's target may be
    anywhere, so two dimensions can map onto each other)."""
    ordered: dict[str, Any] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered or name in path:
            return
        dim = dims[name]
        if dim.parent and dim.parent in dims:
            visit(dim.parent, (*path, name))
        ordered[name] = dim

    for name in dims:
        visit(name, ())
    return ordered


def _section(var: Variable) -> str:
    if isinstance(var, GeneratedEvent):
        return "events"
    for kind, section in SECTIONS.items():
        if isinstance(var, kind):
            return section
    raise NotWritable(f"{var.name}: a {type(var).__name__}, which the YAML format has no section for; convert to .xmile instead")


__all__ = ["NotWritable", "save_yaml", "text", "write_yaml"]
