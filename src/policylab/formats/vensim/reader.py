"""Read a Vensim ``.mdl`` model into the model IR.

Steps: bytes -> text (UTF-8, else Latin-1) -> records (``records``) -> one parsed definition
per record (``equations``, a lark grammar) -> subscript ranges to dimensions and each
subscripted definition to one scalar definition per element (``ranges``, ``subscripts``) ->
macro calls expanded (``macros``) -> control variables to the clock, levels to
stocks, lookups to graphical functions, everything else through the function table
(``functions``) to auxiliaries and constants. A level's rate becomes its flows when it is a
sum and difference of auxiliaries (those become flows), else one flow named
``<level>_net_flow`` holding the whole rate. Vensim integrates with Euler; so does the model.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from policylab.errors import Location, ModelFileError
from policylab.expr.ast import BinOp, Call, Expr, Name, Num, UnaryOp, children, names_in
from policylab.expr.builtins import OPERATORS
from policylab.expr.names import free_name
from policylab.files import read_capped
from policylab.formats.vensim.data import STEPPED, DataFiles, data_call
from policylab.formats.vensim.equations import Definition, Table, parse_definition
from policylab.formats.vensim.functions import Translator
from policylab.formats.vensim.macros import Expander, parse_macros
from policylab.formats.vensim.orders import ORDERED, StartValues, discrete_delay_n, fixed_order, may_vary
from policylab.formats.vensim.records import Macro, Record, decode, split_records
from policylab.formats.vensim.subscripts import Subscripts
from policylab.limits import FLAT_VARIABLES, VENSIM_BYTES
from policylab.model.ir import (AnyVariable, Array, Auxiliary, Constant, Flow, Lookup, Method, Model, Stock,
                                TimeSpec, element_keys, element_name, kind_of)


class VensimReadWarning(UserWarning):
    """Something in a ``.mdl`` file was left out on purpose (the sketch); the message says what."""


CONTROL = ("initial_time", "final_time", "time_step", "saveper")
_UNIT_RANGE = re.compile(r"\s*\[[^\]]*\]\s*$")
_REALITY_CHECKS = (":THE CONDITION:", ":TEST INPUT:")
_KEYWORD_HELP = {
    ":=": "a data variable (values from a .vdf or data file)",
    ":INTERPOLATE:": "a data variable (:INTERPOLATE:)",
    ":RAW:": "a data variable (:RAW:)",
    ":HOLD BACKWARD:": "a data variable (:HOLD BACKWARD:)",
    ":LOOK FORWARD:": "a data variable (:LOOK FORWARD:)",
}


def read_vensim(path: str | Path) -> Model:
    """Read the Vensim model at ``path`` into a Model (a VensimReadWarning says the sketch was ignored)."""
    file = Path(path)
    return read_vensim_bytes(read_capped(file, VENSIM_BYTES, "model file"), str(file), data_folder=file.parent)


def read_vensim_bytes(data: bytes, file: str = "<string>", data_folder: Path | None = None) -> Model:
    """Read Vensim ``.mdl`` text from bytes; ``file`` is used in messages and as the model's path; GET XLS/DIRECT
    functions read files in ``data_folder`` only (None: they are refused)."""
    sections = split_records(decode(data), file, FLAT_VARIABLES.value())
    if not sections.records:
        raise ModelFileError(f"{file}: no equations found; a Vensim model is a list of 'name = expression ~ units ~ "
                             "comment |' records")
    builder = _Builder(file, sections.records, sections.macros, data_folder=data_folder)
    try:
        model = builder.build(hashlib.sha256(data).hexdigest())
    except RecursionError:
        raise ModelFileError(f"{file}: the equations nest too deep once macros are expanded; split long "
                             "expressions into intermediate variables") from None
    for note in builder.notes:
        warnings.warn(note, VensimReadWarning, stacklevel=2)
    if sections.has_sketch:
        warnings.warn(f"{file}: the sketch (diagram layout) is ignored; `policylab diagram` draws the model from its "
                      "equations", VensimReadWarning, stacklevel=2)
    return model


def _units(text: str) -> str:
    return _UNIT_RANGE.sub("", text).strip()


@dataclass
class _Builder:
    """Turns the parsed records of one file into IR variables and a clock."""

    file: str
    records: tuple[Record, ...]
    macros: tuple[Macro, ...] = ()
    data_folder: Path | None = None
    variables: dict[str, AnyVariable] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    derived: dict[tuple[str, str], str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    """A net flow or SAMPLE IF TRUE state made for one element -> that element (see ``_derived_arrays``)."""
    active_initial: dict[str, Expr] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def where(self, record: Record, definition: Definition | None = None) -> str:
        place = f"{self.file}:{record.line}"
        return f"{place}: {definition.display}" if definition is not None else place

    def build(self, digest: str) -> Model:
        subscripts = Subscripts(self.file, data=DataFiles(self.data_folder))
        definitions = subscripts.expand(self._checked())
        self.notes.extend(subscripts.notes + subscripts.data.notes)
        if len(definitions) > FLAT_VARIABLES.value():
            raise ModelFileError(f"{self.file}: the model has more than {FLAT_VARIABLES.value():,} variables once its "
                                 "arrays are expanded; set POLICYLAB_LIMIT_FLAT_VARIABLES to raise the limit "
                                 "(docs/security.md)")
        if self.macros:
            expander = Expander(self.file, parse_macros(self.macros, self.file), FLAT_VARIABLES.value())
            definitions = [(r, expander.definition(r, d)) for r, d in definitions]
            definitions += expander.added
        clock = _Clock(self.file, {d.name: (r, d) for r, d in definitions if d.name in CONTROL}, self.notes)
        time = clock.spec()
        substitutions: dict[str, Expr] = {name: Num(value) for name, value in clock.numbers().items()}
        substitutions["time_step"] = Name("dt")
        self.tables = {d.name: d.table for _, d in definitions if d.kind == "lookup" and d.table is not None}
        pending: list[tuple[Record, Definition, Translator]] = []
        for record, definition in definitions:
            if definition.name in CONTROL:
                continue
            translator = Translator(self.where(record, definition), frozenset(self.tables), substitutions,
                                    lambda table, extrapolation, owner=definition.name: self._add_table(
                                        table, extrapolation, owner, record),
                                    self.tables.get,
                                    lambda build, owner=definition.name: self._add_state(build, owner, record),
                                    time.dt)
            pending.append((record, definition, translator))
        stocks: list[tuple[Record, Definition, Expr]] = []
        for record, definition, translator in pending:
            common = self._common(record, definition)
            if definition.kind == "lookup":
                assert definition.table is not None
                table = self._ordered(definition.table, self.where(record, definition))
                self.variables[definition.name] = Lookup(**common, xs=table.xs, ys=table.ys)
                continue
            expr = definition.expr
            assert expr is not None
            text = " ".join(record.equation.split("=", 1)[1].split()) if "=" in record.equation else ""
            if isinstance(expr, Call) and expr.func == "integ":
                if len(expr.args) != 2:
                    raise translator.fail(f"INTEG takes 2 arguments (rate, initial value), got {len(expr.args)}")
                rate = translator(expr.args[0])
                initial = translator(expr.args[1])
                self.variables[definition.name] = Stock(**common, initial=initial, initial_text=text)
                stocks.append((record, definition, rate))
            elif isinstance(expr, Call) and expr.func == "active_initial":
                if len(expr.args) != 2:
                    raise translator.fail("ACTIVE INITIAL takes 2 arguments (active equation, initial value), got "
                                          f"{len(expr.args)}")
                self.active_initial[definition.name] = translator(expr.args[1])
                self.variables[definition.name] = Auxiliary(**common, equation=translator(expr.args[0]),
                                                            equation_text=text)
            elif (isinstance(expr, Call) and expr.func in ("with_lookup", STEPPED) and len(expr.args) == 2
                  and isinstance(expr.args[1], Table)):
                table = self._ordered(expr.args[1], self.where(record, definition))
                self.variables[definition.name] = Lookup(**common, xs=table.xs, ys=table.ys,
                                                         input=translator(expr.args[0]),
                                                         extrapolation="discrete" if expr.func == STEPPED else "clamp")
            else:
                value = translator(expr)
                if isinstance(value, Num):
                    self.variables[definition.name] = Constant(**common, value=value.value)
                else:
                    self.variables[definition.name] = Auxiliary(**common, equation=value, equation_text=text)
        for record, definition, rate in stocks:
            self._connect(record, definition, rate)
        self._apply_active_initial()
        self._fix_orders(time)
        name = Path(self.file).stem
        arrays = {name: replace(array, kind=kind_of(self.variables[self._first(name, subscripts)]))
                  for name, array in subscripts.arrays.items()}
        arrays.update(self._derived_arrays(arrays, subscripts))
        return Model(name=name, time=time, variables=self.variables, path=self.file,
                     extras={"sha256": digest, "format": "vensim"}, dimensions=subscripts.dimensions, arrays=arrays)

    def _derived_arrays(self, arrays: dict[str, Array], subscripts: Subscripts) -> dict[str, Array]:
        """The net flows and SAMPLE IF TRUE states made element by element for an array, as an array over its
        dimensions when every element has one of the same kind (``x_net_flow[a]`` is then an element like any
        other, and a writer writes it as one: ``x_net_flow`` among a stock's flows, ``s[a]`` in an equation)."""
        groups: dict[tuple[str, str], set[str]] = {}
        for name, owner in self.owners.items():
            base, bracket, _ = name.partition("[")
            owner_base = owner.partition("[")[0]
            if bracket and owner_base in arrays:
                groups.setdefault((base, owner_base), set()).add(name)
        out: dict[str, Array] = {}
        for (base, owner), names in groups.items():
            dims = arrays[owner].dims
            elements = [element_name(base, key) for key in element_keys(dims, subscripts.dimensions)]
            kinds = {type(self.variables[e]) for e in elements if e in self.variables}
            if set(elements) == names and len(kinds) == 1 and base not in arrays and base not in self.variables:
                out[base] = Array(base, dims, base, kind_of(self.variables[elements[0]]),
                                  where=self.variables[elements[0]].where)
        return out

    @staticmethod
    def _first(name: str, subscripts: Subscripts) -> str:
        dims = subscripts.arrays[name].dims
        return element_name(name, tuple(subscripts.dimensions[d].elements[0] for d in dims))

    def _common(self, record: Record, definition: Definition) -> dict[str, object]:
        return {"name": definition.name, "units": _units(record.units), "doc": record.comment,
                "display": definition.display, "where": Location(self.file, record.line), "sector": record.group}

    def _checked(self) -> list[tuple[Record, Definition]]:
        """Each record parsed, in file order; the first construct this reader cannot take is refused by file, line
        and name."""
        seen: dict[str, int] = {}
        parsed: list[tuple[Record, Definition]] = []
        for record in self.records:
            definition = parse_definition(record.equation, f"{self.file}:{record.line}")
            where = self.where(record, definition)
            if definition.kind == "keyword" and definition.keyword in _REALITY_CHECKS:
                self.notes.append(f"{where}: a reality check ({definition.keyword}) is left out: Vensim evaluates it "
                                  "only in a reality-check run, never in a simulation (`policylab validate` runs the "
                                  "checks a YAML model declares)")
                continue
            parsed.append((record, definition))
            if definition.kind == "subscript_range":
                continue
            if definition.kind == "value_list" and not definition.subscripts:
                raise ModelFileError(f"{where}: a list of values needs subscripts on the left (name[Range] = 1, 2, "
                                     "3); give a scalar one number")
            found = data_call(definition)
            if definition.kind in ("data", "keyword") and found is not None and found[0] != "lookups":
                pass  # read by the data module when the subscripts are known
            elif definition.kind in ("data", "keyword", "bare"):
                what = _KEYWORD_HELP.get(definition.keyword, f"a definition with {definition.keyword or 'no equation'}")
                raise ModelFileError(f"{where}: {what} is not supported yet; give the variable an equation with '='")
            if definition.kind == "lookup_call" and (found is None or found[0] != "lookups"):
                raise ModelFileError(f"{where}: a lookup defined by a call reads its points from a data file with "
                                     "GET XLS LOOKUPS or GET DIRECT LOOKUPS; write the points in the model")
            if definition.subscripts:
                continue  # the subscripts module checks which elements each equation defines
            if definition.name in seen:
                raise ModelFileError(f"{where}: defined twice (first on line {seen[definition.name]}); keep one "
                                     "equation")
            seen[definition.name] = record.line
        return parsed

    def _ordered(self, table: Table, where: str) -> Table:
        """The table checked, its points in order of x: Vensim sorts points written out of order (the suite's
        subscripted_lookups case), so does the reader, with a warning."""
        if not table.xs:
            raise ModelFileError(f"{where}: the lookup has no points; give at least one (x, y) pair")
        if not all(math.isfinite(v) for v in (*table.xs, *table.ys)):
            raise ModelFileError(f"{where}: the lookup holds a value that is not a finite number")
        if all(a <= b for a, b in zip(table.xs, table.xs[1:])):
            return table
        self.notes.append(f"{where}: the lookup's x values {list(table.xs)} do not increase; its points are read in "
                          "order of x, as Vensim does")
        points = sorted(zip(table.xs, table.ys), key=lambda point: point[0])
        return Table(tuple(x for x, _ in points), tuple(y for _, y in points))

    def _add_table(self, table: Table, extrapolation: str, owner: str, record: Record) -> str:
        where = f"{self.file}:{record.line}: {owner}"
        table = self._ordered(table, where)
        key = (repr(table), extrapolation)
        if key in self.derived:
            return self.derived[key]
        kind = {"clamp": "", "linear": "extrapolated_", "discrete": "stepped_"}[extrapolation]
        name = free_name(_derived(owner, f"_{kind}lookup"), self.variables, self.tables, separator="_")
        self.variables[name] = Lookup(name=name, display=name, xs=table.xs, ys=table.ys,
                                      extrapolation=extrapolation,  # type: ignore[arg-type]
                                      where=Location(self.file, record.line), sector=record.group)
        self.derived[key] = name
        return name

    def _add_state(self, build: Callable[[Name], Expr], owner: str, record: Record) -> Name:
        name = free_name(_derived(owner, "_sample"), self.variables, self.tables, separator="_")
        self.owners[name] = owner
        self.variables[name] = Auxiliary(name=name, display=name, equation=build(Name(name)), sector=record.group,
                                         where=Location(self.file, record.line),
                                         doc=f"the last value SAMPLE IF TRUE took in {owner}")
        return Name(name)

    def _connect(self, record: Record, definition: Definition, rate: Expr) -> None:
        """Give the level its flows: the named auxiliaries of a sum of terms, else one net flow."""
        terms = _terms(rate, +1)
        names = [name for name, _ in terms] if terms is not None else []
        usable = (terms is not None and len(set(names)) == len(names)
                  and all(isinstance(self.variables.get(n), (Auxiliary, Flow)) for n in names))
        stock = self.variables[definition.name]
        assert isinstance(stock, Stock)
        if usable and terms is not None:
            for name, _sign in terms:
                var = self.variables[name]
                if isinstance(var, Auxiliary):
                    self.variables[name] = Flow(**{k: getattr(var, k) for k in ("name", "units", "doc", "display",
                                                                                "where", "sector")},
                                                equation=var.equation, equation_text=var.equation_text)
            inflows = tuple(n for n, sign in terms if sign > 0)
            outflows = tuple(n for n, sign in terms if sign < 0)
        else:
            flow = free_name(_derived(definition.name, "_net_flow"), self.variables, separator="_")
            self.owners[flow] = definition.name
            self.variables[flow] = Flow(name=flow, display=f"{definition.display} net flow",
                                        where=Location(self.file, record.line), equation=rate, sector=record.group,
                                        doc=f"the rate of {definition.display} as its INTEG equation writes it")
            inflows, outflows = (flow,), ()
        self.variables[definition.name] = replace(stock, inflows=inflows, outflows=outflows)

    def _apply_active_initial(self) -> None:
        """Levels whose initial value names an ACTIVE INITIAL variable start from its initial equation."""
        if not self.active_initial:
            return
        for name, var in list(self.variables.items()):
            if not isinstance(var, Stock) or var.initial is None:
                continue
            initial = _substitute(var.initial, self.active_initial)
            for reached in self._reached(initial):
                if reached in self.active_initial:
                    raise ModelFileError(f"{var.where}: {var.display}: its initial value depends on the ACTIVE INITIAL "
                                         f"variable {self.variables[reached].display} through other variables; PolicyLab "
                                         "uses the initial equation only where a level's initial value names it directly")
            self.variables[name] = replace(var, initial=initial)

    def _fix_orders(self, time: TimeSpec) -> None:
        """DELAY N and SMOOTH N with the order Vensim takes at the initial time (see ``orders``)."""
        values = StartValues(self.variables, time.start, time.dt)
        for name, var in list(self.variables.items()):
            for attr in ("equation", "initial", "input"):
                expr = getattr(var, attr, None)
                if expr is not None:
                    fixed = self._with_orders(expr, values, var)
                    if fixed != expr:
                        self.variables[name] = var = replace(var, **{attr: fixed})

    def _with_orders(self, expr: Expr, values: StartValues, var: AnyVariable) -> Expr:
        kids = children(expr)
        if not kids:
            return expr
        new = tuple(self._with_orders(k, values, var) for k in kids)
        if isinstance(expr, Call):
            if expr.func in ORDERED and len(new) > ORDERED[expr.func]:
                found = fixed_order(expr.func, new, values)
                if found is not None:
                    order, note = found
                    if note:
                        label = {"delayn": "DELAY N", "smoothn": "SMOOTH N"}[expr.func]
                        self.notes.append(f"{var.where}: {var.display or var.name}: the order of {label} is {note}; "
                                          "it stays fixed during the run, as in Vensim, and does not follow later "
                                          "changes of the values it came from")
                    new = tuple(Num(float(order)) if i == ORDERED[expr.func] else a for i, a in enumerate(new))
            if (expr.func == "delayn" and len(new) == 4 and isinstance(new[2], Num) and new[2].value >= 1
                    and may_vary(new[1], self.variables)):
                return discrete_delay_n(new[0], new[1], int(new[2].value), new[3])
            return Call(expr.func, new)
        names = [f.name for f in fields(expr) if f.name not in ("op", "func", "name", "value", "indices")]
        return replace(expr, **dict(zip(names, new, strict=True)))

    def _reached(self, expr: Expr) -> set[str]:
        found: set[str] = set()
        stack = list(names_in(expr))
        while stack:
            name = stack.pop()
            if name in found:
                continue
            found.add(name)
            var = self.variables.get(name)
            if isinstance(var, (Auxiliary, Flow)) and var.equation is not None:
                stack.extend(names_in(var.equation))
        return found


def _derived(owner: str, suffix: str) -> str:
    """The name of a variable derived from ``owner``: ``x_net_flow``, for an element ``x_net_flow[a,b]`` (so it
    reads as an element of a derived array, not as a name with brackets inside)."""
    base, bracket, key = owner.partition("[")
    return f"{base}{suffix}{bracket}{key}"


def _terms(expr: Expr, sign: int) -> list[tuple[str, int]] | None:
    """``a + b - c`` as [(a, +1), (b, +1), (c, -1)]; None when a term is not a plain name."""
    match expr:
        case Name(name=n):
            return [(n, sign)]
        case UnaryOp(op=op, operand=o):
            return _terms(o, -sign if op == "-" else sign)
        case BinOp(op="+" | "-", left=a, right=b):
            left = _terms(a, sign)
            right = _terms(b, -sign if expr.op == "-" else sign)
            return left + right if left is not None and right is not None else None
    return None


def _substitute(expr: Expr, values: dict[str, Expr]) -> Expr:
    """``expr`` with the names in ``values`` replaced by their expressions."""
    if isinstance(expr, Name) and expr.name in values:
        return values[expr.name]
    kids = children(expr)
    if not kids:
        return expr
    names = [f.name for f in fields(expr) if f.name not in ("op", "func", "name", "value", "indices")]
    new = tuple(_substitute(k, values) for k in kids)
    if isinstance(expr, Call):
        return Call(expr.func, new)
    return replace(expr, **dict(zip(names, new, strict=True)))


@dataclass
class _Clock:
    """INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER: numbers, or expressions of each other."""

    file: str
    records: dict[str, tuple[Record, Definition]]
    notes: list[str] = field(default_factory=list)

    def numbers(self) -> dict[str, float]:
        values = {name: self.value(name, ()) for name in CONTROL if name in self.records or name != "saveper"}
        values.setdefault("saveper", values["time_step"])
        return values

    def value(self, name: str, path: tuple[str, ...]) -> float:
        if name not in self.records:
            raise ModelFileError(f"{self.file}: the model does not define {name.replace('_', ' ').upper()}; add "
                                 f"'{name.replace('_', ' ').upper()} = number ~ time unit ~ |'")
        if name in path:
            raise ModelFileError(f"{self.file}: the time settings refer to each other in a circle "
                                 f"({' -> '.join(path + (name,))})")
        record, definition = self.records[name]
        return self._fold(definition.expr, f"{self.file}:{record.line}: {definition.display}", path + (name,))

    def _fold(self, expr: Expr | None, where: str, path: tuple[str, ...]) -> float:
        match expr:
            case Num(value=v):
                return v
            case Name(name=n) if n in CONTROL:
                return self.value(n, path)
            case UnaryOp(op=op, operand=o):
                value = self._fold(o, where, path)
                return -value if op == "-" else value
            case BinOp(op=op, left=a, right=b) if op in OPERATORS:
                return float(OPERATORS[op].fold(self._fold(a, where, path), self._fold(b, where, path)))
        raise ModelFileError(f"{where}: a time setting must be a number (or arithmetic on the other time settings); "
                             "PolicyLab's clock is fixed before the run")

    def spec(self) -> TimeSpec:
        values = self.numbers()
        start, stop, dt, save = (values[n] for n in CONTROL)
        where = f"{self.file}:{self.records['time_step'][0].line}"
        if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(dt)) or not dt > 0 or not stop >= start:
            raise ModelFileError(f"{where}: the time settings need TIME STEP > 0 and FINAL TIME >= INITIAL TIME (got "
                                 f"INITIAL TIME {start:g}, FINAL TIME {stop:g}, TIME STEP {dt:g})")
        if (stop - start) / dt > 50_000_000:
            raise ModelFileError(f"{where}: the time settings ask for {(stop - start) / dt:.3g} steps; use a larger "
                                 "TIME STEP")
        if not (math.isfinite(save) and save > 0):
            raise ModelFileError(f"{where}: SAVEPER {save:g} must be a positive number")
        steps = max(round(save / dt), 1)
        if abs(steps * dt - save) > 1e-9 * max(save, dt):
            self.notes.append(f"{self.file}: SAVEPER {save:g} is not a multiple of TIME STEP {dt:g}; saving every "
                              f"{steps * dt:g}")
        units = ""
        for name in ("time_step", "final_time", "initial_time"):
            if name in self.records:
                units = units or _units(self.records[name][0].units)
        return TimeSpec(start=start, stop=stop, dt=dt, save_every=steps * dt, units=units or "time",
                        method=Method.EULER)


__all__ = ["VensimReadWarning", "read_vensim", "read_vensim_bytes"]
