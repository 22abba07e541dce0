"""Exact re-evaluation of one equation with some inputs at one step and the rest at another.

This is the one place loop scoring touches the compiler's building block (the closure
builder that compile/polarity.py also uses): if that block moves, only this module changes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from policylab.compile.closures import Const, Context, build
from policylab.expr.ast import Expr
from policylab.model.ir import Lookup

Array = np.ndarray


class _Env:
    """What a closure reads besides named values: the clock and, for random calls, the step's uniforms."""

    def __init__(self, time: Array, dt: float, uniforms: Mapping[int, Array]) -> None:
        self.v: list = []
        self.time = time
        self.dt = dt
        self.step = 0
        self._uniforms = uniforms

    def uniform(self, site: int) -> Array:
        return self._uniforms[site]


def evaluate(
    expr: Expr,
    values: Mapping[str, Array | float],
    lookups: Mapping[str, Lookup],
    time: Array,
    dt: float,
    uniforms: Mapping[int, Array] | None = None,
    owner: str = "",
) -> Array:
    """``expr`` at many points at once: ``values[name]`` and ``time`` are flat arrays of one length.

    Random calls read ``uniforms[site]`` (the draws the run made at those points); without
    them a random call takes its mean.
    """
    names = dict(values)
    names["time"] = time
    ctx = Context(owner, "loop scores", {}, names, dict(lookups), uniforms is None)
    node = build(expr, ctx)
    value = node.value if isinstance(node, Const) else node(_Env(time, dt, uniforms or {}))  # type: ignore[arg-type]
    return np.broadcast_to(np.asarray(value, dtype=float), time.shape)


def partial_change(
    expr: Expr,
    changed: str,
    now: Mapping[str, Array | float],
    before: Mapping[str, Array | float],
    lookups: Mapping[str, Lookup],
    time_before: Array,
    dt: float,
    uniforms_before: Mapping[int, Array] | None = None,
) -> Array:
    """The equation's value with ``changed`` at its current value and every other input (the clock
    and any random draw included) at its previous one: the ceteris-paribus term of a link score."""
    values = dict(before)
    values[changed] = now[changed]
    return evaluate(expr, values, lookups, time_before, dt, uniforms_before, owner=changed)
