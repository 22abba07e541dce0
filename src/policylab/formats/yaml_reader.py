"""Read the native YAML format into the IR, with every error naming file, line and key."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import math
from collections.abc import Callable
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policylab.errors import Location, ModelFileError
from policylab.files import read_capped
from policylab.limits import MODEL_BYTES, YAML_VALUES
from policylab.expr.names import canonical
from policylab.expr.parser import parse
from policylab.formats import yaml_schema as schema
from policylab.formats.yaml_loader import line_of, parse_yaml, validation_message
from policylab.formats.yaml_schema import VARIABLE_SECTIONS
from policylab.expr.ast import Call, Name, Subscript
from policylab.model.arrays import (Expander, aggregate_name, combine, element_context, element_evidence, reference,
                                    split_reference)
from policylab.model.ir import (
    AnyVariable,
    Array,
    Dimension,
    element_keys,
    element_name,
    kind_of,
    CONDITIONED_UNTIL,
    RECORD_SUFFIX,
    Auxiliary,
    Check,
    Constant,
    Event,
    Evidence,
    Flow,
    GeneratedEvent,
    Given,
    Lever,
    Lookup,
    Method,
    Model,
    Outcome,
    Override,
    Response,
    Scenario,
    Schedule,
    Source,
    Stock,
    TimeSpec,
)

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}


def _days_per_unit(units: str) -> float | None:
    key = units.strip().lower().rstrip("s")
    return DAYS_PER_UNIT.get(key)


def _normalise(doc: Any) -> None:
    """Expand shorthands in place: `name: 3` for constants and scenario settings."""
    if not isinstance(doc, dict):
        return
    constants = doc.get("constants")
    if isinstance(constants, dict):
        for name, value in list(constants.items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                constants[name] = {"value": value}
    scenarios = doc.get("scenarios")
    if isinstance(scenarios, dict):
        for scenario in scenarios.values():
            settings = scenario.get("set") if isinstance(scenario, dict) else None
            if isinstance(settings, dict):
                for name, value in list(settings.items()):
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        settings[name] = {"value": value}


class _Values(list):  # type: ignore[type-arg]
    """An arrayed constant's ``values``: one per element (unlike a lookup's points, also a list)."""


class _Builder:
    """Turns a validated ModelFile into IR, resolving dates and parsing equations."""

    def __init__(self, spec: schema.ModelFile, doc: Any, file: str) -> None:
        self.spec = spec
        self.doc = doc
        self.file = file
        self.time = self._time()
        self.dimensions = self._dimensions()
        self.array_dims = self._array_dims()
        self.expander = Expander(self.dimensions, self.array_dims, frozenset(
            canonical(raw) for section in VARIABLE_SECTIONS for raw in getattr(spec, section)))
        self.arrays: dict[str, Array] = {}
        self._parsed: dict[tuple[str, str], Any] = {}
        self._wheres: dict[tuple[Any, ...], str] = {}

    def loc(self, *keys: Any) -> Location:
        return Location(self.file, line_of(self.doc, keys))

    def fail(self, message: str, *keys: Any) -> ModelFileError:
        return ModelFileError(f"{self.loc(*keys)}: {'.'.join(str(k) for k in keys)}: {message}")

    def _time(self) -> TimeSpec:
        t = self.spec.time
        save_every = t.save_every or t.dt
        ratio = save_every / t.dt
        if abs(ratio - round(ratio)) > 1e-9 * max(ratio, 1):
            raise self.fail(f"save_every ({save_every}) must be a whole multiple of dt ({t.dt})", "time", "save_every")
        if isinstance(t.start, dt.date) != isinstance(t.stop, dt.date):
            raise self.fail("start and stop must both be dates or both be numbers", "time")
        if isinstance(t.start, dt.date):
            per_unit = _days_per_unit(t.units)
            if per_unit is None:
                raise self.fail(
                    f"a calendar model (dates in start/stop) needs units day, week, month or year; got {t.units!r}",
                    "time", "units",
                )
            stop = (t.stop - t.start).days / per_unit  # type: ignore[operator]
            spec = TimeSpec(0.0, stop, t.dt, save_every, t.units, Method(t.method), t.start, per_unit)
        else:
            spec = TimeSpec(float(t.start), float(t.stop), t.dt, save_every, t.units, Method(t.method))
        if spec.stop <= spec.start:
            raise self.fail(f"stop must be after start (start {t.start}, stop {t.stop})", "time", "stop")
        steps = (spec.stop - spec.start) / spec.dt
        if steps > 10_000_000:
            raise self.fail(f"{steps:.3g} steps is too many (limit 10,000,000); use a larger dt", "time", "dt")
        return spec

    def when(self, value: schema.TimePoint, *keys: Any) -> float:
        if isinstance(value, dt.date):
            if self.time.calendar_start is None:
                raise self.fail(f"{value} is a date but the model's time has no start date; use a number", *keys)
            if isinstance(value, dt.datetime):
                value = value.date()
            return self.time.to_time(value)
        return float(value)

    def expr(self, text: str | float, *keys: Any):  # type: ignore[no-untyped-def]
        where = self._where(*keys)
        if isinstance(text, (int, float)):
            text = repr(float(text))
        expr = parse(str(text), where)
        return self.expander.equation(expr, {}, where) if self.array_dims else expr

    def evidence(self, items: list[schema.EvidenceModel], *keys: Any) -> tuple[Evidence, ...]:
        built = []
        for i, ev in enumerate(items):
            where = self.loc(*keys, "evidence", i)
            if ev.assumption is not None:
                built.append(Evidence(canonical(ev.from_), ev.sign, kind="assumption", reason=ev.assumption, where=where))
            else:
                if ev.source not in self.spec.sources:
                    raise self.fail(
                        f"source {ev.source!r} is not listed under `sources:` (listed: {', '.join(self.spec.sources) or 'none'})",
                        *keys, "evidence", i, "source",
                    )
                built.append(Evidence(canonical(ev.from_), ev.sign, ev.source or "", ev.quote or "", where=where,
                                      supports=ev.supports))
        return tuple(built)

    def common(self, section: str, name: str, item: schema._Documented) -> dict[str, Any]:
        if item.source and item.source not in self.spec.sources:
            raise self.fail(f"source {item.source!r} is not listed under `sources:`", section, name, "source")
        return {
            "name": canonical(name),
            "units": item.units,
            "doc": item.doc,
            "display": name,
            "where": self.loc(section, name),
            "evidence": self.evidence(item.evidence, section, name),
            "source": item.source,
            "sector": item.sector.strip(),
            "bounds": None if item.bounds is None else (
                -math.inf if item.bounds[0] is None else float(item.bounds[0]),
                math.inf if item.bounds[1] is None else float(item.bounds[1])),
        }

    def schedule(self, owner: schema.LeverModel | schema.SettingModel, baseline: float, *keys: Any) -> Schedule | None:
        if owner.path is not None:
            points = sorted((self.when(t, *keys, "path"), v) for t, v in owner.path.items())
            return Schedule(tuple(t for t, _ in points), tuple(v for _, v in points), owner.interpolation)
        if owner.step is not None:
            return Schedule((self.when(owner.step.at, *keys, "step"),), (owner.step.to,), "hold")
        if owner.ramp is not None:
            start = self.when(owner.ramp.start, *keys, "ramp")
            end = self.when(owner.ramp.end, *keys, "ramp")
            if end <= start:
                raise self.fail("ramp end must be after its start", *keys, "ramp")
            return Schedule((start, end), (baseline, owner.ramp.to), "linear")
        return None

    # -- arrays ------------------------------------------------------------------------------
    def _dimensions(self) -> dict[str, Dimension]:
        """The declared dimensions, in file order (a subrange after the dimension it takes elements from; a mapping's
        target anywhere)."""
        out: dict[str, Dimension] = {}
        for raw, spec in self.spec.dimensions.items():
            keys = ("dimensions", raw)
            model = spec if isinstance(spec, schema.DimensionModel) else schema.DimensionModel(elements=spec)
            if model.range is not None:
                displays = tuple(str(i) for i in range(model.range[0], model.range[1] + 1))
            else:
                displays = tuple(str(e) for e in model.elements or ())
            elements = tuple(canonical(d) for d in displays)
            if len(set(elements)) != len(elements) or "" in elements:
                raise self.fail("lists an element twice (names ignore case, spaces and underscores) or an empty one",
                                *keys)
            parent = ""
            if model.subrange_of is not None:
                parent = canonical(model.subrange_of)
                if parent not in out:
                    raise self.fail(f"subrange_of {model.subrange_of!r}: declare that dimension first (above this one)",
                                    *keys, "subrange_of")
                outside = [d for d, e in zip(displays, elements, strict=True) if e not in out[parent].elements]
                if outside:
                    raise self.fail(f"{', '.join(outside)} is not an element of {model.subrange_of}; a subrange takes "
                                    "its elements from its parent", *keys, "elements")
            out[canonical(raw)] = Dimension(canonical(raw), elements, raw, displays, parent, {}, self.loc(*keys))
        for raw, spec in self.spec.dimensions.items():  # mappings once all are known: two may map onto each other
            if isinstance(spec, schema.DimensionModel) and spec.maps_to is not None:
                name = canonical(raw)
                out[name] = replace(out[name], mapping=self._mapping(spec, out[name].elements, out, ("dimensions", raw)))
        return out

    def _mapping(self, model: schema.DimensionModel, elements: tuple[str, ...], known: dict[str, Dimension],
                 keys: tuple[Any, ...]) -> dict[str, tuple[str, ...]]:
        """``maps_to``: a dimension (position by position) or ``{dimension: [its element for each of ours]}``."""
        if model.maps_to is None:
            return {}
        targets = {model.maps_to: None} if isinstance(model.maps_to, str) else model.maps_to
        mapping: dict[str, tuple[str, ...]] = {}
        for raw_target, listed in targets.items():
            target = known.get(canonical(raw_target))
            if target is None:
                raise self.fail(f"maps_to {raw_target!r} is not a dimension (declared: {', '.join(self.spec.dimensions)})",
                                *keys, "maps_to")
            chosen = target.elements if listed is None else tuple(canonical(str(e)) for e in listed)
            if len(chosen) != len(elements):
                raise self.fail(f"the mapping onto {raw_target} gives {len(chosen)} element(s) for {len(elements)}; "
                                "give one element of the target for each element here", *keys, "maps_to")
            unknown = [e for e in chosen if e not in target.elements]
            if unknown:
                raise self.fail(f"the mapping onto {raw_target} names {', '.join(unknown)}, not element(s) of it", *keys,
                                "maps_to")
            mapping[target.name] = chosen
        return mapping

    def _array_dims(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for section in VARIABLE_SECTIONS:
            for raw, item in getattr(self.spec, section).items():
                dims = tuple(canonical(d) for d in getattr(item, "dims", ()))
                if not dims:
                    continue
                if section == "events":
                    raise self.fail("events cannot be arrayed; declare one event per element", section, raw, "dims")
                for dim, shown in zip(dims, item.dims, strict=True):
                    if dim not in self.dimensions:
                        raise self.fail(f"dimension {shown!r} is not declared under `dimensions:` (declared: "
                                        f"{', '.join(self.spec.dimensions) or 'none'})", section, raw, "dims")
                out[canonical(raw)] = dims
        return out

    def element_definitions(self, section: str, raw: str, item: Any, whole: Any) -> dict[tuple[str, ...], Any]:
        """What defines each element of an arrayed variable: its entry in ``elements`` (a key may be an element,
        a subrange or the dimension, per dimension), else the apply-to-all ``whole``."""
        dims = self.array_dims[canonical(raw)]
        keys = element_keys(dims, self.dimensions)
        chosen: dict[tuple[str, ...], Any] = {}
        if isinstance(whole, _Values):  # a constant list, nested for more than one dimension
            chosen = self._constant_list(whole, dims, section, raw)
        elif whole is not None:
            chosen = {key: whole for key in keys}
        explicit: dict[tuple[str, ...], str] = {}
        for text, value in item.elements.items():
            parts = [canonical(p) for p in str(text).split(",")]
            if len(parts) != len(dims):
                raise self.fail(f"{text!r} gives {len(parts)} subscript(s); {raw} has {len(dims)} dimension(s)",
                                section, raw, "elements", text)
            options = [self._matching(part, dim, section, raw, text) for part, dim in zip(parts, dims, strict=True)]
            for key in product(*options):
                if key in explicit:
                    raise self.fail(f"defines element [{', '.join(key)}] again (also in {explicit[key]!r})", section,
                                    raw, "elements", text)
                explicit[key] = str(text)
                chosen[key] = value
        missing = [key for key in keys if key not in chosen]
        if missing:
            shown = ", ".join(self.dimensions[d].shown(e) for d, e in zip(dims, missing[0], strict=True))
            raise self.fail(f"has no definition for element [{shown}]{' and others' if len(missing) > 1 else ''}; add "
                            "it under `elements:` or give a definition for all elements", section, raw)
        return {key: chosen[key] for key in keys}

    def _matching(self, part: str, dim: str, section: str, raw: str, text: str) -> tuple[str, ...]:
        spec = self.dimensions[dim]
        if part in spec.elements:
            return (part,)
        inner = self.dimensions.get(part)
        if inner is not None and (part == dim or inner.parent == dim):
            return inner.elements
        raise self.fail(f"{part!r} is not an element of {spec.display} ({', '.join(spec.displays)}) nor a subrange "
                        "of it", section, raw, "elements", text)

    def _constant_list(self, values: list[Any], dims: tuple[str, ...], section: str, raw: str
                       ) -> dict[tuple[str, ...], Any]:
        flat: list[Any] = []
        rows = values if len(dims) > 1 else [values]
        sizes = [len(self.dimensions[d].elements) for d in dims]
        inner = 1
        for size in sizes[1:]:
            inner *= size
        for row in rows:
            flat.extend(row if isinstance(row, list) else [row])
        total = inner * sizes[0]
        if len(flat) != total or len(dims) > 2:
            raise self.fail(f"lists {len(flat)} value(s) for {total} element(s) ({' × '.join(map(str, sizes))}); give "
                            "one value per element (rows for the first dimension of two)", section, raw, "values")
        return dict(zip(element_keys(dims, self.dimensions), flat, strict=True))

    def arrayed(self, section: str, raw: str, item: Any, whole: Any,
                build: Callable[[Any, dict[str, str], tuple[Any, ...]], AnyVariable]) -> list[AnyVariable]:
        """An arrayed variable's elements, each built by ``build(definition, context, keys)``, and its Array."""
        name = canonical(raw)
        dims = self.array_dims[name]
        out = []
        for key, value in self.element_definitions(section, raw, item, whole).items():
            context = element_context(dims, key)  # none for x[Dim, Dim]: its equations name elements
            var = build(value, context, (section, raw))
            shown = ",".join(self.dimensions[d].shown(e) for d, e in zip(dims, key, strict=True))
            reads = getattr(var, "equation", None) or getattr(var, "initial", None)
            out.append(replace(var, name=element_name(name, key), display=f"{raw}[{shown}]",
                               evidence=element_evidence(var.evidence, reads, self.array_dims)))
        text = whole if isinstance(whole, str) else "" if whole is None or isinstance(whole, list) else repr(whole)
        single = not (whole is None or isinstance(whole, list)) and (  # elements may override an equation
            not item.elements or section in ("stocks", "flows", "auxiliaries"))  # (model.arrays.apply_to_all)
        equation = parse(whole if isinstance(whole, str) else repr(whole), str(self.loc(section, raw))) if single else None
        self.arrays[name] = Array(name, dims, raw, kind_of(out[0]), equation if section != "lookups" else None, text,
                                  shared_draw=getattr(item, "sample", "") == "shared", where=self.loc(section, raw),
                                  evidence=self.evidence(item.evidence, section, raw))
        return out

    def element_expr(self, text: str | float, context: dict[str, str], *keys: Any) -> Any:
        """An element's equation, parsed and rewritten for its element."""
        return self.expander.equation(self.parsed(text, *keys), context, self._where(*keys))

    def written(self, text: str | float, context: dict[str, str], *keys: Any) -> Any:
        """A scalar's equation as written, when the model has arrays (``Variable.written``), else None."""
        return self.parsed(text, *keys) if self.array_dims and not context else None

    def parsed(self, text: str | float, *keys: Any) -> Any:
        """The equation's tree before arrays are expanded (an apply-to-all equation: parsed once for all elements)."""
        where = self._where(*keys)
        source = text if isinstance(text, str) else repr(float(text))
        if (source, where) not in self._parsed:
            self._parsed[(source, where)] = parse(source, where)
        return self._parsed[(source, where)]

    def _where(self, *keys: Any) -> str:
        """``file:line: section.name`` for messages (kept per keys: an array's elements ask for it once each)."""
        if keys not in self._wheres:
            self._wheres[keys] = f"{self.loc(*keys)}: {'.'.join(str(k) for k in keys)}"
        return self._wheres[keys]

    def _elements(self, array: str) -> list[str]:
        """The element variables of ``array``, in row-major order."""
        return [element_name(array, key) for key in element_keys(self.arrays[array].dims, self.dimensions)]

    def _aggregate(self, array: str, func: str, variables: dict[str, Any]) -> str:
        """The auxiliary holding ``func`` over the elements of ``array`` (added once; an outcome reads it)."""
        name = aggregate_name(func, array)
        if name not in variables:
            elements = self._elements(array)
            first = variables[elements[0]]
            shown = self.arrays[array].display
            variables[name] = Auxiliary(
                name, units=first.units, display=aggregate_name(func, shown), where=self.arrays[array].where,
                doc=f"The {func} of {shown} over its elements.", sector=first.sector,
                equation=combine(func, [Name(e) for e in elements]), equation_text=f"{func.upper()}({shown}[*])",
                written=Call(func, (Subscript(array, ("*",) * len(self.arrays[array].dims)),)))
        return name

    def flows_of(self, flows: list[str], context: dict[str, str], keys: tuple[Any, ...]) -> tuple[str, ...]:
        """A stock element's flows: the same element of an arrayed flow, or the element its subscripts pick
        (``in: [transfer[Region]]`` for a flow over a copy of, or a range mapped onto, the stock's ``Region``)."""
        out = []
        for raw in flows:
            flow, indices = split_reference(raw)
            dims = self.array_dims.get(flow)
            if dims is None:
                if indices is not None:
                    raise self.fail(f"flow {raw!r} subscripts {flow!r}, which is not an array", *keys)
                out.append(flow)
                continue
            element = self.expander.flow_element(flow, indices, context, self._where(*keys))
            if element is None:
                raise self.fail(f"flow {raw!r} is arrayed over "
                                f"{', '.join(self.dimensions[d].display for d in dims)}, which the stock is not; give "
                                "the stock the same dimensions, or subscript the flow with the stock's (`flow[Dim]`)",
                                *keys)
            out.append(element)
        return tuple(out)

    def variables(self) -> dict[str, Any]:
        s = self.spec
        found: dict[str, Any] = {}
        seen: dict[str, tuple[str, str]] = {}

        def add(section: str, raw: str, var: Any) -> None:
            key = var.name
            if not key:
                raise self.fail("a variable name cannot be empty", section, raw)
            if key in seen:
                other_section, other = seen[key]
                raise self.fail(
                    f"{raw!r} is the same name as {other!r} in {other_section} (names ignore case, spaces and "
                    f"underscores); rename one of them",
                    section, raw,
                )
            seen[key] = (section, raw)
            found[key] = var

        def each(section: str, items: dict[str, Any], build: Callable[..., AnyVariable], whole: Callable[[Any], Any]
                 ) -> None:
            for raw, item in items.items():
                if canonical(raw) in self.array_dims:
                    def either(value: Any, context: dict[str, str], keys: tuple[Any, ...], raw: str = raw,
                               item: Any = item) -> AnyVariable:
                        if isinstance(value, schema.ElementModel):
                            return self.own_element(section, raw, item, value, context, keys, build)
                        return build(value, context, keys)

                    for element in self.arrayed(section, raw, item, whole(item), either):
                        add(section, element.display, element)
                else:
                    add(section, raw, build(whole(item), {}, (section, raw)))

        def constant(raw: str, c: schema.ConstantModel) -> Callable[..., AnyVariable]:
            return lambda value, _context, keys: Constant(
                **self.common("constants", raw, c), range=c.range, judgement=c.judgement, distribution=c.distribution,
                basis=c.basis, value=self.when(c.value_date, *keys, "value") if c.value_date is not None else float(value))

        def lever(raw: str, lv: schema.LeverModel) -> Callable[..., AnyVariable]:
            return lambda value, _context, keys: Lever(
                **self.common("levers", raw, lv), baseline=float(value), range=lv.range,
                schedule=self.schedule(lv, float(value), *keys))

        def lookup(raw: str, lk: schema.LookupModel) -> Callable[..., AnyVariable]:
            def build(points: Any, _context: dict[str, str], keys: tuple[Any, ...]) -> AnyVariable:
                xs = tuple(float(p[0]) for p in points)
                if any(b < a for a, b in zip(xs, xs[1:])):
                    raise self.fail("lookup x values must be in increasing order", *keys, "points")
                return Lookup(**self.common("lookups", raw, lk), xs=xs, ys=tuple(float(p[1]) for p in points),
                              extrapolation=lk.extrapolation,
                              input=None if lk.input is None else self.element_expr(lk.input, _context, *keys, "input"),
                              written=None if lk.input is None else self.written(lk.input, _context, *keys, "input"))
            return build

        def stock(raw: str, st: schema.StockModel) -> Callable[..., AnyVariable]:
            return lambda value, context, keys: Stock(
                **self.common("stocks", raw, st), initial=self.element_expr(value, context, *keys, "initial"),
                written=self.written(value, context, *keys, "initial"), initial_text=str(value), inflows=self.flows_of(st.inflows, context, keys),
                outflows=self.flows_of(st.outflows, context, keys), non_negative=st.non_negative)

        def flow(raw: str, fl: schema.FlowModel) -> Callable[..., AnyVariable]:
            return lambda value, context, keys: Flow(
                **self.common("flows", raw, fl), equation=self.element_expr(value, context, *keys, "equation"),
                written=self.written(value, context, *keys, "equation"), equation_text=str(value),
                non_negative=fl.non_negative)

        def auxiliary(raw: str, ax: schema.AuxModel) -> Callable[..., AnyVariable]:
            return lambda value, context, keys: Auxiliary(
                **self.common("auxiliaries", raw, ax), equation=self.element_expr(value, context, *keys, "equation"),
                written=self.written(value, context, *keys, "equation"), equation_text=str(value))

        for raw, c in s.constants.items():
            each("constants", {raw: c}, constant(raw, c), lambda c: _Values(c.values) if c.values is not None else c.value)
        for raw, lv in s.levers.items():
            each("levers", {raw: lv}, lever(raw, lv), lambda lv: lv.baseline if "baseline" in lv.model_fields_set or not lv.elements else None)
        for raw, ev in s.events.items():
            if ev.hazard is None:
                times = tuple(sorted(self.when(d, "events", raw, "dates") for d in ev.dates or ()))
                add("events", raw, Event(**self.common("events", raw, ev), times=times, magnitude=ev.magnitude,
                                         why=ev.exogenous))
            else:
                for var in self.generated_event(raw, ev):
                    add("events", var.display, var)
        if any(isinstance(v, GeneratedEvent) for v in found.values()):
            add("events", CONDITIONED_UNTIL, Constant(
                CONDITIONED_UNTIL, units=self.time.units, display=CONDITIONED_UNTIL, where=self.loc("events"),
                value=self.time.start,
                doc="Model time up to which generated events follow their record (set by a scenario's condition_until)."))
        for raw, lk in s.lookups.items():
            each("lookups", {raw: lk}, lookup(raw, lk), lambda lk: lk.points)
        for raw, st in s.stocks.items():
            each("stocks", {raw: st}, stock(raw, st), lambda st: st.initial)
        for raw, fl in s.flows.items():
            each("flows", {raw: fl}, flow(raw, fl), lambda fl: fl.equation)
        for raw, ax in s.auxiliaries.items():
            each("auxiliaries", {raw: ax}, auxiliary(raw, ax), lambda ax: ax.equation)
        return found

    def own_element(self, section: str, raw: str, item: Any, own: schema.ElementModel, context: dict[str, str],
                    keys: tuple[Any, ...], build: Callable[..., AnyVariable]) -> AnyVariable:
        """An element defined by its own mapping (``schema.ElementModel``), of the kind its key says; the array's
        units, doc and flags apply to it as to the others."""
        if own.value is not None:
            return build(own.value, context, keys) if section == "constants" else Constant(
                **self.common(section, raw, item), value=float(own.value))
        if own.points is not None:
            xs = tuple(float(p[0]) for p in own.points)
            if any(b < a for a, b in zip(xs, xs[1:])):
                raise self.fail("lookup x values must be in increasing order", *keys, "elements")
            return Lookup(**self.common(section, raw, item), xs=xs, ys=tuple(float(p[1]) for p in own.points),
                          extrapolation=own.extrapolation,
                          input=None if own.input is None else self.element_expr(own.input, context, *keys, "input"))
        if own.initial is not None:
            if section != "stocks":
                raise self.fail("`initial` defines an element of a stock; this is not a stock", *keys, "elements")
            return replace(build(own.initial, context, keys),
                           **({"inflows": self.flows_of(own.inflows, context, keys)} if own.inflows is not None else {}),
                           **({"outflows": self.flows_of(own.outflows, context, keys)} if own.outflows is not None
                              else {}))
        if section == "stocks":
            raise self.fail("an element of a stock is defined by `initial`", *keys, "elements")
        if section in ("flows", "auxiliaries"):
            return build(own.equation, context, keys)
        return Auxiliary(**self.common(section, raw, item), equation=self.element_expr(own.equation, context, *keys,
                                                                                      "equation"),
                         equation_text=str(own.equation))

    def generated_event(self, raw: str, ev: schema.EventModel) -> tuple[Event, GeneratedEvent]:
        """A generated event and the exogenous event holding its record (lowered to a Poisson draw)."""
        keys = ("events", raw)
        hazard = self.expr(ev.hazard, *keys, "hazard")  # type: ignore[arg-type]
        name = canonical(raw)
        record_name = name + RECORD_SUFFIX
        times = tuple(sorted(self.when(d, *keys, "record") for d in ev.record))
        record = Event(record_name, units=ev.units, display=raw + RECORD_SUFFIX, where=self.loc(*keys, "record"),
                       doc=f"Recorded occurrences of {raw} (followed while a scenario conditions on the record).",
                       times=times, magnitude=ev.magnitude, why="the record of a generated event")
        text = (f"IF TIME < {CONDITIONED_UNTIL} THEN {record_name} "
                f"ELSE POISSON(MAX(0, ({ev.hazard})) * DT) * {float(ev.magnitude)!r} / DT")
        event = GeneratedEvent(**self.common("events", raw, ev), equation=self.expr(text, *keys, "hazard"),
                               equation_text=text, hazard=hazard, hazard_text=str(ev.hazard), record=times,
                               magnitude=ev.magnitude)
        return record, event

    def condition_until(self, raw: str, sc: schema.ScenarioModel, policy_from: float | None,
                        variables: dict[str, Any]) -> list[Override]:
        """The override of ``conditioned_until`` a scenario implies (its `condition_until`, else its policy date)."""
        keys = ("scenarios", raw, "condition_until")
        if CONDITIONED_UNTIL not in variables:
            if sc.condition_until is not None:
                raise self.fail("`condition_until` needs generated events (events with a `hazard`); this model has none",
                                *keys)
            return []
        if sc.condition_until is not None:
            until: float | None = self.when(sc.condition_until, *keys)
        else:
            until = policy_from
        return [] if until is None else [Override(CONDITIONED_UNTIL, until, where=self.loc(*keys))]

    def scenarios(self, variables: dict[str, Any]) -> dict[str, Scenario]:
        built: dict[str, Scenario] = {}
        for raw, sc in self.spec.scenarios.items():
            policy_from = None if sc.policy_from is None else self.when(sc.policy_from, "scenarios", raw, "policy_from")
            overrides = self.condition_until(raw, sc, policy_from, variables)
            for target_raw, setting in self._settings(sc.set):
                keys = ("scenarios", raw, "set", target_raw)
                target = reference(target_raw)
                var = variables.get(target)
                if var is None:
                    settable = [n for n, v in variables.items() if isinstance(v, (Constant, Lever, Event))]
                    close = difflib.get_close_matches(target, settable, n=1, cutoff=0.6)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise self.fail(f"{target_raw!r} is not defined in this model.{hint}", *keys)
                if isinstance(var, GeneratedEvent):
                    raise self.fail("a generated event is not set by a scenario: set the levers or parameters of its "
                                    "hazard, or the scenario's `condition_until`", *keys)
                if not isinstance(var, (Constant, Lever, Event)):
                    kind = type(var).__name__.lower()
                    raise self.fail(f"only constants, levers and events can be set by a scenario; this is a {kind}", *keys)
                times = None if setting.dates is None else tuple(sorted(self.when(d, *keys, "dates") for d in setting.dates))
                baseline = var.baseline if isinstance(var, Lever) else 0.0
                overrides.append(Override(target, setting.value, self.schedule(setting, baseline, *keys), times, self.loc(*keys)))
            condition = next((o.value for o in overrides if o.target == CONDITIONED_UNTIL), None)
            built[raw] = Scenario(raw, sc.doc, tuple(overrides), policy_from, self.loc("scenarios", raw), condition)
        return built

    def _settings(self, settings: dict[str, schema.SettingModel]) -> list[tuple[str, schema.SettingModel]]:
        """A scenario's settings, a setting of an arrayed constant or lever given to each of its elements."""
        out = []
        for target_raw, setting in settings.items():
            name = reference(target_raw)
            if name in self.arrays:
                out.extend((element, setting) for element in self._elements(name))
            else:
                out.append((target_raw, setting))
        return out

    def outcomes(self, variables: dict[str, Any]) -> dict[str, Outcome]:
        built: dict[str, Outcome] = {}
        for raw, oc in self.spec.outcomes.items():
            keys = ("outcomes", raw)
            target = reference(oc.variable)
            if target not in variables and target not in self.arrays:
                raise self.fail(f"variable {oc.variable!r} is not defined in the model", *keys, "variable")
            if (oc.by_element or "aggregate" in oc.model_fields_set) and target not in self.arrays:
                raise self.fail("`aggregate` and `by_element` apply to an arrayed variable's outcome", *keys)
            threshold = oc.threshold
            if isinstance(threshold, str):
                threshold = canonical(threshold)
                if not isinstance(variables.get(threshold), Constant):
                    raise self.fail(f"threshold {oc.threshold!r} must be a number or a constant's name", *keys, "threshold")
            common = dict(stat=oc.stat, at=None if oc.at is None else self.when(oc.at, *keys, "at"),
                          start=None if oc.start is None else self.when(oc.start, *keys, "from"),
                          end=None if oc.end is None else self.when(oc.end, *keys, "to"),
                          threshold=threshold, doc=oc.doc, where=self.loc(*keys), probability=oc.probability)
            if target in self.arrays:
                for element in self._elements(target) if oc.by_element else []:
                    shown = variables[element].display.partition("[")[2]
                    built[f"{canonical(raw)}[{element.partition('[')[2]}"] = Outcome(
                        f"{canonical(raw)}[{element.partition('[')[2]}", element, display=f"{raw}[{shown}",
                        label=f"{oc.label or raw}[{shown}"[:40], **common)  # type: ignore[arg-type]
                target = self._aggregate(target, oc.aggregate, variables)
            built[canonical(raw)] = Outcome(canonical(raw), target, display=raw, label=oc.label,
                                            **common)  # type: ignore[arg-type]
        return built

    def checks(self, variables: dict[str, Any], scenarios: dict[str, Scenario]) -> dict[str, Check]:
        """The ``checks:`` section; names are resolved later, by ``policylab.validation``."""
        built: dict[str, Check] = {}
        for raw, ch in self.spec.checks.items():
            keys = ("checks", raw)
            for key, scenario in (("scenario", ch.scenario), ("against", ch.against)):
                if scenario is not None and scenario not in scenarios:
                    close = difflib.get_close_matches(scenario, list(scenarios), n=1, cutoff=0.6)
                    hint = f" Did you mean {close[0]!r}?" if close else f" Scenarios: {', '.join(scenarios) or 'none'}."
                    raise self.fail(f"scenario {scenario!r} is not defined.{hint}", *keys, key)
            for key in ("expect", "when"):
                text = getattr(ch, key)
                if isinstance(text, str):
                    self.expr(text, *keys, key)  # a syntax error is reported here, with its line
            starts = ch.start if isinstance(ch.start, list) else [] if ch.start is None else [ch.start]
            when = [self.when(t, *keys, "from") for t in starts]
            tolerance = None if ch.tolerance is None else next(
                (k, float(v)) for k, v in ch.tolerance.model_dump().items() if v is not None)
            built[canonical(raw)] = Check(
                name=canonical(raw), kind=ch.kind, doc=ch.doc, scenario=ch.scenario, require=ch.require, runs=ch.runs,
                expect=ch.expect if isinstance(ch.expect, str) else "", median=ch.median, against=ch.against,
                when=ch.when or "", trigger_require=ch.trigger_require, given=self.givens(ch.given or {}, *keys),
                lever=canonical(ch.lever) if ch.lever else "", lever_from=tuple(when) if ch.kind == "lever_response" else (),
                at=None if ch.at is None else self.when(ch.at, *keys, "at"),
                responses=tuple(Response(canonical(k), v, self.loc(*keys, "expect", k))
                                for k, v in (ch.expect.items() if isinstance(ch.expect, dict) else ())),
                mapping=ch.mapping or "", series=ch.series or "",
                tolerance=None if tolerance is None else tolerance[0],  # type: ignore[arg-type]
                tolerance_value=None if tolerance is None else tolerance[1], reason=ch.reason or "",
                start=when[0] if when and ch.kind == "data" else None,
                until=None if ch.until is None else self.when(ch.until, *keys, "until"),
                cutoff=None if ch.cutoff is None else self.when(ch.cutoff, *keys, "cutoff"),
                fit=tuple(canonical(f) for f in ch.fit or ()), display=raw, where=self.loc(*keys),
            )
        return built

    def givens(self, given: dict[str, float | schema.GivenModel], *keys: Any) -> tuple[Given, ...]:
        built = []
        for raw, setting in given.items():
            where = self.loc(*keys, "given", raw)
            if isinstance(setting, schema.GivenModel):
                start = None if setting.start is None else self.when(setting.start, *keys, "given", raw, "from")
                at = None if setting.at is None else self.when(setting.at, *keys, "given", raw, "at")
                built.append(Given(canonical(raw), setting.value, start, at, where))
            else:
                built.append(Given(canonical(raw), float(setting), where=where))
        return tuple(built)


def read_yaml(path: str | Path) -> Model:
    """Load a native YAML model file; raise ModelFileError naming file, line and key on any problem."""
    file = Path(path)
    return read_yaml_text(read_capped(file, MODEL_BYTES, "model file"), str(file))


def read_yaml_text(raw: bytes | str, file: str = "<string>") -> Model:
    """Load a model from YAML text (``file`` names it in messages)."""
    if len(raw) > MODEL_BYTES.value():
        raise ModelFileError(f"{file}: the file is {len(raw):,} bytes, over the limit; {MODEL_BYTES.hint()}")
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    doc = parse_yaml(data, file)
    if not isinstance(doc, dict):
        raise ModelFileError(f"{file}:1: a model file is a mapping with at least `model:` and `time:` keys")
    _normalise(doc)
    try:
        spec = schema.ModelFile.model_validate(_plain(doc, file))
    except ValidationError as err:
        raise ModelFileError(f"{file}: the model file is not valid:\n{validation_message(err, doc, file, schema.ModelFile)}") from err
    except RecursionError as err:
        raise ModelFileError(f"{file}: the model file nests too deeply") from err
    builder = _Builder(spec, doc, file)
    variables = builder.variables()
    scenarios = builder.scenarios(variables)
    if spec.default_scenario is not None and spec.default_scenario not in scenarios:
        raise builder.fail(
            f"default scenario {spec.default_scenario!r} is not defined; choose one of: {', '.join(scenarios) or '(none)'}",
            "default_scenario",
        )
    sources = {k: Source(k, v.title, v.publisher, str(v.date), v.file, v.url) for k, v in spec.sources.items()}
    return Model(
        name=spec.model,
        time=builder.time,
        variables=variables,
        scenarios=scenarios,
        default_scenario=spec.default_scenario,
        sources=sources,
        outcomes=builder.outcomes(variables),
        checks=builder.checks(variables, scenarios),
        doc=spec.doc,
        path=file,
        extras={"sha256": hashlib.sha256(data).hexdigest()},
        dimensions=builder.dimensions,
        arrays=builder.arrays,
    )


def _plain(node: Any, file: str, depth: int = 0, budget: list[int] | None = None) -> Any:
    """ruamel's commented containers as plain dicts/lists (pydantic validates those).

    YAML aliases are expanded here, so the number of values is capped: a few lines of
    anchors and aliases can otherwise expand to billions of values ("billion laughs").
    """
    budget = [YAML_VALUES.value()] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise ModelFileError(f"{file}: the model file holds more than {YAML_VALUES.value():,} values (counting "
                             f"each use of a YAML alias); {YAML_VALUES.hint()}")
    if depth > 50:
        raise ModelFileError(f"{file}: the model file nests more than 50 levels deep")
    if isinstance(node, dict):
        return {(str(k) if not isinstance(k, (dt.date, int, float)) or isinstance(k, bool) else k):
                _plain(v, file, depth + 1, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, file, depth + 1, budget) for v in node]
    if isinstance(node, str):
        return str(node)
    return node
