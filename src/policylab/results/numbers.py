"""How every output writes a number: 3 significant figures, shares as percentages (no heavy imports)."""

from __future__ import annotations

import math


def number(x: float) -> str:
    """A number to 3 significant figures, as every table prints it (``n/a`` when not finite)."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e6:
        if abs(x) < 1000:
            return f"{x:.3g}"
        digits = 2 - int(math.floor(math.log10(abs(x))))
        return f"{round(x, digits):,.0f}"
    return f"{x:.2e}"


def percent(share: float) -> str:
    """A share of runs as a percentage to 3 significant figures."""
    return "n/a" if not math.isfinite(share) else f"{share * 100:.3g} %"
