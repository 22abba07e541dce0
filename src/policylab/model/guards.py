"""Guards on values a user sets for constants and levers, against what the model declares.

Two declarations, two strengths:

- a variable's physical ``bounds`` say what the quantity can be at all (a share in
  [0, 1], a count >= 0): a value outside them is refused;
- a judgement parameter's or lever's sampling ``range`` says what the modeller thinks
  plausible: a value outside it is allowed (extreme-condition tests go there on
  purpose) with an :class:`OutsideRangeWarning`; code that goes there on purpose says
  so with :func:`outside_range_expected`, which holds for its own thread only (unlike
  ``warnings.catch_warnings``, which changes a process-wide filter).

Every entry point that takes values (``Model.run(params=...)``, ``run --set``,
``explore --lever``, the server's overrides) goes through :func:`check_settings`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from policylab.errors import UsageError
from policylab.model.ir import Constant, Lever, Model


class OutsideRangeWarning(UserWarning):
    """A value set outside a judgement parameter's or lever's sampling range (allowed, but extrapolated)."""


_EXPECTED: ContextVar[bool] = ContextVar("outside_range_expected", default=False)


@contextmanager
def outside_range_expected() -> Iterator[None]:
    """Within this block (this thread or task only), values outside a sampling range are not warned about."""
    token = _EXPECTED.set(True)
    try:
        yield
    finally:
        _EXPECTED.reset(token)


def _extremes(value: object) -> tuple[float, float] | None:
    if type(value) is float:  # the common case, without NumPy's conversions
        return (value, value) if math.isfinite(value) else None
    array = np.asarray(value, dtype=float)
    finite = array[np.isfinite(array)]
    if array.size == 0 or finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def _text(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g} to {high:g}"


def check_settings(model: Model, values: Mapping[str, object]) -> None:
    """Refuse values outside physical bounds; warn about values outside a sampling range.

    ``values`` maps canonical names to a scalar or one value per run; names the model
    does not have are left to the caller's own message.
    """
    for name, value in values.items():
        var = model.variables.get(name)
        extremes = _extremes(value)
        if var is None or extremes is None:
            continue
        low, high = extremes
        if var.bounds is not None:
            floor, ceiling = (-math.inf if b is None else b for b in var.bounds)
            if low < floor or high > ceiling:
                label = model.display_name(name)
                where = f" ({var.where})" if var.where.file else ""
                raise UsageError(f"{label} = {_text(low, high)} is outside its physical bounds "
                                 f"[{floor:g}, {ceiling:g}]{where}; a {label} there is not possible in this model")
        sampling = var.range if isinstance(var, (Constant, Lever)) else None
        if sampling is not None and (low < sampling[0] or high > sampling[1]) and not _EXPECTED.get():
            label = model.display_name(name)
            kind = "lever" if isinstance(var, Lever) else "judgement parameter" if var.judgement else "constant"  # type: ignore[union-attr]
            warnings.warn(OutsideRangeWarning(
                f"{label} = {_text(low, high)} is outside the {kind}'s range [{sampling[0]:g}, {sampling[1]:g}]; "
                "the model was built for that range, so results there are an extrapolation"), stacklevel=3)
