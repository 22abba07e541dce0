"""Graphical functions (lookups) evaluated with NumPy: the kernel constant folding and the NumPy engine use."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from policylab.model.ir import Lookup

Value = float | np.ndarray


def lookup_function(table: Lookup) -> Callable[[Value], Value]:
    """The NumPy kernel of a graphical function: ``numpy.interp`` with the table's extrapolation."""
    xs = np.asarray(table.xs, dtype=float)
    ys = np.asarray(table.ys, dtype=float)
    if table.extrapolation == "discrete":
        last = len(xs) - 1

        def discrete(x: Value) -> Value:
            idx = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, last)
            return ys[idx] if np.ndim(idx) else float(ys[int(idx)])

        return discrete
    if table.extrapolation == "linear" and len(xs) > 1:
        lo_slope = (ys[1] - ys[0]) / (xs[1] - xs[0]) if xs[1] != xs[0] else 0.0
        hi_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) if xs[-1] != xs[-2] else 0.0

        def linear(x: Value) -> Value:
            y = np.interp(x, xs, ys)
            y = y + np.minimum(np.asarray(x) - xs[0], 0.0) * lo_slope + np.maximum(np.asarray(x) - xs[-1], 0.0) * hi_slope
            return y if np.ndim(y) else float(y)

        return linear

    def clamp(x: Value) -> Value:
        y = np.interp(x, xs, ys)
        return y if np.ndim(y) else float(y)

    return clamp


__all__ = ["lookup_function"]
