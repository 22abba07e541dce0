"""The uncertainty space of a model: its judgement parameters, mapped from the unit cube.

Every analysis here samples or searches in the unit hypercube ``[0, 1]^k`` and maps a
point to parameter values through each parameter's inverse cumulative distribution (the
same distributions ``Model.run`` samples: uniform, log-uniform, triangular). Working in
the unit cube keeps one code path for all distributions: a uniform sample of the cube is
a sample of the prior, Sobol indices of ``f(F^-1(u))`` are those of ``f`` under the prior,
and an ABC posterior over ``u`` maps one to one onto a posterior over the parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from policylab.compile.graph import suggest
from policylab.errors import UsageError
from policylab.expr.names import canonical
from policylab.model.ir import Model
from policylab.simulate.sampling import Uncertainty, judgement_uncertainties


@dataclass(frozen=True)
class Space:
    """An ordered set of uncertainties; column ``j`` of a unit design is ``uncertainties[j]``."""

    uncertainties: tuple[Uncertainty, ...]

    @property
    def names(self) -> list[str]:
        return [u.name for u in self.uncertainties]

    def __len__(self) -> int:
        return len(self.uncertainties)

    def values(self, unit: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter arrays (one value per row) for a ``(n, k)`` design in the unit cube."""
        unit = np.atleast_2d(np.asarray(unit, dtype=float))
        if unit.shape[1] != len(self):
            raise UsageError(f"a design for {len(self)} parameters has {unit.shape[1]} columns")
        return {u.name: u.from_unit(unit[:, j]) for j, u in enumerate(self.uncertainties)}

    def unit(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """The ``(n, k)`` unit-cube design of parameter arrays (inverse of ``values``)."""
        missing = [n for n in self.names if n not in values]
        if missing:
            raise UsageError(f"parameter sets lack {', '.join(missing)}; they need every parameter of {', '.join(self.names)}")
        return np.column_stack([u.to_unit(np.asarray(values[u.name], dtype=float)) for u in self.uncertainties])


def parameter_space(model: Model, names: Sequence[str] | None = None) -> Space:
    """The judgement parameters of ``model`` (all, sorted by name, or those ``names`` lists).

    Raises ``UsageError`` naming the valid choices when a name is not a judgement parameter
    with a range, or when the model has none.
    """
    known = {u.name: u for u in judgement_uncertainties(model)}
    if not known:
        raise UsageError(f"{model.name} has no judgement parameters (constants with `judgement: true` and a `range`) to vary")
    chosen = list(known) if not names else [canonical(n) for n in names]
    for raw, name in zip(names or chosen, chosen):
        if name not in known:
            raise UsageError(f"{raw!r} is not a judgement parameter of {model.name}.{suggest(name, list(known))} "
                             f"Valid: {', '.join(known)}")
    if len(set(chosen)) != len(chosen):
        raise UsageError("each parameter may be named once")
    return Space(tuple(known[name] for name in chosen))
