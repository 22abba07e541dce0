"""Flatten XMILE modules into one namespace and parse every equation on the way.

A module ``hares`` placing model ``hares`` contributes its variables as ``hares.births``,
``hares.hares`` ... (nested modules: ``outer.inner.x``). Names inside a module's
equations are resolved in the module, so ``births`` there becomes ``hares.births``.
A ``<connect to="area" from=".area"/>`` makes the module's ``area`` an auxiliary equal
to the parent's ``area`` (a leading dot, or none, names the parent model's variable;
``lynxes.lynxes`` names a variable of the sibling module ``lynxes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from policylab.errors import ExpressionError, ModelFileError
from policylab.expr.ast import Call, Expr, Name, Num, Subscript, map_children, walk
from policylab.formats.xmile._raw import Definition, RawModel, RawVar
from policylab.formats.xmile.equations import EquationContext, is_blank, parse_equation
from policylab.formats.xmile.macros import Expander, Macro
from policylab.limits import FLAT_VARIABLES

MAX_MODULE_DEPTH = 32
_ENGINE_NAMES = frozenset({"time", "dt"})


class Flattener:
    """Lays out the module tree from the root model, parsing equations as it goes."""

    def __init__(self, file: str, models: dict[str, RawModel], start: float, stop: float,
                 dims: Mapping[str, int], *, vensim: bool = False, macros: dict[str, Macro] | None = None,
                 positions: Mapping[str, float] | None = None) -> None:
        """``dims`` maps each dimension's name to its number of elements; ``vensim``: a file Vensim wrote;
        ``macros``: the file's macros, expanded where they are called (``macros``); ``positions``: each
        ``dim.elem``'s position, its value outside subscripts."""
        self.file = file
        self.positions = positions or {}
        self.vensim = vensim
        self.macros = macros or {}
        self.expander = Expander(file, self.macros)
        self.spaced = tuple(m.display for m in self.macros.values() if " " in m.display.strip())
        self.models = models
        self.start = start
        self.stop = stop
        self.dims = dims
        self.out: dict[str, RawVar] = {}
        self._plain_arrays: frozenset[str] = frozenset()  # arrayed variables (not tables) of the model being placed

    def flatten(self, root: RawModel) -> dict[str, RawVar]:
        size = self.flat_size(root)
        if size > FLAT_VARIABLES.value():
            raise ModelFileError(f"{self.file}:{root.line}: laid out, the model has {size:,} scalar variables (each "
                                 f"module placed, each array element counted); {FLAT_VARIABLES.hint()}")
        self._place(root, "", "", {}, (root.name,))
        return self.out

    def flat_size(self, root: RawModel) -> int:
        """Scalar variables once every module is placed and every array flattened, counted without building them.

        Counted per model, bottom up, so 13 levels each placing 4 copies of the next
        (4**13 instances in a 3 KB file) cost 13 sums, not 67 million placements.
        """
        sizes: dict[str, int] = {}
        visiting: set[str] = set()
        stack: list[tuple[RawModel, bool]] = [(root, False)]
        while stack:
            model, expanded = stack.pop()
            if model.name in sizes:
                continue
            subs = [self.models[m.model] for m in model.modules.values() if m.model in self.models]
            if not expanded:
                if model.name in visiting or len(visiting) > MAX_MODULE_DEPTH:
                    return 0  # a recursive placement: _place reports it with its line
                visiting.add(model.name)
                stack.append((model, True))
                stack.extend((sub, False) for sub in subs if sub.name not in sizes)
                continue
            visiting.discard(model.name)
            own = sum(self._elements(var) for var in model.variables.values())
            sizes[model.name] = own + sum(sizes.get(self.models[m.model].name, 0) for m in model.modules.values()
                                          if m.model in self.models)
        return sizes.get(root.name, 0)

    def _elements(self, var: RawVar) -> int:
        count = 1
        for dim in var.dims:
            count *= self.dims.get(dim, 1)
        return count

    def _place(self, model: RawModel, prefix: str, shown: str, inputs: dict[str, tuple[str, int]],
               path: tuple[str, ...]) -> None:
        defined = frozenset(model.variables) | frozenset(model.modules)
        self._plain_arrays = frozenset(n for n, v in model.variables.items() if v.dims and not _has_table(v))
        inputs = {**inputs, **self._outputs_into(model, prefix)}
        context = EquationContext.of(self.start, self.stop, defined, vensim=self.vensim, spaced=self.spaced,
                                     positions=self.positions)
        conveyor_exits = {v.outflows[0] for v in model.variables.values() if v.conveyor is not None and v.outflows}
        for var in model.variables.values():
            full = prefix + var.name
            if var.name in inputs:
                source, line = inputs[var.name]
                alias = RawVar("aux", full, shown + var.display, var.line, var.tag, dims=var.dims,
                               units=var.units, doc=var.doc, alias_of=source)
                alias.definition = Definition(source, line, None, Name(source))
                self.out[full] = alias
                continue
            if var.name in conveyor_exits and var.definition is not None and is_blank(var.definition.text):
                var = replace(var, definition=None)  # a conveyor's exit: its conveyor defines it
            self.out[full] = self._parsed(var, full, shown, prefix, defined, context)
            for created in self.expander.created:
                if created.name in self.out:
                    raise ModelFileError(f"{self.file}:{created.line}: the macro instance {created.name!r} of "
                                         f"{var.label()} has the name of another variable; rename that variable")
                self.out[created.name] = created
            self.expander.created.clear()
        for module in model.modules.values():
            sub = self.models.get(module.model)
            where = f"{self.file}:{module.line}"
            if sub is None:
                known = ", ".join(sorted(m for m in self.models if m)) or "none"
                raise ModelFileError(f'{where}: <module name="{module.display}"> places model {module.model!r}, which '
                                     f"the file does not define (models: {known}); add <model name=\"{module.model}\">")
            if module.model in path or len(path) > MAX_MODULE_DEPTH:
                raise ModelFileError(f'{where}: <module name="{module.display}"> places model {module.model!r} inside '
                                     f"itself ({' -> '.join(path + (module.model,))}); modules cannot recurse")
            sub_inputs: dict[str, tuple[str, int]] = {}
            for conn in module.connections:
                if conn.to not in sub.variables:
                    raise ModelFileError(f'{self.file}:{conn.line}: <connect to="{conn.to}"> in <module '
                                         f'name="{module.display}">: model {module.model!r} has no variable '
                                         f"{conn.to!r}")
                sub_inputs[conn.to] = (prefix + conn.source, conn.line)
            self._place(sub, prefix + module.name + ".", shown + module.display + ".", sub_inputs,
                        path + (module.model,))

    def _refuse_unsupported_calls(self, expr: Expr, where: str, defined: frozenset[str]) -> None:
        """Calls XMILE allows (3.3.2) that PolicyLab does not read, refused by what they are."""
        for node in walk(expr):
            if not isinstance(node, Call) or node.func in self.macros:
                continue
            if node.func in self.models and node.func not in defined:
                raise ExpressionError(f"{where}: unsupported: {node.func}(...) calls the model {node.func!r} as a "
                                      "function (XMILE 3.3.2); place it with <module> and <connect> its inputs")
            if node.func in self._plain_arrays:
                raise ExpressionError(f"{where}: unsupported: {node.func}(...) reads an element of the array "
                                      f"{node.func!r} by its flat index (XMILE 3.3.2); subscript it: "
                                      f"{node.func}[element]")

    def _outputs_into(self, model: RawModel, prefix: str) -> dict[str, tuple[str, int]]:
        """Variables of ``model`` that take a module's output (``<connect to=".x" from="module.y"/>``)."""
        found: dict[str, tuple[str, int]] = {}
        for module in model.modules.values():
            for conn in module.outputs:
                if conn.to not in model.variables:
                    raise ModelFileError(f'{self.file}:{conn.line}: <connect to=".{conn.to}"> in <module '
                                         f'name="{module.display}">: the model placing the module has no variable '
                                         f"{conn.to!r}")
                found[conn.to] = (prefix + conn.source, conn.line)
        return found

    def _parsed(self, var: RawVar, full: str, shown: str, prefix: str, defined: frozenset[str],
                context: EquationContext) -> RawVar:
        owner = replace(var, name=full, display=shown + var.display)
        definition = self._parse(var.definition, var, prefix, defined, context, owner) if var.definition else None
        elements = {k: self._parse(d, var, prefix, defined, context, owner, element=True)
                    for k, d in var.elements.items()}
        conveyor = self._parse(var.conveyor, var, prefix, defined, context, owner) if var.conveyor else None
        return replace(
            owner, definition=definition, elements=elements, conveyor=conveyor,
            inflows=[prefix + n for n in var.inflows], outflows=[prefix + n for n in var.outflows],
            element_flows={k: ([prefix + n for n in ins], [prefix + n for n in outs])
                           for k, (ins, outs) in var.element_flows.items()},
        )

    def _parse(self, definition: Definition, var: RawVar, prefix: str, defined: frozenset[str],
               context: EquationContext, owner: RawVar, *, element: bool = False) -> Definition:
        where = f"{self.file}:{definition.line or var.line}: {var.label()}"
        if definition.table is not None and is_blank(definition.text):
            return definition  # a graphical function used as a table: LOOKUP(name, x) or name(x)
        if is_blank(definition.text):
            hint = "connect it from the parent model with <connect> or write one" if prefix else "write one"
            raise ModelFileError(f"{where}: has no equation; {hint}")
        expr = parse_equation(definition.text, where, context.naming(var.name))
        self._refuse_unsupported_calls(expr, where, defined)
        if prefix:
            expr = _prefixed(expr, prefix, defined, self.dims)
        expr = self.expander.expand(expr, owner, where, element=element)
        return replace(definition, expr=expr)


def _has_table(var: RawVar) -> bool:
    definitions = [var.definition, *var.elements.values()]
    return var.kind == "gf" or any(d is not None and d.table is not None for d in definitions)


def _prefixed(expr: Expr, prefix: str, defined: frozenset[str], dims: set[str]) -> Expr:
    """Qualify the names a module's equation uses with the module's prefix."""

    def name(n: str) -> str:
        if n in defined or "." in n:
            return prefix + n
        if n in _ENGINE_NAMES or n in dims:
            return n
        return prefix + n

    def walk(node: Expr) -> Expr:
        match node:
            case Num():
                return node
            case Name(name=n):
                return Name(name(n))
            case Subscript(name=n, indices=idx):
                return Subscript(name(n), idx)
            case Call(func=f, args=args):
                return Call(prefix + f if f in defined else f, tuple(walk(a) for a in args))
        return map_children(node, walk)

    return walk(expr)
