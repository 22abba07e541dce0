"""Vensim subscripted equations as scalar definitions, one per element, by the rules of ``model.arrays``.

A variable may be defined by several equations over different subsets of its elements
(``x[a] = …``, ``x[sub] = …``, ``x[Dim] :EXCEPT: [c] = …``); its dimension at each position is
the range whose elements are exactly those the equations define (so ``x[sub1] = …`` and
``x[sub2] = …`` make ``x`` an array over the range they split). Each element becomes a
definition named ``x[e1,e2]`` whose expression has only scalar references: the
:class:`~policylab.model.arrays.Expander` rewrites it for the element, and Vensim's vector
functions (``vectors``) are built from the elements they range over. Lists of values
(``1, 2; 3, 4``, ``TABBED ARRAY``) give one number per element, in row-major order of the
positions the left side ranges over. What follows (macros, functions, levels) sees scalars only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import product

from policylab.errors import Location, ModelFileError
from policylab.expr.ast import Expr, Num
from policylab.expr.names import free_name
from policylab.formats.vensim.data import DataFiles, Filled
from policylab.formats.vensim.equations import Definition
from policylab.formats.vensim.ranges import numbering, read_ranges
from policylab.formats.vensim.records import Record
from policylab.formats.vensim.vectors import Vectors, lookup_calls, prepare
from policylab.model.arrays import Expander
from policylab.model.ir import Array, Dimension, element_keys, element_name

Key = tuple[str, ...]


@dataclass
class Subscripts:
    """The dimensions of one file and the expansion of its subscripted definitions into scalar ones."""

    file: str
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    arrays: dict[str, Array] = field(default_factory=dict)
    data: DataFiles = field(default_factory=lambda: DataFiles(None))
    """The data files the model's GET XLS/DIRECT functions read (``data``)."""
    notes: list[str] = field(default_factory=list)
    """What the reader decided that the author should hear (VensimReadWarning)."""
    elements: dict[str, float] = field(default_factory=dict)
    """Element names that are not variables -> the number they stand for as a value."""
    _prepared: dict[int, Expr] = field(default_factory=dict)
    """Each equation prepared once (``vectors.prepare``), by ``id`` of its definition, for all its elements."""

    def expand(self, parsed: list[tuple[Record, Definition]]) -> list[tuple[Record, Definition]]:
        """Every definition with scalar references only: subscripted ones once per element, ranges dropped."""
        ranges = [(r, d) for r, d in parsed if d.kind == "subscript_range"]
        self.dimensions = read_ranges(ranges, self.file)
        groups: dict[str, list[tuple[Record, Definition]]] = {}
        for record, definition in parsed:
            if definition.kind != "subscript_range":
                groups.setdefault(definition.name, []).append((record, definition))
        for name in groups:
            if name in self.dimensions:
                record = groups[name][0][0]
                raise ModelFileError(f"{self.file}:{record.line}: {groups[name][0][1].display}: a variable named like "
                                     "the subscript range on line "
                                     f"{self.dimensions[name].where.line}; rename one of them")
        for group in groups.values():
            for record, definition in group:
                if bool(definition.subscripts) != bool(group[0][1].subscripts):
                    raise ModelFileError(f"{self._where(record, definition)}: defined both with and without "
                                         f"subscripts (also on line {group[0][0].line}); give every equation of a "
                                         "variable the same subscripts")
        dims = {name: self._dims(name, group) for name, group in groups.items() if group[0][1].subscripts}
        scalars = frozenset(name for name in groups if name not in dims)
        self.elements = _element_numbers(self.dimensions, set(groups))
        expander = Expander(self.dimensions, dims, scalars, numbering(self.dimensions))
        vectors = Vectors(expander, self.dimensions, dims)
        out: list[tuple[Record, Definition]] = []
        for name, group in groups.items():
            if name not in dims:
                for record, definition in group:
                    filled = self.data.fill(definition, (), self._where(record, definition))
                    out.append((record, _filled(definition, filled[0]) if filled else
                                self._rewrite(record, definition, {}, vectors)))
                continue
            chosen = self._elements(name, group, dims[name])
            for key in element_keys(dims[name], self.dimensions):
                record, definition, context, value = chosen[key]
                shown = ",".join(self.dimensions[d].shown(e) for d, e in zip(dims[name], key, strict=True))
                element = replace(definition, name=element_name(name, key), display=f"{definition.display}[{shown}]",
                                  subscripts=(), excepts=(), values=())
                if value is not None:
                    out.append((record, _filled(element, value)))
                    continue
                out.append((record, self._rewrite(record, element, context, vectors)))
            record, definition = group[0]
            whole = len(group) == 1 and definition.kind in ("assign", "unchangeable", "value_list", "data")
            text = " ".join(record.equation.split("=", 1)[1].split()).lstrip("=").strip() if whole else ""
            self.arrays[name] = Array(name, dims[name], definition.display, where=Location(self.file, record.line),
                                      equation_text=text)
        return out

    def _where(self, record: Record, definition: Definition) -> str:
        lhs = f"[{', '.join(definition.subscripts)}]" if definition.subscripts else ""
        return f"{self.file}:{record.line}: {definition.display}{lhs}"

    def _rewrite(self, record: Record, definition: Definition, context: dict[str, str], vectors: Vectors) -> Definition:
        if definition.expr is None or definition.kind not in ("assign", "unchangeable"):
            return definition
        where = f"{self.file}:{record.line}: {definition.display}"
        prepared = self._prepared.get(id(definition.expr))
        if prepared is None:
            prepared = self._prepared[id(definition.expr)] = prepare(definition.expr, self.dimensions, self.elements,
                                                                    where)
        return replace(definition, expr=lookup_calls(vectors.rewrite(prepared, context, where)))

    # -- which equation defines each element -------------------------------------------------
    def _options(self, index: str, record: Record, definition: Definition) -> tuple[str, ...]:
        if index in self.dimensions:
            return self.dimensions[index].elements
        if any(index in dim.elements for dim in self.dimensions.values()):
            return (index,)
        raise ModelFileError(f"{self._where(record, definition)}: {index!r} is neither a subscript range nor an "
                             "element of one; define it with 'Range: a, b, c'")

    def _dims(self, name: str, group: list[tuple[Record, Definition]]) -> tuple[str, ...]:
        """The variable's dimension at each position: the range holding exactly the elements its equations define."""
        size = len(group[0][1].subscripts)
        for record, definition in group:
            if len(definition.subscripts) != size:
                raise ModelFileError(f"{self._where(record, definition)}: has {len(definition.subscripts)} "
                                     f"subscript(s) where line {group[0][0].line} has {size}; give every equation "
                                     "of a variable the same number")
        dims = []
        for position in range(size):
            defined: set[str] = set()
            named: list[str] = []
            for record, definition in group:
                index = definition.subscripts[position]
                defined.update(self._options(index, record, definition))
                if index in self.dimensions:
                    named.append(index)
            candidates = named + [d for d, spec in self.dimensions.items() if not spec.parent] + list(self.dimensions)
            found = next((d for d in candidates if set(self.dimensions[d].elements) == defined), None)
            if found is None:
                found = self._partial(name, group, defined, candidates)
            dims.append(found)
        return tuple(dims)

    def _partial(self, name: str, group: list[tuple[Record, Definition]], defined: set[str],
                 candidates: list[str]) -> str:
        """A range for a variable defined over only some elements of one: those elements, in its order (Vensim
        leaves the others undefined; so does PolicyLab, with a warning)."""
        record, definition = group[0]
        within = next((d for d in candidates if defined < set(self.dimensions[d].elements)), None)
        if within is None:
            raise ModelFileError(f"{self._where(record, definition)}: its elements are not those of one subscript "
                                 "range; define a range holding them")
        spec = self.dimensions[within]
        kept = tuple(e for e in spec.elements if e in defined)
        key = free_name(f"{within}_of_{name}", self.dimensions, separator="_")
        self.dimensions[key] = Dimension(key, kept, f"{spec.display} ({', '.join(spec.shown(e) for e in kept)})",
                                         tuple(spec.shown(e) for e in kept), spec.parent or within,
                                         where=Location(self.file, record.line))
        missing = ", ".join(spec.shown(e) for e in spec.elements if e not in defined)
        self.notes.append(f"{self._where(record, definition)}: no equation defines {missing} of {spec.display}; "
                          f"{definition.display} is an array over the other elements only (the range {key})")
        return key

    def _elements(self, name: str, group: list[tuple[Record, Definition]], dims: tuple[str, ...]
                  ) -> dict[Key, tuple[Record, Definition, dict[str, str], Filled | None]]:
        """For each element: the equation defining it, its context and, from a list of values or a data file, what
        it becomes."""
        chosen: dict[Key, tuple[Record, Definition, dict[str, str], Filled | None]] = {}
        for record, definition in group:
            options = [self._options(i, record, definition) for i in definition.subscripts]
            ranging = [i for i in definition.subscripts if i in self.dimensions]
            if len(set(ranging)) != len(ranging):
                raise ModelFileError(f"{self._where(record, definition)}: names a range twice on the left; use a "
                                     "second range with the same elements (Other <-> Range)")
            excluded = {key for subs in definition.excepts for key in self._except(subs, record, definition)}
            keys = list(product(*options))
            values = self._values(record, definition, len(keys))
            filled = self.data.fill(definition, tuple(len(o) for o in options), self._where(record, definition))
            for index, key in enumerate(keys):
                if key in excluded:
                    continue
                if key in chosen:
                    shown = ", ".join(self.dimensions[d].shown(e) for d, e in zip(dims, key, strict=True))
                    raise ModelFileError(f"{self._where(record, definition)}: defines element [{shown}] again (also "
                                         f"on line {chosen[key][0].line}); define each element once")
                context = {i: e for i, e in zip(definition.subscripts, key, strict=True) if i in self.dimensions}
                value = Filled("assign", expr=values[index]) if values else None
                chosen[key] = (record, definition, context, filled[index] if filled else value)
        missing = [key for key in element_keys(dims, self.dimensions) if key not in chosen]
        if missing:
            record, definition = group[0]
            shown = ", ".join(self.dimensions[d].shown(e) for d, e in zip(dims, missing[0], strict=True))
            raise ModelFileError(f"{self._where(record, definition)}: no equation defines element [{shown}]"
                                 f"{' and others' if len(missing) > 1 else ''}; add one")
        return chosen

    def _except(self, subs: tuple[str, ...], record: Record, definition: Definition) -> list[Key]:
        if len(subs) != len(definition.subscripts):
            raise ModelFileError(f"{self._where(record, definition)}: :EXCEPT: [{', '.join(subs)}] gives {len(subs)} "
                                 f"subscript(s) for {len(definition.subscripts)}")
        return list(product(*(self._options(i, record, definition) for i in subs)))

    def _values(self, record: Record, definition: Definition, count: int) -> list[Expr]:
        if definition.kind != "value_list":
            return []
        where = self._where(record, definition)
        if len(definition.values) != count:
            raise ModelFileError(f"{where}: lists {len(definition.values)} value(s) for {count} element(s); give one "
                                 "number per element, row by row ('1, 2; 3, 4')")
        if not all(isinstance(v, Num) for v in definition.values):
            raise ModelFileError(f"{where}: a list of values holds only numbers; write an equation per element for "
                                 "anything else")
        return list(definition.values)


def _filled(definition: Definition, filled: Filled) -> Definition:
    """The element as a constant or a lookup read from a list of values or a data file."""
    return replace(definition, kind=filled.kind, expr=filled.expr, table=filled.table, keyword="")


def _element_numbers(dimensions: dict[str, Dimension], variables: set[str]) -> dict[str, float]:
    """Each element's number as a value: its 1-based place in the first range (a root of its family) holding it
    (unless a variable, or Time, has its name)."""
    out: dict[str, float] = {}
    for dim in dimensions.values():
        if not dim.parent:
            for position, element in enumerate(dim.elements):
                if element not in variables and element != "time":
                    out.setdefault(element, float(position + 1))
    return out
