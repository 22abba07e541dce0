"""XMILE macros (3.6, 4.8): user-defined functions, expanded where they are called.

A macro without variables is inlined: its equation with each parameter replaced by the
argument of the call (an argument used more than once that is not a plain number or name
is first bound to an auxiliary, so a random draw or a smooth is computed once). A macro
with variables gets one instance of them per call, as the standard requires ("if this
SMOOTH1 function is used five times in a model, there must also be five copies of the
stock"): the instance of ``SMOOTH1`` called in ``price`` is named ``price.smooth1``
(``price.smooth1_2`` for a second call in the same equation), its stock
``price.smooth1.smooth_of_input``, its parameters auxiliaries ``price.smooth1.input``
bound to the arguments, all arrayed like ``price``. Names inside a macro are its
parameters, its variables, TIME and DT; nothing else of the model is visible there.

Not read (each refused naming the macro and line): recursion (optional in 3.6; inlining
would not end), macros with their own ``<sim_specs>`` (a loop run at every call),
modules inside macros, and macros with variables in the equation of one array element.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from policylab.errors import ExpressionError, ModelFileError
from policylab.expr.ast import Call, Expr, Name, Num, Subscript, children, map_children, to_text, walk
from policylab.expr.names import canonical
from policylab.formats.xmile._raw import Definition, RawVar
from policylab.formats.xmile._xml import Node
from policylab.formats.xmile.equations import EquationContext, parse_equation
from policylab.limits import FLAT_VARIABLES

_VARIABLE_TAGS = ("stock", "flow", "aux", "gf")
_ENGINE_NAMES = frozenset({"time", "dt"})
MAX_EXPANSION_DEPTH = 32
MAX_EXPANDED_NODES = 20_000
"""Nodes one equation may have once its macros are expanded: macros calling macros twice at each of
a few dozen levels would otherwise grow an equation exponentially (a "macro bomb")."""
MAX_EXPANDED_DEPTH = 200
"""How deeply an expanded equation may nest (the compiler walks trees recursively)."""


@dataclass
class Macro:
    """One ``<macro>``: its parameters (with defaults), its equation and its variables, parsed."""

    name: str
    display: str
    line: int
    parms: tuple[str, ...]
    defaults: tuple[Expr | None, ...]
    eqn: Expr
    variables: dict[str, RawVar] = field(default_factory=dict)

    size: int = 0  # nodes one expansion adds at least (its equation's and its variables'): what the budget counts

    def __post_init__(self) -> None:
        trees = [self.eqn, *(v.definition.expr for v in self.variables.values()
                             if v.definition is not None and v.definition.expr is not None)]
        self.size = sum(1 for tree in trees for _ in walk(tree)) + len(self.variables)

    def signature(self) -> str:
        shown = [p if d is None else f"[{p}]" for p, d in zip(self.parms, self.defaults, strict=True)]
        return f"{self.display}({', '.join(shown)})"


def read_macros(root: Node, read_variable: Callable[[Node], RawVar], fail: Callable[[Node, str], ModelFileError],
                is_vendor: Callable[[Node], bool], file: str, start: float, stop: float) -> dict[str, Macro]:
    """Every ``<macro>`` of the file, by canonical name, with its equations parsed (names still local)."""
    macros: dict[str, Macro] = {}
    for node in root.findall("macro"):
        if is_vendor(node):
            continue
        display = node.attrs.get("name", "").strip()
        if not display:
            raise fail(node, "<macro> has no name attribute; name the function it defines")
        name = canonical(display)
        if name in macros:
            raise fail(node, f'<macro name="{display}"> is defined twice; PolicyLab reads one definition per name')
        label = f'<macro name="{display}">'
        if node.find("sim_specs") is not None:
            raise fail(node.find("sim_specs"), f"unsupported: {label} has its own <sim_specs> (a loop run to "
                                               "completion at every call, XMILE 3.6.3); rewrite it without them")
        parm_nodes = node.findall("parm")
        parms = tuple(canonical(p.text) for p in parm_nodes)
        if any(not p for p in parms) or len(set(parms)) != len(parms):
            raise fail(node, f"{label}: every <parm> needs a name, and the names must differ")
        variables: dict[str, RawVar] = {}
        for block in node.findall("variables"):
            for child in block.children:
                if is_vendor(child):
                    continue
                if child.tag not in _VARIABLE_TAGS:
                    raise fail(child, f"unsupported: <{child.tag}> inside {label}; a macro's variables are stocks, "
                                      "flows and auxiliaries")
                var = read_variable(child)
                if var.dims:
                    raise fail(child, f"unsupported: an arrayed variable inside {label}")
                variables[var.name] = var
        local = frozenset(parms) | frozenset(variables)
        context = EquationContext.of(start, stop, local)
        eqn_node = node.find("eqn")
        if eqn_node is None or not eqn_node.text.strip():
            raise fail(node, f"{label} has no <eqn>; give the value the function returns")
        eqn = parse_equation(eqn_node.text, f"{file}:{eqn_node.line}: {label}", context)
        defaults: list[Expr | None] = []
        for parm, parm_node in zip(parms, parm_nodes, strict=True):
            text = parm_node.attrs.get("default")
            if text is None:
                if defaults and defaults[-1] is not None:
                    raise fail(parm_node, f"{label}: parameter {parm!r} follows one with a default, so it needs a "
                                          "default too (XMILE 4.8)")
                defaults.append(None)
            else:
                defaults.append(parse_equation(text, f"{file}:{parm_node.line}: {label} <parm> {parm}", context))
        for var in variables.values():
            _parse_local(var, label, file, context)
        macros[name] = Macro(name, display, node.line, parms, tuple(defaults), eqn, variables)
    return macros


def _parse_local(var: RawVar, label: str, file: str, context: EquationContext) -> None:
    for definition in (var.definition,):
        if definition is None or (definition.table is not None and not definition.text.strip()):
            continue
        if not definition.text.strip():
            raise ModelFileError(f"{file}:{definition.line or var.line}: {var.label()} in {label} has no equation")
        where = f"{file}:{definition.line or var.line}: {var.label()} in {label}"
        definition.expr = parse_equation(definition.text, where, context.naming(var.name))


class Expander:
    """Expands the macro calls of one model's equations, collecting the instances' variables."""

    def __init__(self, file: str, macros: dict[str, Macro]) -> None:
        self.file = file
        self.macros = macros
        self.created: list[RawVar] = []
        self.budget = MAX_EXPANDED_NODES  # nodes the equation being expanded may still gain

    def expand(self, expr: Expr, owner: RawVar, where: str, *, element: bool = False) -> Expr:
        """``expr`` (of variable ``owner``, names already qualified) with every macro call expanded."""
        if not self.macros or not any(isinstance(n, Call) and n.func in self.macros for n in walk(expr)):
            return expr
        self.budget = MAX_EXPANDED_NODES
        try:
            return _bounded(self._expand(expr, owner, where, element, {}, ()), where)
        except RecursionError:
            raise ExpressionError(f"{where}: its macros nest too deeply to expand; simplify them") from None

    def _expand(self, expr: Expr, owner: RawVar, where: str, element: bool, counts: dict[str, int],
                stack: tuple[str, ...]) -> Expr:
        def go(node: Expr) -> Expr:
            node = map_children(node, go)
            if isinstance(node, Call) and node.func in self.macros:
                return self._call(node, owner, where, element, counts, stack)
            return node

        return go(expr)

    def _call(self, call: Call, owner: RawVar, where: str, element: bool, counts: dict[str, int],
              stack: tuple[str, ...]) -> Expr:
        macro = self.macros[call.func]
        if len(stack) >= MAX_EXPANSION_DEPTH:
            raise ExpressionError(f"{where}: macros call macros more than {MAX_EXPANSION_DEPTH} deep here "
                                  f"({' -> '.join((*stack[:3], '...', *stack[-2:], macro.name))}); simplify them")
        if macro.name in stack:
            raise ExpressionError(f"{where}: unsupported: macro {macro.display} calls itself "
                                  f"({' -> '.join((*stack, macro.name))}); recursive macros are optional in XMILE "
                                  "3.6 and PolicyLab expands macros where they are called")
        self.budget -= macro.size
        if self.budget < 0:
            raise ExpressionError(f"{where}: expanding macro {macro.display} makes the equation larger than PolicyLab "
                                  f"reads ({MAX_EXPANDED_NODES:,} terms); simplify the macros")
        args = self._arguments(call, macro, where)
        needs_instance = bool(macro.variables) or any(
            not isinstance(arg, (Num, Name)) and _uses(macro, parm) > 1
            for parm, arg in zip(macro.parms, args, strict=True))
        if not needs_instance:
            body = _rename(macro.eqn, dict(zip(macro.parms, args, strict=True)), macro, where)
            return self._expand(body, owner, where, element, counts, (*stack, macro.name))
        if element:
            raise ExpressionError(f"{where}: unsupported: macro {macro.display} has variables (or needs its arguments "
                                  "bound), which PolicyLab places once per variable, not per array element; write the "
                                  "call in an apply-to-all equation")
        counts[macro.name] = counts.get(macro.name, 0) + 1
        suffix = "" if counts[macro.name] == 1 else f"_{counts[macro.name]}"
        instance = f"{owner.name}.{macro.name}{suffix}"
        shown = f"{owner.display}.{macro.display}{suffix}"
        names: dict[str, Expr] = {v: Name(f"{instance}.{v}") for v in (*macro.parms, *macro.variables)}
        for parm, arg in zip(macro.parms, args, strict=True):
            var = RawVar("aux", f"{instance}.{parm}", f"{shown}.{parm}", macro.line, "aux", dims=owner.dims)
            var.definition = Definition(to_text(arg), macro.line, None, arg)
            self.created.append(var)
        for local in macro.variables.values():
            self.created.append(self._instance(local, instance, shown, names, owner, where, (*stack, macro.name)))
        if len(self.created) > FLAT_VARIABLES.value():
            raise ExpressionError(f"{where}: expanding macro {macro.display} places more than "
                                  f"{FLAT_VARIABLES.value():,} variables; {FLAT_VARIABLES.hint()}")
        body = _rename(macro.eqn, names, macro, where)
        return self._expand(body, owner, where, element, counts, (*stack, macro.name))

    def _arguments(self, call: Call, macro: Macro, where: str) -> list[Expr]:
        required = sum(d is None for d in macro.defaults)
        if not required <= len(call.args) <= len(macro.parms):
            raise ExpressionError(f"{where}: macro {macro.display} takes {required}"
                                  f"{'' if required == len(macro.parms) else f' to {len(macro.parms)}'} argument(s), "
                                  f"{len(call.args)} given: {macro.signature()}")
        args = list(call.args)
        for parm, default in list(zip(macro.parms, macro.defaults, strict=True))[len(args):]:
            assert default is not None  # noqa: S101 - guaranteed by the arity check above
            args.append(_rename(default, dict(zip(macro.parms, args, strict=False)), macro, where, parm))
        return args

    def _instance(self, local: RawVar, instance: str, shown: str, names: dict[str, Expr], owner: RawVar,
                  where: str, stack: tuple[str, ...]) -> RawVar:
        definition = local.definition
        expr = definition.expr if definition is not None else None
        if expr is not None:
            macro = self.macros[stack[-1]]
            expr = self._expand(_rename(expr, names, macro, where), owner, where, False, {}, stack)
        new_definition = replace(definition, expr=expr) if definition is not None else None
        return replace(local, name=f"{instance}.{local.name}", display=f"{shown}.{local.display}", dims=owner.dims,
                       definition=new_definition, elements={},
                       inflows=[f"{instance}.{n}" for n in local.inflows],
                       outflows=[f"{instance}.{n}" for n in local.outflows])


def _bounded(expr: Expr, where: str) -> Expr:
    """``expr`` if it nests at most :data:`MAX_EXPANDED_DEPTH` levels deep; else a clear error."""
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPANDED_DEPTH:
            raise ExpressionError(f"{where}: with its macros expanded the equation nests more than "
                                  f"{MAX_EXPANDED_DEPTH} levels deep; simplify the macros")
        stack.extend((child, depth + 1) for child in children(node))
    return expr


def _uses(macro: Macro, parm: str) -> int:
    """How often ``parm`` appears in the macro's equation and variables."""
    trees = [macro.eqn, *(v.definition.expr for v in macro.variables.values()
                          if v.definition is not None and v.definition.expr is not None)]
    return sum(1 for tree in trees for node in walk(tree) if isinstance(node, Name) and node.name == parm)


def _rename(expr: Expr, names: dict[str, Expr], macro: Macro, where: str, parm: str = "") -> Expr:
    """``expr`` of the macro with its local names replaced; any other name is an error (macros see nothing else)."""

    def go(node: Expr) -> Expr:
        match node:
            case Name(name=n) if n in names:
                return names[n]
            case Name(name=n) if n in _ENGINE_NAMES:
                return node
            case Name(name=n) | Subscript(name=n):
                what = f"the default of <parm> {parm}" if parm else "its equations"
                raise ExpressionError(f"{where}: macro {macro.display} uses {n!r} in {what}, which is neither one "
                                      f"of its parameters ({', '.join(macro.parms) or 'none'}) nor one of its "
                                      "variables; a macro sees only those (XMILE 3.2.2.3)")
        return map_children(node, go)

    return go(expr)
