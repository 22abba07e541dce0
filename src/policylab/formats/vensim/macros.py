"""Vensim macros expanded into ordinary variables, one copy of the macro's equations per call.

``:MACRO: NAME(input, …)`` … ``:END OF MACRO:`` defines a function by equations; the
equation named like the macro is its value. Each call ``NAME(a, …)`` in an equation of
variable ``v`` becomes the macro's variables named ``v.NAME.x`` (``v.NAME2.x`` for a second
call in the same equation), with every input replaced by the call's argument, and the call
by ``v.NAME.NAME``. A level inside a macro is a level of each copy. Macros may call other
macros (to a depth of 20); extra outputs after ``:`` are not supported yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from policylab.errors import ModelFileError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp, map_children
from policylab.formats.vensim.equations import Definition, Table, Text, name_key, parse_definition
from policylab.formats.vensim.records import Macro, Record

MAX_DEPTH = 20


@dataclass(frozen=True)
class MacroDef:
    """A parsed macro: inputs (canonical), its definitions, and where it starts."""

    name: str
    display: str
    line: int
    inputs: tuple[str, ...]
    definitions: tuple[tuple[Record, Definition], ...]


def parse_macros(macros: tuple[Macro, ...], file: str) -> dict[str, MacroDef]:
    """The macros of a file by canonical name; ModelFileError for a malformed or unsupported one."""
    found: dict[str, MacroDef] = {}
    for macro in macros:
        key = name_key(macro.name)
        where = f"{file}:{macro.line}: macro {macro.name}"
        if macro.outputs:
            raise ModelFileError(f"{where}: extra outputs after ':' are not supported yet; give the macro one result")
        if key in found:
            raise ModelFileError(f"{where}: defined twice (first on line {found[key].line})")
        definitions = tuple((r, parse_definition(r.equation, f"{file}:{r.line}")) for r in macro.records)
        for record, definition in definitions:
            if definition.kind not in ("assign", "unchangeable", "lookup") or definition.subscripts:
                raise ModelFileError(f"{file}:{record.line}: {definition.display}: inside a macro only equations with "
                                     "'=' and lookups are supported")
        if key not in {d.name for _, d in definitions}:
            raise ModelFileError(f"{where}: no equation named {macro.name} gives the macro's value; add "
                                 f"'{macro.name} = …'")
        found[key] = MacroDef(key, macro.name, macro.line, tuple(name_key(p) for p in macro.parameters), definitions)
    return found


@dataclass
class Expander:
    """Replaces macro calls in definitions by the variables of one macro copy each."""

    file: str
    macros: dict[str, MacroDef]
    limit: int
    added: list[tuple[Record, Definition]] = field(default_factory=list)
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def definition(self, record: Record, definition: Definition) -> Definition:
        """``definition`` with its macro calls expanded (the copies are collected in ``added``)."""
        if definition.expr is None or not self.macros:
            return definition
        expr = self._expand(definition.expr, definition.name, definition.display, record, 0)
        return replace(definition, expr=expr)

    def _expand(self, expr: Expr, owner: str, display: str, record: Record, depth: int) -> Expr:
        match expr:
            case Call(func=f, args=args) if f in self.macros:
                new_args = tuple(self._expand(a, owner, display, record, depth) for a in args)
                return self._instance(self.macros[f], new_args, owner, display, record, depth)
            case Call() | UnaryOp() | BinOp() | Compare() | BoolOp() | Not() | IfThenElse():
                return map_children(expr, lambda sub: self._expand(sub, owner, display, record, depth))
        return expr

    def _instance(self, macro: MacroDef, args: tuple[Expr, ...], owner: str, display: str, record: Record,
                  depth: int) -> Expr:
        where = f"{self.file}:{record.line}: {display}"
        if len(args) != len(macro.inputs):
            raise ModelFileError(f"{where}: the macro {macro.display} takes {len(macro.inputs)} inputs, got {len(args)}")
        if depth >= MAX_DEPTH:
            raise ModelFileError(f"{where}: macros call each other more than {MAX_DEPTH} deep; a macro may not call "
                                 "itself")
        count = self._counts.get((owner, macro.name), 0) + 1
        self._counts[(owner, macro.name)] = count
        tag = macro.name if count == 1 else f"{macro.name}{count}"
        prefix, shown = f"{owner}.{tag}", f"{display}.{macro.display}{'' if count == 1 else count}"
        names = {d.name: (f"{prefix}.{d.name}", f"{shown}.{d.display}") for _, d in macro.definitions}
        inputs = dict(zip(macro.inputs, args, strict=True))
        tables = {d.name: names[d.name] for _, d in macro.definitions if d.kind == "lookup"}
        for inner_record, inner in macro.definitions:
            renamed = _rename(inner.expr, names, inputs, tables) if inner.expr is not None else None
            copy = replace(inner, name=names[inner.name][0], display=names[inner.name][1], expr=renamed)
            if copy.expr is not None:
                copy = replace(copy, expr=self._expand(copy.expr, copy.name, copy.display, inner_record, depth + 1))
            self.added.append((inner_record, copy))
            if len(self.added) > self.limit:
                raise ModelFileError(f"{where}: expanding macros makes more than {self.limit:,} variables; set "
                                     "POLICYLAB_LIMIT_FLAT_VARIABLES to raise the limit (docs/security.md)")
        return Name(names[macro.name][0])


def _rename(expr: Expr, names: dict[str, tuple[str, str]], inputs: dict[str, Expr],
            tables: dict[str, tuple[str, str]]) -> Expr:
    """A macro equation for one copy: inputs replaced by the arguments, the macro's own names (and calls of its
    own lookups) prefixed."""
    match expr:
        case Name(name=n) if n in inputs:
            return inputs[n]
        case Name(name=n) if n in names:
            return Name(names[n][0])
        case Num() | Name() | Text() | Table():
            return expr
        case Subscript():
            return expr
        case Call(func=f, args=args):
            return Call(tables[f][0] if f in tables else f, tuple(_rename(a, names, inputs, tables) for a in args))
        case UnaryOp() | BinOp() | Compare() | BoolOp() | Not() | IfThenElse():
            return map_children(expr, lambda sub: _rename(sub, names, inputs, tables))
    return expr
