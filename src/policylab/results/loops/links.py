"""Exact re-evaluation of one equation with some inputs at one step and the rest at another.

Equations are evaluated through the tape, by the evaluator link polarity uses too
(:func:`policylab.compile.interpret.evaluate`): the same folding and kernels as the engines.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from policylab.compile.interpret import evaluate as evaluate_points
from policylab.expr.ast import Expr
from policylab.model.ir import Lookup

Array = np.ndarray


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
    return evaluate_points(expr, values, lookups, time, dt, uniforms, owner=owner, where="loop scores")


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
