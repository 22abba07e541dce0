"""Turn expression trees into nested Python closures over NumPy arrays (no source code is generated).

Each closure takes the run-time environment and returns a float (same for every run) or
an array with one entry per run. Sub-trees that depend only on constants are folded to a
value once, at bind time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from policylab.compile.desugar import Draw, LookupCall, describe
from policylab.compile.lookups import lookup_function
from policylab.errors import ExpressionError
from policylab.expr.ast import BinOp, BoolOp, Call, Compare, Expr, IfThenElse, Name, Not, Num, Subscript, UnaryOp
from policylab.expr.builtins import OPERATORS, find_builtin
from policylab.model.ir import Lookup

Value = float | np.ndarray


class Env(Protocol):
    """What a closure may read while it runs (provided by the simulator)."""

    v: list[Value]
    time: float
    dt: float
    step: int

    def uniform(self, site: int) -> np.ndarray: ...


Fn = Callable[[Env], Value]


@dataclass(frozen=True)
class Const:
    """A folded value (float or per-run array)."""

    value: Value


Node = Const | Fn


@dataclass
class Context:
    """How names resolve while one equation is built."""

    owner: str
    where: str
    slots: dict[str, int]
    values: dict[str, Value]
    lookups: dict[str, Lookup]
    deterministic: bool


def _as_fn(node: Node) -> Fn:
    if isinstance(node, Const):
        value = node.value
        return lambda e: value
    return node


_ARITH: dict[str, Callable[[Value, Value], Value]] = {op: OPERATORS[op].fold for op in ("+", "-", "*", "/", "^", "mod")}


def _binary(op: Callable[[Value, Value], Value], a: Node, b: Node) -> Node:
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(op(a.value, b.value))
    if isinstance(b, Const):
        fa, vb = a, b.value
        if op is _ARITH["+"]:
            return lambda e: fa(e) + vb  # type: ignore[operator]
        if op is _ARITH["*"]:
            return lambda e: fa(e) * vb  # type: ignore[operator]
        if op is _ARITH["-"]:
            return lambda e: fa(e) - vb  # type: ignore[operator]
        return lambda e: op(fa(e), vb)  # type: ignore[operator]
    if isinstance(a, Const):
        va, fb = a.value, b
        if op is _ARITH["+"]:
            return lambda e: va + fb(e)
        if op is _ARITH["*"]:
            return lambda e: va * fb(e)
        return lambda e: op(va, fb(e))
    fa, fb = a, b
    if op is _ARITH["+"]:
        return lambda e: fa(e) + fb(e)
    if op is _ARITH["-"]:
        return lambda e: fa(e) - fb(e)
    if op is _ARITH["*"]:
        return lambda e: fa(e) * fb(e)
    return lambda e: op(fa(e), fb(e))


def _if(cond: Node, a: Node, b: Node) -> Node:
    if isinstance(cond, Const) and np.ndim(cond.value) == 0:
        return a if cond.value else b
    fc, fa, fb = _as_fn(cond), _as_fn(a), _as_fn(b)

    def choose(e: Env) -> Value:
        c = fc(e)
        if np.ndim(c) == 0:
            return fa(e) if c else fb(e)
        return np.where(c != 0, fa(e), fb(e))

    return choose


def build(expr: Expr, ctx: Context) -> Node:
    """Compile ``expr`` into a Const or a closure ``env -> value``."""
    match expr:
        case Num(value=v):
            return Const(float(v))
        case Name(name=n) | Subscript(name=n):
            return _name(n, ctx)
        case UnaryOp(op=op, operand=o):
            inner = build(o, ctx)
            if op == "+":
                return inner
            if isinstance(inner, Const):
                return Const(-inner.value)
            return lambda e: -inner(e)  # type: ignore[operator]
        case BinOp(op=op, left=a, right=b):
            return _binary(_ARITH[op], build(a, ctx), build(b, ctx))
        case Compare(op=op, left=a, right=b) | BoolOp(op=op, left=a, right=b):
            return _binary(OPERATORS[op].fold, build(a, ctx), build(b, ctx))
        case Not(operand=o):
            inner, fold = build(o, ctx), OPERATORS["not"].fold
            if isinstance(inner, Const):
                return Const(fold(inner.value))
            return lambda e: fold(inner(e))  # type: ignore[operator]
        case IfThenElse(condition=c, then=a, otherwise=b):
            return _if(build(c, ctx), build(a, ctx), build(b, ctx))
        case Call():
            return _call(expr, ctx)
        case LookupCall(table=t, arg=a):
            return _apply(lookup_function(ctx.lookups[t]), [build(a, ctx)])
        case Draw():
            return _draw(expr, ctx)
    raise ExpressionError(f"{ctx.where}: {describe(ctx.owner)}: cannot compile {expr!r}")


def _name(name: str, ctx: Context) -> Node:
    if name in ctx.values:
        return Const(ctx.values[name])
    if name in ctx.slots:
        i = ctx.slots[name]
        return lambda e: e.v[i]
    if name == "time":
        return lambda e: e.time
    if name in ("dt", "time_step"):
        return lambda e: e.dt
    if name in ctx.lookups:
        raise ExpressionError(f"{ctx.where}: {describe(ctx.owner)}: {name} is a lookup; call it as {name}(x)")
    raise ExpressionError(f"{ctx.where}: {describe(ctx.owner)}: {name!r} has no value here")


def _apply(impl: Callable[..., Value], nodes: list[Node]) -> Node:
    if all(isinstance(n, Const) for n in nodes):
        return Const(impl(*[n.value for n in nodes]))  # type: ignore[union-attr]
    fns = [_as_fn(n) for n in nodes]
    if len(fns) == 1:
        f0 = fns[0]
        return lambda e: impl(f0(e))
    if len(fns) == 2:
        f0, f1 = fns
        return lambda e: impl(f0(e), f1(e))
    return lambda e: impl(*[f(e) for f in fns])


def _call(expr: Call, ctx: Context) -> Node:
    spec = find_builtin(expr.func)
    if spec is None or spec.impl is None:
        raise ExpressionError(f"{ctx.where}: {describe(ctx.owner)}: unknown function {expr.func.upper()}()")
    nodes = [build(a, ctx) for a in expr.args]
    impl = spec.impl
    if spec.kind == "pure":
        return _apply(impl, nodes)
    fns = [_as_fn(n) for n in nodes]
    return lambda e: impl(e.time, e.dt, *[f(e) for f in fns])


def _draw(expr: Draw, ctx: Context) -> Node:
    spec = find_builtin(expr.func)
    assert spec is not None and spec.impl is not None and spec.mean is not None  # registry invariant
    nodes = [build(a, ctx) for a in expr.args]
    if ctx.deterministic:
        return _apply(spec.mean, nodes)
    fns = [_as_fn(n) for n in nodes]
    impl, site = spec.impl, expr.site
    return lambda e: impl(e.uniform(site), *[f(e) for f in fns])
